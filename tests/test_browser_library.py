"""The library in real Chromium: scroll to the end, search, filter, select, albums, the photo page, keys."""

from __future__ import annotations

import re
import shutil

import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import PHONE, SCREENSHOTS, logged_in_page, screenshot, wait_for_images
from tests.fixtures.media import corpus_file

pytestmark = pytest.mark.browser

PHOTOS = [("photos", "Canon_40D.jpg"), ("photos", "Nikon_D70.jpg"), ("photos", "DSCN0010.jpg"),
          ("photos", "HMD_Nokia_8.3_5G.jpg"), ("orientation", "Landscape_6.jpg"), ("formats", "hopper.png"),
          ("formats", "animated-5-frames.gif"), ("photos", "iphone_hdr_YES.jpg")]


def seed(live_server, tmp_path, copies=3) -> list[str]:
    """Store `copies` rounds of the corpus photos for kim (through the real pipeline); ids, oldest first."""
    from webapp.extensions import db
    from webapp.media import service
    from webapp.models import User

    ids = []
    with live_server.app.app_context():
        kim = db.session.scalar(db.select(User).where(User.username == "kim"))
        for round_ in range(copies):
            for n, parts in enumerate(PHOTOS):
                path = tmp_path / f"in-{round_}-{n}"
                shutil.copy(corpus_file(*parts), path)
                name = f"r{round_}-{parts[-1]}"
                media = service.store_upload(kim, service.Incoming(path, name), title=f"Shot {round_}-{n}",
                                             is_public=n % 3 == 0)
                ids.append(media.id)
    return ids


def make_album(live_server, title: str) -> str:
    from webapp.albums import service
    from webapp.extensions import db
    from webapp.models import User

    with live_server.app.app_context():
        kim = db.session.scalar(db.select(User).where(User.username == "kim"))
        return service.create_album(kim, title).id


def test_gallery_scrolls_searches_filters_and_keeps_its_place(live_server, page_for, tmp_path):
    page = logged_in_page(page_for, live_server, height=500)
    ids = seed(live_server, tmp_path)
    pages = []
    page.on("request", lambda request: "cursor=" in request.url and pages.append(request.url))
    page.goto(live_server.url + "/?limit=8")
    for _ in range(100):  # infinite scroll: each reveal of the marker brings the next page
        page.mouse.wheel(0, 2000)
        page.wait_for_timeout(150)
        if page.locator(".tile").count() == len(ids) and page.locator(".grid-more").count() == 0:
            break
    expect(page.locator(".tile")).to_have_count(len(ids))
    assert len(pages) == 2, pages  # 24 photos, 8 a page
    wait_for_images(page)
    page.locator(".tile-link").last.click()  # open the last photo, then come back to the same place
    expect(page.locator(".photo-image")).to_be_visible()
    page.go_back()
    expect(page.locator(".tile")).to_have_count(len(ids))
    assert page.evaluate("window.scrollY") > 300

    page.fill("input[name=q]", "Shot 1-")
    expect(page.locator(".tile")).to_have_count(len(PHOTOS))
    expect(page).to_have_url(re.compile(r"/\?q=Shot(\+|%20)1-$"))
    page.locator("summary", has_text="Filters").click()
    page.select_option("select[name=visibility]", "public")
    expect(page.locator(".tile")).to_have_count(3)  # photos 0, 3 and 6 of that round
    expect(page).to_have_url(re.compile(r"visibility=public"))
    page.go_back()
    expect(page.locator(".tile")).to_have_count(len(PHOTOS))
    expect(page.locator("input[name=q]")).to_have_value("Shot 1-")
    page.reload()
    expect(page.locator(".tile")).to_have_count(len(PHOTOS))


