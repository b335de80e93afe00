"""Arbitrary transformations of a stored photo: read the request, bound it, apply it. Pillow only.

A request such as {"resize": {"width": 800}, "format": "webp"} becomes a Transformation: checked
against the source's dimensions before any pixel is decoded, normalised so that requests with the
same result are equal, and written as one canonical string (the cache key of the variant).

The steps always run in one order, whatever the order of the keys:
crop -> resize -> rotate -> flip -> mirror -> filters -> encode.

- resize fits: "cover" fills the box and cuts what overflows (centred; the default when both sides
  are given), "contain" fits inside and pads with the background, "fill" stretches, "inside" fits
  inside with the image's own proportions. One side alone keeps the proportions.
- rotate is clockwise, in whole degrees; other angles than right angles grow the canvas, filled
  with the background (transparent where the format has alpha, else white).
- flip turns upside down (top to bottom), mirror swaps left and right.
- Only the first frame of an animation is used: the result is a still image.
- No metadata (EXIF, GPS, XMP) is copied into a result; an RGB colour profile is.
"""

from __future__ import annotations

import io
import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from flask_babel import gettext as _
from PIL import ExifTags, Image, ImageOps

from . import imaging
from .errors import InvalidInput

# name: (Pillow's format, MIME type, file extension, default quality or None when lossless)
FORMATS = {"jpeg": ("JPEG", "image/jpeg", "jpg", 85), "png": ("PNG", "image/png", "png", None),
           "webp": ("WEBP", "image/webp", "webp", 80), "avif": ("AVIF", "image/avif", "avif", 60),
           "gif": ("GIF", "image/gif", "gif", None)}
ALIASES = {"jpg": "jpeg"}
ALPHA_FORMATS = {"png", "webp", "avif"}
# Encoders refuse bigger sides than these, whatever the configured maximum.
FORMAT_MAX_SIDE = {"webp": 16383, "jpeg": 65500, "gif": 65535, "png": 1 << 30, "avif": 65536}
# AVIF speed 9: in the bench it costs less than WebP at method 4, where speed 8 costs over twice as much.
ENCODER_OPTIONS = {"JPEG": {}, "PNG": {}, "GIF": {}, "WEBP": {"method": 4}, "AVIF": {"speed": 9, "max_threads": 1}}
FITS = ("cover", "contain", "fill", "inside")
MAX_NUMBER = 1_000_000  # bounds a crop's numbers before they are compared with the image
STEPS = {"crop", "resize", "rotate", "flip", "mirror", "filters", "format", "quality", "background"}
FILTERS = ("grayscale", "sepia")
SEPIA = (0.393, 0.769, 0.189, 0, 0.349, 0.686, 0.168, 0, 0.272, 0.534, 0.131, 0)
WHITE, TRANSPARENT = (255, 255, 255, 255), (0, 0, 0, 0)
MIME_TO_FORMAT = {mime: name for name, (_pil, mime, _ext, _q) in FORMATS.items()}


def invalid(message: str) -> InvalidInput:
    """The one error for a transformation that cannot be done as asked (400)."""
    return InvalidInput(message, code="invalid_transformation")


@dataclass(frozen=True)
class Limits:
    """The largest result allowed (config keys transforms.max_side and transforms.max_pixels)."""

    max_side: int = 8192
    max_pixels: int = 40_000_000


@dataclass(frozen=True)
class Source:
    """What is known of the photo before decoding it: upright size and stored format (None: other)."""

    width: int
    height: int
    format: str | None = None


@dataclass(frozen=True)
class Resize:
    """A resize target; `fit` is "fill", "cover" or "contain" once normalised."""

    width: int
    height: int
    fit: str = "fill"


