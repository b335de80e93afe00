"""The shell in real Chromium: first-run setup, the empty gallery, themes, phone width, API docs."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.browser import screenshot

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


def fill_setup(page):
    page.fill("#email", "admin@example.com")
    page.fill("#username", "admin")
    page.fill("#password", STRONG_PASSWORD)
    page.fill("#confirm", STRONG_PASSWORD)
    page.click("main button[type=submit]")


def test_first_visit_leads_to_setup_and_ends_in_the_gallery(live_server, page_for):
    page = page_for()
    page.goto(live_server.url + "/")
    assert page.url.endswith("/setup")
    assert page.locator("h1").inner_text() == "Welcome to Shoebox"
    screenshot(page, "setup-desktop-light")
    fill_setup(page)
    page.wait_for_url(live_server.url + "/")
    assert page.locator(".empty-state h2").inner_text() == "Your shoebox is empty"
    assert "Your admin account is ready" in page.locator("#flashes").inner_text()
    screenshot(page, "gallery-empty-desktop-light")
    page.goto(live_server.url + "/setup")
    assert page.locator(".error-status").inner_text() == "404"


def test_setup_shows_errors_beside_the_fields(live_server, page_for):
    page = page_for()
    page.goto(live_server.url + "/setup")
    page.fill("#email", "admin@example.com")
    page.fill("#username", "admin")
    page.fill("#password", "password123")
    page.fill("#confirm", "password123")
    page.click("main button[type=submit]")
    error = page.locator("#password-errors")
    assert "most commonly used passwords" in error.inner_text()
    assert page.locator("#password").get_attribute("aria-invalid") == "true"
    assert page.input_value("#email") == "admin@example.com"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_setup_and_gallery_fit_a_phone(live_server, page_for, scheme):
    page = page_for(color_scheme=scheme, **PHONE)
    page.goto(live_server.url + "/setup")
    screenshot(page, f"setup-phone-{scheme}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    fill_setup(page)
    page.wait_for_url(live_server.url + "/")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"gallery-empty-phone-{scheme}")


def test_dark_scheme_is_followed_and_the_toggle_remembers(live_server, page_for):
    page = page_for(color_scheme="dark")
    page.goto(live_server.url + "/setup")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(21, 20, 18)"
    screenshot(page, "setup-desktop-dark")
    page.click("#theme-toggle")
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    page.reload()
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 245, 242)"


def test_boosted_navigation_and_logout(live_server, page_for):
    page = page_for()
    page.goto(live_server.url + "/setup")
    fill_setup(page)
    page.wait_for_url(live_server.url + "/")
    page.click("text=Log out")
    page.wait_for_url(live_server.url + "/login")
    assert "You are logged out." in page.locator("#flashes").inner_text()
    page.fill("#identifier", "admin")
    page.fill("#password", STRONG_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    screenshot(page, "login-done")


def test_api_docs_render_offline_under_the_csp(live_server, page_for):
    page = page_for()
    requested = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(live_server.url + "/api/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Shoebox API" in page.locator(".swagger-ui .info .title").inner_text()
    assert all(url.startswith(live_server.url) or url.startswith("data:") for url in requested), requested
    screenshot(page, "api-docs")


@pytest.mark.parametrize("scheme, dark", [("light", False), ("dark", True)])
def test_api_docs_follow_the_colour_scheme(live_server, page_for, scheme, dark):
    page = page_for(color_scheme=scheme)
    page.goto(live_server.url + "/api/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    # What a person sees: how bright the paper beside the title is.
    paper = Image.open(io.BytesIO(page.screenshot(clip={"x": 900, "y": 40, "width": 200, "height": 40}))).convert("L")
    brightness = paper.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    assert (brightness < 60) is dark and (brightness > 200) is not dark, brightness
    screenshot(page, f"api-docs-{scheme}")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_on_a_phone_every_main_link_is_in_sight(live_server, page_for, scheme):
    page = page_for(color_scheme=scheme, **PHONE)
    page.goto(live_server.url + "/setup")
    fill_setup(page)  # the first account is the admin: the longest navigation
    page.wait_for_url(live_server.url + "/")
    width = page.evaluate("window.innerWidth")
    for name in ["Gallery", "Albums", "Upload", "Settings", "Admin"]:
        box = page.locator(".nav a", has_text=name).bounding_box()
        assert 0 <= box["x"] and box["x"] + box["width"] <= width, (name, box)
    screenshot(page, f"nav-admin-phone-{scheme}")
    page.locator(".nav a", has_text="Admin").click()
    page.wait_for_url(live_server.url + "/admin/")