def test_select_with_shift_click_add_to_album_reorder_and_delete(live_server, page_for, tmp_path):
    page = logged_in_page(page_for, live_server)
    ids = seed(live_server, tmp_path, copies=1)
    album_id = make_album(live_server, "Best of")
    page.goto(live_server.url + "/")
    wait_for_images(page)
    tiles = page.locator(".tile")
    tiles.nth(0).locator(".tile-check").click()
    tiles.nth(3).click(modifiers=["Shift"])
    expect(page.locator(".tile-selected")).to_have_count(4)
    expect(page.locator(".selection-count")).to_have_text("4 selected")
    page.keyboard.press("Escape")
    expect(page.locator(".tile-selected")).to_have_count(0)
    tiles.nth(0).locator(".tile-check").click()
    tiles.nth(2).click(modifiers=["Shift"])
    page.select_option("#selection-album", album_id)
    page.click("button[value=album]")
    expect(page.locator(".flash-success")).to_contain_text("3 photos were added to Best of")
    screenshot(page, "gallery-selection-desktop-light")

    page.goto(f"{live_server.url}/albums/{album_id}")
    album_tiles = page.locator(".tile")
    expect(album_tiles).to_have_count(3)
    first, last = album_tiles.nth(0).get_attribute("data-id"), album_tiles.nth(2).get_attribute("data-id")
    with page.expect_response(lambda response: response.url.endswith("/order")) as moved:
        album_tiles.nth(2).drag_to(album_tiles.nth(0), target_position={"x": 5, "y": 40})
    assert moved.value.status == 204
    page.reload()
    expect(page.locator(".tile").nth(0)).to_have_attribute("data-id", last)
    expect(page.locator(".tile").nth(1)).to_have_attribute("data-id", first)

    page.goto(live_server.url + "/")
    page.locator(".tile").nth(0).locator(".tile-check").click()
    page.locator(".tile").nth(1).locator(".tile-check").click()
    page.once("dialog", lambda dialog: (dialog.message == "Delete these 2 photos? This cannot be undone."
                                        and dialog.accept()) or dialog.dismiss())
    page.click("button[value=delete]")
    expect(page.locator(".tile")).to_have_count(len(ids) - 2)
    page.reload()
    expect(page.locator(".tile")).to_have_count(len(ids) - 2)


def test_photo_page_walks_with_the_arrow_keys_and_edits_in_place(live_server, page_for, tmp_path):
    page = logged_in_page(page_for, live_server)
    ids = seed(live_server, tmp_path, copies=1)
    page.goto(live_server.url + "/?sort=name")
    page.locator(".tile-link").nth(1).click()
    expect(page.locator(".photo-image")).to_be_visible()
    expect(page.locator("a[rel=next]")).to_be_visible()
    start = page.url
    page.keyboard.press("ArrowRight")
    expect(page).not_to_have_url(start)
    expect(page).to_have_url(re.compile(r"sort=name"))
    page.keyboard.press("ArrowLeft")
    expect(page).to_have_url(start)
    page.click("text=Edit title and description")
    page.fill("#photo-title", "<b>Harbour</b> at dawn")
    page.click("#photo-text button[type=submit]")
    expect(page.locator(".photo-title")).to_have_text("<b>Harbour</b> at dawn")
    page.click("#photo-visibility button")
    expect(page.locator("#photo-visibility")).to_contain_text("Make")
    screenshot(page, "photo-desktop-light")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-delete-photo]")
    expect(page).to_have_url(re.compile(r"/\?sort=name$"))
    expect(page.locator(".tile")).to_have_count(len(ids) - 1)


