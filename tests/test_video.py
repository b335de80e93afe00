"""Videos and other files people share: MP4, MOV and WebM taken in with their length, size and a poster;
hostile files refused with nothing stored; played in ranges by owners, the public and share recipients;
plain files shown as an icon and always downloaded.

Every video here is made at test time with PyAV (the encoders its wheel carries), never committed.
"""

from __future__ import annotations

import http.server
import io
import re
import struct
import threading
from fractions import Fraction

import av
import pytest
from PIL import Image

from tests.fixtures.media import BLUE, YELLOW, decode, make_jpeg, make_video, media_count, multipart, stored_keys
from tests.fixtures.shares import make_link

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


# --- videos made here ---------------------------------------------------------------------------

def make_audio_only_mp4() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=8000)
        for n in range(10):
            frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
            frame.sample_rate, frame.pts = 8000, n * 1024
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()


def _box(data: bytes | bytearray, kind: bytes, start: int = 0) -> int:
    """Where the body of the first box of `kind` begins (after its size and type)."""
    return data.index(kind, start) + 4


def turned(data: bytes) -> bytes:
    """The MP4 with the display matrix of a phone held upright (shown turned 90° clockwise)."""
    data = bytearray(data)
    matrix = _box(data, b"tkhd") + 40
    data[matrix:matrix + 36] = struct.pack(">9i", 0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30)
    return bytes(data)


def claiming(data: bytes, width: int, height: int) -> bytes:
    """The MP4 with its track header and sample entry claiming a picture of width x height."""
    data = bytearray(data)
    track = _box(data, b"tkhd") + 76
    data[track:track + 8] = struct.pack(">II", width << 16, height << 16)
    entry = _box(data, b"avc1", data.index(b"stsd")) + 24
    data[entry:entry + 4] = struct.pack(">HH", width, height)
    return bytes(data)


def lasting(webm: bytes, seconds: float) -> bytes:
    """The WebM with its Segment Info claiming a length of `seconds` (its timecode scale is 1 ms)."""
    data = bytearray(webm)
    duration = data.index(b"\x44\x89\x88") + 3
    data[duration:duration + 8] = struct.pack(">d", seconds * 1000)
    return bytes(data)


def poster_corners(data: bytes) -> tuple:
    """The colours of the top-left and top-right corners of a served picture."""
    picture = decode(data).convert("RGB")
    return picture.getpixel((2, 2)), picture.getpixel((picture.width - 3, 2))


def near(colour, wanted, slack=60) -> bool:
    return all(abs(a - b) <= slack for a, b in zip(colour, wanted))


# --- helpers ------------------------------------------------------------------------------------------

def set_instance(app, **values) -> None:
    from webapp import instance
    from webapp.extensions import db

    with app.app_context():
        for key, value in values.items():
            instance.put(key, value)
        db.session.commit()


def nothing_kept(app, kim) -> None:
    assert media_count(app) == 0 and stored_keys(app) == []
    quota = kim.get("/api/v1/quota").get_json()
    assert quota["uploads"]["used"] == 0 and quota["storage"]["used"] == 0


# --- each container accepted --------------------------------------------------------------------------

@pytest.mark.parametrize("container, codec, name, mime", [
    ("mp4", "libx264", "clip.mp4", "video/mp4"),
    ("mp4", "mpeg4", "old-camera.mp4", "video/mp4"),
    ("mov", "libx264", "IMG_0001.MOV", "video/quicktime"),
    ("webm", "libvpx-vp9", "screen.webm", "video/webm"),
    ("webm", "libvpx", "vp8.webm", "video/webm"),
])
def test_each_container_is_accepted_with_its_length_size_and_poster(app, kim, container, codec, name, mime):
    data = make_video(container, codec, size=(64, 48), frames=30, rate=10)
    response = kim.upload(data, name)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["kind"], body["mime_type"], body["width"], body["height"]) == ("video", mime, 64, 48)
    assert body["duration"] == pytest.approx(3.0, abs=0.15)
    assert body["size"] == len(data) and body["url"].endswith("." + mime.split("/")[1].replace("quicktime", "mov"))
    served = kim.get(f"/i/{body['id']}")
    assert served.status_code == 200 and served.data == data and served.mimetype == mime
    thumb = kim.get(body["thumbnail_url"].removeprefix("http://shoebox.test"))
    assert thumb.mimetype == "image/webp" and decode(thumb.data).size == (64, 48)
    top_left, top_right = poster_corners(thumb.data)
    assert near(top_left, YELLOW) and near(top_right, BLUE)
    quota = kim.get("/api/v1/quota").get_json()
    assert quota["uploads"]["used"] == 1 and quota["storage"]["used"] == len(data)