@dataclass(frozen=True)
class Transformation:
    """A checked, normalised transformation of a source of known size."""

    source: tuple[int, int]
    format: str
    quality: int | None = None
    crop: tuple[int, int, int, int] | None = None
    resize: Resize | None = None
    rotate: int = 0
    background: tuple[int, int, int, int] | None = None
    flip: bool = False
    mirror: bool = False
    grayscale: bool = False
    sepia: bool = False

    @property
    def canonical(self) -> str:
        """One string per distinct result, e.g. "crop=0,0,800,600;resize=400x300,cover;format=webp;q=80"."""
        parts = []
        if self.crop:
            parts.append("crop=" + ",".join(map(str, self.crop)))
        if self.resize:
            fit = "" if self.resize.fit == "fill" else f",{self.resize.fit}"
            parts.append(f"resize={self.resize.width}x{self.resize.height}{fit}")
        if self.rotate:
            parts.append(f"rotate={self.rotate}")
        if self.background:
            parts.append("bg=" + "".join(f"{c:02x}" for c in self.background))
        parts += [name for name in ("flip", "mirror") if getattr(self, name)]
        parts += ["sepia"] if self.sepia else ["gray"] if self.grayscale else []
        parts.append(f"format={self.format}")
        if self.quality is not None:
            parts.append(f"q={self.quality}")
        return ";".join(parts)

    @property
    def region(self) -> tuple[int, int]:
        """Width and height after the crop."""
        return (self.crop[2], self.crop[3]) if self.crop else self.source

    @property
    def resized(self) -> tuple[int, int]:
        """Width and height after crop and resize."""
        return (self.resize.width, self.resize.height) if self.resize else self.region

    @property
    def size(self) -> tuple[int, int]:
        """Width and height of the result."""
        return rotated_size(*self.resized, self.rotate)

    @property
    def mime_type(self) -> str:
        """The result's MIME type."""
        return FORMATS[self.format][1]

    @property
    def ext(self) -> str:
        """The result's file extension."""
        return FORMATS[self.format][2]


# --- reading a request -----------------------------------------------------------------------

def parse(raw, source: Source, limits: Limits = Limits()) -> Transformation:
    """The request as a Transformation of `source`; InvalidInput naming the first problem.

    Everything is checked from the numbers alone: nothing is decoded or allocated here.
    """
    if not isinstance(raw, dict) or all(value in (None, False, {}) for value in raw.values()):
        raise invalid(_("transformations must be an object with at least one step, such as resize or format."))
    _refuse_unknown(raw, STEPS, "transformations")
    fmt = _format(raw.get("format"), source)
    crop = _crop(raw.get("crop"), source)
    region = (crop[2], crop[3]) if crop else (source.width, source.height)
    resize = _resize(raw.get("resize"), region, limits)
    grayscale, sepia = _filters(raw.get("filters"))
    rotate, flip, mirror = _angle(raw.get("rotate")), _flag(raw.get("flip"), "flip"), _flag(raw.get("mirror"), "mirror")
    if flip and mirror and rotate % 90 == 0:  # both together are a half turn, exactly
        rotate, flip, mirror = (rotate + 180) % 360, False, False
    transformation = Transformation(
        source=(source.width, source.height), format=fmt, quality=_quality(raw.get("quality"), fmt),
        crop=crop, resize=resize, rotate=rotate, flip=flip, mirror=mirror,
        grayscale=grayscale and not sepia, sepia=sepia)  # sepia starts from grey anyway
    background = _colour(raw.get("background"))
    if _needs_background(transformation):
        fallback = TRANSPARENT if fmt in ALPHA_FORMATS else WHITE
        transformation = replace(transformation, background=_opaque_unless(fmt, background or fallback))
    _check_result(transformation, limits)
    return transformation


def _refuse_unknown(given: dict, known, where: str) -> None:
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise invalid(_("%(where)s does not take %(keys)s (it takes %(known)s).", where=where,
                        keys=", ".join(map(str, unknown)), known=", ".join(sorted(known))))


def _whole(value, name: str, low: int, high: int) -> int:
    """An integer from low to high; booleans, fractions and text are refused."""
    if type(value) is not int or not low <= value <= high:
        raise invalid(_("%(name)s must be a whole number from %(low)s to %(high)s.", name=name, low=low, high=high))
    return value


