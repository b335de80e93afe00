"""Images in, images out: probe, normalise, metadata, thumbnails. Pillow only; no Flask, no HTTP.

Every function takes paths and plain values. The type of a file is decided by its content, never by
its name. Pillow's warnings are handled here on purpose: a decompression-bomb warning is an error,
and the warnings Pillow gives for odd but readable metadata (UserWarning) are ignored.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pillow_heif
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from PIL import ExifTags, Image, ImageOps, JpegImagePlugin, features

from . import location

pillow_heif.register_heif_opener()

ACCEPTED = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "GIF": ("image/gif", "gif"),
            "WEBP": ("image/webp", "webp"), "AVIF": ("image/avif", "avif"), "HEIF": ("image/heic", "heic"),
            "BMP": ("image/bmp", "bmp"), "TIFF": ("image/tiff", "tif")}
_OPENERS = [f for f in ACCEPTED if f != "AVIF" or features.check("avif")]
# MPO is how Pillow's JPEG opener names a JPEG carrying extra pictures (phones, 3D cameras).
_CANONICAL = {"MPO": "JPEG"}
_ANIMATED_FORMATS = {"GIF", "WEBP", "AVIF", "PNG"}
_RESAVE_OPTIONS = {"JPEG": {"quality": 95}, "PNG": {}, "GIF": {}, "BMP": {},
                   "WEBP": {"lossless": True, "method": 4}, "AVIF": {"quality": 90, "speed": 6},
                   "TIFF": {"compression": "raw"}}  # libtiff's compressors cannot write EXIF sub-directories
_TIFF_DESCRIPTIVE_TAGS = {ExifTags.Base.ImageDescription, ExifTags.Base.Make, ExifTags.Base.Model,
                          ExifTags.Base.Software, ExifTags.Base.DateTime, ExifTags.Base.Artist,
                          ExifTags.Base.Copyright, ExifTags.Base.Orientation}
HEIF_AS_JPEG_QUALITY = 92
_XMP_LOCATION = re.compile(rb"GPSLatitude|GPSLongitude|LocationCreated|LocationShown|photoshop:City"
                           rb"|Iptc4xmpCore:Location|Iptc4xmpCore:Sublocation")
_NOT_IMAGES = ((b"%PDF", _l("PDF documents are not accepted as images.")),
               (b"#!", _l("Scripts are not accepted as images.")),
               (b"PK\x03\x04", _l("Archives are not accepted as images.")))
# Bytes a pixel takes in Pillow's memory: one for bilevel, grey and palette images, two for 16-bit
# grey, four for the rest (RGB and YCbCr are kept with a padding byte).
_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
_TURNS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
          5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
          8: Image.Transpose.ROTATE_90}
_MAKER_SUFFIX = re.compile(r"[\s,]+(imaging|optical|electronics?|corporation|corp\.?|company"
                           r"|co\.?|ltd\.?|inc\.?)\b.*$", re.IGNORECASE)


class ImageError(Exception):
    """An upload Shoebox cannot keep as an image; `code` names the reason, `message` says it."""

    code = "image_error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code


class UnsupportedImage(ImageError):
    """Not an image type Shoebox accepts (HTML, SVG, PDF, a script, an unknown or empty file)."""

    code = "unsupported_image"


class CorruptImage(ImageError):
    """Looks like an accepted image type but cannot be decoded."""

    code = "corrupt_image"


class ImageTooLarge(ImageError):
    """Too many pixels or frames, or a decompression bomb."""

    code = "image_too_large"


class ImageNeedsTooMuchMemory(ImageTooLarge):
    """Its decoded frames would take more than the memory limit; `needed` and `limit` are bytes."""

    def __init__(self, needed: int, limit: int, *, animated: bool):
        if animated:
            message = _("The animation would need %(needed)s of memory to process; Shoebox accepts up to "
                        "%(limit)s.", needed=_mebibytes(needed), limit=_mebibytes(limit))
        else:
            message = _("The image would need %(needed)s of memory to process; Shoebox accepts up to %(limit)s.",
                        needed=_mebibytes(needed), limit=_mebibytes(limit))
        super().__init__(message)
        self.needed, self.limit, self.animated = needed, limit, animated


def _mebibytes(size: int) -> str:
    """1.5 GB, 335.6 MB, 256 MB: binary multiples, as the app shows sizes everywhere."""
    value, unit = (size / 1024**3, "GB") if size >= 1024**3 else (size / 1024**2, "MB")
    return f"{round(value, 1):g} {unit}"


@dataclass(frozen=True)
class Limits:
    """Bounds checked from the header, before any pixel is decoded."""

    max_pixels: int = 100_000_000
    max_frames: int = 1000
    max_side: int = 30_000
    max_animation_pixels: int = 1_000_000_000  # frames x width x height: decoding time of an animation
    # Bytes of all decoded frames (frames x width x height x bytes a pixel takes in Pillow): what
    # decoding costs in memory. Width, height and frames can each be modest while their product is not.
    max_memory: int = 256 * 1024**2


@dataclass
class PhotoMetadata:
    """Facts from EXIF.

    `taken_at` is always timezone-aware UTC. With the photo's recorded UTC offset it is the true
    instant; without one (most cameras) it is the camera's wall-clock time labelled UTC, so that
    "15:56" on the camera is shown as 15:56, never shifted by the server's zone.
    """

    taken_at: datetime | None
    camera: str
    lens: str
    latitude: float | None
    longitude: float | None


@dataclass
class ProbeResult:
    """What an accepted image is; width and height as displayed (EXIF orientation applied)."""

    format: str
    mime_type: str
    ext: str
    width: int
    height: int
    frames: int
    animated: bool
    orientation: int
    has_location: bool
    metadata: PhotoMetadata


# --- what a file is ----------------------------------------------------------------------------

def sniff_is_image(head: bytes) -> bool:
    """Whether the first bytes of a file carry the signature of an accepted image format."""
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*",
                        b"II+\x00", b"MM\x00+")):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    if head[4:8] == b"ftyp":
        return head[8:12] in {b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1",
                              b"msf1"}
    # "BM" alone is too common a start for text; a BMP header size follows at byte 14.
    return head[:2] == b"BM" and int.from_bytes(head[14:18], "little") in {12, 40, 52, 56, 64, 108, 124}


def _refuse_known_non_images(head: bytes) -> None:
    if not head:
        raise UnsupportedImage(_("The file is empty."), code="empty_file")
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n\x0c")
    if start.startswith(b"<"):
        raise UnsupportedImage(_("HTML, SVG and other markup files are not accepted as images."))
    for magic, message in _NOT_IMAGES:
        if start.startswith(magic):
            raise UnsupportedImage(str(message))


@contextmanager
def _opened(path: str | Path):
    """Open with the accepted formats only, bomb warnings raised and metadata warnings ignored."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path, formats=_OPENERS) as im:
            yield im


