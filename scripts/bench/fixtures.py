"""The test images, made fresh with Pillow: a 12 MP camera-like JPEG (GPS, EXIF orientation, an ICC profile, as
a phone's are), a ~30 MB PNG, and the corpus iPhone photo's pixels as JPEG, AVIF and PNG."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image, ImageChops, ImageCms, ImageFilter

from common import MB, ROOT

CORPUS = ROOT.parent / "shared" / "corpus"
PHOTO = CORPUS / "photos" / "HMD_Nokia_8.3_5G.jpg"
IPHONE_HEIC = CORPUS / "photos" / "IMG_5195.HEIC"  # 2566x3313, with GPS and a Display P3 profile
ANIMATED_WEBP = CORPUS / "formats" / "animated-42-frames.webp"
SIZE_12MP = (4000, 3000)
ROTATED = 6  # EXIF orientation "rotate 90° clockwise to show", a phone held upright
GPS = {1: "N", 2: (52.0, 31.0, 12.5), 3: "E", 4: (13.0, 24.0, 36.25), 5: 0, 6: 34.0}  # GPSInfo IFD tags


def photo_12mp(dest: Path, size: tuple[int, int] = SIZE_12MP, exif: Image.Exif | None = None) -> Path:
    """A 4000x3000 JPEG (quality 90): a real photo upscaled, with sensor-like noise, an ICC profile and `exif`
    (by default a phone's: GPS and orientation 6)."""
    base = _base_picture().resize(size, Image.Resampling.LANCZOS)
    noisy = ImageChops.add(base, _noise(size, sigma=6), offset=-128)
    noisy.save(dest, "JPEG", quality=90, exif=camera_exif(ROTATED) if exif is None else exif,
               icc_profile=icc_profile())
    return dest


def camera_exif(orientation: int, gps: bool = True) -> Image.Exif:
    """EXIF as a phone writes it: a camera, an orientation and a GPS position."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Bench", "Phone", orientation  # Make, Model, Orientation
    if gps:
        exif.get_ifd(0x8825).update(GPS)
    return exif


def icc_profile() -> bytes:
    """The corpus iPhone photo's profile (Display P3) when the corpus is there, else Little CMS's sRGB."""
    if IPHONE_HEIC.exists():
        with _open_heic(IPHONE_HEIC) as im:
            if im.info.get("icc_profile"):
                return im.info["icc_profile"]
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _open_heic(path: Path) -> Image.Image:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    return Image.open(path)


def iphone_variants(folder: Path) -> dict[str, Path]:
    """The corpus iPhone HEIC and its pixels as a JPEG (quality 90), an AVIF and a PNG, each with its GPS EXIF
    and ICC profile; {} without the corpus."""
    if not IPHONE_HEIC.exists():
        return {}
    with _open_heic(IPHONE_HEIC) as im:
        pixels, icc = im.convert("RGB"), im.info.get("icc_profile")
        exif = im.getexif()
    exif[0x0112] = 1  # the decoder has already turned the pixels upright
    made = {"heic": IPHONE_HEIC, "jpeg": folder / "iphone.jpg", "avif": folder / "iphone.avif",
            "png": folder / "iphone.png"}
    pixels.save(made["jpeg"], "JPEG", quality=90, exif=exif, icc_profile=icc)
    pixels.save(made["avif"], "AVIF", quality=75, speed=8, exif=exif, icc_profile=icc)
    pixels.save(made["png"], "PNG", compress_level=6, exif=exif, icc_profile=icc)
    return made


def jpeg_of_about(dest: Path, target_bytes: int = 3 * MB) -> Path:
    """An upright JPEG with an ICC profile and no location of target_bytes, ±10 %: the 12 MP one's recipe, scaled.
    Nothing in it asks the upload pipeline to change it, so the stored original is this file."""
    side = SIZE_12MP[0]
    for _ in range(6):
        photo_12mp(dest, (side, side * 3 // 4), camera_exif(1, gps=False))
        size = dest.stat().st_size
        if abs(size - target_bytes) <= target_bytes // 10:
            break
        side = int(side * (target_bytes / size) ** 0.5)
    return dest


def _base_picture() -> Image.Image:
    """The corpus photo if it is there, otherwise smooth gradients with some structure."""
    if PHOTO.exists():
        with Image.open(PHOTO) as im:
            return im.convert("RGB")
    red = Image.linear_gradient("L").resize((800, 600))
    green = Image.radial_gradient("L").resize((800, 600))
    blue = ImageChops.invert(red).rotate(30).filter(ImageFilter.GaussianBlur(8))
    return Image.merge("RGB", (red, green, blue))


def _noise(size: tuple[int, int], sigma: float) -> Image.Image:
    """Gaussian noise centred on 128, independent in each channel."""
    return Image.merge("RGB", [Image.effect_noise(size, sigma) for _ in range(3)])


def big_png(dest: Path, target_bytes: int = 30 * MB) -> Path:
    """An RGB PNG of random pixels (it cannot compress) of about target_bytes."""
    side = int((target_bytes / 3) ** 0.5)
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(dest, "PNG", compress_level=1)
    return dest


def padded_png(dest: Path, target_bytes: int = 30 * MB) -> Path:
    """A 64x64 PNG followed by random bytes up to target_bytes: a big upload with almost no pixels.

    Image readers stop at the PNG's end, so it shows what receiving the bytes costs, without decoding.
    """
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "teal").save(buffer, "PNG")
    dest.write_bytes(buffer.getvalue() + os.urandom(target_bytes - buffer.tell()))
    return dest
