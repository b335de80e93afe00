"""webapp.imaging as a specification: what is accepted, what is refused, and what is stored."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from datetime import datetime, timezone

import pytest
from PIL import ExifTags, Image, ImageChops, ImageOps, ImageStat, features
from PIL.TiffImagePlugin import IFDRational

from tests.fixtures.media import corpus_file, make_flat_png, make_sparse_webp
from webapp import imaging
from webapp.imaging import CorruptImage, ImageTooLarge, Limits, UnsupportedImage

needs_avif = pytest.mark.skipif(not features.check("avif"), reason="this Pillow has no AVIF support")


# --- factories -----------------------------------------------------------------------------------

def make_exif(*, orientation=None, gps=False, make=None, model=None, taken=None, offset=None) -> bytes:
    """EXIF bytes with only the given facts; gps=True places the photo in Paris."""
    exif = Image.Exif()
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    if make:
        exif[ExifTags.Base.Make] = make
    if model:
        exif[ExifTags.Base.Model] = model
    details = {}
    if taken:
        details[ExifTags.Base.DateTimeOriginal] = taken
    if offset:
        details[ExifTags.Base.OffsetTimeOriginal] = offset
    if details:
        exif[ExifTags.IFD.Exif] = details
    if gps:
        exif[ExifTags.IFD.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (48.0, 51.0, 24.0),
                                      ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (2.0, 21.0, 3.0)}
    return exif.tobytes()


def landscape(size=(64, 32), mode="RGB") -> Image.Image:
    """A picture whose left half is blue and right half red: easy to tell which way is up."""
    im = Image.new(mode, size, "red")
    im.paste("blue", (0, 0, size[0] // 2, size[1]))
    return im


def make_image(tmp_path, name="photo.jpg", *, fmt="JPEG", image=None, **save_options):
    path = tmp_path / name
    (image or landscape()).save(path, fmt, **save_options)
    return path


def make_jpeg(tmp_path, name="photo.jpg", *, size=(64, 32), exif=b"", **save_options):
    return make_image(tmp_path, name, image=landscape(size), exif=exif, **save_options)


def make_file(tmp_path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def stored_exif(path) -> Image.Exif:
    with Image.open(path) as im:
        exif = im.getexif()
        exif.get_ifd(ExifTags.IFD.GPSInfo)  # read it before the file closes
        return exif


def small_rgb(path_or_image, size=16) -> Image.Image:
    im = Image.open(path_or_image) if not isinstance(path_or_image, Image.Image) else path_or_image
    with im:
        return im.convert("RGB").resize((size, size), Image.Resampling.BOX)


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def accepted(path, limits=Limits()) -> imaging.ProbeResult:
    """What the upload pipeline checks before it keeps an image: the header, then the thumbnail's decode."""
    result = imaging.probe(path, limits)
    imaging.render(path, 400)
    return result


def normalised(tmp_path, source, *, keep_location=False, name="original"):
    """Probe and normalise source; return (stored path, mime_type, ext)."""
    dest = tmp_path / name
    mime_type, ext = imaging.normalise(source, dest, imaging.probe(source), keep_location=keep_location)
    return dest, mime_type, ext


# --- what is accepted ----------------------------------------------------------------------------

