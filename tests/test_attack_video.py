"""Attacks on videos, as a hostile uploader or recipient would make them: files crafted at test time (by hand or
with PyAV) that try to crash, stall or bloat the probe, make FFmpeg read other files, pass for a page, or fetch
through the share player what a link does not allow. Each is refused with one sentence naming `file` and
leaves nothing stored and no quota used, or is served so that it can do no harm.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import time

import pytest

from tests.fixtures import ROOT
from tests.fixtures.media import make_jpeg, make_video, media_count, multipart, stored_keys
from tests.fixtures.shares import change_link, csrf_of, make_link


# --- hostile files, made here ---------------------------------------------------------------------

def _box(kind: bytes, body: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _ftyp() -> bytes:
    return _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2avc1mp41")


def _patched(data: bytes, kind: bytes, offset: int, value: int) -> bytes:
    """`data` with the 32-bit field `offset` bytes into the body of the first `kind` box set to `value`."""
    data = bytearray(data)
    at = data.index(kind) + 4 + offset
    data[at:at + 4] = struct.pack(">I", value)
    return bytes(data)


def large_size_box_cut_short() -> bytes:
    """A box announcing a 64-bit size (size field 1) whose file ends before that size."""
    return _ftyp() + b"\x00\x00\x00\x01moov\x00\x00"


def large_size_box_cut_short_inside_moov() -> bytes:
    return _ftyp() + _box(b"moov", b"\x00\x00\x00\x01trak\x00\x00\x00\x00")


def mdat_claiming_4_gb() -> bytes:
    data = make_video()
    at = data.index(b"mdat") - 4
    return data[:at] + struct.pack(">I", 0xFFFFFFF0) + data[at + 4:]


def mdat_claiming_a_terabyte_in_64_bits() -> bytes:
    data = make_video()
    at = data.index(b"mdat") - 4
    return data[:at] + struct.pack(">I4sQ", 1, b"mdat", 1 << 40) + data[at + 8:]


def sample_table_claiming_130_million_sizes() -> bytes:
    return _patched(make_video(), b"stsz", 8, 130_000_000)


def time_to_sample_table_claiming_2_billion_entries() -> bytes:
    return _patched(make_video(), b"stts", 4, 0x7FFFFFFF)


def sync_sample_table_naming_no_real_sample() -> bytes:
    """Its one key frame is sample 1000 of 30: FFmpeg can seek neither to 10% nor back to the start (a 500 once)."""
    return _patched(make_video(), b"stss", 8, 1000)


def moov_cut_at_the_end() -> bytes:
    data = make_video()
    moov = data.index(b"moov") - 4
    assert moov > data.index(b"mdat")  # PyAV writes the sample tables last, as phones do before "faststart"
    return data[:moov + (len(data) - moov) // 2]


def matroska_not_webm() -> bytes:
    return make_video("matroska", "libx264")


def picture_16384_by_16() -> bytes:
    return make_video(size=(16384, 16), frames=2)


# EBML: an element is its ID, an 8-byte size and its body.
def _element(element_id: bytes, body: bytes) -> bytes:
    return element_id + b"\x01" + len(body).to_bytes(7, "big") + body


_UNKNOWN_SIZE = b"\x01\xff\xff\xff\xff\xff\xff\xff"
_EBML_HEADER = _element(b"\x1a\x45\xdf\xa3", _element(b"\x42\x82", b"webm") + _element(b"\x42\x87", b"\x04")
                        + _element(b"\x42\x85", b"\x02"))
_SEGMENT = b"\x18\x53\x80\x67"


def webm_with_5000_tracks() -> bytes:
    entries = b"".join(_element(b"\xae", _element(b"\xd7", n.to_bytes(2, "big")) + _element(b"\x83", b"\x01")
                                + _element(b"\x86", b"V_VP8")
                                + _element(b"\xe0", _element(b"\xb0", b"\x10") + _element(b"\xba", b"\x10")))
                       for n in range(1, 5001))
    real = make_video("webm", "libvpx")
    segment = real.index(_SEGMENT)
    clusters = real[segment + 4 + 9 - real[segment + 4].bit_length():]  # the real video's own segment body
    return _EBML_HEADER + _SEGMENT + _UNKNOWN_SIZE + _element(b"\x16\x54\xae\x6b", entries) + clusters


def webm_with_20000_nested_clusters_of_unknown_size() -> bytes:
    return _EBML_HEADER + _SEGMENT + _UNKNOWN_SIZE + (b"\x1f\x43\xb6\x75" + _UNKNOWN_SIZE) * 20000


def webm_whose_codec_private_claims_256_mb() -> bytes:
    size = b"\x01" + (0x0FFFFF00).to_bytes(7, "big")
    entry = b"\xae" + b"\x01" + (0x0FFFFFF0).to_bytes(7, "big") + _element(b"\xd7", b"\x01") \
        + _element(b"\x86", b"V_VP8") + b"\x63\xa2" + size + bytes(100)
    return _EBML_HEADER + _SEGMENT + _UNKNOWN_SIZE + b"\x16\x54\xae\x6b" + b"\x01" + (0x0FFFFFFF).to_bytes(7, "big") \
        + entry


HOSTILE = [
    (large_size_box_cut_short, "cut.mp4", 400, "video_truncated"),
    (large_size_box_cut_short_inside_moov, "cut-moov.mp4", 400, "video_truncated"),
    (mdat_claiming_4_gb, "4gb.mp4", 400, "video_truncated"),
    (mdat_claiming_a_terabyte_in_64_bits, "1tb.mp4", 400, "video_truncated"),
    (sample_table_claiming_130_million_sizes, "stsz.mp4", 400, "invalid_video"),
    (time_to_sample_table_claiming_2_billion_entries, "stts.mp4", 400, "invalid_video"),
    (sync_sample_table_naming_no_real_sample, "stss.mp4", 400, "video_undecodable"),
    (moov_cut_at_the_end, "moov-cut.mp4", 400, "video_truncated"),
    (picture_16384_by_16, "strip.mp4", 413, "video_too_large"),
    (webm_with_5000_tracks, "tracks.webm", 413, "video_too_many_streams"),
    (webm_with_20000_nested_clusters_of_unknown_size, "nest.webm", 400, "no_video_stream"),
    (webm_whose_codec_private_claims_256_mb, "private.webm", 400, "invalid_video"),
]


def nothing_kept(app, kim) -> None:
    assert media_count(app) == 0 and stored_keys(app) == []
    quota = kim.get("/api/v1/quota").get_json()
    assert quota["uploads"]["used"] == 0 and quota["storage"]["used"] == 0


@pytest.mark.parametrize("make, name, status, code", HOSTILE, ids=[h[0].__name__ for h in HOSTILE])
def test_a_hostile_video_is_refused_quickly_naming_file_and_nothing_is_kept(app, kim, make, name, status, code):
    data = make()
    started = time.monotonic()
    response = kim.upload(data, name)
    took = time.monotonic() - started
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == (code, "file")
    assert error["message"].endswith(".") and "\n" not in error["message"]
    assert took < 8, f"{name} took {took:.1f} s"  # far inside the probe's 10 s wall clock: none of these stall
    nothing_kept(app, kim)


def test_a_matroska_file_that_is_not_webm_is_no_video(app, kim):
    response = kim.upload(matroska_not_webm(), "clip.mkv")
    assert response.status_code == 415 and response.get_json()["error"]["field"] == "file"
    nothing_kept(app, kim)


def test_a_guest_upload_of_a_hostile_video_leaves_nothing_in_the_album(app, kim):
    made = kim.test_client.post("/api/v1/albums", headers=kim.headers, json={"title": "Drop"})
    assert made.status_code == 201, made.get_data(as_text=True)[:300]
    album = made.get_json()["id"]
    link = make_link(app, kim.id, album_id=album, allow_upload=True)
    guest = app.test_client()
    body, content_type = multipart({"csrf_token": csrf_of(guest), "name": "Mallory",
                                    "file": (large_size_box_cut_short_inside_moov(), "x.mp4")})
    answer = guest.post(f"/s/{link.token}/upload", data=body, content_type=content_type,
                                    headers={"Accept": "application/json"})
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == "file"
    nothing_kept(app, kim)


# --- bounded work and memory ----------------------------------------------------------------------

class CountingFile:
    """A file that counts its reads."""

    def __init__(self, file):
        self.file, self.reads = file, 0

    def read(self, size=-1):
        self.reads += 1
        return self.file.read(size)

    def __getattr__(self, name):
        return getattr(self.file, name)


def test_the_box_walk_reads_a_bounded_number_of_boxes_however_many_the_file_has(tmp_path):
    """Before the fix, a 100 MB file of 12 million empty boxes nested in traks took seconds of Python before
    FFmpeg's own clock even started; the walk now reads at most its budget of boxes in the whole file."""
    from webapp.media import video

    path = tmp_path / "boxes.mp4"
    trak = _box(b"trak", _box(b"free") * 9_000)
    path.write_bytes(_ftyp() + _box(b"moov", trak * 60))  # 540,000 boxes, 4 MB
    with path.open("rb") as raw:
        counted = CountingFile(raw)
        video._check_claimed_size(counted, video.Limits())
    assert counted.reads < 25_000