def probe(path: str | Path, limits: Limits = Limits()) -> ProbeResult:
    """Identify an uploaded file by its content and check its limits from the header.

    A still image's pixels are not decoded here: render() decodes what the thumbnail needs, and
    that decode is what refuses a damaged or truncated file. An animation's frames are all decoded
    here, since its thumbnail shows only the first (and a TIFF, see below).
    """
    with open(path, "rb") as file:
        head = file.read(64)
    _refuse_known_non_images(head)
    with _decoding(head):
        with _opened(path) as im:
            fmt = _CANONICAL.get(im.format, im.format)
            frames = _check_limits(im, fmt, limits)
            # An animation's frames, and a TIFF, which Pillow turns upright as it decodes (then its size and
            # orientation are known). First: reading a PNG's EXIF may decode it, and must not hide an error.
            if frames > 1 or fmt == "TIFF":
                _decode(im, frames)
            orientation, has_location = _orientation(im), _has_location(im)
            metadata = _metadata(im)
            width, height = im.size
    if orientation >= 5:
        width, height = height, width
    mime_type, ext = ACCEPTED[fmt]
    return ProbeResult(fmt, mime_type, ext, width, height, frames, frames > 1, orientation, has_location, metadata)


@contextmanager
def _decoding(head: bytes):
    """Whatever a decoder raises on untrusted bytes, as an ImageError: the signature decides what it was."""
    try:
        yield
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(_("The image has too many pixels to be processed safely.")) from exc
    except Exception as exc:
        if sniff_is_image(head):
            raise CorruptImage(_("The image is damaged or incomplete and cannot be read.")) from exc
        raise UnsupportedImage(_("The file is not an image type Shoebox accepts.")) from exc


