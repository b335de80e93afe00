"""The owner's share links in real Chromium: the dialog from a photo, an album and a selection, Copy,
the QR code, mistakes beside their fields, the Shared links page's actions, and a phone's width."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import PHONE, logged_in_page, screenshot, wait_for_images
from tests.fixtures.media import make_jpeg

pytestmark = pytest.mark.browser


def seed(live_server, tmp_path, count=3) -> tuple[list[str], str]:
    """kim's photos (titled "Beach 0"...) and an album "Holiday" holding them all."""
    from webapp.albums import service as albums
    from webapp.extensions import db
    from webapp.media import service
    from webapp.models import User

    with live_server.app.app_context():
        kim = db.session.scalar(db.select(User).where(User.username == "kim"))
        photos = []
        for n in range(count):
            path = tmp_path / f"in-{n}.jpg"
            path.write_bytes(make_jpeg(size=(320, 240), colour=(40 * n, 120, 200 - 40 * n)))
            photos.append(service.store_upload(kim, service.Incoming(path, f"beach-{n}.jpg"), title=f"Beach {n}"))
        album = albums.create_album(kim, "Holiday")
        albums.add_photos(album, photos)
        return [photo.id for photo in photos], album.id


def clipboard_soon(page, seconds=5) -> str:
    """What the clipboard holds once the copy has landed (writing to it is asynchronous)."""
    deadline = time.monotonic() + seconds
    while not (text := page.evaluate("navigator.clipboard.readText()")) and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    return text


def image_loaded(page, selector: str) -> bool:
    script = "(s) => { const i = document.querySelector(s); return !!i && i.complete && i.naturalWidth > 0; }"
    return page.evaluate(script, selector)


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth && "
                         "[...document.querySelectorAll('dialog[open]')].every(d => d.scrollWidth <= d.clientWidth"
                         " && d.getBoundingClientRect().right <= window.innerWidth)")


def test_share_dialog_on_a_photo_page_creates_copies_and_lists_the_link(live_server, page_for, tmp_path):
    page = logged_in_page(page_for, live_server, permissions=["clipboard-read", "clipboard-write"])
    photos, _album = seed(live_server, tmp_path, count=1)
    page.goto(f"{live_server.url}/photos/{photos[0]}")
    expect(page.locator("#item-shares")).to_be_hidden()  # no links yet
    page.click("[data-share-open]")
    dialog = page.locator("dialog[data-share-dialog]")
    expect(dialog).to_be_visible()
    assert page.evaluate("document.querySelector('dialog[data-share-dialog]').matches(':modal')")
    expect(dialog.locator(".share-head-what")).to_have_text("Photo: Beach 0")
    expect(page.locator("#share-allow_download")).to_be_checked()
    expect(page.locator("#share-expires_at")).to_be_hidden()
    page.select_option("#share-expiry", "date")
    expect(page.locator("#share-expires_at")).to_be_visible()
    page.select_option("#share-expiry", "1d")
    page.fill("#share-label", "Family")
    screenshot(page, "share-dialog-desktop-light")

    dialog.get_by_role("button", name="Create link").click()
    expect(dialog.locator("h2")).to_have_text("Your link is ready")
    url = dialog.locator(".share-url").input_value()
    assert re.fullmatch(re.escape(live_server.url) + r"/s/[\w-]{32}", url)
    copy = dialog.locator("button[data-share-copy]")
    expect(copy).to_be_focused()
    copy.click()
    expect(copy).to_have_text("Copied")
    assert clipboard_soon(page) == url
    page.wait_for_timeout(200)
    assert image_loaded(page, "dialog .qr")
    screenshot(page, "share-dialog-created-desktop-light")

    dialog.get_by_role("button", name="Done").click()
    expect(page.locator("dialog[data-share-dialog]")).to_have_count(0)
    expect(page.locator("#item-shares")).to_be_visible()  # the new link appeared in the side panel
    expect(page.locator("#item-shares .share-title")).to_have_text("Family")

    recipient = page_for()
    recipient.goto(url)
    expect(recipient.locator("img").first).to_be_visible()


