"""A share link's recipient in real Chromium: on a phone the album's grid loads as it scrolls and the
viewer opens from a tile, swipes, takes arrow keys and closes with Escape; on a desktop the viewer walks
on past the loaded tiles; the password and Open pages; German by Accept-Language; guest uploads."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.browser import PHONE, screenshot, wait_for_images
from tests.fixtures.media import make_jpeg

pytestmark = pytest.mark.browser


def make_album(live_server, tmp_path, count: int) -> tuple[int, list[str], str]:
    """An owner (shown as Kim Lee) with `count` small photos titled "Photo 1"... in the album "Lake"."""
    from webapp.albums import service as albums
    from webapp.auth import service as accounts
    from webapp.extensions import db
    from webapp.media import service

    with live_server.app.app_context():
        kim = accounts.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True)
        kim.display_name = "Kim Lee"
        db.session.commit()
        photos = []
        for n in range(count):
            path = tmp_path / f"in-{n}.jpg"
            path.write_bytes(make_jpeg(size=(96, 64), colour=(n * 4 % 256, 120, 255 - n * 3 % 256)))
            photos.append(service.store_upload(kim, service.Incoming(path, f"p{n + 1}.jpg"), title=f"Photo {n + 1}"))
        album = albums.create_album(kim, "Lake")
        albums.add_photos(album, photos)
        return kim.id, [photo.id for photo in photos], album.id


def share(live_server, owner_id: int, **target_and_options) -> str:
    """A link's address, made through the owner's service."""
    from webapp.extensions import db
    from webapp.models import User
    from webapp.shares import service

    target = {key: target_and_options.pop(key) for key in ("media_id", "album_id") if key in target_and_options}
    with live_server.app.app_context():
        link = service.create_share(db.session.get(User, owner_id), service.Target(**target),
                                    service.Options(**target_and_options))
        return f"{live_server.url}/s/{link.token}"


def swipe(page, from_x: int, to_x: int, y: int = 420) -> None:
    """A finger drawn across the screen (real touch events, as a phone sends them)."""
    touch = page.context.new_cdp_session(page)
    touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": from_x, "y": y}]})
    for step in range(1, 11):
        x = from_x + (to_x - from_x) * step / 10
        touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    touch.detach()


def test_album_on_a_phone_scrolls_on_opens_the_viewer_swipes_and_closes(live_server, page_for, tmp_path):
    owner, photos, album = make_album(live_server, tmp_path, count=66)
    url = share(live_server, owner, album_id=album, note="From the lake")
    page = page_for(**PHONE)
    more = []
    page.on("request", lambda request: "/more?after=" in request.url and more.append(request.url))
    page.goto(url)
    expect(page.locator("h1")).to_have_text("Lake")
    expect(page.locator(".recipient-from")).to_contain_text("Shared by Kim Lee")
    expect(page.locator("#recipient-grid .tile")).to_have_count(60)
    page.locator("#recipient-grid .grid-more").scroll_into_view_if_needed()
    expect(page.locator("#recipient-grid .tile")).to_have_count(66)
    expect(page.locator("#recipient-grid .grid-more")).to_have_count(0)
    assert len(more) == 1
    page.evaluate("window.scrollTo(0, 0)")
    wait_for_images(page)

    page.locator(".tile-link").nth(1).tap()
    viewer = page.locator("#viewer")
    expect(viewer).to_be_visible()
    expect(page.locator("#viewer-position")).to_have_text("2 of 66")
    expect(page.locator("#viewer-name")).to_have_text("Photo 2")
    expect(page.locator("#viewer-close")).to_be_focused()
    swipe(page, 330, 60)
    expect(page.locator("#viewer-position")).to_have_text("3 of 66")
    expect(page.locator("#viewer-name")).to_have_text("Photo 3")
    swipe(page, 60, 330)
    expect(page.locator("#viewer-position")).to_have_text("2 of 66")
    swipe(page, 60, 330)
    swipe(page, 60, 330)  # at the first photo a swipe back springs back
    expect(page.locator("#viewer-position")).to_have_text("1 of 66")
    expect(page.locator("#viewer-prev")).to_be_disabled()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#viewer-position")).to_have_text("3 of 66")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "share-recipient-viewer-phone")
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(page.locator(".tile-link").nth(2)).to_be_focused()  # back on the photo the viewer showed last
    expect(page).to_have_url(url)


def test_viewer_on_a_desktop_goes_past_the_loaded_tiles_and_offers_the_original(live_server, page_for, tmp_path):
    owner, photos, album = make_album(live_server, tmp_path, count=63)
    page = page_for(color_scheme="dark")
    page.goto(share(live_server, owner, album_id=album))
    expect(page.locator("#recipient-grid .tile")).to_have_count(60)
    page.locator(".tile-link").nth(57).click()
    expect(page.locator("#viewer-position")).to_have_text("58 of 63")
    for _ in range(4):
        page.locator("#viewer-next").click()
    expect(page.locator("#viewer-position")).to_have_text("62 of 63")
    expect(page.locator("#viewer-name")).to_have_text("Photo 62")
    expect(page.locator("#viewer-download")).to_have_attribute("href", re.compile(rf"/p/{photos[61]}/original$"))
    shown = page.locator(".viewer-slide:nth-child(2) .viewer-image")
    expect(shown).to_have_attribute("alt", "Photo 62")
    for _ in range(100):
        if page.evaluate("(() => { const i = document.querySelector('.viewer-slide:nth-child(2) .viewer-image');"
                         " return i.complete && i.naturalWidth > 0; })()"):
            break
        page.wait_for_timeout(50)
    else:
        pytest.fail("the photo in the viewer never loaded")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#viewer-position")).to_have_text("61 of 63")
    page.locator("#viewer-close").click()
    expect(page.locator("#viewer")).to_be_hidden()
    expect(page.locator("#recipient-grid .tile")).to_have_count(63)  # the viewer brought the rest in
    expect(page.locator(".tile-link").nth(60)).to_be_focused()


def test_password_link_asks_first_then_shows_the_photos(live_server, page_for, tmp_path):
    owner, _photos, album = make_album(live_server, tmp_path, count=2)
    url = share(live_server, owner, album_id=album, password="lake house")
    page = page_for(**PHONE)
    response = page.goto(url)
    assert response.status == 401
    expect(page.locator("h1")).to_have_text("Kim Lee shared photos with you")
    expect(page.locator("#share-password")).to_be_focused()
    page.fill("#share-password", "sea house")
    page.get_by_role("button", name="Open").click()
    expect(page.locator("#share-password-error")).to_have_text("That password is not right.")
    reveal = page.get_by_role("button", name="Show")
    reveal.click()
    expect(page.locator("#share-password")).to_have_attribute("type", "text")
    expect(reveal).to_have_attribute("aria-pressed", "true")
    page.fill("#share-password", "lake house")
    page.get_by_role("button", name="Open").click()
    expect(page.locator("#recipient-grid .tile")).to_have_count(2)
    expect(page.locator("h1")).to_have_text("Lake")


def test_view_limited_link_waits_for_open(live_server, page_for, tmp_path):
    owner, photos, _album = make_album(live_server, tmp_path, count=1)
    page = page_for()
    page.goto(share(live_server, owner, media_id=photos[0], max_views=1, show_metadata=True))
    expect(page.locator(".recipient-lead")).to_have_text(
        "This link can be opened 1 more time: press Open when you are ready to look.")
    page.get_by_role("button", name="Open").click()
    expect(page.locator("h1")).to_have_text("Photo 1")
    expect(page.get_by_role("link", name="Download original")).to_be_visible()


def test_german_accept_language_gives_german_pages(live_server, page_for, tmp_path):
    owner, _photos, album = make_album(live_server, tmp_path, count=3)
    page = page_for(locale="de-DE", **PHONE)
    page.goto(share(live_server, owner, album_id=album, allow_upload=True))
    expect(page.locator(".recipient-from")).to_contain_text("Geteilt von Kim Lee")
    expect(page.locator("#recipient-count")).to_have_text("3 Fotos")
    expect(page.get_by_role("link", name="Alle herunterladen")).to_be_visible()
    expect(page.locator("#guest-upload h2")).to_have_text("Eigene Fotos hinzufügen")
    page.locator(".tile-link").first.tap()
    expect(page.locator("#viewer-position")).to_have_text("1 von 3")
    expect(page.get_by_role("button", name="Nächstes Foto")).to_be_visible()


def test_guest_uploads_show_progress_and_each_files_outcome(live_server, page_for, tmp_path):
    owner, _photos, album = make_album(live_server, tmp_path, count=1)
    page = page_for(**PHONE)
    page.goto(share(live_server, owner, album_id=album, allow_upload=True))
    good = tmp_path / "sunset.jpg"
    good.write_bytes(make_jpeg(size=(120, 80), colour=(250, 120, 40)))
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"these are words, not a photo")
    page.set_input_files("#guest-file", [str(good), str(bad)])
    expect(page.locator(".guest-upload-row")).to_have_count(2)
    expect(page.locator("#guest-upload-send")).to_have_text("Upload 2 photos")
    page.locator("#guest-upload-send").click()
    expect(page.locator("#guest-name-error")).to_have_text("Tell the owner who you are: enter your name.")
    expect(page.locator("#guest-name")).to_be_focused()
    page.fill("#guest-name", "Aunt Mia")
    page.locator("#guest-upload-send").click()
    rows = page.locator(".guest-upload-row")
    expect(rows.nth(0).locator(".upload-status")).to_have_text("Added")
    expect(rows.nth(1)).to_have_class(re.compile("upload-failed"))
    # the server's own sentence, not the page's fallback
    assert rows.nth(1).locator(".upload-status").inner_text() not in ("", "Waiting", "Sending…", "This file could not be added.")
    expect(page.locator("#recipient-grid .tile")).to_have_count(2)  # the new photo is in the grid
    expect(page.locator("#recipient-count")).to_have_text("2 photos")