FORMATS = {
    # file: (format, mime type, extension, (width, height), frames)
    "anim_frame1.webp": ("WEBP", "image/webp", "webp", (82, 82), 1),
    "animated-42-frames.webp": ("WEBP", "image/webp", "webp", (245, 245), 42),
    "animated-5-frames.gif": ("GIF", "image/gif", "gif", (100, 100), 5),
    "exif_gps.jpg": ("JPEG", "image/jpeg", "jpg", (8, 8), 1),
    "hopper.avif": ("AVIF", "image/avif", "avif", (128, 128), 1),
    "hopper.bmp": ("BMP", "image/bmp", "bmp", (128, 128), 1),
    "hopper.gif": ("GIF", "image/gif", "gif", (128, 128), 1),
    "hopper.jpg": ("JPEG", "image/jpeg", "jpg", (128, 128), 1),
    "hopper.png": ("PNG", "image/png", "png", (128, 128), 1),
    "hopper.tif": ("TIFF", "image/tiff", "tif", (128, 128), 1),
    "hopper.webp": ("WEBP", "image/webp", "webp", (128, 128), 1),
    # An AVIF image sequence: Pillow 13 reads every frame of it natively, so it is an animation.
    "star.avifs": ("AVIF", "image/avif", "avif", (159, 159), 5),
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_corpus_format_probes_with_its_type_size_and_frames(name):
    fmt, mime_type, ext, (width, height), frames = FORMATS[name]
    if fmt == "AVIF" and not features.check("avif"):
        pytest.skip("this Pillow has no AVIF support")
    result = imaging.probe(corpus_file("formats", name))
    assert (result.format, result.mime_type, result.ext) == (fmt, mime_type, ext)
    assert (result.width, result.height, result.frames) == (width, height, frames)
    assert result.animated is (frames > 1)
    assert result.orientation == 1


def test_every_file_in_the_formats_folder_is_specified():
    folder = corpus_file("formats")
    assert sorted(os.listdir(folder)) == sorted(FORMATS)


def test_iphone_heic_probes_as_heif_with_its_location():
    result = imaging.probe(corpus_file("photos", "IMG_5195.HEIC"))
    assert (result.format, result.mime_type, result.ext) == ("HEIF", "image/heic", "heic")
    assert (result.width, result.height, result.frames, result.animated) == (2566, 3313, 1, False)
    assert result.has_location


def test_type_comes_from_the_content_not_the_name(tmp_path):
    png_named_jpeg = make_image(tmp_path, "holiday.jpg", fmt="PNG")
    assert imaging.probe(png_named_jpeg).format == "PNG"


def test_multi_picture_jpeg_is_a_jpeg(tmp_path):
    path = tmp_path / "two.mpo"
    landscape().save(path, "MPO", save_all=True, append_images=[landscape()])
    with Image.open(path) as im:
        assert im.format == "MPO"  # Pillow's own name for it
    result = accepted(path)
    assert (result.format, result.mime_type, result.frames, result.animated) == ("JPEG", "image/jpeg", 1, False)


@pytest.mark.parametrize("head", [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\0\0\0\0WEBPVP8 ",
                                  b"\0\0\0\x18ftypheic", b"\0\0\0\x1cftypavif", b"II*\0", b"MM\0*",
                                  b"BM" + bytes(12) + (40).to_bytes(4, "little")])
def test_sniff_recognises_accepted_image_signatures(head):
    assert imaging.sniff_is_image(head)


@pytest.mark.parametrize("head", [b"", b"<!doctype html>", b"%PDF-1.7", b"#!/bin/sh", b"BMW owners club",
                                  b"\0\0\0\x18ftypmp42", b"PK\x03\x04"])
def test_sniff_refuses_everything_else(head):
    assert not imaging.sniff_is_image(head)


# --- what is refused -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, error", [
    ("decompression_bomb.gif", ImageTooLarge),
    ("truncated_image.png", CorruptImage),
    ("broken_data_stream.png", CorruptImage),
    # A PNG signature followed by bytes mangled by a text-mode copy: it claims to be a PNG, so it is damaged.
    ("broken.png", CorruptImage),
])
def test_every_broken_corpus_file_is_refused_with_the_right_error(name, error):
    with pytest.raises(error) as raised:
        accepted(corpus_file("broken", name))
    assert re.fullmatch(r"[a-z]+(_[a-z]+)*", raised.value.code)
    assert raised.value.message.endswith(".")


def test_every_broken_corpus_file_is_specified():
    assert sorted(os.listdir(corpus_file("broken"))) == sorted(
        ["decompression_bomb.gif", "truncated_image.png", "broken_data_stream.png", "broken.png"])