def _check_limits(im: Image.Image, fmt: str, limits: Limits) -> int:
    """Refuse oversized images from their header; return the number of frames to show."""
    width, height = im.size
    if width * height > limits.max_pixels or max(width, height) > limits.max_side:
        raise ImageTooLarge(_("The image is %(width)s×%(height)s pixels, more than Shoebox accepts.",
                              width=width, height=height))
    frames = im.n_frames if fmt in _ANIMATED_FORMATS and getattr(im, "is_animated", False) else 1
    if frames > limits.max_frames or frames * width * height > limits.max_animation_pixels:
        raise ImageTooLarge(_("The animation has %(frames)s frames, more than Shoebox accepts.", frames=frames))
    # Pillow decodes every GIF frame after the first in RGB or RGBA, whatever the header's mode.
    mode = "RGBA" if fmt == "GIF" and frames > 1 else im.mode
    needed = frames * width * height * _PIXEL_BYTES.get(mode, 4)
    if needed > limits.max_memory:
        raise ImageNeedsTooMuchMemory(needed, limits.max_memory, animated=frames > 1)
    return frames


def _decode(im: Image.Image, frames: int) -> None:
    for frame in range(frames):
        im.seek(frame)
        im.load()
    im.seek(0)


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation still to apply: HEIF and TIFF readers turn the image themselves (then 1)."""
    value = _orientation_tag(im)
    return value if value in range(1, 9) else 1


def _orientation_tag(im: Image.Image) -> int | None:
    try:
        return im.getexif().get(ExifTags.Base.Orientation)
    except Exception:
        return None


def _has_location(im: Image.Image) -> bool:
    try:
        gps = im.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    except Exception:
        gps = {}
    # A GPS directory holding only its version number (Canon does this) says nothing about where.
    if any(tag != ExifTags.GPS.GPSVersionID for tag in gps):
        return True
    return bool(_XMP_LOCATION.search(_xmp(im) or b""))


def _xmp(im: Image.Image) -> bytes | None:
    value = im.info.get("xmp")
    return value.encode() if isinstance(value, str) else value


# --- the stored original -----------------------------------------------------------------------

def normalise(src_path: str | Path, dest_path: str | Path, probe_result: ProbeResult, *,
              keep_location: bool) -> tuple[str, str]:
    """Write the image to keep as the original at dest_path; return its (mime_type, ext).

    The pixels are re-encoded only when an image other than a JPEG must be turned upright. Its
    location is removed from the metadata in place (location.remove_location), leaving the
    compressed pixels as they were; only a file whose metadata that cannot edit is re-encoded
    without it instead.
    """
    strip = probe_result.has_location and not keep_location
    with _opened(src_path) as im:
        # Also turned: a meaningless Orientation (0) and a TIFF's, which Pillow applies as it decodes.
        upright = _orientation_tag(im) in (None, 1)
    # A JPEG keeps its EXIF orientation, which browsers and photo viewers apply (CSS image-orientation
    # is from-image by default since 2020), as every size made from it does: re-encoding each photo a
    # phone took held upright would cost a full decode and encode and a generation of quality.
    as_it_is = upright or (probe_result.format == "JPEG" and probe_result.orientation != 1)
    if as_it_is and not strip:
        _write_atomically(dest_path, lambda tmp: shutil.copyfile(src_path, tmp))
        return probe_result.mime_type, probe_result.ext
    if as_it_is and _write_atomically(dest_path, lambda tmp: _located_nowhere(src_path, tmp)):
        return probe_result.mime_type, probe_result.ext
    return _reencode(src_path, dest_path, probe_result, strip=strip)


def _located_nowhere(src_path: str | Path, tmp: str) -> bool:
    """Whether the copy at tmp, its location removed in place, reads back as having none."""
    if not location.remove_location(Path(src_path), Path(tmp)):
        return False
    try:
        with _opened(tmp) as im:
            return not _has_location(im)
    except Exception:
        return False


def _reencode(src_path, dest_path, probe_result: ProbeResult, *, strip: bool) -> tuple[str, str]:
    """Decode and save the image upright (and without its location when `strip`); a HEIF becomes a JPEG."""
    fmt = "JPEG" if probe_result.format == "HEIF" else probe_result.format
    with _opened(src_path) as im:
        metadata = _metadata_to_keep(im, strip=strip)
        if fmt == "JPEG" and im.format == "JPEG" and probe_result.orientation == 1:
            # Same pixels, same quantisation tables: the closest to lossless Pillow can do.
            _write_atomically(dest_path, lambda tmp: im.save(tmp, "JPEG", quality="keep", **metadata,
                                                             progressive=bool(im.info.get("progressive"))))
        else:
            _write_atomically(dest_path, lambda tmp: _save_upright(im, tmp, fmt, probe_result, metadata))
    return ACCEPTED[fmt]


def _metadata_to_keep(im: Image.Image, *, strip: bool) -> dict:
    """The EXIF (upright, maybe without GPS), ICC profile and XMP to write into a re-saved image."""
    kept = {}
    try:
        exif = _exif_copy(im)
        if ExifTags.Base.Orientation in exif:
            exif[ExifTags.Base.Orientation] = 1
        if strip and ExifTags.IFD.GPSInfo in exif:
            del exif[ExifTags.IFD.GPSInfo]
        if exif:
            kept["exif"] = exif.tobytes()
    except Exception:  # EXIF too damaged to rewrite is dropped, the pixels are still good
        pass
    if im.info.get("icc_profile"):
        kept["icc_profile"] = im.info["icc_profile"]
    xmp = _xmp(im)
    if xmp and not (strip and _XMP_LOCATION.search(xmp)):
        kept["xmp"] = xmp
    return kept


def _exif_copy(im: Image.Image) -> Image.Exif:
    """The image's EXIF as a new object: exif_transpose still needs the image's own Orientation."""
    source, exif = im.getexif(), Image.Exif()
    if im.format != "TIFF":
        exif.load(source.tobytes())
        return exif
    # A TIFF's EXIF is its whole image directory (sizes, strips); only descriptive tags may travel.
    for tag in _TIFF_DESCRIPTIVE_TAGS & set(source):
        exif[tag] = source[tag]
    for ifd in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo):
        if details := {k: v for k, v in source.get_ifd(ifd).items() if k != ExifTags.IFD.Interop}:
            exif[ifd] = details
    return exif


def _save_upright(im: Image.Image, tmp: str, fmt: str, probe_result: ProbeResult, metadata: dict) -> None:
    options = {**_RESAVE_OPTIONS[fmt], **metadata}
    if probe_result.format == "HEIF":
        options["quality"] = HEIF_AS_JPEG_QUALITY
    if not probe_result.animated:
        upright = ImageOps.exif_transpose(im)
        if fmt == "JPEG":
            upright = upright.convert("RGB") if upright.mode not in ("RGB", "L", "CMYK") else upright
            if im.format == "JPEG" and JpegImagePlugin.get_sampling(im) >= 0:
                options["subsampling"] = JpegImagePlugin.get_sampling(im)
        upright.save(tmp, fmt, **options)
        return
    if "loop" in im.info:  # absent means "play once" in a GIF
        options["loop"] = im.info["loop"]
    # The WebP and AVIF writers encode each frame as they seek to it, so one or two frames are in
    # memory at a time. Pillow's GIF and APNG writers keep every frame until the end: there the
    # Limits.max_memory bound that probe() checked is what keeps the cost in check.
    frames = _UprightFrames(im, probe_result.orientation)
    frames.save(tmp, fmt, save_all=True, duration=frames.durations, **options)


class _UprightFrames(Image.Image):
    """An open animation seen one upright frame at a time: seek(n) decodes and turns frame n only.

    `durations` fills in as frames are visited; every writer reads a frame's duration only after
    seeking to that frame, so it may be handed to save() before the frames are decoded.
    """

    def __init__(self, source: Image.Image, orientation: int):
        super().__init__()
        self._source, self._turn, self._frame = source, _TURNS.get(orientation), -1
        self.n_frames, self.is_animated = source.n_frames, True
        self.durations: list[int | None] = [None] * source.n_frames
        self.seek(0)

    def seek(self, frame: int) -> None:
        """Make frame `frame` of the source, turned upright, this image's pixels."""
        if frame == self._frame:
            return
        if not 0 <= frame < self.n_frames:
            raise EOFError("no such frame")
        self._source.seek(frame)
        upright = self._source.transpose(self._turn) if self._turn else self._source.copy()
        self.im, self._mode, self._size, self.palette = upright.im, upright.mode, upright.size, upright.palette
        # Metadata travels only in the options save() is given (upright, maybe without location).
        self.info = {key: value for key, value in upright.info.items() if key not in ("exif", "xmp")}
        self.durations[frame] = self._source.info.get("duration", 100)
        self._frame = frame

    def tell(self) -> int:
        """The frame shown now."""
        return self._frame