def test_a_real_video_s_tracks_are_all_checked_within_the_budget(tmp_path):
    """The budget still reaches every track header of a real file: a second track claiming a huge picture."""
    from webapp.media import video

    data = bytearray(make_video(streams=2, frames=3))
    second = data.index(b"tkhd", data.index(b"tkhd") + 4) + 4 + 76
    data[second:second + 8] = struct.pack(">II", 60000 << 16, 60000 << 16)
    path = tmp_path / "two.mp4"
    path.write_bytes(bytes(data))
    with pytest.raises(video.VideoTooLarge):
        video.probe_video(path)


_MEMORY_PROBE = """
import json, resource, sys
from webapp.media import video
import av  # FFmpeg's libraries loaded before the baseline
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
results = {}
for path in sys.argv[1:]:
    try:
        video.probe_video(path)
        results[path] = "accepted"
    except video.VideoError as error:
        results[path] = error.code
print(json.dumps({"grown_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before, "results": results}))
"""


def test_probing_allocation_attacks_keeps_memory_bounded(tmp_path):
    """Tables and elements that claim hundreds of megabytes grow the probing process by far less."""
    makers = [sample_table_claiming_130_million_sizes, time_to_sample_table_claiming_2_billion_entries,
              webm_whose_codec_private_claims_256_mb, webm_with_5000_tracks, mdat_claiming_4_gb]
    paths = []
    for make in makers:
        path = tmp_path / make.__name__
        path.write_bytes(make())
        paths.append(str(path))
    done = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, *paths], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    assert "accepted" not in measured["results"].values(), measured
    assert measured["grown_kb"] < 64 * 1024, measured


