"""webapp.location as a specification: the location leaves the metadata, every pixel byte stays."""

from __future__ import annotations

import random
import struct
import xml.etree.ElementTree as ElementTree
import zlib
from pathlib import Path

import pillow_heif
import pytest
from PIL import ExifTags, Image, IptcImagePlugin, PngImagePlugin, features

from tests.fixtures.media import CORPUS, corpus_file
from webapp import imaging
from webapp.location import remove_location

pillow_heif.register_heif_opener()

needs_avif = pytest.mark.skipif(not features.check("avif"), reason="this Pillow has no AVIF support")
FORMATS = ["JPEG", "PNG", "WEBP", "TIFF", pytest.param("AVIF", marks=needs_avif), "HEIF"]
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "TIFF": "tif", "AVIF": "avif", "HEIF": "heic"}
CORPUS_PHOTOS_WITH_GPS = ["formats/exif_gps.jpg", "photos/Canon_40D.jpg", "photos/DSCN0010.jpg",
                          "photos/HMD_Nokia_8.3_5G.jpg", "photos/IMG_5195.HEIC", "photos/iphone_hdr_YES.jpg"]
PLACE_WORDS = [b"48,51", b"2,21", b"Lutetia", b"Gaul", b"Ile de la Cite", b"35/1"]
LOCATION_TRACES = PLACE_WORDS + [b"GPS", b"LocationShown", b"photoshop:City", b"photoshop:Country",
                                 b"Iptc4xmpCore:Location"]
LOCATION_XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
    exif:GPSLatitude="48,51.4N" photoshop:City="Lutetia" xmp:CreatorTool="Shoebox test">
   <exif:GPSLongitude>2,21.05E</exif:GPSLongitude>
   <exif:GPSAltitude>35/1</exif:GPSAltitude>
   <photoshop:Country>Gaul</photoshop:Country>
   <Iptc4xmpCore:Location>Ile de la Cite</Iptc4xmpCore:Location>
   <Iptc4xmpExt:LocationShown>
    <rdf:Bag><rdf:li rdf:parseType="Resource"><Iptc4xmpExt:City>Lutetia</Iptc4xmpExt:City></rdf:li></rdf:Bag>
   </Iptc4xmpExt:LocationShown>
   <xmp:Rating>4</xmp:Rating>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()
PLAIN_XMP = LOCATION_XMP.split(b"<rdf:Description")[0] + b"""<rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="Shoebox test"/></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"""


# --- factories -----------------------------------------------------------------------------------

def picture(size=(96, 64)) -> Image.Image:
    """A picture with detail in every channel, so a re-encode could not pass for the original."""
    width, height = size
    red = Image.linear_gradient("L").resize(size)
    green = Image.effect_mandelbrot(size, (-2.0, -1.2, 0.8, 1.2), 60)
    blue = Image.radial_gradient("L").resize(size)
    return Image.merge("RGB", (red, green, blue)).crop((0, 0, width, height))