def _write_atomically(dest_path: str | Path, write):
    """Call write(temp_path) next to dest_path, then move the result into place in one step.

    A write that returns False is given up: the temporary file goes and dest_path is left alone.
    Returns what write returned.
    """
    dest = Path(dest_path)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        written = write(tmp)
        if written is False:
            Path(tmp).unlink(missing_ok=True)
        else:
            os.replace(tmp, dest)
        return written
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- metadata ------------------------------------------------------------------------------------

def read_metadata(path: str | Path) -> PhotoMetadata:
    """Capture time, camera, lens and position from EXIF; whatever cannot be read is left empty."""
    try:
        with _opened(path) as im:
            return _metadata(im)
    except Exception:
        return PhotoMetadata(None, "", "", None, None)


def _metadata(im: Image.Image) -> PhotoMetadata:
    try:
        exif = im.getexif()
        base, details, gps = dict(exif), _ifd(exif, ExifTags.IFD.Exif), _ifd(exif, ExifTags.IFD.GPSInfo)
    except Exception:
        return PhotoMetadata(None, "", "", None, None)
    latitude, longitude = _position(gps)
    return PhotoMetadata(taken_at=_taken_at(details),
                         camera=_camera(_text(base.get(ExifTags.Base.Make)), _text(base.get(ExifTags.Base.Model))),
                         lens=_text(details.get(ExifTags.Base.LensModel)),
                         latitude=latitude, longitude=longitude)