# --- FFmpeg reads nothing but the upload ----------------------------------------------------------

_DREF_PARENTS = (b"moov", b"trak", b"mdia", b"minf", b"dinf", b"dref")


def with_data_reference(mov: bytes, entry: bytes) -> bytes:
    """The MOV with its first data reference replaced by `entry`; every box around it grows to fit (the sample
    tables come after the samples, so no chunk offset moves)."""
    data, position, starts = bytearray(mov), 0, []
    for kind in _DREF_PARENTS:
        position = data.index(kind, position) - 4
        starts.append(position)
        position += 8
    first = starts[-1] + 16
    old = struct.unpack(">I", data[first:first + 4])[0]
    data[first:first + old] = entry
    for start in starts:
        data[start:start + 4] = struct.pack(">I", struct.unpack(">I", data[start:start + 4])[0] + len(entry) - old)
    return bytes(data)


def _url_entry(url: str) -> bytes:
    location = url.encode() + b"\x00"
    return struct.pack(">I4sI", 12 + len(location), b"url ", 0) + location  # flags 0: the data is elsewhere


def _alias_entry(path: str) -> bytes:
    body = bytearray(150)  # volume, file name and levels (mov_read_dref), then records
    name = path.encode() + b"\x00" * (len(path) % 2)  # FFmpeg reads records of even length
    body += struct.pack(">hH", 2, len(name)) + name + struct.pack(">hH", -1, 0)  # 2: an absolute path
    return struct.pack(">I4sI", 12 + len(body), b"alis", 0) + bytes(body)


@pytest.mark.parametrize("entry", [_url_entry("file:///etc/passwd"), _url_entry("http://127.0.0.1:9/movie.mov"),
                                   _alias_entry("/etc/passwd")], ids=["url-file", "url-http", "alias"])
def test_a_mov_s_external_data_reference_is_never_opened(tmp_path, monkeypatch, entry):
    from webapp.media import video

    asked = []

    def recording(url, flags, options):
        asked.append(url)
        raise PermissionError(url)

    monkeypatch.setattr(video, "_refuse_other_files", recording)
    path = tmp_path / "ref.mov"
    path.write_bytes(with_data_reference(make_video("mov", "libx264"), entry))
    try:
        found = video.probe_video(path)
    except video.BadVideo:
        pass
    else:
        assert (found.width, found.height) == (64, 48)  # its own samples, read from itself
    assert asked == []


def test_the_data_reference_control_ffmpeg_follows_it_when_allowed(tmp_path):
    """Without enable_drefs=0 FFmpeg does try to open the referenced file: the test above means something."""
    import av

    asked = []

    def recording(url, flags, options):
        asked.append(url)
        raise PermissionError(url)

    path = tmp_path / "ref.mov"
    path.write_bytes(with_data_reference(make_video("mov", "libx264"), _alias_entry("/etc/passwd")))
    with path.open("rb") as file:
        try:
            with av.open(file, format="mov", options={"enable_drefs": "1", "use_absolute_path": "1"},
                         io_open=recording) as container:
                next(container.demux(video=0))
        except (av.FFmpegError, PermissionError):
            pass
    assert asked and "passwd" in asked[0]