def test_a_phone_video_held_upright_is_portrait_with_an_upright_poster(app, kim):
    body = kim.upload(turned(make_video(size=(64, 48))), "portrait.mp4").get_json()
    assert (body["width"], body["height"]) == (48, 64)
    thumb = kim.get(f"/i/{body['id']}?size=thumb").data
    assert decode(thumb).size == (48, 64)
    top_left, top_right = poster_corners(thumb)  # the yellow quarter turned clockwise is now top right
    assert near(top_right, YELLOW) and near(top_left, BLUE)


def test_a_video_s_other_sizes_are_pictures_of_its_poster(app, kim):
    media_id = kim.upload(make_video(size=(320, 240)), "clip.mp4").get_json()["id"]
    for size in ("small", "medium", "large"):
        served = kim.get(f"/i/{media_id}?size={size}")
        assert served.status_code == 200 and served.mimetype == "image/webp"
        assert decode(served.data).size == (320, 240)


def test_a_video_shows_its_kind_and_length_in_the_api_and_the_openapi_model_holds(app, kim):
    from webapp.media.schemas import Image as ImageModel

    body = kim.upload(make_video(), "clip.mp4").get_json()
    listed = kim.get("/api/v1/images").get_json()["items"][0]
    assert listed["kind"] == "video" and listed["duration"] == body["duration"]
    ImageModel.model_validate(listed)
    photo = kim.upload(make_jpeg(), "photo.jpg").get_json()
    assert photo["kind"] == "image" and photo["duration"] is None


# --- hostile and broken files: refused, nothing kept ------------------------------------------------

