"""A video in real Chromium: uploaded through the upload page, shown in the gallery with its poster and
length, played on its page (desktop and phone, light and dark), then on a share link's page and in an
album link's viewer. The video is made at test time with PyAV."""

from __future__ import annotations

import io
import time

import av
import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from tests.fixtures.browser import PHONE, logged_in_page, screenshot, wait_for_images

pytestmark = pytest.mark.browser


def make_clip(size=(480, 270), seconds=4, rate=12) -> bytes:
    """A little WebM (VP9): a sun crossing an evening sky over a hill."""
    width, height = size
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="webm") as out:
        stream = out.add_stream("libvpx-vp9", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        frames = seconds * rate
        for n in range(frames):
            picture = Image.new("RGB", size, (40, 70 + n, 140))
            draw = ImageDraw.Draw(picture)
            x = width * (n + 4) // (frames + 8)
            draw.ellipse((x - 28, 60, x + 28, 116), fill=(255, 196, 60))
            draw.polygon([(0, height), (0, height * 2 // 3), (width // 2, height // 2), (width, height * 3 // 4),
                          (width, height)], fill=(30, 90, 60))
            for packet in stream.encode(av.VideoFrame.from_image(picture)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()


def wait_until(page, script: str, seconds: float = 15, what: str = "") -> None:
    """Poll a script until it is true (wait_for_function needs eval, which the pages' CSP forbids)."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(script):
        assert time.monotonic() < deadline, f"timed out waiting for {what or script}"
        page.wait_for_timeout(100)


METADATA = "(v => v && v.readyState >= 1 && v.duration > 3.5 && v.duration < 4.5)(document.querySelector('{}'))"
SETTLED = "(v => v.networkState !== 2)(document.querySelector('{}'))"  # no more loading: no spinner
PLAYING = "(v => v && v.currentTime > 0.3)(document.querySelector('{}'))"


def share_url(live_server, **target) -> str:
    from webapp.extensions import db
    from webapp.models import User
    from webapp.shares import service

    with live_server.app.app_context():
        owner = db.session.scalar(db.select(User).where(User.username == "kim"))
        link = service.create_share(owner, service.Target(**target), service.Options())
        return f"{live_server.url}/s/{link.token}"


def play(page, selector: str) -> None:
    page.evaluate(f"(v => {{ v.muted = true; return v.play(); }})(document.querySelector('{selector}'))")
    wait_until(page, PLAYING.format(selector), what="the video to play")


def test_a_video_uploaded_in_the_browser_plays_on_its_page_and_on_a_share_link(live_server, page_for, tmp_path):
    clip = tmp_path / "Sunset walk.webm"
    clip.write_bytes(make_clip())
    page = logged_in_page(page_for, live_server)
    page.goto(live_server.url + "/upload")
    page.set_input_files("#file-input", [str(clip)])
    expect(page.locator(".upload-ok")).to_have_count(1, timeout=30_000)

    page.goto(live_server.url + "/")
    tile = page.locator(".tile").first
    expect(tile.locator(".tile-video")).to_contain_text("0:04")
    wait_for_images(page)
    screenshot(page, "video-gallery-desktop-light")
    tile.locator(".tile-link").click()
    video = page.locator("video.photo-video")
    expect(video).to_be_visible()
    wait_until(page, METADATA.format("video.photo-video"), what="the video's metadata")
    assert page.evaluate("document.querySelector('video.photo-video').videoWidth") == 480
    expect(page.locator(".facts")).to_contain_text("0:04")
    wait_until(page, SETTLED.format("video.photo-video"), what="the video to stop loading")
    page.wait_for_timeout(1500)  # the player's loading spinner fades out
    screenshot(page, "video-page-desktop-light")
    play(page, "video.photo-video")

    media_id = page.url.rsplit("/", 1)[-1].split("?")[0]
    recipient = page_for()
    recipient.goto(share_url(live_server, media_id=media_id))
    expect(recipient.locator("video.recipient-video")).to_be_visible()
    wait_until(recipient, METADATA.format("video.recipient-video"), what="the shared video's metadata")
    play(recipient, "video.recipient-video")
    screenshot(recipient, "video-share-desktop-light")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_video_s_page_on_a_phone(live_server, page_for, tmp_path, scheme):
    from webapp.extensions import db
    from webapp.media import service
    from webapp.models import User

    page = logged_in_page(page_for, live_server, color_scheme=scheme, **PHONE)
    clip = tmp_path / "clip.webm"
    clip.write_bytes(make_clip(size=(270, 480)))
    with live_server.app.app_context():
        kim = db.session.scalar(db.select(User).where(User.username == "kim"))
        media_id = service.store_upload(kim, service.Incoming(clip, "Portrait clip.webm")).id
    page.goto(f"{live_server.url}/photos/{media_id}")
    wait_until(page, METADATA.format("video.photo-video"), what="the video's metadata")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    box = page.locator("video.photo-video").bounding_box()
    assert box["width"] <= 390 and box["height"] > box["width"]  # portrait, within the screen
    wait_until(page, SETTLED.format("video.photo-video"), what="the video to stop loading")
    page.wait_for_timeout(1500)  # the player's loading spinner fades out
    screenshot(page, f"video-page-phone-{scheme}")


def test_an_album_link_plays_a_video_in_its_viewer(live_server, page_for, tmp_path):
    from webapp.albums import service as albums
    from webapp.extensions import db
    from webapp.media import service
    from webapp.models import User
    from tests.fixtures.media import make_jpeg

    logged_in_page(page_for, live_server)  # makes kim
    clip, photo = tmp_path / "clip.webm", tmp_path / "photo.jpg"
    clip.write_bytes(make_clip())
    photo.write_bytes(make_jpeg(size=(480, 320), colour=(200, 120, 40)))
    with live_server.app.app_context():
        kim = db.session.scalar(db.select(User).where(User.username == "kim"))
        items = [service.store_upload(kim, service.Incoming(photo, "photo.jpg"), title="A photo"),
                 service.store_upload(kim, service.Incoming(clip, "clip.webm"), title="A video")]
        album = albums.create_album(kim, "Evening")
        albums.add_photos(album, items)
        album_id = album.id
    page = page_for(**PHONE)
    page.goto(share_url(live_server, album_id=album_id))
    wait_for_images(page)
    expect(page.locator(".tile-video")).to_have_count(1)
    screenshot(page, "video-album-share-phone")
    page.locator(".tile-link").nth(1).tap()
    expect(page.locator("#viewer-name")).to_have_text("A video")
    wait_until(page, METADATA.format("#viewer .viewer-video"), what="the viewer's video metadata")
    play(page, "#viewer .viewer-video")
    screenshot(page, "video-viewer-phone")
    page.keyboard.press("Escape")
    expect(page.locator("#viewer")).to_be_hidden()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_plain_files_show_an_icon_name_and_size_beside_photos_and_videos(live_server, page_for, tmp_path, scheme):
    from webapp import instance
    from webapp.extensions import db
    from webapp.media import service
    from webapp.models import User
    from tests.fixtures.media import make_jpeg

    page = logged_in_page(page_for, live_server, color_scheme=scheme)
    files = {"Tax return 2025.pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
             "holiday-photos.zip": b"PK\x03\x04" + bytes(2000), "notes.txt": b"eggs, flour, milk\n" * 40,
             "clip.webm": make_clip(), "beach.jpg": make_jpeg(size=(480, 320), colour=(70, 150, 210))}
    with live_server.app.app_context():
        instance.put("allow_any_file", True)
        db.session.commit()
        kim = db.session.scalar(db.select(User).where(User.username == "kim"))
        for name, data in files.items():
            path = tmp_path / name
            path.write_bytes(data)
            service.store_upload(kim, service.Incoming(path, name))
    page.goto(live_server.url + "/")
    wait_for_images(page)
    expect(page.locator(".tile-file")).to_have_count(3)
    expect(page.locator(".tile-file.file-pdf")).to_contain_text("Tax return 2025.pdf")
    assert page.locator(".tile-file img").count() == 0
    screenshot(page, f"files-gallery-desktop-{scheme}")
    page.locator(".tile-file.file-pdf").click()
    expect(page.locator(".file-card-large")).to_contain_text("45 bytes")
    screenshot(page, f"file-page-desktop-{scheme}")


def test_a_video_opened_at_its_own_address_plays_in_the_browser(live_server, page_for, tmp_path):
    """The file's own answer is sandboxed (Content-Security-Policy: sandbox, default-src 'none'); Chromium's
    player page for it must still load and play it."""
    from webapp.extensions import db
    from webapp.media import service
    from webapp.models import User

    logged_in_page(page_for, live_server)  # makes kim
    clip = tmp_path / "clip.webm"
    clip.write_bytes(make_clip())
    with live_server.app.app_context():
        kim = db.session.scalar(db.select(User).where(User.username == "kim"))
        media = service.store_upload(kim, service.Incoming(clip, "clip.webm"), is_public=True)
        address = f"{live_server.url}/i/{media.id}.webm"
    page = page_for()
    response = page.goto(address)
    assert response.headers["content-type"] == "video/webm"
    wait_until(page, METADATA.format("video"), what="the player page's metadata")


@pytest.mark.parametrize("container, name", [("mp4", "clip.mp4"), ("mov", "IMG_0042.MOV")])
def test_an_h264_video_from_a_phone_plays_on_its_page(live_server, page_for, tmp_path, container, name):
    """Chromium says it cannot play video/quicktime (canPlayType), yet plays an H.264 MOV it is given."""
    from tests.fixtures.media import make_video
    from webapp.extensions import db
    from webapp.media import service
    from webapp.models import User

    page = logged_in_page(page_for, live_server)
    clip = tmp_path / name
    clip.write_bytes(make_video(container, "libx264", size=(320, 240), frames=40, rate=10))
    with live_server.app.app_context():
        kim = db.session.scalar(db.select(User).where(User.username == "kim"))
        media_id = service.store_upload(kim, service.Incoming(clip, name)).id
    page.goto(f"{live_server.url}/photos/{media_id}")
    wait_until(page, METADATA.format("video.photo-video"), what=f"the {container} video's metadata")
    play(page, "video.photo-video")