# --- polyglots: how they are kept and served ------------------------------------------------------

def _hostile_html() -> bytes:
    return b"<!doctype html><html><script>fetch('/api/v1/account').then(r=>r.text()).then(alert)</script></html>"


def mp4_carrying_html() -> bytes:
    """A valid MP4 with a page in a free box right after its ftyp."""
    data = make_video()
    end = struct.unpack(">I", data[:4])[0]
    # the free box sits before moov and mdat: every chunk offset moves by its length
    html = _box(b"free", _hostile_html())
    return _shift_chunk_offsets(data[:end] + html + data[end:], len(html))


def _shift_chunk_offsets(data: bytes, by: int) -> bytes:
    data = bytearray(data)
    at = data.index(b"stco") + 4
    count = struct.unpack(">I", data[at + 4:at + 8])[0]
    for n in range(count):
        field = at + 8 + 4 * n
        data[field:field + 4] = struct.pack(">I", struct.unpack(">I", data[field:field + 4])[0] + by)
    return bytes(data)


def test_an_mp4_carrying_a_page_is_a_video_served_so_that_nothing_runs(app, kim):
    body = kim.upload(mp4_carrying_html(), "page.html").get_json()
    assert body["kind"] == "video" and body["mime_type"] == "video/mp4"
    link = make_link(app, kim.id, media_id=body["id"])
    kim.test_client.patch(f"/api/v1/images/{body['id']}", headers=kim.headers, json={"is_public": True})
    for served in (kim.get(f"/i/{body['id']}"), app.test_client().get(f"/i/{body['id']}.mp4"),
                   app.test_client().get(f"/s/{link.token}/p/{body['id']}/video")):
        assert served.status_code == 200 and b"<script>" in served.data
        assert served.headers["Content-Type"] == "video/mp4"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        policy = served.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy
        assert ".html" not in served.headers["Content-Disposition"] or \
            served.headers["Content-Disposition"].startswith("inline")
        served.close()


def test_a_jpeg_with_an_mp4_behind_it_is_a_photo_and_an_mp4_with_a_jpeg_behind_it_is_refused(app, kim):
    photo = kim.upload(make_jpeg() + make_video(), "both.mp4").get_json()
    assert (photo["kind"], photo["mime_type"]) == ("image", "image/jpeg")
    assert kim.get(f"/i/{photo['id']}").headers["Content-Type"] == "image/jpeg"
    refused = kim.upload(make_video() + make_jpeg(), "both.jpg")  # the JPEG reads as a box cut short
    assert refused.status_code == 400 and refused.get_json()["error"]["field"] == "file"
    assert media_count(app) == 1


def test_an_svg_naming_ftyp_is_no_video(app, kim):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><!-- \x00\x00\x00\x18ftypisom --><script>alert(1)</script></svg>'
    refused = kim.upload(svg, "clip.mp4")
    assert refused.status_code == 415
    nothing_kept(app, kim)


# --- ranges on every address ----------------------------------------------------------------------

@pytest.fixture
def clip(app, kim):
    """A public video of kim's and a share link to it: (bytes, owner path, public path, share path)."""
    data = make_video(frames=60)
    body = kim.upload(data, "clip.mp4", is_public="true").get_json()
    link = make_link(app, kim.id, media_id=body["id"])
    return data, f"/i/{body['id']}", f"/i/{body['id']}.mp4", f"/s/{link.token}/p/{body['id']}/video"


def _each_address(app, kim, clip):
    data, owner, public, share = clip
    yield lambda headers: kim.get(owner, headers=headers)
    yield lambda headers: app.test_client().get(public, headers=headers)
    yield lambda headers: app.test_client().get(share, headers=headers)


def test_ranges_are_answered_alike_on_owner_public_and_share_addresses(app, kim, clip):
    data = clip[0]
    size = len(data)
    for get in _each_address(app, kim, clip):
        whole = get({"Range": "bytes=0-"})
        assert whole.status_code == 206 and whole.data == data
        assert whole.headers["Content-Range"] == f"bytes 0-{size - 1}/{size}"
        tail = get({"Range": "bytes=-100"})
        assert tail.status_code == 206 and tail.data == data[-100:]
        past = get({"Range": f"bytes={size + 10}-"})
        assert past.status_code == 416 and past.data[:8] != data[:8]
        clipped = get({"Range": f"bytes={size - 10}-{size * 4}"})
        assert clipped.status_code == 206 and clipped.data == data[-10:]
        # werkzeug refuses what it does not answer (RFC 9110 lets a server ignore these instead): several
        # ranges, a backwards one, and a suffix longer than the file (RFC 9110 14.1.3 would send it all)
        for refused in ("bytes=0-9,20-29", "bytes=50-10", f"bytes=-{size * 10}"):
            answer = get({"Range": refused})
            assert answer.status_code == 416 and answer.data[:8] != data[:8]
            answer.close()
        for answer in (whole, tail, past, clipped):
            answer.close()