def _ifd(exif: Image.Exif, tag: int) -> dict:
    try:
        return dict(exif.get_ifd(tag))
    except Exception:
        return {}


def _text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(value.replace("\x00", " ").split()) if isinstance(value, str) else ""


def _camera(make: str, model: str) -> str:
    """'Canon' + 'Canon EOS 40D' -> 'Canon EOS 40D'; 'NIKON' + 'COOLPIX P6000' -> 'NIKON COOLPIX P6000'."""
    brand = _MAKER_SUFFIX.sub("", make).strip(" ,")
    if not brand or model.lower().startswith(brand.split()[0].lower()):
        return model or brand
    return f"{brand} {model}".strip()


def _taken_at(details: dict) -> datetime | None:
    for moment, offset in ((ExifTags.Base.DateTimeOriginal, ExifTags.Base.OffsetTimeOriginal),
                           (ExifTags.Base.DateTimeDigitized, ExifTags.Base.OffsetTimeDigitized)):
        try:
            taken = datetime.strptime(_text(details.get(moment)), "%Y:%m:%d %H:%M:%S")
        except ValueError:  # missing, blank or "0000:00:00 00:00:00"
            continue
        match = re.fullmatch(r"([+-])(\d\d):(\d\d)", _text(details.get(offset)))
        if not match:
            return taken.replace(tzinfo=timezone.utc)
        sign = 1 if match[1] == "+" else -1
        local = timezone(sign * timedelta(hours=int(match[2]), minutes=int(match[3])))
        return taken.replace(tzinfo=local).astimezone(timezone.utc)
    return None