def test_keyboard_moves_between_tiles_and_enter_opens(live_server, page_for, tmp_path):
    page = logged_in_page(page_for, live_server)
    seed(live_server, tmp_path, copies=1)
    page.goto(live_server.url + "/")
    page.locator(".tile-link").nth(0).focus()
    page.keyboard.press("ArrowRight")
    second = page.locator(".tile").nth(1).get_attribute("data-id")
    assert page.evaluate("document.activeElement.closest('.tile').dataset.id") == second
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/photos/{second}"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_library_pages_look_right(live_server, page_for, tmp_path, scheme, device):
    options = PHONE if device == "phone" else {}
    page = logged_in_page(page_for, live_server, color_scheme=scheme, **options)
    ids = seed(live_server, tmp_path, copies=1)
    album_id = make_album(live_server, "Summer in the hills")
    from webapp.albums import service
    from webapp.extensions import db
    from webapp.models import Album, Media

    with live_server.app.app_context():
        service.add_photos(db.session.get(Album, album_id), [db.session.get(Media, i) for i in ids[:5]])
    for name, path in [("gallery", "/"), ("album", f"/albums/{album_id}"), ("albums", "/albums"),
                       ("photo", f"/photos/{ids[2]}")]:
        page.goto(live_server.url + path)
        if name != "photo":
            wait_for_images(page)
        else:
            expect(page.locator(".photo-image")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name
        screenshot(page, f"library-{name}-{device}-{scheme}")


def test_embed_codes_copy_what_they_show(live_server, page_for, tmp_path):
    page = logged_in_page(page_for, live_server, permissions=["clipboard-read", "clipboard-write"])
    ids = seed(live_server, tmp_path, copies=1)
    page.goto(f"{live_server.url}/embed/{ids[0]}")
    first_code = page.locator("[data-copy]").first
    shown = page.locator(first_code.get_attribute("data-copy")).input_value()
    first_code.click()
    assert shown and clipboard_soon(page) == shown
    page.goto(f"{live_server.url}/photos/{ids[0]}")
    page.click("summary >> text=Embed codes")
    page.click("[data-copy='#code-markdown']")
    assert clipboard_soon(page, previous=shown).startswith("![Shot 0-0](http")


def clipboard_soon(page, previous="", seconds=5) -> str:
    """What the clipboard holds once a copy has landed (writing to it is asynchronous)."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        text = page.evaluate("navigator.clipboard.readText()")
        if (text and text != previous) or time.monotonic() > deadline:
            return text
        page.wait_for_timeout(50)


def _overlap(a: dict, b: dict) -> bool:
    """Whether two bounding boxes share any area."""
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_embed_codes_fit_the_screen_and_follow_make_public(live_server, page_for, tmp_path, device, scheme):
    options = PHONE if device == "phone" else {}
    page = logged_in_page(page_for, live_server, color_scheme=scheme, **options)
    ids = seed(live_server, tmp_path, copies=1)
    page.goto(f"{live_server.url}/photos/{ids[1]}")  # a private one
    page.click("summary >> text=Embed codes")
    codes = page.locator(".photo-codes")
    expect(codes.locator("#code-bbcode")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), \
        page.evaluate("document.documentElement.scrollWidth")
    expect(codes).to_contain_text("The photo is private")
    page.locator("#photo-visibility button").click()
    expect(page.locator("#photo-visibility")).to_contain_text("Make private")
    expect(codes).not_to_contain_text("private")
    expect(codes).to_contain_text("The photo is public")
    flash = page.locator(".flash-success")
    expect(flash).to_contain_text("now public")
    assert not _overlap(flash.bounding_box(), page.locator(".photo-title").bounding_box())
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"photo-embed-codes-{device}-{scheme}")
    page.locator("#photo-visibility button").click()
    expect(codes).to_contain_text("The photo is private")


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_the_shift_click_hint_shows_only_with_a_mouse(live_server, page_for, tmp_path, device):
    options = PHONE if device == "phone" else {}
    page = logged_in_page(page_for, live_server, **options)
    seed(live_server, tmp_path, copies=1)
    page.goto(live_server.url + "/")
    wait_for_images(page)
    hint, shift = page.get_by_text("Select photos with the ✓ in a corner."), page.get_by_text("Shift-click")
    expect(hint).to_be_visible()
    if device == "phone":
        expect(shift).to_be_hidden()
        # Only the visible part: a full-page capture drops the touch emulation while it runs.
        page.screenshot(path=str(SCREENSHOTS / "gallery-hint-phone-light.png"))
    else:
        expect(shift).to_be_visible()
    page.locator(".tile").nth(0).locator(".tile-check").click()
    expect(page.locator(".selection-count")).to_have_text("1 selected")
    expect(hint).to_be_hidden()
    page.locator("[data-select=none]").click()
    expect(hint).to_be_visible()
    expect(page.locator(".selection-count")).to_be_hidden()
