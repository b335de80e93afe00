"""Location removed from an image's metadata in place: the compressed pixels are never touched.

Every edit keeps its bytes' length, so no offset in any container changes (JPEG segments, PNG and
WebP chunks, TIFF directories, HEIF/AVIF item locations): the EXIF GPS directory is emptied and its
values zeroed, and the places named in XMP and IPTC become spaces, which keeps the XML well-formed.
The one exception is a compressed or hex-encoded PNG text chunk holding a location, which is left out
whole. A file whose structure cannot be read with certainty is refused (False), never guessed at;
GIF and BMP are refused too (they are left to the caller's re-encoding).
"""

from __future__ import annotations

import os
import re
import shutil
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable

_Patch = tuple[int, bytes]  # (offset, the bytes written there)

_GPS_POINTER, _XMP_TAG, _IPTC_TAG, _PHOTOSHOP_TAG, _MP_ENTRY = 0x8825, 700, 33723, 34377, 0xB002
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_TIFF_PIXELS = ((273, 279), (324, 325), (513, 514))  # strips, tiles, old-style JPEG: offsets, lengths
_MAX_GPS_VALUES = 64 * 1024  # a real GPS directory holds a few hundred bytes
_MAX_METADATA = 16 * 1024**2  # larger EXIF or XMP is refused rather than read into memory
_MAX_DIRECTORIES = 10_000

# A qualified XML name that says where: exif:GPSLatitude, drone-dji:GpsLongitude, photoshop:City... A
# namespace declaration (xmlns:gps="...") is not one: blanking it would orphan the elements using it.
_LOCATION_NAME = (rb"(?<![\w.-])(?!xmlns:)[A-Za-z_][\w.-]*:(?:(?i:gps)\w*|LocationCreated|LocationShown|City"
                  rb"|State|Country|CountryCode|Location|Sublocation)")
# Where a location tag or attribute starts; where it ends is found with str.find, so that hostile
# XMP (thousands of unclosed tags) costs one pass, not one pass per tag.
_XMP_LOCATION_TAG = re.compile(rb"<(/?)(" + _LOCATION_NAME + rb")(?=[\s/>])")
_XMP_LOCATION_ATTRIBUTE = re.compile(rb"(?<=\s)" + _LOCATION_NAME + rb"\s*=\s*([\"'])")
_XMP_LOCATION_LEFT = re.compile(_LOCATION_NAME + rb"(?![\w.-])")

# IPTC-IIM datasets of record 2 that say where: location code and name, city, sublocation,
# province or state, country code and name.
_IPTC_LOCATION = {26, 27, 90, 92, 95, 100, 101}
_PHOTOSHOP_IPTC, _PHOTOSHOP_XMP = 0x0404, 0x0424
_PHOTOSHOP_SIGNATURES = {b"8BIM", b"PHUT", b"DCSR", b"AgHg", b"MeSa"}

_JPEG_EXIF, _JPEG_XMP = b"Exif\x00", b"http://ns.adobe.com/xap/1.0/\x00"
_JPEG_PHOTOSHOP = b"Photoshop 3.0\x00"
_JPEG_EXTENDED_XMP = b"http://ns.adobe.com/xmp/extension/\x00"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT = (b"tEXt", b"zTXt", b"iTXt")
_PNG_XMP_KEYS = {b"XML:com.adobe.xmp"}
_PNG_EXIF_KEYS = {b"exif"}  # Pillow reads a text chunk named "exif" as raw EXIF
_PNG_RAW_PROFILES = {b"Raw profile type exif": "exif", b"Raw profile type APP1": "exif",
                     b"Raw profile type xmp": "xmp", b"Raw profile type iptc": "iptc",
                     b"Raw profile type 8bim": "iptc"}