def _position(gps: dict) -> tuple[float | None, float | None]:
    latitude = _degrees(gps.get(ExifTags.GPS.GPSLatitude), _text(gps.get(ExifTags.GPS.GPSLatitudeRef)), "S", 90)
    longitude = _degrees(gps.get(ExifTags.GPS.GPSLongitude), _text(gps.get(ExifTags.GPS.GPSLongitudeRef)), "W", 180)
    if latitude is None or longitude is None:
        return None, None
    return latitude, longitude


def _degrees(dms, ref: str, negative: str, bound: float) -> float | None:
    """Degrees, minutes, seconds (EXIF rationals) as signed decimal degrees; None if not a real position."""
    try:
        degrees, minutes, seconds = (float(part) for part in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = degrees + minutes / 60 + seconds / 3600
    if not 0 <= value <= bound:  # NaN from a zero denominator fails this too
        return None
    return round(-value if ref.upper().startswith(negative) else value, 7)


# --- derived images ------------------------------------------------------------------------------

@dataclass
class Rendition:
    """An encoded, upright, smaller copy of an image, and the image's average colour ('#rrggbb')."""

    data: bytes
    width: int
    height: int
    placeholder: str


def render(src_path: str | Path, max_side: int, *, format: str = "WEBP", quality: int = 80) -> Rendition:
    """An upright image fitting max_side x max_side (never enlarged), from one decode scaled to need.

    The decode reads every byte of the pixel data (libjpeg at 1/2, 1/4 or 1/8 scale still reads the
    whole stream), so a damaged or truncated file is refused here as CorruptImage.
    """
    with open(src_path, "rb") as file:
        head = file.read(64)
    with _decoding(head), _opened(src_path) as im:
        if im.format in ("JPEG", "MPO"):
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale, never below the target size.
            im.draft("RGB", _fitted(im.size, max_side))
        im.thumbnail((max_side, max_side), reducing_gap=3.0)
        small = _display_mode(ImageOps.exif_transpose(im), alpha=format.upper() != "JPEG")
        icc_profile = im.info.get("icc_profile")
    options = {"WEBP": {"method": 4}, "AVIF": {"speed": 8}}.get(format.upper(), {})
    if icc_profile and icc_profile[16:20] == b"RGB ":  # wide-gamut phone photos keep their colours
        options["icc_profile"] = icc_profile
    buffer = io.BytesIO()
    small.save(buffer, format, quality=quality, **options)
    return Rendition(buffer.getvalue(), small.width, small.height, _average_colour(small))


def render_picture(picture: Image.Image, max_side: int, *, quality: int = 80) -> Rendition:
    """render() for a picture already decoded and upright (a video's poster frame), as WebP."""
    small = picture.copy()
    small.thumbnail((max_side, max_side), reducing_gap=3.0)
    small = _display_mode(small, alpha=False)
    buffer = io.BytesIO()
    small.save(buffer, "WEBP", quality=quality, method=4)
    return Rendition(buffer.getvalue(), small.width, small.height, _average_colour(small))


def thumbnail(src_path: str | Path, max_side: int, *, format: str = "WEBP",
              quality: int = 80) -> tuple[bytes, int, int]:
    """render() as (encoded bytes, width, height)."""
    made = render(src_path, max_side, format=format, quality=quality)
    return made.data, made.width, made.height


def _fitted(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _display_mode(im: Image.Image, *, alpha: bool) -> Image.Image:
    """RGB, or RGBA when the image has transparency and the output can keep it."""
    if im.mode.startswith("I") or im.mode == "F":
        im = im.convert("I").point(lambda value: value * (1 / 256)).convert("L")  # 16-bit greys
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    mode = "RGBA" if alpha and has_alpha else "RGB"
    return im if im.mode == mode else im.convert(mode)


def _average_colour(im: Image.Image) -> str:
    tiny = im.resize((1, 1), Image.Resampling.BOX)
    if tiny.mode == "RGBA":  # transparent parts count as the white page behind them
        tiny = Image.alpha_composite(Image.new("RGBA", tiny.size, "white"), tiny)
    red, green, blue = tiny.convert("RGB").getpixel((0, 0))
    return f"#{red:02x}{green:02x}{blue:02x}"
