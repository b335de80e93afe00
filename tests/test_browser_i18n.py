"""Every main page in Arabic (right to left) and French in real Chromium on a phone: the right lang and dir,
no script errors, nothing wider than the screen; the picker without a mouse; the viewer mirrored in Arabic.
Screenshots of an Arabic gallery and share page and a French settings page go to test-artifacts/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.browser import PHONE, screenshot, wait_for_images
from tests.fixtures.media import make_jpeg

pytestmark = pytest.mark.browser

FITS = "document.scrollingElement.scrollWidth <= window.innerWidth"
TODAY_ON_THE_LEFT = """(() => {
  const plot = document.querySelector(".chart-plot"), days = plot.querySelectorAll(".chart-hits rect");
  const today = days[days.length - 1].getBoundingClientRect(), box = plot.getBoundingClientRect();
  return today.left + today.width / 2 < box.left + box.width / 2;
})()"""


def make_library(live_server, tmp_path, locale: str) -> dict:
    """An admin, kim, reading `locale`, with three photos in the album "Lake" and a link to the album."""
    from webapp.albums import service as albums
    from webapp.auth import service as accounts
    from webapp.extensions import db
    from webapp.media import service
    from webapp.shares import service as shares

    with live_server.app.app_context():
        kim = accounts.create_user("kim@example.com", "kim", STRONG_PASSWORD, role="admin", verified=True)
        kim.display_name, kim.locale = "Kim Lee", locale
        db.session.commit()
        photos = []
        for n in range(3):
            path = tmp_path / f"in-{n}.jpg"
            path.write_bytes(make_jpeg(size=(120, 80), colour=(60 * n, 120, 200)))
            photos.append(service.store_upload(kim, service.Incoming(path, f"p{n + 1}.jpg"), title=f"Photo {n + 1}"))
        album = albums.create_album(kim, "Lake")
        albums.add_photos(album, photos)
        link = shares.create_share(kim, shares.Target(album_id=album.id), shares.Options())
        return {"photo": photos[0].id, "album": album.id, "share": f"/s/{link.token}"}


def sign_in(page, live_server) -> None:
    page.goto(live_server.url + "/login")
    page.fill("#identifier", "kim")
    page.fill("#password", STRONG_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(live_server.url + "/")


def assert_laid_out(page, lang: str, direction: str) -> None:
    assert page.evaluate("document.documentElement.lang") == lang
    assert page.evaluate("document.documentElement.dir") == direction
    assert page.evaluate(FITS), f"{page.url} is wider than the screen"


@pytest.mark.parametrize(("locale", "lang", "direction", "scheme"),
                         [("ar", "ar", "rtl", "light"), ("fr", "fr", "ltr", "dark")])
def test_every_main_page_on_a_phone(live_server, page_for, tmp_path, locale, lang, direction, scheme):
    made = make_library(live_server, tmp_path, locale)
    page = page_for(locale=lang, color_scheme=scheme, **PHONE)  # the browser's Accept-Language too
    page.goto(live_server.url + "/login")
    assert_laid_out(page, lang, direction)
    sign_in(page, live_server)
    wait_for_images(page)
    assert_laid_out(page, lang, direction)
    if locale == "ar":
        screenshot(page, "i18n-gallery-phone-ar")
    pages = {"upload": "/upload", "photo": f"/photos/{made['photo']}", "editor": f"/i/{made['photo']}/edit",
             "album": f"/albums/{made['album']}", "settings": "/settings/", "admin": "/admin/", "albums": "/albums",
             "shares": "/shares", "not-found": "/no-such-page"}
    for name, path in pages.items():
        page.goto(live_server.url + path)
        assert_laid_out(page, lang, direction)
        if path == "/settings/" and locale == "fr":
            screenshot(page, "i18n-settings-phone-fr")
        if path == "/admin/":  # a chart's days run the way its language reads: today is at the end
            assert page.evaluate(TODAY_ON_THE_LEFT) == (direction == "rtl")
        if locale == "ar":  # for people to look over: every page right to left
            screenshot(page, f"i18n-phone-ar-{name}")
    recipient = page_for(locale=lang, color_scheme=scheme, **PHONE)
    recipient.goto(live_server.url + made["share"])
    wait_for_images(recipient)
    assert_laid_out(recipient, lang, direction)
    if locale == "ar":
        screenshot(recipient, "i18n-share-phone-ar")


def test_settings_in_french_on_a_desktop(live_server, page_for, tmp_path):
    make_library(live_server, tmp_path, "fr")
    page = page_for()
    sign_in(page, live_server)
    page.goto(live_server.url + "/settings/")
    assert_laid_out(page, "fr", "ltr")
    screenshot(page, "i18n-settings-desktop-fr")


def test_the_picker_turns_the_page_right_to_left_from_the_keyboard(live_server, page_for, tmp_path):
    make_library(live_server, tmp_path, None)
    page = page_for(locale="en-US")
    page.goto(live_server.url + "/login")
    assert_laid_out(page, "en", "ltr")
    page.select_option(".language-picker select", "ar")
    page.focus(".language-picker button")
    page.keyboard.press("Enter")
    page.wait_for_url(live_server.url + "/login")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    assert_laid_out(page, "ar", "rtl")
    assert page.evaluate("document.querySelector('.language-picker select').value") == "ar"
    # Start and end swap sides: the brand is on the right, the theme switch on the left.
    brand, toggle = page.locator(".brand").bounding_box(), page.locator("#theme-toggle").bounding_box()
    assert brand["x"] > toggle["x"]
    page.select_option(".language-picker select", "fr")
    page.click(".language-picker button")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    assert page.evaluate("document.documentElement.dir") == "ltr"


def test_the_arabic_viewer_goes_forward_to_the_left(live_server, page_for, tmp_path):
    made = make_library(live_server, tmp_path, None)
    page = page_for(locale="ar")
    page.goto(live_server.url + made["share"])
    wait_for_images(page)
    page.locator(".tile-link").nth(0).click()
    expect(page.locator("#viewer-name")).to_have_text("Photo 1")
    prev, next_ = page.locator("#viewer-prev").bounding_box(), page.locator("#viewer-next").bounding_box()
    assert next_["x"] < prev["x"], "Next should sit on the left in Arabic"
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#viewer-name")).to_have_text("Photo 2")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#viewer-name")).to_have_text("Photo 1")
    page.locator("#viewer-next").click()
    expect(page.locator("#viewer-name")).to_have_text("Photo 2")
    # The next photo waits to the left of the one shown.
    shown = page.locator(".viewer-slide:nth-child(2)").bounding_box()
    waiting = page.locator(".viewer-slide:nth-child(3)").bounding_box()
    assert waiting["x"] < shown["x"]
    screenshot(page, "i18n-share-viewer-ar")


def test_on_an_arabic_photo_page_arrow_left_is_next(live_server, page_for, tmp_path):
    made = make_library(live_server, tmp_path, "ar")
    page = page_for()
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/photos/{made['photo']}")  # Photo 1, the oldest: the last in the gallery
    before = page.locator("a[rel=prev]")
    assert before.get_attribute("aria-keyshortcuts") == "ArrowRight"
    page.keyboard.press("ArrowRight")  # backwards, to the newer Photo 2
    expect(page.locator("h1")).to_have_text("Photo 2")
    page.keyboard.press("ArrowLeft")  # onwards again
    expect(page.locator("h1")).to_have_text("Photo 1")
    assert page.locator("a[rel=next]").count() == 0


def test_signing_in_brings_the_accounts_language_and_direction(live_server, page_for, tmp_path):
    make_library(live_server, tmp_path, "ar")
    page = page_for(locale="en-US")
    page.goto(live_server.url + "/login")
    assert_laid_out(page, "en", "ltr")
    sign_in(page, live_server)  # a boosted form: htmx swaps the body, the new <html> attributes come along
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    assert_laid_out(page, "ar", "rtl")
    page.locator("form[action='/logout'] button").click()
    page.wait_for_url(live_server.url + "/login")
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    assert page.evaluate("document.documentElement.lang") == "en"


def test_on_an_arabic_share_photo_page_arrow_left_is_next(live_server, page_for, tmp_path):
    made = make_library(live_server, tmp_path, None)
    page = page_for(locale="ar")
    page.goto(f"{live_server.url}{made['share']}/p/{made['photo']}")  # Photo 1, the album's first
    expect(page).to_have_title("Photo 1")
    page.keyboard.press("ArrowLeft")
    expect(page).to_have_title("Photo 2")
    page.wait_for_load_state("load")  # a key pressed before the new page's scripts run goes nowhere
    page.keyboard.press("ArrowRight")
    expect(page).to_have_title("Photo 1")