@pytest.mark.parametrize("name, content", [
    ("empty.jpg", b""),
    ("page.jpg", b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"),
    ("page.png", b"\n\n  <html><img src=x onerror=alert(1)></html>"),
    ("logo.svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    ("bom.svg", b'\xef\xbb\xbf<svg xmlns="http://www.w3.org/2000/svg"/>'),
    ("doc.jpg", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"),
    ("run.gif", b"#!/bin/sh\nrm -rf /\n"),
    ("shell.jpg", b"<?php system($_GET['c']); ?>"),
    ("archive.png", b"PK\x03\x04" + bytes(40)),
    ("noise.jpg", bytes(range(256)) * 4),
    ("letter.bmp", b"BMW owners club newsletter, spring edition"),
])
def test_files_that_are_not_images_are_unsupported(tmp_path, name, content):
    with pytest.raises(UnsupportedImage) as raised:
        accepted(make_file(tmp_path, name, content))
    assert raised.value.message


def test_empty_file_says_it_is_empty(tmp_path):
    with pytest.raises(UnsupportedImage) as raised:
        accepted(make_file(tmp_path, "empty.jpg", b""))
    assert (raised.value.code, raised.value.message) == ("empty_file", "The file is empty.")


def test_truncated_jpeg_is_corrupt(tmp_path):
    whole = make_jpeg(tmp_path, size=(400, 300), quality=95).read_bytes()
    with pytest.raises(CorruptImage):
        accepted(make_file(tmp_path, "cut.jpg", whole[: len(whole) // 2]))


def test_truncated_animation_is_corrupt(tmp_path):
    frames = [Image.new("RGB", (80, 80), colour) for colour in ("red", "green", "blue", "white")]
    whole = make_image(tmp_path, "anim.gif", fmt="GIF", image=frames[0], save_all=True,
                       append_images=frames[1:]).read_bytes()
    with pytest.raises(CorruptImage):
        accepted(make_file(tmp_path, "cut.gif", whole[:-40]))


# --- limits --------------------------------------------------------------------------------------

def test_too_many_pixels_is_refused_before_decoding(tmp_path):
    whole = make_image(tmp_path, "big.png", fmt="PNG", image=Image.new("1", (5000, 5000))).read_bytes()
    # Without its pixel data a decode would fail as corrupt: too large means the header alone decided.
    header_only = make_file(tmp_path, "header.png", whole[:200])
    with pytest.raises(ImageTooLarge):
        imaging.probe(header_only, Limits(max_pixels=1_000_000))
    with pytest.raises(ImageTooLarge):
        imaging.probe(tmp_path / "big.png", Limits(max_pixels=1_000_000))
    with pytest.raises(CorruptImage):
        accepted(header_only)


def test_too_long_a_side_is_refused(tmp_path):
    path = make_image(tmp_path, "strip.png", fmt="PNG", image=Image.new("RGB", (400, 2)))
    with pytest.raises(ImageTooLarge):
        imaging.probe(path, Limits(max_side=300))


def test_too_many_frames_is_refused(tmp_path):
    frames = [Image.new("L", (10, 10), shade) for shade in range(0, 250, 50)]
    path = make_image(tmp_path, "anim.gif", fmt="GIF", image=frames[0], save_all=True, append_images=frames[1:])
    assert imaging.probe(path).frames == 5
    with pytest.raises(ImageTooLarge):
        imaging.probe(path, Limits(max_frames=4))
    with pytest.raises(ImageTooLarge):
        imaging.probe(path, Limits(max_animation_pixels=5 * 10 * 10 - 1))


def test_decompression_bomb_warning_is_an_error_not_a_warning(tmp_path, monkeypatch):
    path = make_image(tmp_path, "wide.png", fmt="PNG", image=Image.new("RGB", (40, 40)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1600 pixels: over it, yet under twice it
    with pytest.raises(ImageTooLarge):
        accepted(path)


def test_animation_needing_more_memory_than_the_bound_is_refused_with_one_sentence(tmp_path):
    # 20 KB in the file, 400 frames of 1000x1000 once decoded: 1.6 GB.
    path = make_file(tmp_path, "attack.webp", make_sparse_webp((1000, 1000), 400, orientation=6))
    with pytest.raises(ImageTooLarge) as refused:
        accepted(path)
    assert refused.value.message == ("The animation would need 1.5 GB of memory to process; "
                                     "Shoebox accepts up to 256 MB.")


def test_88_megapixel_png_is_refused_from_its_header(tmp_path):
    # The header alone: a decode would find no pixels, so only the header can have decided.
    path = make_file(tmp_path, "huge.png", make_flat_png(9380, 9380, rows=0))
    with pytest.raises(ImageTooLarge) as refused:
        accepted(path)
    assert refused.value.message == "The image would need 335.6 MB of memory to process; Shoebox accepts up to 256 MB."


def test_memory_bound_counts_frames_pixels_and_bytes_per_pixel(tmp_path):
    frames = [Image.new("L", (10, 10), shade) for shade in range(0, 250, 50)]
    grey = make_image(tmp_path, "grey.png", fmt="PNG", image=frames[0], save_all=True, append_images=frames[1:])
    colour = make_image(tmp_path, "colour.png", fmt="PNG", image=frames[0].convert("RGB"), save_all=True,
                        append_images=[frame.convert("RGB") for frame in frames[1:]])
    assert imaging.probe(grey, Limits(max_memory=5 * 10 * 10)).frames == 5
    with pytest.raises(ImageTooLarge):
        imaging.probe(grey, Limits(max_memory=5 * 10 * 10 - 1))
    assert imaging.probe(colour, Limits(max_memory=5 * 10 * 10 * 4)).frames == 5
    with pytest.raises(ImageTooLarge):
        imaging.probe(colour, Limits(max_memory=5 * 10 * 10 * 4 - 1))


def test_a_fifty_megapixel_photo_is_within_the_default_memory_bound(tmp_path):
    whole = make_jpeg(tmp_path, size=(16, 16)).read_bytes()
    start_of_frame = whole.index(b"\xff\xc0") + 5  # precision, then height and width
    header = whole[:start_of_frame] + (5792).to_bytes(2, "big") + (8688).to_bytes(2, "big") \
        + whole[start_of_frame + 4:whole.index(b"\xff\xda")]
    # Past the limits, the decode finds no pixels: corrupt, not too large.
    with pytest.raises(CorruptImage):
        accepted(make_file(tmp_path, "50mp.jpg", header))


def four_frames() -> list[Image.Image]:
    """Four different frames: the landscape, marked in a corner, then both upside down."""
    frames = [landscape().rotate(angle) for angle in (0, 0, 180, 180)]
    frames[1].paste("green", (0, 0, 8, 8))
    frames[3].paste("green", (0, 0, 8, 8))
    return frames


def assert_frames(path, frames: list[Image.Image], durations: list[int]) -> None:
    with Image.open(path) as im:
        assert (im.n_frames, im.size, im.getexif().get(ExifTags.Base.Orientation, 1)) == \
            (len(frames), frames[0].size, 1)
        for number, frame in enumerate(frames):
            im.seek(number)
            assert mean_difference(small_rgb(im.convert("RGB")), small_rgb(frame)) < 8, number
            assert im.info["duration"] == durations[number]


@pytest.mark.parametrize("fmt, options", [("WEBP", {"lossless": True}), ("PNG", {})])
def test_turned_animation_is_stored_upright_with_every_frame_and_duration(tmp_path, fmt, options):
    frames = four_frames()
    source = make_image(tmp_path, f"anim.{fmt.lower()}", fmt=fmt, image=frames[0], save_all=True,
                        append_images=frames[1:], duration=[100, 200, 300, 400], loop=0,
                        exif=make_exif(orientation=6), **options)
    stored, _, _ = normalised(tmp_path, source)
    # Orientation 6 means: turn a quarter clockwise to show it.
    assert_frames(stored, [frame.transpose(Image.Transpose.ROTATE_270) for frame in frames], [100, 200, 300, 400])


@needs_avif
def test_avif_animation_losing_its_location_keeps_every_frame_and_duration(tmp_path):
    # Pillow cannot write an AVIF sequence with a turning Orientation (it crashes), so only location.
    frames = four_frames()
    source = make_image(tmp_path, "anim.avif", fmt="AVIF", image=frames[0], save_all=True, append_images=frames[1:],
                        duration=[100, 200, 300, 400], quality=100, exif=make_exif(gps=True))
    stored, _, _ = normalised(tmp_path, source)
    assert not imaging.probe(stored).has_location
    assert_frames(stored, frames, [100, 200, 300, 400])


_PEAK_MEMORY = """
import re, sys
from pathlib import Path
from webapp import imaging

def peak_kib():
    return int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text())[1])

source, dest = sys.argv[1:]
before = peak_kib()
imaging.normalise(source, dest, imaging.probe(source), keep_location=False)
print((peak_kib() - before) // 1024)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak memory from Linux's /proc")
def test_turning_an_animation_upright_keeps_only_a_few_frames_in_memory(tmp_path):
    # 180 frames of 600x600 decode to 247 MiB, just under the default bound. Measured in a fresh
    # process by its VmHWM (ru_maxrss would start from this process's size, inherited across exec).
    source = make_file(tmp_path, "anim.webp", make_sparse_webp((600, 600), 180, orientation=6))
    result = subprocess.run([sys.executable, "-c", _PEAK_MEMORY, str(source), str(tmp_path / "upright")],
                            capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent)
    assert int(result.stdout) < 64, f"normalising took {result.stdout.strip()} MiB more at its peak"
    with Image.open(tmp_path / "upright") as im:
        assert (im.n_frames, im.getexif().get(ExifTags.Base.Orientation, 1)) == (180, 1)


# --- the stored original -------------------------------------------------------------------------

def test_upright_image_without_location_is_stored_byte_identical(tmp_path):
    source = make_jpeg(tmp_path, exif=make_exif(orientation=1, make="Canon", model="Canon EOS 40D"))
    stored, mime_type, ext = normalised(tmp_path, source)
    assert stored.read_bytes() == source.read_bytes()
    assert (mime_type, ext) == ("image/jpeg", "jpg")


@pytest.mark.parametrize("folder, name", [("orientation", "Landscape_1.jpg"), ("formats", "hopper.png"),
                                          ("photos", "no_exif.jpg"), ("formats", "animated-5-frames.gif")])
def test_corpus_images_needing_no_change_are_stored_byte_identical(tmp_path, folder, name):
    source = corpus_file(folder, name)
    stored, _, _ = normalised(tmp_path, source)
    assert stored.read_bytes() == source.read_bytes()


@pytest.mark.parametrize("n", range(9))
def test_every_jpeg_orientation_is_kept_as_it_is_and_displays_upright(tmp_path, n):
    """A JPEG keeps its bytes and its EXIF orientation, which browsers, viewers and every size apply; only the
    meaningless Orientation 0 is rewritten as 1."""
    source = corpus_file("orientation", f"Landscape_{n}.jpg")
    result = imaging.probe(source)
    assert (result.width, result.height) == (1800, 1200)  # as displayed
    stored, mime_type, _ = normalised(tmp_path, source)
    assert mime_type == "image/jpeg"
    with Image.open(stored) as im:
        orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
        shown = ImageOps.exif_transpose(im)
        assert shown.width > shown.height
    if n == 0:
        assert orientation == 1
    else:
        assert orientation == n and stored.read_bytes() == source.read_bytes()
    reference = small_rgb(corpus_file("orientation", "Landscape_1.jpg"))
    assert mean_difference(small_rgb(shown), reference) < 3
    data, width, height = imaging.thumbnail(stored, 400)
    assert width > height and mean_difference(small_rgb(io.BytesIO(data)), reference) < 3


@pytest.mark.parametrize("fmt, name", [("PNG", "turned.png"), ("WEBP", "turned.webp"), ("TIFF", "turned.tif"),
                                       pytest.param("AVIF", "turned.avif", marks=needs_avif)])
def test_other_formats_are_stored_upright_without_gps_in_their_own_format(tmp_path, fmt, name):
    # Stored on its side (portrait pixels) with Orientation 6: displayed as the landscape picture.
    source = make_image(tmp_path, name, fmt=fmt, image=landscape().transpose(Image.Transpose.ROTATE_90),
                        exif=make_exif(orientation=6, make="Canon", gps=True))
    assert (imaging.probe(source).width, imaging.probe(source).height) == (64, 32)
    stored, mime_type, _ = normalised(tmp_path, source)
    assert mime_type == imaging.ACCEPTED[fmt][0]
    with Image.open(stored) as im:
        assert (im.format, im.size) == (fmt, (64, 32))
        exif = im.getexif()
        assert exif.get(ExifTags.Base.Orientation, 1) == 1
        assert exif.get(ExifTags.Base.Make) == "Canon"
        assert exif.get_ifd(ExifTags.IFD.GPSInfo) == {}
    assert mean_difference(small_rgb(stored), small_rgb(landscape())) < 8


def test_turned_tiff_is_stored_upright_too(tmp_path):
    # Pillow's TIFF reader turns the image itself as it decodes: the probe sees it upright already.
    source = make_image(tmp_path, "turned.tif", fmt="TIFF", image=landscape().transpose(Image.Transpose.ROTATE_90),
                        exif=make_exif(orientation=6))
    result = imaging.probe(source)
    assert (result.width, result.height, result.orientation) == (64, 32, 1)
    stored, _, _ = normalised(tmp_path, source)
    with Image.open(stored) as im:
        assert (im.size, im.getexif().get(ExifTags.Base.Orientation, 1)) == ((64, 32), 1)
    data, width, height = imaging.thumbnail(source, 64)
    assert (width, height) == (64, 32)
    assert mean_difference(small_rgb(io.BytesIO(data)), small_rgb(landscape())) < 8
    assert mean_difference(small_rgb(stored), small_rgb(landscape())) < 8


@pytest.mark.parametrize("folder, name", [("formats", "exif_gps.jpg"), ("photos", "DSCN0010.jpg"),
                                          ("photos", "HMD_Nokia_8.3_5G.jpg")])
def test_photos_lose_their_gps_unless_the_owner_keeps_location(tmp_path, folder, name):
    source = corpus_file(folder, name)
    assert imaging.probe(source).has_location
    stripped, mime_type, _ = normalised(tmp_path, source, keep_location=False, name="stripped")
    assert mime_type == "image/jpeg"
    assert stored_exif(stripped).get_ifd(ExifTags.IFD.GPSInfo) == {}
    assert not imaging.probe(stripped).has_location
    assert stored_exif(stripped).get(ExifTags.Base.Make) == stored_exif(source).get(ExifTags.Base.Make)
    kept, _, _ = normalised(tmp_path, source, keep_location=True, name="kept")
    assert kept.read_bytes() == source.read_bytes()


def test_removing_gps_from_a_jpeg_keeps_its_quality(tmp_path):
    source = corpus_file("photos", "DSCN0010.jpg")
    stripped, _, _ = normalised(tmp_path, source)
    with Image.open(source) as before, Image.open(stripped) as after:
        assert after.quantization == before.quantization
        assert after.info.get("icc_profile") == before.info.get("icc_profile")
        assert mean_difference(before.convert("RGB"), after.convert("RGB")) < 1
    assert abs(stripped.stat().st_size - source.stat().st_size) < source.stat().st_size * 0.1


def test_heic_with_location_stays_a_heic_without_it_and_with_the_same_pixels(tmp_path):
    source = corpus_file("photos", "IMG_5195.HEIC")
    stripped, mime_type, ext = normalised(tmp_path, source, keep_location=False)
    assert (mime_type, ext) == ("image/heic", "heic")
    assert stripped.stat().st_size == source.stat().st_size  # the metadata edited in place
    with Image.open(stripped) as after, Image.open(source) as before:
        assert (after.format, after.size) == ("HEIF", (2566, 3313))
        assert after.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
        assert after.getexif().get(ExifTags.Base.Model) == "iPhone 11 Pro Max"
        assert after.tobytes() == before.tobytes()
    assert imaging.read_metadata(stripped).taken_at == imaging.read_metadata(source).taken_at


def test_removing_location_from_a_jpeg_leaves_its_pixels_bit_identical(tmp_path):
    source = corpus_file("photos", "DSCN0010.jpg")
    stripped, _, _ = normalised(tmp_path, source)
    with Image.open(source) as before, Image.open(stripped) as after:
        assert after.tobytes() == before.tobytes()
        assert after.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}


def test_heic_kept_with_location_is_stored_as_heic(tmp_path):
    source = corpus_file("photos", "IMG_5195.HEIC")
    kept, mime_type, ext = normalised(tmp_path, source, keep_location=True)
    assert (mime_type, ext) == ("image/heic", "heic")
    assert kept.read_bytes() == source.read_bytes()


def test_location_in_xmp_is_removed_too(tmp_path):
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description exif:GPSLatitude="48,51.4N"/></x:xmpmeta>'
    source = make_jpeg(tmp_path, xmp=xmp)
    assert imaging.probe(source).has_location
    stripped, _, _ = normalised(tmp_path, source)
    with Image.open(stripped) as im:
        assert b"GPSLatitude" not in im.info.get("xmp", b"")


def test_xmp_without_location_survives_gps_removal(tmp_path):
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description xmp:Rating="5"/></x:xmpmeta>'
    source = make_jpeg(tmp_path, exif=make_exif(gps=True), xmp=xmp)
    stripped, _, _ = normalised(tmp_path, source)
    with Image.open(stripped) as im:
        assert im.info["xmp"] == xmp


def test_gps_directory_with_only_a_version_is_no_location(tmp_path):
    assert not imaging.probe(corpus_file("photos", "Canon_40D.jpg")).has_location


def test_animation_losing_its_location_stays_animated(tmp_path):
    frames = [landscape().rotate(angle) for angle in (0, 90, 180)]
    source = make_image(tmp_path, "anim.webp", fmt="WEBP", image=frames[0], save_all=True, append_images=frames[1:],
                        duration=[100, 200, 300], loop=0, exif=make_exif(gps=True))
    assert imaging.probe(source).has_location
    stored, mime_type, _ = normalised(tmp_path, source)
    assert mime_type == "image/webp"
    result = imaging.probe(stored)
    assert (result.frames, result.animated, result.has_location) == (3, True, False)
    with Image.open(stored) as im:
        durations = []
        for frame in range(im.n_frames):
            im.seek(frame)
            im.load()
            durations.append(im.info["duration"])
    assert durations == [100, 200, 300]


def test_normalise_writes_only_the_destination(tmp_path):
    source = make_jpeg(tmp_path, exif=make_exif(orientation=6, gps=True))
    out = tmp_path / "out"
    out.mkdir()
    imaging.normalise(source, out / "original", imaging.probe(source), keep_location=False)
    assert os.listdir(out) == ["original"]


# --- metadata ------------------------------------------------------------------------------------

def test_metadata_of_a_canon_photo():
    meta = imaging.read_metadata(corpus_file("photos", "Canon_40D.jpg"))
    assert meta.camera == "Canon EOS 40D"
    # No UTC offset recorded: the camera's clock, labelled UTC.
    assert meta.taken_at == datetime(2008, 5, 30, 15, 56, 1, tzinfo=timezone.utc)
    assert meta.lens == ""  # Canon keeps the lens in its maker note, which is not read
    assert (meta.latitude, meta.longitude) == (None, None)


def test_metadata_of_a_nikon_photo():
    meta = imaging.read_metadata(corpus_file("photos", "Nikon_D70.jpg"))
    assert (meta.camera, meta.taken_at) == ("NIKON D70", datetime(2008, 3, 15, 9, 52, 1, tzinfo=timezone.utc))
    assert (meta.latitude, meta.longitude) == (None, None)


def test_metadata_with_gps_gives_decimal_degrees():
    meta = imaging.read_metadata(corpus_file("photos", "DSCN0010.jpg"))
    assert meta.camera == "NIKON COOLPIX P6000"
    assert meta.taken_at == datetime(2008, 10, 22, 16, 28, 39, tzinfo=timezone.utc)
    assert meta.latitude == pytest.approx(43 + 28 / 60 + 2.814 / 3600)
    assert meta.longitude == pytest.approx(11 + 53 / 60 + 6.456 / 3600, abs=1e-6)


def test_metadata_with_an_offset_is_utc():
    meta = imaging.read_metadata(corpus_file("photos", "HMD_Nokia_8.3_5G.jpg"))
    assert meta.taken_at == datetime(2022, 8, 14, 11, 12, 31, tzinfo=timezone.utc)  # 14:12:31 at +03:00
    assert meta.latitude == pytest.approx(60.14670, abs=1e-5)


def test_metadata_of_an_iphone_heic_with_west_longitude():
    meta = imaging.read_metadata(corpus_file("photos", "IMG_5195.HEIC"))
    assert meta.camera == "Apple iPhone 11 Pro Max"
    assert meta.lens == "iPhone 11 Pro Max back triple camera 4.25mm f/1.8"
    assert meta.taken_at == datetime(2021, 4, 11, 20, 47, 53, tzinfo=timezone.utc)  # 15:47:53 at -05:00
    assert meta.latitude == pytest.approx(39 + 3 / 60 + 4.84 / 3600)
    assert meta.longitude == pytest.approx(-(94 + 17 / 60 + 19.58 / 3600))


def test_metadata_of_an_iphone_jpeg_has_its_lens():
    meta = imaging.read_metadata(corpus_file("photos", "iphone_hdr_YES.jpg"))
    assert (meta.camera, meta.lens) == ("Apple iPhone 6", "iPhone 6 back camera 4.15mm f/2.2")
    assert meta.longitude < 0


def test_corrupt_exif_never_raises_and_keeps_what_is_readable(tmp_path):
    source = corpus_file("oddexif", "corrupted-exif.jpg")
    meta = imaging.read_metadata(source)
    assert meta.taken_at == datetime(2015, 9, 8, 11, 2, 17, tzinfo=timezone.utc)
    assert meta.camera.startswith("OLYMPUS")
    assert imaging.probe(source).width == 3648
    stored, _, _ = normalised(tmp_path, source)
    assert stored.exists()


def test_garbage_exif_gives_empty_metadata_not_an_error(tmp_path):
    source = make_jpeg(tmp_path, exif=b"Exif\x00\x00II*\x00" + bytes(range(200)))
    meta = imaging.read_metadata(source)
    assert (meta.taken_at, meta.latitude) == (None, None)
    assert imaging.probe(source).format == "JPEG"


def test_gps_with_zero_denominators_is_no_position(tmp_path):
    exif = Image.Exif()
    zero = IFDRational(0, 0)
    exif[ExifTags.IFD.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (zero, zero, zero),
                                  ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (zero, zero, zero)}
    meta = imaging.read_metadata(make_jpeg(tmp_path, exif=exif.tobytes()))
    assert (meta.latitude, meta.longitude) == (None, None)


def test_camera_name_drops_the_company_suffix(tmp_path):
    source = make_jpeg(tmp_path, exif=make_exif(make="OLYMPUS IMAGING CORP.  ", model="E-M5\x00",
                                                 taken="2020:01:02 03:04:05", offset="+01:00"))
    meta = imaging.read_metadata(source)
    assert meta.camera == "OLYMPUS E-M5"
    assert meta.taken_at == datetime(2020, 1, 2, 2, 4, 5, tzinfo=timezone.utc)


def test_metadata_of_an_image_without_exif_is_empty():
    meta = imaging.read_metadata(corpus_file("photos", "no_exif.jpg"))
    assert meta == imaging.PhotoMetadata(None, "", "", None, None)


# --- thumbnails and placeholders -----------------------------------------------------------------

def test_thumbnail_keeps_the_aspect_ratio_and_is_a_webp():
    data, width, height = imaging.thumbnail(corpus_file("photos", "HMD_Nokia_8.3_5G.jpg"), 400)
    assert width == 400 and abs(height - 400 * 1976 / 4608) <= 1
    with Image.open(io.BytesIO(data)) as im:
        assert (im.format, im.size) == ("WEBP", (width, height))
        im.load()


def test_thumbnail_never_enlarges():
    data, width, height = imaging.thumbnail(corpus_file("formats", "hopper.jpg"), 400)
    assert (width, height) == (128, 128)
    with Image.open(io.BytesIO(data)) as im:
        assert im.size == (128, 128)


@pytest.mark.parametrize("n", [3, 6, 8])
def test_thumbnail_of_a_turned_photo_is_upright(n):
    _, reference_width, reference_height = imaging.thumbnail(corpus_file("orientation", "Landscape_1.jpg"), 120)
    data, width, height = imaging.thumbnail(corpus_file("orientation", f"Landscape_{n}.jpg"), 120)
    assert (width, height) == (reference_width, reference_height) == (120, 80)
    reference = small_rgb(corpus_file("orientation", "Landscape_1.jpg"))
    assert mean_difference(small_rgb(io.BytesIO(data)), reference) < 6


def test_thumbnail_of_an_animation_is_its_first_frame():
    data, width, height = imaging.thumbnail(corpus_file("formats", "animated-5-frames.gif"), 50)
    with Image.open(io.BytesIO(data)) as im:
        assert (im.size, getattr(im, "n_frames", 1)) == ((50, 50), 1)


def test_thumbnail_keeps_transparency(tmp_path):
    source = make_image(tmp_path, "clear.png", fmt="PNG", image=Image.new("RGBA", (300, 200), (0, 0, 0, 0)))
    data, _, _ = imaging.thumbnail(source, 100)
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "RGBA"
        assert im.getpixel((10, 10))[3] == 0


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", pytest.param("AVIF", marks=needs_avif)])
def test_thumbnail_in_other_formats(fmt):
    data, width, height = imaging.thumbnail(corpus_file("photos", "HMD_Nokia_8.3_5G.jpg"), 200, format=fmt)
    with Image.open(io.BytesIO(data)) as im:
        assert (im.format, im.size) == (fmt, (width, height))


def test_thumbnail_of_a_heic():
    data, width, height = imaging.thumbnail(corpus_file("photos", "IMG_5195.HEIC"), 200)
    assert height == 200 and width < height


def test_thumbnail_of_sixteen_bit_grey_is_not_white(tmp_path):
    source = make_image(tmp_path, "deep.png", fmt="PNG", image=Image.new("I;16", (40, 40), 128 * 256))
    data, _, _ = imaging.thumbnail(source, 20)
    with Image.open(io.BytesIO(data)) as im:
        assert abs(im.convert("L").getpixel((5, 5)) - 128) < 4


def test_placeholder_colour_is_the_average_colour(tmp_path):
    solid = make_image(tmp_path, "red.png", fmt="PNG", image=Image.new("RGB", (50, 50), (200, 30, 40)))
    assert imaging.render(solid, 400).placeholder == "#c81e28"


@pytest.mark.parametrize("folder, name", [("photos", "HMD_Nokia_8.3_5G.jpg"), ("photos", "IMG_5195.HEIC"),
                                          ("formats", "animated-42-frames.webp"), ("formats", "hopper.bmp")])
def test_placeholder_colour_is_hex_for_any_image(folder, name):
    assert re.fullmatch(r"#[0-9a-f]{6}", imaging.render(corpus_file(folder, name), 400).placeholder)
