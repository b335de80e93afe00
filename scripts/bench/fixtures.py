"""The test images: a 12 MP camera-like JPEG and a ~30 MB PNG, made fresh with Pillow."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image, ImageChops, ImageFilter

from common import MB, ROOT

PHOTO = ROOT.parent / "shared" / "corpus" / "photos" / "HMD_Nokia_8.3_5G.jpg"
SIZE_12MP = (4000, 3000)


def photo_12mp(dest: Path) -> Path:
    """A 4000x3000 JPEG (quality 90): a real photo upscaled, with sensor-like noise added."""
    base = _base_picture().resize(SIZE_12MP, Image.Resampling.LANCZOS)
    noisy = ImageChops.add(base, _noise(SIZE_12MP, sigma=6), offset=-128)
    noisy.save(dest, "JPEG", quality=90)
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
