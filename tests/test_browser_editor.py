"""The transformation editor in real Chromium: drag a crop box, see the preview, save, copy the link, delete."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import PHONE, logged_in_page, screenshot
from tests.fixtures.media import corpus_file

pytestmark = pytest.mark.browser

PHOTO = ("photos", "HMD_Nokia_8.3_5G.jpg")  # 4608 x 1976


def editor_for_a_photo(page_for, live_server, **options):
    """Log kim in, upload the photo through the page's own upload URL, open its editor; (page, photo JSON)."""
    page = logged_in_page(page_for, live_server, **options)
    path = corpus_file(*PHOTO)
    token = page.get_attribute("#csrf-token", "data-token")
    uploaded = page.request.post(
        live_server.url + "/upload", headers={"X-CSRFToken": token, "Accept": "application/json"},
        multipart={"file": {"name": path.name, "mimeType": "image/jpeg", "buffer": path.read_bytes()}})
    assert uploaded.status == 201, uploaded.text()
    photo = uploaded.json()
    page.goto(f"{live_server.url}/i/{photo['id']}/edit")
    wait_for_image(page, "#crop-source")
    return page, photo


def wait_for_image(page, selector, seconds=15):
    """Until the image has loaded (polled: wait_for_function needs eval, which the page's CSP forbids)."""
    import time

    deadline = time.monotonic() + seconds
    script = "s => { const i = document.querySelector(s); return !!i && i.complete && i.naturalWidth > 0; }"
    while not page.evaluate(script, selector):
        assert time.monotonic() < deadline, f"{selector} did not load"
        page.wait_for_timeout(100)


# The colour in the middle of a picture, read through a canvas (a data: image is same-origin).
PIXEL_AT_CENTRE = """s => { const i = document.querySelector(s), c = document.createElement('canvas');
  c.width = i.naturalWidth; c.height = i.naturalHeight; const g = c.getContext('2d'); g.drawImage(i, 0, 0);
  return Array.from(g.getImageData(c.width >> 1, c.height >> 1, 1, 1).data.slice(0, 3)); }"""


def drag(page, selector, start, end):
    """Press at fraction `start` of the element, move to `end`, release (what a finger or mouse does)."""
    box = page.locator(selector).bounding_box()

    def at(fraction):
        return box["x"] + box["width"] * fraction[0], box["y"] + box["height"] * fraction[1]

    page.mouse.move(*at(start))
    page.mouse.down()
    for step in range(1, 6):
        page.mouse.move(*at([a + (b - a) * step / 5 for a, b in zip(start, end, strict=True)]))
    page.mouse.up()


def test_crop_by_dragging_save_copy_the_link_and_delete(live_server, page_for):
    page, photo = editor_for_a_photo(page_for, live_server, permissions=["clipboard-read", "clipboard-write"])
    expect(page.locator("#transform-quota")).to_contain_text("20 of 20 transformations left today")
    screenshot(page, "editor-desktop-light")

    drag(page, "#crop-area", (0.25, 0.25), (0.75, 0.75))
    expect(page.locator("#crop-box")).to_be_visible()
    crop = {part: int(page.input_value(f"#crop_{part}")) for part in ("x", "y", "width", "height")}
    assert crop["x"] == pytest.approx(photo["width"] / 4, rel=0.05)
    assert crop["width"] == pytest.approx(photo["width"] / 2, rel=0.05)
    expect(page.locator("#result-size")).to_have_text(f"{crop['width']} × {crop['height']}")

    drag(page, "#crop-box", (0.5, 0.5), (0.3, 0.5))  # dragging inside the box moves it
    assert int(page.input_value("#crop_x")) < crop["x"]
    assert int(page.input_value("#crop_width")) == crop["width"]

    page.fill("#resize_width", "400")
    page.select_option("#format", "webp")
    expect(page.locator("#result-size")).to_contain_text("400 ×")
    expect(page.locator("#editor-preview")).to_contain_text("WebP · about")
    screenshot(page, "editor-cropped-desktop-light")

    page.click("#editor-save")
    expect(page.locator(".variant")).to_have_count(1)
    expect(page.locator("#transform-quota")).to_contain_text("19 of 20 transformations left today")
    expect(page.locator(".flash-success")).to_contain_text("Saved")
    url = page.locator(".variant-url").inner_text()
    assert re.fullmatch(rf"{live_server.url}/i/{photo['id']}/t/[0-9a-f]{{20}}\.webp", url)

    page.click(".variant >> text=Copy link")
    expect(page.locator(".variant >> text=Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == url
    served = page.request.get(url)
    assert served.status == 200 and served.headers["content-type"] == "image/webp"
    screenshot(page, "editor-saved-desktop-light")

    page.click("#editor-save")  # the same again: found, not charged
    expect(page.locator(".flash-success").last).to_contain_text("already saved")
    expect(page.locator("#transform-quota")).to_contain_text("19 of 20")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click(".variant >> text=Delete")
    expect(page.locator(".variant")).to_have_count(0)
    assert page.request.get(url).status == 404


@pytest.mark.parametrize("device, scheme", [("phone", "light"), ("phone", "dark"), ("desktop", "dark")])
def test_the_editor_fits_phones_and_both_themes(live_server, page_for, device, scheme):
    options = PHONE if device == "phone" else {}
    page, _photo = editor_for_a_photo(page_for, live_server, color_scheme=scheme, **options)
    drag(page, "#crop-area", (0.1, 0.2), (0.6, 0.9))
    crop = (int(page.input_value("#crop_width")), int(page.input_value("#crop_height")))
    page.click("[data-turn='90']")
    page.check("input[name=sepia]")
    expect(page.locator("#result-size")).to_have_text(f"{crop[1]} × {crop[0]}")  # turned a quarter
    expect(page.locator("#editor-preview")).to_contain_text("JPEG · about")
    wait_for_image(page, ".editor-result")
    red, green, blue = page.evaluate(PIXEL_AT_CENTRE, ".editor-result")
    assert red > green > blue  # sepia
    page.click("#editor-save")
    expect(page.locator(".variant")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"editor-{device}-{scheme}")