def test_a_mistake_shows_beside_its_field_inside_the_dialog(live_server, page_for, tmp_path):
    page = logged_in_page(page_for, live_server)
    photos, _album = seed(live_server, tmp_path, count=1)
    page.goto(f"{live_server.url}/photos/{photos[0]}")
    page.click("[data-share-open]")
    page.click("summary >> text=Limits and a note")
    page.fill("#share-max_views", "0")
    page.get_by_role("button", name="Create link").click()
    error = page.locator("#share-max_views-errors")
    expect(error).to_have_text("A whole number of at least 1, or empty for no limit.")
    expect(page.locator("#share-max_views")).to_be_focused()
    page.fill("#share-max_views", "5")
    page.get_by_role("button", name="Create link").click()
    expect(page.locator("dialog h2")).to_have_text("Your link is ready")
    expect(page.locator("dialog .field-hint").first).to_contain_text("At most 5 views")


def test_selection_bar_shares_the_selected_photos(live_server, page_for, tmp_path):
    page = logged_in_page(page_for, live_server)
    seed(live_server, tmp_path, count=3)
    page.goto(live_server.url + "/")
    wait_for_images(page)
    page.locator(".tile").nth(0).locator(".tile-check").click()
    page.locator(".tile").nth(2).locator(".tile-check").click()
    page.locator(".selection-bar [data-share-open]").click()
    expect(page.locator("dialog .share-head-what")).to_have_text("Selection: 2 photos")
    page.get_by_role("button", name="Create link").click()
    expect(page.locator("dialog h2")).to_have_text("Your link is ready")
    url = page.locator("dialog .share-url").input_value()
    recipient = page_for()
    recipient.goto(url)
    expect(recipient.locator("#recipient-grid .tile")).to_have_count(2)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_album_share_dialog_fits_a_phone(live_server, page_for, tmp_path, scheme):
    page = logged_in_page(page_for, live_server, color_scheme=scheme, **PHONE)
    _photos, album = seed(live_server, tmp_path, count=2)
    page.goto(f"{live_server.url}/albums/{album}")
    page.click("#album-head [data-share-open]")
    dialog = page.locator("dialog[data-share-dialog]")
    expect(dialog).to_be_visible()
    page.click("summary >> text=Limits, a note and uploads")
    expect(page.locator("#share-upload_max_files")).to_be_hidden()
    page.check("#share-allow_upload")
    expect(page.locator("#share-upload_max_files")).to_be_visible()
    assert fits_the_screen(page)
    screenshot(page, f"share-dialog-phone-{scheme}")
    page.fill("#share-upload_max_files", "10")
    page.get_by_role("button", name="Create link").click()
    expect(dialog.locator("h2")).to_have_text("Your link is ready")
    expect(dialog.get_by_role("button", name="Done")).to_be_in_viewport()
    assert fits_the_screen(page)
    dialog.get_by_role("button", name="Done").click()
    expect(page.locator("#item-shares .share-link")).to_have_count(1)
    assert fits_the_screen(page)


def test_shared_links_page_edits_revokes_and_deletes_in_place(live_server, page_for, tmp_path):
    page = logged_in_page(page_for, live_server, **PHONE)
    photos, album = seed(live_server, tmp_path, count=2)
    for target in (f"/photos/{photos[0]}", f"/albums/{album}"):
        page.goto(live_server.url + target)
        page.locator("[data-share-open]").first.click()
        page.get_by_role("button", name="Create link").click()
        page.get_by_role("button", name="Done").click()
    page.click("nav >> text=Shared")
    rows = page.locator(".share-link")
    expect(rows).to_have_count(2)
    album_row, photo_row = rows.nth(0), rows.nth(1)
    assert fits_the_screen(page)

    album_row.get_by_role("link", name="Edit").click()
    page.fill("#share-label", "Club")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("dialog h2")).to_have_text("Link saved")
    page.get_by_role("button", name="Done").click()
    expect(page.locator(".share-title").first).to_have_text("Club")  # the list loaded itself again

    page.once("dialog", lambda confirm: confirm.accept())
    photo_row.get_by_role("button", name="Revoke").click()
    expect(photo_row.locator(".share-status")).to_have_text("Revoked")
    expect(photo_row.get_by_role("button", name="Copy link")).to_have_count(0)

    page.locator(".share-link").first.get_by_role("link", name="QR code").click()
    expect(page.locator("dialog .qr")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("dialog[data-share-dialog]")).to_have_count(0)

    page.once("dialog", lambda confirm: confirm.accept())
    photo_row.get_by_role("button", name="Delete").click()
    expect(page.locator(".share-link")).to_have_count(1)
    screenshot(page, "shared-links-phone-light")