def _truncated_mp4() -> bytes:
    data = make_video()
    return data[:len(data) // 2]


def _truncated_webm() -> bytes:
    data = make_video("webm", "libvpx-vp9")
    return data[:len(data) // 2]


@pytest.mark.parametrize("make, name, status, code", [
    (_truncated_mp4, "cut.mp4", 400, "video_truncated"),
    (_truncated_webm, "cut.webm", 400, "video_truncated"),
    (make_audio_only_mp4, "song.mp4", 400, "no_video_stream"),
    (lambda: b"This is a text file, not a video.\n" * 10, "notes.mp4", 415, "unsupported_image"),
    (lambda: b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + bytes(range(256)) * 20, "fake.mp4", 400,
     "video_truncated"),
    (lambda: claiming(make_video(), 60000, 60000), "huge.mp4", 413, "video_too_large"),
    (lambda: make_video(size=(8200, 16), frames=2), "wide.mp4", 413, "video_too_large"),
    (lambda: make_video(streams=17, frames=3), "streams.mp4", 413, "video_too_many_streams"),
    (lambda: lasting(make_video("webm", "libvpx"), 10 * 24 * 3600), "forever.webm", 413, "video_too_long"),
])
def test_a_bad_or_hostile_video_is_refused_with_one_sentence_and_nothing_is_kept(app, kim, make, name, status, code):
    response = kim.upload(make(), name)
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"].endswith(".") and "\n" not in error["message"]
    if code != "unsupported_image":
        assert error["field"] == "file"
    nothing_kept(app, kim)


def test_a_sentence_names_what_is_wrong(app, kim):
    assert kim.upload(make_audio_only_mp4(), "song.mp4").get_json()["error"]["message"] == \
        "The file holds no video picture, only sound or data."
    assert kim.upload(claiming(make_video(), 60000, 60000), "huge.mp4").get_json()["error"]["message"] == \
        "The video's picture is larger than Shoebox accepts: up to 8192 pixels a side and 40 megapixels in all."


class Listener:
    """A local HTTP server that only writes down the paths asked of it."""

    def __init__(self):
        asked = self.asked = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                asked.append(self.path)
                self.send_response(404)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def _playlists(url: str) -> list[bytes]:
    return [f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{url}/segment.ts\n#EXTINF:10,\nfile:///etc/passwd\n"
            "#EXT-X-ENDLIST\n".encode(),
            f"ffconcat version 1.0\nfile '{url}/part.mp4'\nfile '/etc/passwd'\n".encode()]


@pytest.mark.parametrize("which", [0, 1], ids=["hls-playlist", "concat-script"])
def test_a_playlist_or_concat_script_named_mp4_is_refused_and_nothing_it_names_is_read(app, kim, listener, which):
    response = kim.upload(_playlists(listener.url)[which], "movie.mp4")
    assert response.status_code == 415
    assert listener.asked == []
    nothing_kept(app, kim)
    set_instance(app, allow_any_file=True)  # then it is a plain file: kept as sent, never parsed
    body = kim.upload(_playlists(listener.url)[which], "movie.mp4").get_json()
    assert body["kind"] == "file" and listener.asked == []
    assert kim.get(f"/i/{body['id']}").headers["Content-Disposition"].startswith("attachment")


def test_ffmpeg_may_open_no_other_file_or_address_for_a_video(tmp_path, listener):
    """The second wall: even a demuxer that follows references is refused every other file by our io_open.
    Without it, FFmpeg fetches the playlist's segment from the listener (the control)."""
    from webapp.media import video

    playlist = tmp_path / "list.m3u8"
    playlist.write_bytes(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{listener.url}/segment.ts\n"
                         "#EXT-X-ENDLIST\n".encode())
    with playlist.open("rb") as file, pytest.raises((PermissionError, av.FFmpegError)):
        av.open(file, format="hls", io_open=video._refuse_other_files)
    assert listener.asked == []
    with pytest.raises(av.FFmpegError):
        av.open(str(playlist), format="hls", options={"protocol_whitelist": "file,http,tcp"})
    assert listener.asked == ["/segment.ts"]


def test_videos_are_refused_when_the_admin_unticks_them(app, kim):
    set_instance(app, allowed_image_types=["jpeg", "png"])
    response = kim.upload(make_video(), "clip.mp4")
    assert response.status_code == 415
    assert response.get_json()["error"]["message"] == \
        "This server does not accept videos; its admin chose which kinds of file it takes."
    nothing_kept(app, kim)
    set_instance(app, allow_any_file=True)  # unticked videos are then kept as plain files, downloaded
    body = kim.upload(make_video(), "clip.mp4").get_json()
    assert body["kind"] == "file" and body["thumbnail_url"] is None


def test_videos_are_accepted_by_default_and_the_setting_offers_them(app):
    from webapp import instance

    with app.app_context():
        assert "video" in instance.get("allowed_image_types")


def test_the_daily_upload_quota_counts_videos(app, kim):
    from webapp.extensions import db
    from webapp.models import Plan

    with app.app_context():
        db.session.scalar(db.select(Plan).where(Plan.name == "free")).uploads_per_day = 1
        db.session.commit()
    assert kim.upload(make_video(), "one.mp4").status_code == 201
    refused = kim.upload(make_video(), "two.mp4")
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "upload_quota_exceeded"
    assert media_count(app) == 1


# --- playing: ranges for the owner, the public and share recipients ---------------------------------

def _assert_plays_in_ranges(response, data: bytes, mime: str) -> None:
    assert response.status_code == 206, response.status_code
    assert response.headers["Content-Type"] == mime and response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert response.data == data[100:200]
    assert response.headers["Content-Disposition"].startswith("inline")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # the browser's own player page may load it, and nothing else runs
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; media-src 'self'; style-src 'unsafe-inline'"
    response.close()


@pytest.mark.parametrize("store", ["memory", "file", pytest.param("s3", marks=pytest.mark.s3)])
def test_the_owner_and_the_public_get_ranges_of_a_video_from_every_store(request, make_app, tmp_path, store):
    from tests.fixtures.accounts import STRONG_PASSWORD
    from webapp.auth import service as accounts

    storage = {"file": lambda: {"url": f"file://{tmp_path}/files"}, "memory": dict, "s3": lambda: _s3_storage(request)}
    app = make_app(storage=storage[store]())
    with app.app_context():
        accounts.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True)
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    data = make_video("webm", "libvpx")
    form, content_type = multipart({"file": (data, "clip.webm")})
    owner = {"Authorization": f"Bearer {token}"}
    body = client.post("/api/v1/images", headers=owner, data=form, content_type=content_type).get_json()
    path = f"/i/{body['id']}.webm"
    _assert_plays_in_ranges(client.get(path, headers={**owner, "Range": "bytes=100-199"}), data, "video/webm")
    stranger = app.test_client()
    assert stranger.get(path, headers={"Range": "bytes=100-199"}).status_code == 404  # private until made public
    client.patch(f"/api/v1/images/{body['id']}", headers=owner, json={"is_public": True})
    _assert_plays_in_ranges(stranger.get(path, headers={"Range": "bytes=100-199"}), data, "video/webm")


def _s3_storage(request) -> dict:
    from tests.fixtures.s3server import ACCESS_KEY, REGION, SECRET_KEY

    bucket, endpoint = request.getfixturevalue("s3_bucket"), request.getfixturevalue("moto_server")
    return {"url": f"s3://{bucket}/shoebox", "endpoint_url": endpoint, "key": ACCESS_KEY, "secret": SECRET_KEY,
            "region": REGION}


def test_a_share_recipient_plays_a_video_in_ranges_without_using_a_download(app, kim):
    data = make_video()
    body = kim.upload(data, "clip.mp4").get_json()
    link = make_link(app, kim.id, media_id=body["id"], allow_download=False, max_downloads=1)
    recipient = app.test_client()
    page = recipient.get(link.url).get_data(as_text=True)
    video = re.search(r"<video[^>]*>", page).group(0)
    assert f'src="{link.url}/p/{body["id"]}/video"' in video and 'preload="metadata"' in video and "controls" in video
    assert f'poster="{link.url}/p/{body["id"]}/medium"' in video
    assert "Download original" not in page  # downloads are off for this link
    for _ in range(3):
        _assert_plays_in_ranges(recipient.get(f"{link.url}/p/{body['id']}/video", headers={"Range": "bytes=100-199"}),
                                data, "video/mp4")
    assert recipient.get(f"{link.url}/p/{body['id']}/medium").mimetype == "image/webp"
    assert recipient.get(f"{link.url}/p/{body['id']}/original").status_code in (403, 410)
    assert app.test_client().get(f"/s/{'x' * 43}/p/{body['id']}/video").status_code in (404, 410)


def test_a_public_share_of_a_video_offers_it_to_chat_previews(app, kim):
    body = kim.upload(make_video(), "clip.mp4").get_json()
    link = make_link(app, kim.id, media_id=body["id"])
    page = app.test_client().get(link.url).get_data(as_text=True)
    assert f'<meta property="og:video" content="http://shoebox.test{link.url}/p/{body["id"]}/video">' in page
    assert '<meta property="og:image"' in page
    assert app.test_client().get(f"{link.url}/preview.webp").mimetype == "image/webp"


def test_an_album_share_shows_a_video_tile_that_plays_in_the_viewer(app, kim):
    from webapp.albums import service as albums
    from webapp.extensions import db
    from webapp.models import User

    video_id = kim.upload(make_video(), "clip.mp4").get_json()["id"]
    with app.app_context():
        album = albums.create_album(db.session.get(User, kim.id), "Holiday")
        album_id = album.id
    kim.test_client.post(f"/api/v1/albums/{album_id}/images", headers=kim.headers, json={"image_ids": [video_id]})
    link = make_link(app, kim.id, album_id=album_id)
    recipient = app.test_client()
    page = recipient.get(link.url).get_data(as_text=True)
    tile = re.search(r'<li class="tile recipient-tile">.*?</li>', page, re.S).group(0)
    assert f'src="{link.url}/p/{video_id}/thumb"' in tile and "tile-video" in tile and "0:03" in tile
    assert f'data-video="{link.url}/p/{video_id}/video"' in tile and 'data-kind="video"' in tile
    single = recipient.get(f"{link.url}/p/{video_id}").get_data(as_text=True)
    assert "<video class=\"recipient-video\"" in single and f'src="{link.url}/p/{video_id}/video"' in single


# --- the owner's pages -------------------------------------------------------------------------------------

@pytest.fixture
def kim_browser(app, kim):
    """kim signed in with a browser session, for the pages."""
    from tests.fixtures.accounts import AuthActions

    client = app.test_client()
    AuthActions(client).login("kim")
    return client


def test_the_photo_page_plays_the_video_with_its_poster(app, kim, kim_browser):
    body = kim.upload(make_video(), "clip.mp4").get_json()
    page = kim_browser.get(f"/photos/{body['id']}").get_data(as_text=True)
    video = re.search(r"<video[^>]*>", page).group(0)
    assert f'src="/i/{body["id"]}.mp4"' in video and 'preload="metadata"' in video and "controls" in video
    poster = re.search(r'poster="([^"]+)"', video).group(1)
    assert kim_browser.get(poster).mimetype == "image/webp"
    assert "<dt>Duration</dt><dd>0:03</dd>" in page and "Edit copies" not in page
    assert "Delete video" in page


def test_the_gallery_shows_a_poster_with_a_play_badge_and_a_pdf_as_an_icon(app, kim, kim_browser):
    set_instance(app, allow_any_file=True)
    video_id = kim.upload(make_video(), "clip.mp4").get_json()["id"]
    pdf_id = kim.upload(PDF, "Tax return 2025.pdf").get_json()["id"]
    page = kim_browser.get("/").get_data(as_text=True)
    tiles = {m.group(1): m.group(0) for m in re.finditer(r'<li class="tile[^"]*" data-id="([^"]+)".*?</li>', page, re.S)}
    assert "<img" in tiles[video_id] and "tile-video" in tiles[video_id] and "0:03" in tiles[video_id]
    assert "<img" not in tiles[pdf_id]
    assert 'class="tile-file file-pdf' in tiles[pdf_id] and "Tax return 2025.pdf" in tiles[pdf_id]
    assert ">PDF</text>" in tiles[pdf_id] and '<small class="file-size">45 bytes</small>' in tiles[pdf_id]


def test_a_pdf_is_always_downloaded_and_never_shown_inline(app, kim):
    set_instance(app, allow_any_file=True)
    body = kim.upload(PDF, "notes.pdf").get_json()
    assert body["kind"] == "file" and body["thumbnail_url"] is None
    served = kim.get(f"/i/{body['id']}.pdf")
    assert served.headers["Content-Disposition"].startswith("attachment")
    assert served.headers["Content-Type"] == "application/octet-stream"
    assert served.headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in served.headers["Content-Security-Policy"]
    assert kim.get(f"/i/{body['id']}?size=thumb").status_code == 404


def test_a_video_cannot_be_edited_or_transformed(app, kim, kim_browser):
    media_id = kim.upload(make_video(), "clip.mp4").get_json()["id"]
    refused = kim.test_client.post(f"/api/v1/images/{media_id}/transform", headers=kim.headers,
                                   json={"transformations": {"rotate": 90}})
    assert refused.status_code == 415
    assert refused.get_json()["error"]["message"] == "Only images can be transformed; this is a video."
    assert "Only images can be edited; this is a video." in kim_browser.get(f"/i/{media_id}/edit").get_data(as_text=True)


def test_deleting_a_video_removes_it_its_poster_and_its_sizes(app, kim):
    media_id = kim.upload(make_video(), "clip.mp4").get_json()["id"]
    kim.get(f"/i/{media_id}?size=medium")
    assert len(stored_keys(app)) == 4  # the video, its thumbnail, poster and medium size
    assert kim.delete(f"/api/v1/images/{media_id}").status_code == 204
    assert stored_keys(app) == []
    assert kim.get("/api/v1/quota").get_json()["storage"]["used"] == 0


def test_the_embed_codes_of_a_video_play_it(app, kim):
    body = kim.upload(make_video(), "clip.mp4", is_public="true").get_json()
    page = app.test_client().get(f"/embed/{body['id']}").get_data(as_text=True)
    assert "&lt;video controls" in page and "[img]" not in page
    assert '<meta property="og:video"' in page


def test_a_video_s_start_of_life_is_its_recording_time(app, kim):
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        out.metadata["creation_time"] = "2024-07-14T18:30:00.000000Z"
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for n in range(5):
            frame = av.VideoFrame.from_image(Image.new("RGB", (64, 48), BLUE))
            frame.pts, frame.time_base = n, Fraction(1, 10)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    body = kim.upload(buffer.getvalue(), "beach.mp4").get_json()
    assert body["metadata"]["taken_at"].startswith("2024-07-14T18:30")


def test_a_video_whose_poster_was_lost_gets_its_sizes_from_the_video_again(app, kim):
    from webapp.extensions import blob_store, db
    from webapp.models import Variant

    media_id = kim.upload(make_video(size=(320, 240)), "clip.mp4").get_json()["id"]
    with app.app_context():
        poster = db.session.scalar(db.select(Variant).where(Variant.media_id == media_id, Variant.spec == "large"))
        blob_store().delete(poster.storage_key)
        db.session.delete(poster)
        db.session.commit()
    medium = kim.get(f"/i/{media_id}?size=medium")
    assert medium.status_code == 200 and decode(medium.data).size == (320, 240)
    top_left, top_right = poster_corners(medium.data)
    assert near(top_left, YELLOW) and near(top_right, BLUE)
    assert kim.get(f"/i/{media_id}?size=large").status_code == 200


def test_a_public_video_played_from_its_start_counts_one_view_and_its_later_ranges_none(app, kim):
    from webapp.media import views

    media_id = kim.upload(make_video(), "clip.mp4", is_public="true").get_json()["id"]
    anyone = app.test_client()
    anyone.get(f"/i/{media_id}.mp4", headers={"Range": "bytes=0-"}).close()
    anyone.get(f"/i/{media_id}.mp4", headers={"Range": "bytes=1000-"}).close()
    views.flush(app)
    assert kim.get(f"/api/v1/images/{media_id}").get_json()["views"] == 1


def test_the_library_filters_videos(app, kim, kim_browser):
    set_instance(app, allow_any_file=True)
    video_id = kim.upload(make_video(), "clip.mp4").get_json()["id"]
    kim.upload(make_jpeg(), "photo.jpg")
    kim.upload(PDF, "notes.pdf")
    assert [item["id"] for item in kim.get("/api/v1/images?type=video").get_json()["items"]] == [video_id]
    assert all(item["kind"] == "file" for item in kim.get("/api/v1/images?type=file").get_json()["items"])
    page = kim_browser.get("/?type=video").get_data(as_text=True)
    assert page.count('<li class="tile') == 1 and video_id in page
    assert '<option value="video" selected>Videos</option>' in page


# --- video.py on its own ---------------------------------------------------------------------------

@pytest.mark.parametrize("head, found", [
    (b"abc free to use, this text", None), (b"\x00\x00\x00\x08wide\x00\x00\x10\x00mdat", ("video/quicktime", "mov")),
    (b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heic", None), (b"#EXTM3U\n#EXT-X-VERSION:3\n", None),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x88matroska",
     None),  # Matroska that is not WebM
])
def test_only_the_containers_kept_as_videos_are_recognised(head, found):
    from webapp.media import video

    assert video.sniff(head) == found


def test_decoding_stops_at_its_packet_budget(tmp_path):
    from webapp.media import video

    path = tmp_path / "clip.mp4"
    path.write_bytes(make_video())
    with pytest.raises(video.BadVideo) as refused:
        video.probe_video(path, video.Limits(max_packets=0))
    assert refused.value.code == "video_too_slow"
    assert video.probe_video(path).poster.size == (64, 48)