def _bytes_out(app, user_id: int) -> int:
    from webapp import metering
    from webapp.extensions import db
    from webapp.models import DailyUsage

    metering.flush(app)
    with app.app_context():
        return db.session.scalar(db.select(db.func.coalesce(db.func.sum(DailyUsage.bytes_out), 0))
                                 .where(DailyUsage.user_id == user_id))


def test_a_range_counts_only_its_bytes_against_the_owner_s_bandwidth(app, kim, clip):
    share = clip[3]
    before = _bytes_out(app, kim.id)
    app.test_client().get(share, headers={"Range": "bytes=0-99"}).close()
    app.test_client().get(share, headers={"Range": "bytes=0-9,20-29"}).close()  # 416: nothing sent
    app.test_client().head(share).close()
    assert _bytes_out(app, kim.id) - before == 100


# --- the share player is no way around a link's limits ------------------------------------------------

def test_the_video_route_never_serves_a_photo_or_a_file_of_the_link(app, kim):
    from tests.test_video import PDF, set_instance

    set_instance(app, allow_any_file=True)
    photo = kim.upload(make_jpeg(), "photo.jpg").get_json()["id"]
    pdf = kim.upload(PDF, "notes.pdf").get_json()["id"]
    link = make_link(app, kim.id, media_ids=(photo, pdf), allow_download=False, max_downloads=1)
    recipient = app.test_client()
    for path in (f"/s/{link.token}/p/{photo}/video", f"/s/{link.token}/p/{pdf}/video"):
        answer = recipient.get(path, headers={"Range": "bytes=0-"})
        assert answer.status_code == 404 and not answer.data.startswith((b"\xff\xd8", b"%PDF"))
    assert recipient.get(f"/s/{link.token}/p/{photo}/original").status_code == 403


def test_the_video_route_serves_only_the_link_s_own_video(app, kim):
    shared = kim.upload(make_video(), "shared.mp4").get_json()["id"]
    other = kim.upload(make_video(frames=12), "private.mp4").get_json()["id"]
    link = make_link(app, kim.id, media_id=shared)
    recipient = app.test_client()
    assert recipient.get(f"/s/{link.token}/p/{shared}/video").status_code == 200
    assert recipient.get(f"/s/{link.token}/p/{other}/video").status_code == 404


def test_playing_uses_no_download_but_a_used_up_expired_or_revoked_link_stops_playing(app, kim):
    """Playing needs the bytes, so the player cannot hold back a copy; it counts no download (a page's
    <video> asks many ranges), and every other limit of the link holds on it."""
    from webapp.extensions import db
    from webapp.models import ShareLink

    media_id = kim.upload(make_video(), "clip.mp4").get_json()["id"]
    link = make_link(app, kim.id, media_id=media_id, allow_download=True, max_downloads=1)
    recipient = app.test_client()
    path = f"/s/{link.token}/p/{media_id}/video"
    for _ in range(5):
        answer = recipient.get(path, headers={"Range": "bytes=0-"})
        assert answer.status_code == 206 and answer.headers["Cache-Control"].startswith("private, no-")
        answer.close()
    with app.app_context():
        assert db.session.get(ShareLink, link.id).downloads == 0
    assert recipient.get(f"/s/{link.token}/p/{media_id}/original").status_code == 200
    assert recipient.get(f"/s/{link.token}/p/{media_id}/original").status_code == 410
    change_link(app, link, revoked=True)
    assert recipient.get(path).status_code == 410


def test_a_password_link_s_video_needs_the_password(app, kim):
    media_id = kim.upload(make_video(), "clip.mp4").get_json()["id"]
    link = make_link(app, kim.id, media_id=media_id, password="a long shared secret 42")
    stranger = app.test_client()
    answer = stranger.get(f"/s/{link.token}/p/{media_id}/video", headers={"Range": "bytes=0-"})
    assert answer.status_code == 401 and not answer.data.startswith(b"\x00\x00\x00")
    assert re.search(rb"ftyp", answer.data) is None