def _flag(value, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(_("%(name)s must be true or false.", name=name))
    return value


def _format(value, source: Source) -> str:
    if value is None:  # the original's own format when it can be written, else WebP
        return source.format if source.format in FORMATS else "webp"
    name = ALIASES.get(value.lower(), value.lower()) if isinstance(value, str) else None
    if name not in FORMATS:
        raise invalid(_("format must be one of jpeg, png, webp, avif or gif."))
    return name


def _quality(value, fmt: str) -> int | None:
    default = FORMATS[fmt][3]
    if value is None:
        return default
    if default is None:
        raise invalid(_("quality applies to jpeg, webp and avif only; %(format)s is lossless.", format=fmt))
    return _whole(value, "quality", 1, 100)


def _crop(value, source: Source) -> tuple[int, int, int, int] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(_("crop must be an object with x, y, width and height."))
    _refuse_unknown(value, ("x", "y", "width", "height"), "crop")
    for key in ("x", "y", "width", "height"):
        if key not in value:
            raise invalid(_("crop needs x, y, width and height."))
    x, y = (_whole(value[key], f"crop.{key}", 0, MAX_NUMBER) for key in ("x", "y"))
    width, height = (_whole(value[key], f"crop.{key}", 1, MAX_NUMBER) for key in ("width", "height"))
    if x + width > source.width or y + height > source.height:
        raise invalid(_("The crop box must lie inside the %(width)sx%(height)s image.",
                        width=source.width, height=source.height))
    whole = (x, y, width, height) == (0, 0, source.width, source.height)
    return None if whole else (x, y, width, height)


def _resize(value, region: tuple[int, int], limits: Limits) -> Resize | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(_("resize must be an object with width, height or both, and fit."))
    _refuse_unknown(value, ("width", "height", "fit"), "resize")
    width, height = (None if value.get(side) is None else _whole(value[side], f"resize.{side}", 1, limits.max_side)
                     for side in ("width", "height"))
    fit = value.get("fit") if value.get("fit") is not None else "cover"
    if fit not in FITS:
        raise invalid(_("resize.fit must be one of cover, contain, fill or inside."))
    if width is None and height is None:
        raise invalid(_("resize needs a width, a height or both."))
    return _normal_resize(width, height, fit, region, limits)


def _normal_resize(width, height, fit: str, region: tuple[int, int], limits: Limits) -> Resize | None:
    """The resize as fill/cover/contain at exact sizes; None when it would change nothing."""
    region_width, region_height = region
    if width is None or height is None:  # one side: the other follows the proportions
        scale = width / region_width if width else height / region_height
        width, height, fit = _scaled(region, scale, limits) + ("fill",)
    elif fit == "inside":
        width, height = _scaled(region, min(width / region_width, height / region_height), limits)
        fit = "fill"
    elif fit == "contain" and _inside_size(region, width, height) == (width, height):
        fit = "fill"
    elif fit == "cover" and region_width * height == region_height * width:
        fit = "fill"  # same proportions: nothing to cut
    if (width, height, fit) == (*region, "fill"):
        return None
    return Resize(width, height, fit)


def _scaled(region: tuple[int, int], scale: float, limits: Limits) -> tuple[int, int]:
    width, height = (max(1, round(side * scale)) for side in region)
    if max(width, height) > limits.max_side:
        raise invalid(_("The result would be %(width)sx%(height)s pixels; a side may have at most %(max)s.",
                        width=width, height=height, max=limits.max_side))
    return width, height


def _inside_size(region: tuple[int, int], width: int, height: int) -> tuple[int, int]:
    """The largest size with the region's proportions that fits in width x height."""
    scale = min(width / region[0], height / region[1])
    return min(width, max(1, round(region[0] * scale))), min(height, max(1, round(region[1] * scale)))


def _angle(value) -> int:
    if value is None:
        return 0
    return _whole(value, "rotate", -360, 360) % 360


def _filters(value) -> tuple[bool, bool]:
    if value is None:
        return False, False
    if not isinstance(value, dict):
        raise invalid(_("filters must be an object such as {\"grayscale\": true}."))
    _refuse_unknown(value, FILTERS, "filters")
    return _flag(value.get("grayscale"), "filters.grayscale"), _flag(value.get("sepia"), "filters.sepia")


def _colour(value) -> tuple[int, int, int, int] | None:
    """"#rgb", "#rrggbb", "#rrggbbaa" or "transparent" as RGBA."""
    if value is None:
        return None
    if value == "transparent":
        return TRANSPARENT
    text = value[1:] if isinstance(value, str) and value.startswith("#") else ""
    if len(text) == 3:
        text = "".join(c * 2 for c in text)
    try:
        if len(text) not in (6, 8):
            raise ValueError
        channels = bytes.fromhex(text)
    except ValueError:
        raise invalid(_("background must be a colour such as \"#ffffff\", \"#00000080\" or \"transparent\".")) from None
    return tuple(channels) + (255,) * (4 - len(channels))


def _needs_background(transformation: Transformation) -> bool:
    """Whether any pixel of the result is not from the photo: a free angle, or letterboxing."""
    return transformation.rotate % 90 != 0 or bool(transformation.resize and transformation.resize.fit == "contain")


def _opaque_unless(fmt: str, colour: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The colour as it will show: laid over white where the format has no transparency."""
    if fmt in ALPHA_FORMATS or colour[3] == 255:
        return colour
    alpha = colour[3] / 255
    return tuple(round(c * alpha + 255 * (1 - alpha)) for c in colour[:3]) + (255,)


def _check_result(transformation: Transformation, limits: Limits) -> None:
    width, height = transformation.size
    max_side = min(limits.max_side, FORMAT_MAX_SIDE[transformation.format])
    if max(width, height) > max_side or width * height > limits.max_pixels:
        raise invalid(_("The result would be %(width)sx%(height)s pixels, more than the %(side)s pixels a side "
                        "and %(pixels)s pixels in all that are allowed; resize it.", width=width, height=height,
                        side=max_side, pixels=limits.max_pixels))


def rotated_size(width: int, height: int, angle: int) -> tuple[int, int]:
    """The canvas of the result of turning width x height clockwise by `angle`, as Pillow computes it."""
    if angle % 180 == 0:
        return width, height
    if angle % 90 == 0:
        return height, width
    # Pillow's own arithmetic in Image.rotate(-angle, expand=True), step by step, so the sizes agree exactly.
    radians = -math.radians((-angle) % 360.0)
    a, b = round(math.cos(radians), 15), round(math.sin(radians), 15)
    d, e = round(-math.sin(radians), 15), round(math.cos(radians), 15)
    centre_x, centre_y = width / 2, height / 2
    c = a * -centre_x + b * -centre_y + centre_x
    f = d * -centre_x + e * -centre_y + centre_y
    corners = ((0, 0), (width, 0), (width, height), (0, height))
    xs, ys = [a * x + b * y + c for x, y in corners], [d * x + e * y + f for x, y in corners]
    return math.ceil(max(xs)) - math.floor(min(xs)), math.ceil(max(ys)) - math.floor(min(ys))


def format_of(mime_type: str) -> str | None:
    """The transformation format name of a stored MIME type, None when it cannot be written."""
    return MIME_TO_FORMAT.get(mime_type)


def for_preview(transformation: Transformation, source: tuple[int, int], max_side: int) -> Transformation:
    """The same transformation for a smaller copy of the source, at most max_side a side.

    The copy is never enlarged more than the real transformation enlarges the original: a preview
    blurred by enlarging would look worse than the result and compress far better, spoiling the estimate.
    """
    scale_x, scale_y = source[0] / transformation.source[0], source[1] / transformation.source[1]
    crop = None
    if transformation.crop:
        x, y, width, height = transformation.crop
        left, top = min(source[0] - 1, int(x * scale_x)), min(source[1] - 1, int(y * scale_y))
        crop = (left, top, max(1, min(source[0] - left, round(width * scale_x))),
                max(1, min(source[1] - top, round(height * scale_y))))
    target, region = transformation.resized, transformation.region
    reduction = max(1.0, max(region) / max(target))  # how much the real transformation shrinks the region
    shrink = min(1.0, max_side / max(transformation.size), max(scale_x, scale_y) * reduction)
    fit = transformation.resize.fit if transformation.resize else "fill"
    resize = Resize(max(1, round(target[0] * shrink)), max(1, round(target[1] * shrink)), fit)
    return replace(transformation, source=source, crop=crop, resize=resize)


# --- doing it --------------------------------------------------------------------------------

def apply(source: str | Path | BinaryIO, transformation: Transformation) -> tuple[bytes, int, int, str]:
    """Run the transformation on the image in `source` (a path or file): (encoded bytes, width, height, MIME type)."""
    with _opened(source) as im:  # all inside: closing the file releases pixels not yet copied
        icc_profile = im.info.get("icc_profile")
        result = _cropped_and_resized(im, transformation)
        result = _filtered(_turned(result, transformation), transformation)
        data = _encoded(result, transformation, icc_profile)
    return data, result.width, result.height, transformation.mime_type


@contextmanager
def _opened(path: str | Path | BinaryIO):
    """Open with the accepted formats only; a decompression-bomb warning is an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path, formats=list(imaging.ACCEPTED)) as im:
            yield im


def _cropped_and_resized(im: Image.Image, t: Transformation) -> Image.Image:
    """Crop and resize in one resampling pass, decoding a JPEG at reduced scale when the result is smaller."""
    if im.getexif().get(ExifTags.Base.Orientation, 1) not in (0, 1):
        im = ImageOps.exif_transpose(im)  # stored originals are upright; this only guards odd ones
    if im.size != t.source:
        raise ValueError(f"the image is {im.size}, the transformation was made for {t.source}")
    box = _source_box(t)
    if t.resize is None:
        return _working_mode(im.crop(box) if t.crop else im)
    fitted = _inside_size(t.region, t.resize.width, t.resize.height) if t.resize.fit == "contain" else t.resized
    box = _drafted(im, box, fitted)
    resized = _working_mode(im).resize(fitted, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    return _letterboxed(resized, t.resized, t.background) if t.resize.fit == "contain" else resized


def _source_box(t: Transformation) -> tuple:
    """The part of the source that becomes the result: the crop, narrowed to the target's shape for cover."""
    x, y, width, height = t.crop or (0, 0, *t.source)
    if t.resize is None or t.resize.fit != "cover":
        return x, y, x + width, y + height
    target_ratio = t.resize.width / t.resize.height
    if width / height > target_ratio:
        used = height * target_ratio
        return x + (width - used) / 2, y, x + (width + used) / 2, y + height
    used = width / target_ratio
    return x, y + (height - used) / 2, x + width, y + (height + used) / 2


def _drafted(im: Image.Image, box: tuple, target: tuple[int, int]) -> tuple:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale while the box stays at least the target size; the box, scaled."""
    if im.format not in ("JPEG", "MPO"):
        return box
    full_width, full_height = im.size
    wanted = (max(1, math.ceil(full_width * target[0] / (box[2] - box[0]))),
              max(1, math.ceil(full_height * target[1] / (box[3] - box[1]))))
    drafted = im.draft(im.mode if im.mode in ("RGB", "L") else None, wanted)
    if not drafted:
        return box
    scale = full_width / drafted[1][2]
    return tuple(min(limit, edge / scale) for edge, limit in zip(box, (*im.size, *im.size), strict=True))


def _working_mode(im: Image.Image) -> Image.Image:
    """RGB, RGBA, L or LA: modes that every step and encoder handles."""
    if im.mode in ("RGB", "RGBA", "L", "LA"):
        return im
    if im.mode.startswith("I") or im.mode == "F":
        return im.convert("I").point(lambda value: value * (1 / 256)).convert("L")  # 16-bit greys
    has_alpha = im.mode in ("PA", "RGBa", "La") or "transparency" in im.info
    return im.convert("RGBA" if has_alpha else "RGB")


def _letterboxed(im: Image.Image, size: tuple[int, int], background) -> Image.Image:
    canvas = Image.new("RGBA", size, background)
    canvas.alpha_composite(im.convert("RGBA"), ((size[0] - im.width) // 2, (size[1] - im.height) // 2))
    return canvas


def _turned(im: Image.Image, t: Transformation) -> Image.Image:
    if t.rotate % 90 == 0 and t.rotate:
        im = im.transpose({90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
                           270: Image.Transpose.ROTATE_90}[t.rotate])
    elif t.rotate:  # Pillow turns counter-clockwise
        im = im.convert("RGBA").rotate(-t.rotate, Image.Resampling.BICUBIC, expand=True, fillcolor=t.background)
    if t.flip:
        im = im.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    if t.mirror:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return im


def _filtered(im: Image.Image, t: Transformation) -> Image.Image:
    if not (t.grayscale or t.sepia):
        return im
    alpha = im.getchannel("A") if im.mode in ("RGBA", "LA") else None
    grey = im.convert("L")
    if t.sepia:
        toned = grey.convert("RGB").convert("RGB", SEPIA)
        return Image.merge("RGBA", (*toned.split(), alpha)) if alpha else toned
    return Image.merge("LA", (grey, alpha)) if alpha else grey


def _encoded(im: Image.Image, t: Transformation, icc_profile: bytes | None) -> bytes:
    pillow_format = FORMATS[t.format][0]
    if t.format not in ALPHA_FORMATS and im.mode in ("RGBA", "LA"):
        # Transparent parts are laid over the background (white unless asked) rather than turning black.
        backdrop = Image.new("RGBA", im.size, t.background or WHITE)
        im = Image.alpha_composite(backdrop, im.convert("RGBA")).convert("RGB" if im.mode == "RGBA" else "L")
    options = dict(ENCODER_OPTIONS[pillow_format])
    if t.quality is not None:
        options["quality"] = t.quality
    if icc_profile and icc_profile[16:20] == b"RGB " and im.mode in ("RGB", "RGBA"):
        options["icc_profile"] = icc_profile  # wide-gamut phone photos keep their colours
    buffer = io.BytesIO()
    im.save(buffer, pillow_format, **options)
    return buffer.getvalue()