def make_exif(*, gps: bool = True, xmp: bytes | None = None) -> bytes:
    """EXIF bytes naming the camera and the moment; gps=True places the photo in Paris."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Shoebox"
    exif[ExifTags.Base.Model] = "Test Camera 1"
    exif[ExifTags.IFD.Exif] = {ExifTags.Base.DateTimeOriginal: "2024:05:01 10:00:00"}
    if gps:
        exif[ExifTags.IFD.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (48.0, 51.0, 24.0),
                                      ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (2.0, 21.0, 3.0),
                                      ExifTags.GPS.GPSAreaInformation: "ASCII\x00\x00\x00Lutetia"}
    if xmp is not None:  # a TIFF's XMP is a tag of its image directory
        exif[700] = xmp
    return exif.tobytes()


def make_photo(tmp_path: Path, fmt: str, *, gps: bool = True, xmp: bytes | None = LOCATION_XMP,
               compress_xmp: bool = False) -> Path:
    """A photo in `fmt` with EXIF (maybe with GPS) and XMP where the format carries it."""
    path = tmp_path / f"photo.{EXTENSIONS[fmt]}"
    options = {"exif": make_exif(gps=gps)}
    if fmt == "PNG" and xmp:
        options["pnginfo"] = PngImagePlugin.PngInfo()
        options["pnginfo"].add_itxt("XML:com.adobe.xmp", xmp.decode(), zip=compress_xmp)
    elif fmt == "TIFF":
        options["exif"] = make_exif(gps=gps, xmp=xmp)
    elif xmp:
        options["xmp"] = xmp
    picture().save(path, fmt, **options)
    return path


def iptc(*datasets: tuple[int, bytes]) -> bytes:
    """IPTC-IIM record 2 with the given (dataset, value) pairs."""
    return b"".join(struct.pack(">BBBH", 0x1C, 2, dataset, len(value)) + value for dataset, value in datasets)


def photoshop_resources(iim: bytes) -> bytes:
    """Photoshop image resources: a copyright flag, then the IPTC-IIM block."""
    flag = b"8BIM" + struct.pack(">HBxI", 0x040A, 0, 1) + b"\x01\x00"
    return flag + b"8BIM" + struct.pack(">HBxI", 0x0404, 0, len(iim)) + iim + b"\x00" * (len(iim) % 2)


PLACE_IPTC = iptc((90, b"Lutetia"), (101, b"Gaul"), (120, b"A bridge over the river"), (92, b"Ile de la Cite"))


def with_segment(jpeg: Path, marker: bytes, payload: bytes) -> Path:
    """The JPEG with one more segment placed right after its start-of-image marker."""
    content = jpeg.read_bytes()
    jpeg.write_bytes(content[:2] + marker + struct.pack(">H", len(payload) + 2) + payload + content[2:])
    return jpeg


def raw_profile(data: bytes, name: str) -> str:
    """A PNG text profile as ImageMagick writes it: name, length, then hexadecimal lines."""
    hexed = data.hex()
    return f"\n{name}\n{len(data):8d}\n" + "\n".join(hexed[i:i + 72] for i in range(0, len(hexed), 72)) + "\n"


def cleaned(src: Path, tmp_path: Path) -> Path:
    dest = tmp_path / f"cleaned{src.suffix}"
    assert remove_location(src, dest) is True
    return dest


# --- what a reader of the file finds -------------------------------------------------------------

def metadata(path: Path) -> dict:
    with Image.open(path) as im:
        exif = im.getexif()
        xmp = im.info.get("xmp") or b""
        return {"gps": dict(exif.get_ifd(ExifTags.IFD.GPSInfo)), "make": exif.get(ExifTags.Base.Make),
                "model": exif.get(ExifTags.Base.Model),
                "taken": exif.get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.DateTimeOriginal),
                "xmp": xmp.encode() if isinstance(xmp, str) else xmp}


def decoded(path: Path) -> tuple:
    with Image.open(path) as im:
        return im.format, im.mode, im.size, im.tobytes()


def assert_no_location_in_xmp(xmp: bytes) -> None:
    for trace in LOCATION_TRACES:
        assert trace not in xmp
    root = ElementTree.fromstring(xmp)  # still well-formed XML
    description = root.find(".//{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description")
    assert description.get("{http://ns.adobe.com/xap/1.0/}CreatorTool") == "Shoebox test"
    assert description.find("{http://ns.adobe.com/xap/1.0/}Rating").text == "4"


def assert_image_data_unchanged(src: Path, dest: Path) -> None:
    """The compressed picture is the same bytes: only metadata may differ, and no length changes."""
    before, after = src.read_bytes(), dest.read_bytes()
    assert len(before) == len(after)
    fmt = decoded(src)[0]
    if fmt == "JPEG":
        start = first_scan(before)
        assert before[start:] == after[start:]
    elif fmt == "PNG":
        assert png_chunks(before, b"IDAT") == png_chunks(after, b"IDAT")
    elif fmt == "TIFF":
        for offset, length in tiff_strips(src):
            assert before[offset:offset + length] == after[offset:offset + length]
    else:  # WebP, HEIF, AVIF: every changed byte lies inside the EXIF or the XMP
        regions = metadata_regions(src, before)
        changed = changed_offsets(before, after)
        assert changed and all(any(start <= i < end for start, end in regions) for i in changed)


def changed_offsets(before: bytes, after: bytes, block: int = 4096) -> list[int]:
    return [i for at in range(0, len(before), block) if before[at:at + block] != after[at:at + block]
            for i in range(at, min(at + block, len(before))) if before[i] != after[i]]


def first_scan(jpeg: bytes) -> int:
    """Where the first start-of-scan marker is, found by walking the segments (not by searching)."""
    position = 2
    while jpeg[position + 1] != 0xDA:
        position += 2 + int.from_bytes(jpeg[position + 2:position + 4], "big")
    return position


def png_chunks(png: bytes, kind: bytes) -> list[bytes]:
    chunks, position = [], 8
    while position < len(png):
        length = int.from_bytes(png[position:position + 4], "big")
        if png[position + 4:position + 8] == kind:
            chunks.append(png[position + 8:position + 8 + length])
        position += 12 + length
    return chunks


def tiff_strips(path: Path) -> list[tuple[int, int]]:
    with Image.open(path) as im:
        return list(zip(im.tag_v2[273], im.tag_v2[279]))


def metadata_regions(path: Path, content: bytes) -> list[tuple[int, int]]:
    """Where the EXIF (from its TIFF header) and the XMP that Pillow reads lie in the file."""
    with Image.open(path) as im:
        blobs = [im.info.get("exif", b"").removeprefix(b"Exif\x00\x00"), im.info.get("xmp", b"")]
    regions = []
    for blob in filter(None, blobs):
        start = content.find(blob)
        assert start >= 0, "the metadata Pillow reads is not stored in one piece"
        regions.append((start, start + len(blob)))
    return regions


# --- location removed, everything else kept ------------------------------------------------------

@pytest.mark.parametrize("name", CORPUS_PHOTOS_WITH_GPS)
def test_every_corpus_photo_with_gps_loses_it_and_keeps_its_pixels_and_camera(name, tmp_path):
    src = corpus_file(*name.split("/"))
    dest = cleaned(src, tmp_path)
    before, after = metadata(src), metadata(dest)
    assert before["gps"] and after["gps"] == {}
    assert imaging.probe(dest).has_location is False
    assert (after["make"], after["model"], after["taken"]) == (before["make"], before["model"], before["taken"])
    assert decoded(dest) == decoded(src)
    assert_image_data_unchanged(src, dest)


def test_every_corpus_photo_with_gps_is_specified():
    corpus_file("photos")
    with_gps = set()
    for path in CORPUS.glob("*/*"):
        try:
            if metadata(path)["gps"]:
                with_gps.add(path.relative_to(CORPUS).as_posix())
        except Exception:  # not an image, or one Pillow cannot read: the broken/ folder
            continue
    assert with_gps == set(CORPUS_PHOTOS_WITH_GPS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_gps_and_xmp_location_leave_a_photo_whose_pixels_and_camera_stay(fmt, tmp_path):
    src = make_photo(tmp_path, fmt)
    assert metadata(src)["gps"] and b"Lutetia" in metadata(src)["xmp"]
    dest = cleaned(src, tmp_path)
    assert imaging.probe(src).has_location is True
    after = metadata(dest)
    assert after["gps"] == {} and imaging.probe(dest).has_location is False
    assert (after["make"], after["model"], after["taken"]) == ("Shoebox", "Test Camera 1", "2024:05:01 10:00:00")
    assert_no_location_in_xmp(after["xmp"])
    assert b"Lutetia" not in dest.read_bytes()  # nor anywhere else in the file (GPSAreaInformation)
    assert decoded(dest) == decoded(src)
    assert_image_data_unchanged(src, dest)


def test_every_picture_of_a_multi_picture_jpeg_loses_its_gps(tmp_path):
    src = tmp_path / "stereo.jpg"
    picture().save(src, "MPO", save_all=True, append_images=[picture().rotate(180)], exif=make_exif())
    dest = cleaned(src, tmp_path)
    with Image.open(dest) as cleaned_im, Image.open(src) as original:
        for frame in range(2):
            cleaned_im.seek(frame)
            original.seek(frame)
            assert cleaned_im.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
            assert cleaned_im.getexif().get(ExifTags.Base.Model) == "Test Camera 1"
            assert cleaned_im.tobytes() == original.tobytes()


def test_iptc_places_in_a_jpeg_become_spaces_and_its_caption_stays(tmp_path):
    app13 = b"Photoshop 3.0\x00" + photoshop_resources(PLACE_IPTC)
    src = with_segment(make_photo(tmp_path, "JPEG"), b"\xff\xed", app13)
    dest = cleaned(src, tmp_path)
    with Image.open(dest) as im:
        found = IptcImagePlugin.getiptcinfo(im)
    assert found[(2, 120)] == b"A bridge over the river"
    assert found[(2, 90)].strip() == found[(2, 101)].strip() == found[(2, 92)].strip() == b""
    assert not any(word in dest.read_bytes() for word in PLACE_WORDS)
    assert decoded(dest) == decoded(src)
    assert_image_data_unchanged(src, dest)


def test_iptc_places_in_a_tiff_become_spaces(tmp_path):
    src = tmp_path / "photo.tif"
    exif = Image.Exif()
    exif.load(make_exif())
    exif[33723] = PLACE_IPTC
    picture().save(src, "TIFF", exif=exif.tobytes())
    dest = cleaned(src, tmp_path)
    assert b"A bridge over the river" in dest.read_bytes()
    assert not any(word in dest.read_bytes() for word in PLACE_WORDS)
    assert decoded(dest) == decoded(src)
    assert_image_data_unchanged(src, dest)


def test_compressed_png_xmp_with_location_is_left_out_and_the_image_data_kept(tmp_path):
    src = make_photo(tmp_path, "PNG", compress_xmp=True)
    assert b"Lutetia" in metadata(src)["xmp"]
    dest = cleaned(src, tmp_path)
    assert metadata(dest)["xmp"] == b""
    assert metadata(dest)["gps"] == {} and metadata(dest)["model"] == "Test Camera 1"
    assert png_chunks(dest.read_bytes(), b"IDAT") == png_chunks(src.read_bytes(), b"IDAT")
    assert decoded(dest) == decoded(src)


@pytest.mark.parametrize("compressed", [False, True])
def test_a_png_raw_exif_profile_with_gps_is_left_out_and_the_image_data_kept(compressed, tmp_path):
    src = tmp_path / "photo.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("Raw profile type exif", raw_profile(b"Exif\x00\x00" + make_exif(), "exif"), zip=compressed)
    picture().save(src, "PNG", pnginfo=info)
    assert metadata(src)["gps"]
    dest = cleaned(src, tmp_path)
    assert metadata(dest)["gps"] == {}
    assert b"Raw profile" not in dest.read_bytes()
    assert png_chunks(dest.read_bytes(), b"IDAT") == png_chunks(src.read_bytes(), b"IDAT")
    assert decoded(dest) == decoded(src)


def test_compressed_png_xmp_without_location_is_kept(tmp_path):
    src = make_photo(tmp_path, "PNG", gps=False, xmp=PLAIN_XMP, compress_xmp=True)
    dest = cleaned(src, tmp_path)
    assert dest.read_bytes() == src.read_bytes()


# --- files without location ----------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_a_photo_without_location_comes_out_byte_identical(fmt, tmp_path):
    src = make_photo(tmp_path, fmt, gps=False, xmp=PLAIN_XMP)
    assert cleaned(src, tmp_path).read_bytes() == src.read_bytes()


@pytest.mark.parametrize("name", ["photos/no_exif.jpg", "photos/Nikon_D70.jpg", "photos/45-gps_ifd.jpg",
                                  "formats/hopper.png", "formats/hopper.webp", "formats/hopper.tif",
                                  "formats/hopper.avif", "formats/animated-42-frames.webp"])
def test_a_corpus_photo_without_location_comes_out_byte_identical(name, tmp_path):
    src = corpus_file(*name.split("/"))
    assert cleaned(src, tmp_path).read_bytes() == src.read_bytes()


# --- what is refused -----------------------------------------------------------------------------

def test_the_corpus_photo_with_corrupt_exif_is_refused_or_cleaned_never_an_error(tmp_path):
    src = corpus_file("oddexif", "corrupted-exif.jpg")
    dest = tmp_path / "cleaned.jpg"
    if remove_location(src, dest):
        assert metadata(dest)["gps"] == {}
        assert_image_data_unchanged(src, dest)
    else:
        assert not dest.exists()


def tiff_header_with_gps_at(gps_offset: bytes, gps_directory: bytes) -> bytes:
    """EXIF whose IFD0 holds Make and the GPS pointer, then the GPS directory as given."""
    ifd0 = struct.pack("<H", 2) + struct.pack("<HHI4s", 0x010F, 2, 4, b"Cam\x00")
    ifd0 += struct.pack("<HHI", 0x8825, 4, 1) + gps_offset + b"\x00\x00\x00\x00"
    return b"II*\x00" + struct.pack("<I", 8) + ifd0 + gps_directory


@pytest.mark.parametrize("exif", [
    # the GPS directory says 5 entries; the EXIF ends after one
    tiff_header_with_gps_at(struct.pack("<I", 38), struct.pack("<H", 5) + struct.pack("<HHII", 2, 5, 3, 56)),
    # the latitude's three rationals are said to lie far past the end of the EXIF
    tiff_header_with_gps_at(struct.pack("<I", 38), struct.pack("<H", 1) + struct.pack("<HHII", 2, 5, 3, 4000)
                            + b"\x00" * 4),
    # the GPS pointer itself points past the end
    tiff_header_with_gps_at(struct.pack("<I", 9000), b""),
], ids=["directory cut short", "value outside", "pointer outside"])
def test_a_gps_directory_that_cannot_be_read_is_refused(exif, tmp_path):
    src = tmp_path / "photo.jpg"
    picture().save(src, "JPEG", exif=b"Exif\x00\x00" + exif)
    dest = tmp_path / "cleaned.jpg"
    assert remove_location(src, dest) is False
    assert not dest.exists()


def test_a_jpeg_with_location_in_its_extended_xmp_is_refused(tmp_path):
    # Extended XMP is split across segments at arbitrary points: blanking it in place is not attempted.
    extension = LOCATION_XMP
    payload = b"http://ns.adobe.com/xmp/extension/\x00" + b"0" * 32 + struct.pack(">II", len(extension), 0)
    src = with_segment(make_photo(tmp_path, "JPEG", xmp=PLAIN_XMP), b"\xff\xe1", payload + extension)
    assert remove_location(src, tmp_path / "cleaned.jpg") is False


def test_tiff_location_that_would_overwrite_image_data_is_refused(tmp_path):
    src = make_photo(tmp_path, "TIFF", xmp=None)
    content = bytearray(src.read_bytes())
    latitude = struct.pack("<HHI", ExifTags.GPS.GPSLatitude, 5, 3)  # Pillow writes TIFFs little-endian
    at = content.index(latitude) + len(latitude)
    content[at:at + 4] = struct.pack("<I", tiff_strips(src)[0][0])
    src.write_bytes(content)
    assert remove_location(src, tmp_path / "cleaned.tif") is False


@pytest.mark.parametrize("content", [b"", b"hello, world\n", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", b"\xff\xd8\xff",
                                     b"\x89PNG\r\n\x1a\n\x00\x00", b"RIFF\x10\x00\x00\x00WEBPVP8 ",
                                     b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"])
def test_a_file_that_is_not_an_image_or_is_cut_short_is_refused(content, tmp_path):
    src = tmp_path / "upload"
    src.write_bytes(content)
    assert remove_location(src, tmp_path / "cleaned") is False
    assert not (tmp_path / "cleaned").exists()


@pytest.mark.parametrize("name", ["hopper.gif", "hopper.bmp"])
def test_formats_this_module_does_not_edit_are_left_to_the_caller(name, tmp_path):
    assert remove_location(corpus_file("formats", name), tmp_path / name) is False


@pytest.mark.parametrize("fmt", FORMATS)
def test_damaged_metadata_is_refused_or_cleaned_never_an_error(fmt, tmp_path):
    original = make_photo(tmp_path, fmt).read_bytes()
    regions = [(0, min(len(original), 4096))]  # every format here keeps its metadata near the start
    if fmt in ("AVIF", "HEIF"):
        regions += metadata_regions(tmp_path / f"photo.{EXTENSIONS[fmt]}", original)
    damaged, dest = tmp_path / f"damaged.{EXTENSIONS[fmt]}", tmp_path / f"cleaned.{EXTENSIONS[fmt]}"
    rng = random.Random(f"location-{fmt}")
    for _ in range(150):
        content = bytearray(original)
        for _ in range(rng.choice((1, 2, 8))):
            start, end = rng.choice(regions)
            content[rng.randrange(start, end)] = rng.randrange(256)
        damaged.write_bytes(content)
        if remove_location(damaged, dest):
            assert_still_without_gps(dest)
        else:
            assert not dest.exists()
        dest.unlink(missing_ok=True)


def assert_still_without_gps(path: Path) -> None:
    """Whatever Pillow can still read of a damaged file's EXIF has no GPS position in it."""
    try:
        gps = metadata(path)["gps"]
    except Exception:  # the damage made the file unreadable to Pillow as well
        return
    assert ExifTags.GPS.GPSLatitude not in gps and ExifTags.GPS.GPSLongitude not in gps


@pytest.mark.parametrize("compress_xmp", [False, True], ids=["xmp blanked", "xmp left out"])
def test_every_png_chunk_checksum_is_right_after_the_edit(compress_xmp, tmp_path):
    dest = cleaned(make_photo(tmp_path, "PNG", compress_xmp=compress_xmp), tmp_path)
    content, position = dest.read_bytes(), 8
    while position < len(content):
        length = int.from_bytes(content[position:position + 4], "big")
        body = content[position + 4:position + 8 + length]
        assert zlib.crc32(body) == int.from_bytes(content[position + 8 + length:position + 12 + length], "big")
        position += 12 + length
