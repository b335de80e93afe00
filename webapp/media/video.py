"""Videos in: MP4, QuickTime and WebM recognised by their content, their facts read and one poster frame
decoded. PyAV (FFmpeg) only; no Flask, no HTTP.

FFmpeg is a large attack surface, so what reaches it is narrowed first and bounded throughout:
- the container is chosen from the file's first bytes (an ISO media box, or an EBML header whose
  DocType is "webm"), never from its name or Content-Type, and FFmpeg is told which demuxer to use,
  so a playlist, a concat script or an image sequence is never parsed as one;
- FFmpeg reads through a Python file object we opened, and any attempt to open another file or URL
  (QuickTime data references, HLS segments, DASH manifests...) is refused by our io_open;
- the dimensions the container claims are read and checked before any frame is decoded, and the
  decoder itself is told the most pixels a frame may have;
- only the poster frame is decoded, within a packet budget and a wall-clock timeout.
"""

from __future__ import annotations

import io
import struct
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import av
from PIL import Image

# MIME type and stored extension of each container we keep as a video.
MP4, QUICKTIME, WEBM = ("video/mp4", "mp4"), ("video/quicktime", "mov"), ("video/webm", "webm")
# Decoders (by codec name) that may make a video's picture, per container family.
VIDEO_CODECS = {"mov": {"h264", "hevc", "mpeg4", "av1", "vp9", "vp8"}, "webm": {"vp8", "vp9", "av1"}}
# Brands of ISO files that are still pictures (HEIC, AVIF): those are images, handled by imaging.py.
_PICTURE_BRANDS = {b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
_ISO_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"}
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_CONTAINER_BOXES = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
_VISUAL_ENTRIES = {b"avc1", b"avc3", b"hvc1", b"hev1", b"mp4v", b"av01", b"vp08", b"vp09"}


class VideoError(Exception):
    """A file Shoebox cannot keep as a video; `code` names the reason, `message` says it."""

    code = "video_error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code


class NotAVideo(VideoError):
    """Its first bytes are not those of an MP4, QuickTime or WebM file."""

    code = "not_a_video"


class BadVideo(VideoError):
    """Looks like a video container but is damaged, hostile, or holds nothing we can show."""

    code = "invalid_video"


class VideoTooLarge(VideoError):
    """More pixels, streams or seconds than Shoebox accepts."""

    code = "video_too_large"


@dataclass(frozen=True)
class Limits:
    """Bounds checked before the poster frame is decoded, and the work its decode may take."""

    max_side: int = 8192
    max_pixels: int = 40_000_000
    max_seconds_long: float = 24 * 3600.0  # a longer claimed duration is not a real upload
    max_streams: int = 16
    max_packets: int = 600  # demuxed while looking for the poster frame
    max_work_seconds: float = 10.0  # wall clock for opening and the poster frame


@dataclass(frozen=True)
class VideoProbe:
    """What an accepted video is; width and height as displayed (rotation applied)."""

    mime_type: str
    ext: str
    width: int
    height: int
    duration: float | None
    codec: str
    poster: Image.Image
    taken_at: datetime | None = None
    kind: str = "video"


def sniff(head: bytes) -> tuple[str, str] | None:
    """(MIME type, extension) of the video container these first bytes (64 or more) open, or None."""
    if len(head) >= 12 and head[4:8] in _ISO_FIRST_BOXES:
        if head[4:8] != b"ftyp":
            # QuickTime files from before ftyp existed start with their atoms; a size in printable
            # characters is a text that happens to say "free" or "wide" there.
            return QUICKTIME if head[0] < 0x20 else None
        brand = head[8:12]
        if brand in _PICTURE_BRANDS:
            return None
        return QUICKTIME if brand == b"qt  " else MP4
    if head.startswith(_EBML_MAGIC) and _ebml_doctype(head) == b"webm":
        return WEBM
    return None


def probe_video(path: str | Path, limits: Limits = Limits()) -> VideoProbe:
    """Identify a video by its content, check its limits and decode its poster frame (near 10% in).

    NotAVideo when the first bytes are no video container we keep; BadVideo or VideoTooLarge when they are
    but the rest is damaged, hostile or too big. Nothing but `path` is ever opened.
    """
    with open(path, "rb") as file:
        head = file.read(4096)
        kind = sniff(head)
        if kind is None:
            raise NotAVideo("This file is not an MP4, MOV or WebM video.")
        family = "webm" if kind == WEBM else "mov"
        if family == "mov":
            _check_claimed_size(file, limits)
        else:
            _check_segment_complete(head, _file_size(file))
        file.seek(0)
        return _read(file, kind, family, limits)


def _read(file, kind: tuple[str, str], family: str, limits: Limits) -> VideoProbe:
    started = time.monotonic()
    container = _open(file, family, limits)
    with container:
        stream = _video_stream(container, family, limits)
        duration = _duration(container, stream, limits)
        frame = _poster_frame(container, stream, duration, limits, started)
        taken_at = _creation_time(container.metadata.get("creation_time") or stream.metadata.get("creation_time"))
    turns = (-round(frame.rotation or 0)) % 360  # degrees clockwise the picture is shown turned
    width, height = (frame.height, frame.width) if turns in (90, 270) else (frame.width, frame.height)
    poster = _upright(_picture(frame), turns)
    return VideoProbe(mime_type=kind[0], ext=kind[1], width=width, height=height, duration=duration,
                      codec=stream.codec_context.codec.canonical_name if stream.codec_context.codec else "",
                      poster=poster, taken_at=taken_at)


def _refuse_other_files(url: str, flags: int, options: dict):
    """io_open for FFmpeg: a video may not make it open any other file or address."""
    raise PermissionError("A video may not refer to other files.")


def _open(file, family: str, limits: Limits):
    options = {"max_pixels": str(limits.max_pixels), "enable_drefs": "0", "use_absolute_path": "0",
               "protocol_whitelist": "none", "probesize": str(5 * 1024 * 1024), "analyzeduration": "5000000"}
    try:
        return av.open(file, "r", format="mov" if family == "mov" else "matroska", options=options,
                       io_open=_refuse_other_files, timeout=(limits.max_work_seconds, limits.max_work_seconds))
    except (av.FFmpegError, PermissionError, ValueError, OSError):
        raise BadVideo("The video could not be read: it is damaged, truncated or not what it claims to be.") \
            from None


def _video_stream(container, family: str, limits: Limits):
    """The one video stream to show, after checking the file's streams and the picture's claimed size."""
    if len(container.streams) > limits.max_streams:
        raise VideoTooLarge(f"The video has {len(container.streams)} streams; Shoebox accepts up to "
                            f"{limits.max_streams}.", code="video_too_many_streams")
    videos = [stream for stream in container.streams.video if stream.codec_context is not None]
    if not videos:
        raise BadVideo("The file holds no video picture (only sound or data).", code="no_video_stream")
    stream = videos[0]
    codec = stream.codec_context.codec.canonical_name if stream.codec_context.codec else ""
    if codec not in VIDEO_CODECS[family]:
        raise BadVideo(f"Videos in the {codec or 'unknown'} format are not accepted; Shoebox takes "
                       "H.264, HEVC, MPEG-4, AV1, VP8 and VP9.", code="video_codec_refused")
    _check_size(stream.codec_context.width, stream.codec_context.height, limits)
    return stream


def _check_size(width: int, height: int, limits: Limits) -> None:
    if not width or not height:
        raise BadVideo("The video does not say how large its picture is.")
    if width > limits.max_side or height > limits.max_side or width * height > limits.max_pixels:
        raise VideoTooLarge(f"The video's picture is {width} × {height} pixels; Shoebox accepts up to "
                            f"{limits.max_side} pixels a side and {limits.max_pixels:,} in all.")


def _duration(container, stream, limits: Limits) -> float | None:
    """Seconds, from the container's header or the stream's; None when neither says."""
    seconds = None
    if container.duration and container.duration > 0:
        seconds = container.duration / av.time_base
    elif stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    if seconds is not None and seconds > limits.max_seconds_long:
        raise VideoTooLarge(f"The video claims to last {seconds / 3600:,.0f} hours; Shoebox accepts videos of "
                            f"up to {limits.max_seconds_long / 3600:g} hours.", code="video_too_long")
    return round(seconds, 3) if seconds else None


def _creation_time(value: str | None) -> datetime | None:
    """When the camera says it recorded the video (UTC), if that is a plausible moment."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    return moment if 1990 <= moment.year and moment <= datetime.now(timezone.utc) else None


def _poster_frame(container, stream, duration: float | None, limits: Limits, started: float):
    """The first picture at the key frame before 10% of the video (the very first one when that fails)."""
    stream.thread_type = "SLICE"  # one picture wanted: frame threads would only decode ahead
    if duration and duration > 1:
        try:
            container.seek(int(duration * 0.1 * av.time_base), backward=True, any_frame=False)
            frame = _first_picture(container, stream, limits, started)
            if frame is not None:
                return frame
            _rewind(container)
        except av.FFmpegError:
            _rewind(container)
        stream.codec_context.flush_buffers()
    frame = _first_picture(container, stream, limits, started)
    if frame is None:
        raise BadVideo("The video has no picture that can be decoded: it is damaged or truncated.",
                       code="video_undecodable")
    return frame


def _rewind(container) -> None:
    """Back to the start for the first picture; a file whose index cannot even go back there has none to show."""
    try:
        container.seek(0)
    except av.FFmpegError:
        raise BadVideo("The video has no picture that can be decoded: it is damaged or truncated.",
                       code="video_undecodable") from None


def _first_picture(container, stream, limits: Limits, started: float):
    """Demux and decode until one picture comes out, within the packet and time budget."""
    try:
        for count, packet in enumerate(container.demux(stream)):
            if count >= limits.max_packets or time.monotonic() - started > limits.max_work_seconds:
                raise BadVideo("The video took too long to read; it may be damaged.", code="video_too_slow")
            for frame in packet.decode():
                _check_size(frame.width, frame.height, limits)
                return frame
    except av.FFmpegError:
        return None
    return None


def _picture(frame) -> Image.Image:
    """The frame as an RGB picture, scaled in the conversion to at most 2560 pixels a side."""
    scale = min(1.0, 2560 / max(frame.width, frame.height))
    width, height = max(1, round(frame.width * scale)), max(1, round(frame.height * scale))
    return frame.to_image(width=width, height=height)


def _upright(picture: Image.Image, turns: int) -> Image.Image:
    turn = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}
    return picture.transpose(turn[turns]) if turns in turn else picture


# --- what an ISO media file claims, read before FFmpeg sees it ---------------------------------------

def _check_claimed_size(file, limits: Limits) -> None:
    """Refuse an MP4/MOV whose tracks claim a picture larger than the limits (tkhd and sample entries),
    reading only box headers and the few small boxes that carry sizes."""
    for width, height in _claimed_sizes(file, 0, _file_size(file), depth=0):
        if width > limits.max_side or height > limits.max_side or width * height > limits.max_pixels:
            raise VideoTooLarge(f"The video claims a picture of {width} × {height} pixels; Shoebox accepts up "
                                f"to {limits.max_side} pixels a side and {limits.max_pixels:,} in all.")


def _file_size(file) -> int:
    file.seek(0, io.SEEK_END)
    return file.tell()


def _claimed_sizes(file, start: int, end: int, depth: int, budget: list[int] | None = None):
    """(width, height) pairs claimed by the track headers and visual sample entries between start and end.

    `budget` is how many more boxes the whole walk may read, shared by every level: a file of millions of
    empty boxes costs no more than a real one (whose sizes come in its first few dozen).
    """
    position, budget = start, [10_000] if budget is None else budget
    while position + 8 <= end and depth < 8 and budget[0] > 0:
        budget[0] -= 1
        file.seek(position)
        size, box = struct.unpack(">I4s", file.read(8))
        header = 8
        if size == 1:
            if position + 16 > end:
                raise BadVideo("The video's structure is damaged or truncated.", code="video_truncated")
            size, header = struct.unpack(">Q", file.read(8))[0], 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            raise BadVideo("The video's structure is damaged or truncated.", code="video_truncated")
        body = position + header
        if box in _CONTAINER_BOXES:
            yield from _claimed_sizes(file, body, position + size, depth + 1, budget)
        elif box == b"tkhd":
            yield _track_header_size(file.read(min(size - header, 100)))
        elif box == b"stsd":
            yield from _sample_entry_sizes(file, body + 8, position + size)
        position += size


def _track_header_size(data: bytes) -> tuple[int, int]:
    offset = 88 if data[:1] == b"\x01" else 76  # width and height, 16.16 fixed point, after the matrix
    if len(data) < offset + 8:
        raise BadVideo("The video's structure is damaged or truncated.", code="video_truncated")
    width, height = struct.unpack(">II", data[offset:offset + 8])
    return width >> 16, height >> 16


def _sample_entry_sizes(file, start: int, end: int):
    position, entries = start, 0
    while position + 36 <= end and entries < 64:  # a track has one or two; more is only work for us
        entries += 1
        file.seek(position)
        size, kind = struct.unpack(">I4s", file.read(8))
        if size < 8:
            raise BadVideo("The video's structure is damaged or truncated.", code="video_truncated")
        if kind in _VISUAL_ENTRIES:
            file.seek(position + 32)
            yield struct.unpack(">HH", file.read(4))
        position += size


def _check_segment_complete(head: bytes, file_size: int) -> None:
    """Refuse a WebM shorter than its Segment says it is (a recording of unknown length is let through)."""
    header_size, length = _vint(head, 4)
    position = 4 + length + (header_size or 0)
    element, id_length = _element_id(head, position)
    size, size_length = _vint(head, position + id_length)
    if element != 0x18538067 or size is None:
        raise BadVideo("The video's structure is damaged or truncated.", code="video_truncated")
    unknown = size == (1 << (7 * size_length)) - 1
    if not unknown and position + id_length + size_length + size > file_size:
        raise BadVideo("The video's structure is damaged or truncated.", code="video_truncated")


def _ebml_doctype(head: bytes) -> bytes | None:
    """The DocType of the EBML header at the start of `head` ("webm", "matroska"), or None."""
    position = 4
    size, length = _vint(head, position)
    if size is None:
        return None
    position += length
    end = min(len(head), position + size)
    while position < end:
        element, id_length = _element_id(head, position)
        value_size, size_length = _vint(head, position + id_length)
        if element is None or value_size is None:
            return None
        value = position + id_length + size_length
        if element == 0x4282:
            return head[value:value + value_size]
        position = value + value_size
    return None


def _element_id(data: bytes, position: int) -> tuple[int | None, int]:
    if position >= len(data) or not data[position]:
        return None, 0
    length = 9 - data[position].bit_length()
    if length > 4 or position + length > len(data):
        return None, 0
    return int.from_bytes(data[position:position + length], "big"), length


def _vint(data: bytes, position: int) -> tuple[int | None, int]:
    """An EBML variable-length size at `position`: (value, bytes it takes)."""
    if position >= len(data) or not data[position]:
        return None, 0
    length = 9 - data[position].bit_length()
    if position + length > len(data):
        return None, 0
    value = data[position] & (0xFF >> length)
    for byte in data[position + 1:position + length]:
        value = (value << 8) | byte
    return value, length