_HEIF_BRANDS = {b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


class _CannotEdit(Exception):
    """The file's structure is not one this module can edit safely."""


@dataclass
class _Plan:
    """What to change in a copy: bytes written over at offsets, and whole ranges left out."""

    patches: list[_Patch] = field(default_factory=list)
    cuts: list[tuple[int, int]] = field(default_factory=list)  # (offset, length), in file order


def remove_location(src: Path, dest: Path) -> bool:
    """Write src to dest with every location in its metadata neutralised, pixels' bytes untouched.

    False (dest not written) when the file's structure is not one this module can edit safely.
    """
    try:
        with open(src, "rb") as file:
            plan = _plan(file, os.fstat(file.fileno()).st_size)
    except _CannotEdit:
        return False
    try:
        _write(Path(src), Path(dest), plan)
    except BaseException:
        Path(dest).unlink(missing_ok=True)
        raise
    return True


def _plan(file: BinaryIO, size: int) -> _Plan:
    head = file.read(16)
    if head.startswith(b"\xff\xd8\xff"):
        return _Plan(_jpeg_patches(file, 0, follow_pictures=True))
    if head.startswith(_PNG_SIGNATURE):
        return _png_plan(file, size)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _Plan(_webp_patches(file, size))
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return _Plan(_tiff_file_patches(file, size))
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return _Plan(_heif_patches(file, size))
    raise _CannotEdit("not a JPEG, PNG, WebP, TIFF, HEIF or AVIF file")


def _write(src: Path, dest: Path, plan: _Plan) -> None:
    if plan.cuts:
        _copy_leaving_out(src, dest, plan.cuts)
    else:
        shutil.copyfile(src, dest)
    if plan.patches:
        with open(dest, "r+b") as out:
            for offset, data in plan.patches:
                out.seek(offset - sum(length for start, length in plan.cuts if start < offset))
                out.write(data)


def _copy_leaving_out(src: Path, dest: Path, cuts: list[tuple[int, int]]) -> None:
    with open(src, "rb") as source, open(dest, "wb") as out:
        position = 0
        for start, length in cuts:
            _copy_range(source, out, start - position)
            source.seek(start + length)
            position = start + length
        shutil.copyfileobj(source, out)


def _copy_range(source: BinaryIO, out: BinaryIO, length: int) -> None:
    while length > 0:
        chunk = source.read(min(length, 1024 * 1024))
        if not chunk:
            raise OSError("the image became shorter while it was being copied")
        out.write(chunk)
        length -= len(chunk)


# --- reading without trusting ----------------------------------------------------------------------

def _read_at(file: BinaryIO, offset: int, length: int) -> bytes:
    """Exactly `length` bytes at `offset`, or refusal: a structure pointing past the end is broken."""
    if offset < 0 or length < 0 or length > _MAX_METADATA:
        raise _CannotEdit("an offset or length out of range")
    file.seek(offset)
    data = file.read(length)
    if len(data) != length:
        raise _CannotEdit("the file ended inside its metadata")
    return data


class _Cursor:
    """Reads integers and bytes in order from `data`, refusing to read past its end."""

    def __init__(self, data: bytes, position: int = 0, order: str = "big"):
        self.data, self.position, self.order = data, position, order

    def take(self, length: int) -> bytes:
        """The next `length` bytes."""
        end = self.position + length
        if length < 0 or end > len(self.data):
            raise _CannotEdit("a structure runs past the end of its data")
        chunk, self.position = self.data[self.position:end], end
        return chunk

    def uint(self, size: int) -> int:
        """The next unsigned integer of `size` bytes (0 bytes is 0)."""
        return int.from_bytes(self.take(size), self.order)

    def text(self) -> bytes:
        """The next NUL-terminated string, without its NUL; the rest of the data if it has none."""
        end = self.data.find(b"\x00", self.position)
        value = self.take((len(self.data) if end < 0 else end) - self.position)
        self.position = min(self.position + 1, len(self.data))
        return value


# --- EXIF and TIFF directories ---------------------------------------------------------------------

@dataclass
class _Entry:
    tag: int
    kind: int
    count: int
    field: bytes  # the 4-byte value or offset field


class _Tiff:
    """A TIFF structure (an EXIF blob, or a whole TIFF file) read through read(offset, length)."""

    def __init__(self, read: Callable[[int, int], bytes], size: int):
        self.read, self.size = read, size
        head = read(0, 8)
        self.order = {b"II": "little", b"MM": "big"}.get(head[:2], "")
        if not self.order or self.uint(head[2:4]) != 42:
            raise _CannotEdit("not a TIFF structure")
        self.first = self.uint(head[4:8])

    @classmethod
    def of(cls, blob: bytes) -> _Tiff:
        """The TIFF structure that is `blob`."""
        def read(offset: int, length: int) -> bytes:
            if offset < 0 or length < 0 or offset + length > len(blob):
                raise _CannotEdit("an EXIF offset points outside the EXIF data")
            return blob[offset:offset + length]
        return cls(read, len(blob))

    def uint(self, data: bytes) -> int:
        """`data` as an unsigned integer in this structure's byte order."""
        return int.from_bytes(data, self.order)

    def entries(self, offset: int) -> list[_Entry]:
        """The entries of the directory at `offset`."""
        count = self.uint(self.read(offset, 2))
        table = self.read(offset + 2, 12 * count)
        return [_Entry(self.uint(table[i:i + 2]), self.uint(table[i + 2:i + 4]), self.uint(table[i + 4:i + 8]),
                       table[i + 8:i + 12]) for i in range(0, 12 * count, 12)]

    def directories(self):
        """The entries of IFD0 (which must be readable) and of each directory chained after it."""
        offset, seen = self.first, set()
        while offset and offset not in seen and len(seen) < _MAX_DIRECTORIES:
            seen.add(offset)
            try:
                entries = self.entries(offset)
                following = self.uint(self.read(offset + 2 + 12 * len(entries), 4))
            except _CannotEdit:
                if len(seen) == 1:
                    raise
                return  # a broken link after IFD0: no reader gets further either
            yield entries
            offset = following

    def value_range(self, entry: _Entry) -> tuple[int, int] | None:
        """(offset, length) of an entry's value when it is stored outside the entry."""
        length = _TYPE_SIZES.get(entry.kind, 0) * entry.count
        if length <= 4:
            return None
        offset = self.uint(entry.field)
        if offset + length > self.size:
            raise _CannotEdit("an EXIF value lies outside the EXIF data")
        return offset, length

    def value(self, entry: _Entry) -> bytes:
        """An entry's value bytes, wherever they are stored."""
        where = self.value_range(entry)
        if where is None:
            return entry.field[:_TYPE_SIZES.get(entry.kind, 0) * entry.count]
        return self.read(*where)

    def integers(self, entry: _Entry) -> list[int]:
        """The values of a SHORT or LONG entry."""
        width = {3: 2, 4: 4}.get(entry.kind)
        if width is None:
            raise _CannotEdit("an offset table is not made of integers")
        data = self.value(entry)
        return [self.uint(data[i:i + width]) for i in range(0, len(data), width)]


def _tiff_patches(tiff: _Tiff) -> list[_Patch]:
    """Patches (offsets within the structure) that empty every GPS directory and blank the places
    in XMP and IPTC tags."""
    patches = []
    for entries in tiff.directories():
        for entry in entries:
            if entry.tag == _GPS_POINTER and entry.count:
                patches += _emptied_gps(tiff, entry)
            elif entry.tag in _TIFF_BLOBS and (where := tiff.value_range(entry)):
                patches += _shifted(_TIFF_BLOBS[entry.tag](tiff.read(*where)), where[0])
    return patches


def _emptied_gps(tiff: _Tiff, pointer: _Entry) -> list[_Patch]:
    """Zero every value of the GPS directory, then its entry table, leaving it with no entries."""
    if pointer.kind not in (4, 13) or pointer.count != 1:
        raise _CannotEdit("the GPS pointer is not a single directory offset")
    offset = tiff.uint(pointer.field)
    entries = tiff.entries(offset)
    ranges = [(offset, 2 + 12 * len(entries))] + list(filter(None, map(tiff.value_range, entries)))
    if sum(length for _, length in ranges) > _MAX_GPS_VALUES:
        raise _CannotEdit("the GPS directory is implausibly large")
    return [(start, bytes(length)) for start, length in ranges]


def _exif_blob_patches(blob: bytes) -> list[_Patch]:
    """Patches within an EXIF blob that starts with the TIFF header or with 'Exif\\0\\0' before it."""
    skip = 6 if blob.startswith(b"Exif\x00") else 0
    return _shifted(_tiff_patches(_Tiff.of(blob[skip:])), skip)


def _shifted(patches: list[_Patch], by: int) -> list[_Patch]:
    return [(offset + by, data) for offset, data in patches]


def _applied(data: bytes, patches: list[_Patch]) -> bytes:
    edited = bytearray(data)
    for offset, replacement in patches:
        edited[offset:offset + len(replacement)] = replacement
    return bytes(edited)


# --- XMP -------------------------------------------------------------------------------------------

def _xmp_patches(xmp: bytes) -> list[_Patch]:
    """Spaces over every location element and attribute; refused if a location name is left over."""
    if not _XMP_LOCATION_LEFT.search(xmp):
        return []
    patches = [(start, b" " * (end - start)) for start, end in _element_spans(xmp) + _attribute_spans(xmp)]
    if _XMP_LOCATION_LEFT.search(_applied(xmp, patches)):
        raise _CannotEdit("the XMP holds a location in a form this module does not edit")
    return patches


def _element_spans(xmp: bytes) -> list[tuple[int, int]]:
    """(start, end) of every location element, from its start tag to the end of its end tag."""
    spans, open_tags, read_up_to = [], {}, 0
    for match in _XMP_LOCATION_TAG.finditer(xmp):
        if match.start() < read_up_to:
            continue  # inside a tag already read
        read_up_to = _found(xmp, b">", match.end()) + 1
        closing, name = match.group(1), match.group(2)
        if closing and open_tags.get(name):
            spans.append((open_tags[name].pop(), read_up_to))
        elif not closing and xmp[read_up_to - 2:read_up_to - 1] == b"/":
            spans.append((match.start(), read_up_to))
        elif not closing:
            open_tags.setdefault(name, []).append(match.start())
    return spans  # an element never closed keeps its name, which _xmp_patches then refuses


def _attribute_spans(xmp: bytes) -> list[tuple[int, int]]:
    """(start, end) of every location attribute, name to closing quote."""
    spans, read_up_to = [], 0
    for match in _XMP_LOCATION_ATTRIBUTE.finditer(xmp):
        if match.start() >= read_up_to:
            read_up_to = _found(xmp, match.group(1), match.end()) + 1
            spans.append((match.start(), read_up_to))
    return spans


def _found(data: bytes, what: bytes, start: int) -> int:
    position = data.find(what, start)
    if position < 0:
        raise _CannotEdit("XMP that ends inside a tag")
    return position


# --- IPTC and Photoshop resources ----------------------------------------------------------------

def _iptc_patches(iim: bytes) -> list[_Patch]:
    """Spaces over the value of every IPTC-IIM dataset that names a place."""
    patches, cursor = [], _Cursor(iim)
    while cursor.position < len(iim) and iim[cursor.position] == 0x1C:
        _, record, dataset = cursor.take(3)
        length = cursor.uint(2)
        if length & 0x8000:
            raise _CannotEdit("an IPTC dataset of extended length")
        start = cursor.position
        cursor.take(length)
        if record == 2 and dataset in _IPTC_LOCATION:
            patches.append((start, b" " * length))
    if iim[cursor.position:].strip(b"\x00"):
        raise _CannotEdit("IPTC data that is not a list of datasets")
    return patches


def _photoshop_patches(resources: bytes) -> list[_Patch]:
    """Patches inside the IPTC and XMP resources of Photoshop image resource blocks."""
    patches, cursor = [], _Cursor(resources)
    while cursor.position < len(resources):
        if cursor.take(4) not in _PHOTOSHOP_SIGNATURES:
            raise _CannotEdit("Photoshop resources that are not resource blocks")
        resource, name_length = cursor.uint(2), cursor.uint(1)
        cursor.take(name_length + (name_length + 1) % 2)  # the name and its length fill an even count
        size = cursor.uint(4)
        start, data = cursor.position, cursor.take(size)
        cursor.position = min(cursor.position + size % 2, len(resources))
        if resource == _PHOTOSHOP_IPTC:
            patches += _shifted(_iptc_patches(data), start)
        elif resource == _PHOTOSHOP_XMP:
            patches += _shifted(_xmp_patches(data), start)
    return patches


def _iptc_or_photoshop_patches(data: bytes) -> list[_Patch]:
    return _photoshop_patches(data) if data[:4] in _PHOTOSHOP_SIGNATURES else _iptc_patches(data)


_TIFF_BLOBS = {_XMP_TAG: _xmp_patches, _IPTC_TAG: _iptc_patches, _PHOTOSHOP_TAG: _photoshop_patches}
_PNG_READERS = {"xmp": _xmp_patches, "exif": _exif_blob_patches, "iptc": _iptc_or_photoshop_patches}


# --- containers ------------------------------------------------------------------------------------

def _jpeg_patches(file: BinaryIO, start: int, *, follow_pictures: bool) -> list[_Patch]:
    """Patches for the metadata segments before the first scan; then for the other pictures (MPF)."""
    if _read_at(file, start, 2) != b"\xff\xd8":
        raise _CannotEdit("a JPEG picture does not start where its index says")
    patches, extended_xmp, pictures, position = [], [], [], start + 2
    while True:
        marker, position = _next_marker(file, position)
        if marker in (0xDA, 0xD9):  # start of scan, end of image: no metadata after this
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue
        length = int.from_bytes(_read_at(file, position, 2), "big")
        if length < 2:
            raise _CannotEdit("a JPEG segment has an impossible length")
        if marker in (0xE1, 0xE2, 0xED):
            payload = _read_at(file, position + 2, length - 2)
            patches += _shifted(_jpeg_segment_patches(payload, extended_xmp), position + 2)
            if marker == 0xE2 and payload.startswith(b"MPF\x00") and follow_pictures:
                pictures = _mpf_pictures(payload[4:], position + 6)
        position += length
    if _XMP_LOCATION_LEFT.search(b"".join(extended_xmp)):
        raise _CannotEdit("the extended XMP holds a location")  # split across segments at random points
    for picture in pictures:
        patches += _jpeg_patches(file, picture, follow_pictures=False)
    return patches


def _next_marker(file: BinaryIO, position: int) -> tuple[int, int]:
    """The marker at `position` (fill bytes skipped) and where its segment's length field is."""
    if _read_at(file, position, 1) != b"\xff":
        raise _CannotEdit("JPEG segments are not where their lengths say")
    while (byte := _read_at(file, position + 1, 1)) == b"\xff":
        position += 1
    return byte[0], position + 2


def _jpeg_segment_patches(payload: bytes, extended_xmp: list[bytes]) -> list[_Patch]:
    if payload.startswith(_JPEG_EXIF):
        return _shifted(_tiff_patches(_Tiff.of(payload[6:])), 6)
    if payload.startswith(_JPEG_XMP):
        return _shifted(_xmp_patches(payload[len(_JPEG_XMP):]), len(_JPEG_XMP))
    if payload.startswith(_JPEG_PHOTOSHOP):
        return _shifted(_photoshop_patches(payload[len(_JPEG_PHOTOSHOP):]), len(_JPEG_PHOTOSHOP))
    if payload.startswith(_JPEG_EXTENDED_XMP):
        extended_xmp.append(payload[len(_JPEG_EXTENDED_XMP) + 40:])  # after GUID, full length, offset
    return []


def _mpf_pictures(index: bytes, base: int) -> list[int]:
    """File offsets of the pictures after the first, from a Multi-Picture index (offsets from `base`)."""
    tiff = _Tiff.of(index)
    entries = next(tiff.directories(), [])
    table = next((tiff.value(entry) for entry in entries if entry.tag == _MP_ENTRY), b"")
    offsets = (tiff.uint(table[i + 8:i + 12]) for i in range(0, len(table) - 15, 16))
    return [base + offset for offset in offsets if offset]


def _png_plan(file: BinaryIO, size: int) -> _Plan:
    plan, position = _Plan(), len(_PNG_SIGNATURE)
    while True:
        head = _read_at(file, position, 8)
        length, kind = int.from_bytes(head[:4], "big"), head[4:]
        if position + 12 + length > size:
            raise _CannotEdit("a PNG chunk runs past the end of the file")
        if kind == b"eXIf" or kind in _PNG_TEXT:
            data = _read_at(file, position + 8, length)
            edited = _png_chunk_edit(kind, data)
            if edited is None:
                plan.cuts.append((position, 12 + length))
            elif edited != data:
                plan.patches.append((position + 8, edited + zlib.crc32(kind + edited).to_bytes(4, "big")))
        if kind == b"IEND":
            return plan
        position += 12 + length


def _png_chunk_edit(kind: bytes, data: bytes) -> bytes | None:
    """The chunk's data without location (unchanged if it has none), or None to leave the chunk out."""
    if kind == b"eXIf":
        return _applied(data, _exif_blob_patches(data))
    keyword = data.partition(b"\x00")[0]
    if keyword not in _PNG_XMP_KEYS | _PNG_EXIF_KEYS | set(_PNG_RAW_PROFILES):
        return data
    where, text, compressed = _png_text(kind, data, len(keyword) + 1)
    if compressed or keyword in _PNG_RAW_PROFILES:
        return data if _png_text_is_harmless(keyword, text, compressed) else None
    patches = _xmp_patches(text) if keyword in _PNG_XMP_KEYS else _exif_blob_patches(text)
    return _applied(data, _shifted(patches, where))


def _png_text(kind: bytes, data: bytes, start: int) -> tuple[int, bytes, bool]:
    """(where the text starts in the chunk, the text as stored, whether it is compressed)."""
    if kind == b"tEXt":
        return start, data[start:], False
    if kind == b"zTXt":  # after the compression method
        return start + 1, data[start + 1:], True
    cursor = _Cursor(data, start)
    compressed = cursor.uint(1) == 1
    cursor.take(1)
    cursor.text(), cursor.text()  # language, translated keyword
    return cursor.position, data[cursor.position:], compressed


def _png_text_is_harmless(keyword: bytes, text: bytes, compressed: bool) -> bool:
    """Whether a compressed or hex-encoded text chunk certainly holds no location."""
    try:
        if compressed:
            inflater = zlib.decompressobj()
            text = inflater.decompress(text, _MAX_METADATA)
            if inflater.unconsumed_tail:
                return False
        if keyword in _PNG_RAW_PROFILES:
            text = bytes.fromhex("".join(text.decode("latin-1").split("\n")[3:]))
        kind = _PNG_RAW_PROFILES.get(keyword) or ("xmp" if keyword in _PNG_XMP_KEYS else "exif")
        return not _PNG_READERS[kind](text)
    except (_CannotEdit, zlib.error, ValueError):
        return False


def _webp_patches(file: BinaryIO, size: int) -> list[_Patch]:
    patches, position = [], 12
    end = 8 + int.from_bytes(_read_at(file, 4, 4), "little")
    if end > size:
        raise _CannotEdit("the WebP file is cut short")
    while position < end:
        head = _read_at(file, position, 8)
        kind, length = head[:4], int.from_bytes(head[4:], "little")
        if position + 8 + length > end:
            raise _CannotEdit("a WebP chunk runs past the end of the file")
        if kind == b"EXIF":
            patches += _shifted(_exif_blob_patches(_read_at(file, position + 8, length)), position + 8)
        elif kind == b"XMP ":
            patches += _shifted(_xmp_patches(_read_at(file, position + 8, length)), position + 8)
        position += 8 + length + (length & 1)
    return patches


def _tiff_file_patches(file: BinaryIO, size: int) -> list[_Patch]:
    """The file is the TIFF structure; a patch that would touch image data is refused."""
    tiff = _Tiff(lambda offset, length: _read_at(file, offset, length), size)
    patches = _tiff_patches(tiff)
    pixels = _tiff_pixel_ranges(tiff) if patches else []
    for offset, data in patches:
        if any(offset < end and start < offset + len(data) for start, end in pixels):
            raise _CannotEdit("the TIFF's location metadata overlaps its image data")
    return patches


def _tiff_pixel_ranges(tiff: _Tiff) -> list[tuple[int, int]]:
    """(start, end) of every strip and tile of every image in the chain."""
    ranges = []
    for entries in tiff.directories():
        by_tag = {entry.tag: entry for entry in entries}
        for offsets_tag, lengths_tag in _TIFF_PIXELS:
            if offsets_tag in by_tag and lengths_tag in by_tag:
                pairs = zip(tiff.integers(by_tag[offsets_tag]), tiff.integers(by_tag[lengths_tag]))
                ranges += [(offset, offset + length) for offset, length in pairs]
    return ranges


# --- HEIF and AVIF (ISO base media file format) ------------------------------------------------------

def _heif_patches(file: BinaryIO, size: int) -> list[_Patch]:
    """Patches inside the Exif and XMP items that the meta box's iinf and iloc locate."""
    meta_start, meta = _top_level_meta(file, size)
    boxes = {kind: (start, end) for kind, start, end in _boxes(meta, 4, len(meta))}  # after version, flags
    if b"iinf" not in boxes or b"iloc" not in boxes:
        return []
    items = _metadata_items(meta[slice(*boxes[b"iinf"])])
    if not items:
        return []
    idat = boxes.get(b"idat")
    idat_in_file = (meta_start + idat[0], meta_start + idat[1]) if idat else None
    places = _item_places(meta[slice(*boxes[b"iloc"])], set(items), idat_in_file, size)
    patches = []
    for item, what in items.items():
        if item not in places:
            raise _CannotEdit("a metadata item has no location")
        blob = b"".join(_read_at(file, offset, length) for offset, length in places[item])
        found = _heif_exif_patches(blob) if what == "exif" else _xmp_patches(blob)
        patches += _placed(found, places[item])
    return patches


def _top_level_meta(file: BinaryIO, size: int) -> tuple[int, bytes]:
    """(file offset of the meta box's content, that content)."""
    position = 0
    while position < size:
        head = _Cursor(_read_at(file, position, min(16, size - position)))
        length, kind, header = head.uint(4), head.take(4), 8
        if length == 1:
            length, header = head.uint(8), 16
        elif length == 0:
            length = size - position
        if length < header or position + length > size:
            raise _CannotEdit("a box runs past the end of the file")
        if kind == b"meta":
            return position + header, _read_at(file, position + header, length - header)
        position += length
    raise _CannotEdit("no meta box")


def _boxes(data: bytes, start: int, end: int):
    """(type, content start, content end) of each box in data[start:end]."""
    cursor = _Cursor(data[:end], start)
    while cursor.position < end:
        box_start = cursor.position
        length, kind = cursor.uint(4), cursor.take(4)
        if length == 1:
            length = cursor.uint(8)
        elif length == 0:
            length = end - box_start
        if box_start + length > end or box_start + length < cursor.position:
            raise _CannotEdit("a box runs past the end of its parent")
        yield kind, cursor.position, box_start + length
        cursor.position = box_start + length


def _metadata_items(iinf: bytes) -> dict[int, str]:
    """{item ID: 'exif' or 'xmp'} from the item information box."""
    version = iinf[0] if iinf else 0
    items = {}
    for kind, start, end in _boxes(iinf, 6 if version == 0 else 8, len(iinf)):
        cursor = _Cursor(iinf[:end], start)
        infe_version = cursor.uint(4) >> 24
        if kind != b"infe" or infe_version < 2:
            continue
        item, protected, item_type = cursor.uint(2 if infe_version == 2 else 4), cursor.uint(2), cursor.take(4)
        cursor.text()  # item name
        if item_type == b"mime":
            content_type, encoding = cursor.text(), cursor.text()
            if content_type != b"application/rdf+xml":
                continue
            if encoding:
                raise _CannotEdit("the XMP item is compressed")
        elif item_type != b"Exif":
            continue
        if protected:
            raise _CannotEdit("a metadata item is encrypted")
        items[item] = "exif" if item_type == b"Exif" else "xmp"
    return items


def _item_places(iloc: bytes, wanted: set[int], idat: tuple[int, int] | None,
                 size: int) -> dict[int, list[tuple[int, int]]]:
    """{item ID: [(file offset, length), ...]} for the wanted items, from the item location box."""
    cursor = _Cursor(iloc)
    version = cursor.uint(4) >> 24
    offset_size, length_size = divmod(cursor.uint(1), 16)
    base_size, index_size = divmod(cursor.uint(1), 16)
    index_size = index_size if version else 0
    if version > 2 or not {offset_size, length_size, base_size, index_size} <= {0, 4, 8}:
        raise _CannotEdit("an item location box of an unknown form")
    if not offset_size + length_size + index_size:  # extents of no bytes: a count could loop for nothing
        raise _CannotEdit("an item location box whose extents say nothing")
    places = {}
    for _ in range(cursor.uint(2 if version < 2 else 4)):
        item = cursor.uint(2 if version < 2 else 4)
        method = cursor.uint(2) & 15 if version else 0
        reference, base = cursor.uint(2), cursor.uint(base_size)
        extents = []
        for _ in range(cursor.uint(2)):
            cursor.uint(index_size)
            extents.append((base + cursor.uint(offset_size), cursor.uint(length_size)))
        if item in wanted:
            places[item] = _in_file(extents, method, reference, idat, size)
    return places


def _in_file(extents: list[tuple[int, int]], method: int, reference: int, idat: tuple[int, int] | None,
             size: int) -> list[tuple[int, int]]:
    """Extents as (file offset, length): construction method 0 is the file, 1 the idat box."""
    if reference or method not in (0, 1) or (method == 1 and idat is None):
        raise _CannotEdit("a metadata item stored in a way this module does not edit")
    start, end = (0, size) if method == 0 else idat
    placed = [(start + offset, length) for offset, length in extents]
    if not placed or any(length <= 0 or offset + length > end for offset, length in placed):
        raise _CannotEdit("a metadata item lies outside its data")
    return placed


def _heif_exif_patches(blob: bytes) -> list[_Patch]:
    """An Exif item: a 4-byte offset to the TIFF header (usually past 'Exif\\0\\0'), then EXIF."""
    start = 4 + int.from_bytes(_Cursor(blob).take(4), "big")
    if blob[start:start + 6] == b"Exif\x00\x00":
        start += 6  # some writers count from before the prefix
    return _shifted(_tiff_patches(_Tiff.of(blob[start:])), start)


def _placed(patches: list[_Patch], extents: list[tuple[int, int]]) -> list[_Patch]:
    """Patches at offsets within the joined extents, as patches at file offsets (split where needed)."""
    placed = []
    for offset, data in patches:
        blob_start = 0
        for file_offset, length in extents:
            low, high = max(offset, blob_start), min(offset + len(data), blob_start + length)
            if low < high:
                placed.append((file_offset + low - blob_start, data[low - offset:high - offset]))
            blob_start += length
    return placed
