"""Accounts in real Chromium, with mail delivered over real SMTP: the whole life of an account."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import expect

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.browser import ThreadedServer, free_port, logged_in_page, screenshot

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
NEW_PASSWORD = "a completely different sentence"


@pytest.fixture
def mailing_server(make_app, smtp_server):
    """The app served for real, sending mail to the local SMTP server, with an admin already set up."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = make_app(server={"base_url": url},
                   mail={"host": smtp_server.host, "port": smtp_server.port, "security": "none"})
    from webapp.auth import service

    with app.app_context():
        service.create_user("admin@example.com", "admin", STRONG_PASSWORD, role="admin", verified=True)
    server = ThreadedServer(app, port)
    yield url, smtp_server
    server.stop()


def mailed_link(smtp, to, subject, timeout=10):
    """The first link in the newest message to `to` with `subject`, waiting for it to arrive."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        matching = [m for m in smtp.messages if to in m.rcpt_tos and m.message["Subject"] == subject]
        if matching:
            text = matching[-1].message.get_body(("plain",)).get_content()
            return re.search(r"https?://\S+", text).group(0)
        time.sleep(0.05)
    raise AssertionError(f"no mail {subject!r} to {to}; got {[m.message['Subject'] for m in smtp.messages]}")


def log_out(page):
    """Press Log out and wait until it has happened (a login page loaded before then would carry
    the old session's CSRF token)."""
    page.click("text=Log out")
    expect(page.locator("header button", has_text="Log out")).to_have_count(0)


def log_in(page, url, identifier="kim", password=STRONG_PASSWORD):
    page.goto(url + "/login")
    page.fill("#identifier", identifier)
    page.fill("#password", password)
    page.click("main button[type=submit]")


def test_an_account_from_signup_to_deletion(mailing_server, page_for):
    url, smtp = mailing_server
    page = page_for()

    # Sign up and confirm the address with the link that arrived by mail.
    page.goto(url + "/signup")
    screenshot(page, "signup-desktop-light")
    page.fill("#email", "kim@example.com")
    page.fill("#username", "kim")
    page.fill("#password", STRONG_PASSWORD)
    page.fill("#confirm", STRONG_PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_have_text("Check your inbox")
    link = mailed_link(smtp, "kim@example.com", "Confirm your email address")
    assert link.startswith(url + "/verify/")
    log_in(page, url)
    page.wait_for_url(url + "/")
    expect(page.locator(".banner")).to_contain_text("Please confirm your email address")
    page.goto(link)
    expect(page.locator("#flashes")).to_contain_text("is confirmed")
    assert page.locator(".banner").count() == 0

    # Turn on two-factor login with a real TOTP code.
    page.goto(url + "/settings/")
    screenshot(page, "settings-desktop-light")
    page.click("text=Set up two-factor login")
    page.wait_for_url(url + "/settings/two-factor")
    page.click("summary")
    secret = page.locator("#totp-secret").inner_text().strip()
    screenshot(page, "two-factor-enrolment-desktop-light")
    page.fill("#totp-code", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    screenshot(page, "recovery-codes")
    mailed_link(smtp, "kim@example.com", "Two-factor login changed on your account")

    # Log out, then in again: the second step asks for a code; a recovery code works once.
    log_out(page)
    log_in(page, url)
    page.wait_for_url(url + "/login/code")
    page.fill("#code", "123456")
    page.click("main button[type=submit]")
    expect(page.locator("#code-errors")).to_contain_text("That code is not right")
    page.fill("#code", codes[0])
    page.click("main button[type=submit]")
    page.wait_for_url(url + "/")

    # Forgot the password: reset it with the mailed link, which logs every session out.
    log_out(page)
    page.click("text=Forgot your password?")
    page.fill("#email", "kim@example.com")
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_have_text("Check your inbox")
    page.goto(mailed_link(smtp, "kim@example.com", "Reset your password"))
    page.fill("#password", NEW_PASSWORD)
    page.fill("#confirm", NEW_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(url + "/login")
    log_in(page, url, password=NEW_PASSWORD)
    page.wait_for_url(url + "/login/code")
    page.fill("#code", codes[1])
    page.click("main button[type=submit]")
    page.wait_for_url(url + "/")

    # Ask for deletion, see the banner everywhere, cancel it.
    page.goto(url + "/settings/#danger")
    page.fill("#delete-password", NEW_PASSWORD)
    page.click("text=Delete my account")
    expect(page.locator(".banner-danger")).to_contain_text("will be deleted on")
    expect(page.locator("#danger")).to_contain_text("Cancel deletion")
    screenshot(page, "settings-deletion-scheduled")
    page.goto(url + "/")
    expect(page.locator(".banner-danger")).to_contain_text("will be deleted on")
    page.click(".banner-danger button")
    expect(page.locator("#flashes")).to_contain_text("Your account will not be deleted.")
    expect(page.locator(".banner-danger")).to_have_count(0)


def test_settings_sections_validate_inline_without_reloading(mailing_server, page_for):
    url, _smtp = mailing_server
    page = page_for()
    log_in(page, url, "admin")
    page.wait_for_url(url + "/")
    page.click("nav >> text=Settings")  # boosted: the page's CSRF token must follow the new session
    page.wait_for_url(url + "/settings/")
    page.evaluate("window.__marker = 'still here'")
    page.fill("#pw-current", "wrong wrong wrong")
    page.fill("#pw-password", NEW_PASSWORD)
    page.fill("#pw-confirm", NEW_PASSWORD)
    page.click("#password button[type=submit]")
    expect(page.locator("#pw-current-errors")).to_contain_text("The current password is not right.")
    assert page.evaluate("window.__marker") == "still here"  # only the section was swapped

    page.fill("#profile-display_name", "<b>Admin</b>")
    page.click("#profile button[type=submit]")
    expect(page.locator("#flashes")).to_contain_text("Profile saved.")
    page.reload()
    expect(page.locator(".user-name")).to_have_text("<b>Admin</b>")  # shown as text, not markup
    page.evaluate("window.__marker = 'still here'")

    page.fill("#key-name", "ShareX")
    page.click("text=Create key")
    expect(page.locator("#new-api-key")).to_contain_text("sbx_")
    key = page.locator("#new-api-key").inner_text()
    assert key.startswith("sbx_")
    assert page.evaluate("window.__marker") == "still here"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_account_pages_fit_a_phone(mailing_server, page_for, scheme):
    url, _smtp = mailing_server
    page = page_for(color_scheme=scheme, **PHONE)
    page.goto(url + "/login")
    screenshot(page, f"login-phone-{scheme}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    log_in(page, url, "admin")
    page.wait_for_url(url + "/")
    page.goto(url + "/settings/")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"settings-phone-{scheme}")
    page.goto(url + "/settings/two-factor")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"two-factor-enrolment-phone-{scheme}")


def test_login_page_desktop_dark(mailing_server, page_for):
    url, _smtp = mailing_server
    page = page_for(color_scheme="dark")
    page.goto(url + "/login")
    screenshot(page, "login-desktop-dark")
    log_in(page, url, "admin", "wrong wrong wrong")
    expect(page.locator("#password-errors")).to_contain_text("do not match an account")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_keeping_photo_locations_is_a_setting_that_says_what_it_does(live_server, page_for, device, scheme):
    page = logged_in_page(page_for, live_server, color_scheme=scheme, **(PHONE if device == "phone" else {}))
    page.click("nav >> text=Settings")
    page.wait_for_url(live_server.url + "/settings/")
    box = page.get_by_label("Keep the location of photos I upload")
    expect(box).not_to_be_checked()
    expect(page.locator("#keep-location-hint")).to_contain_text("Photos you have already uploaded do not change.")
    page.evaluate("window.__marker = 'still here'")
    box.check()
    page.click("text=Save photo settings")
    expect(page.locator("#flashes")).to_contain_text("Photo settings saved.")
    assert page.evaluate("window.__marker") == "still here"  # only the section was swapped
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.locator("#photos").scroll_into_view_if_needed()
    screenshot(page, f"settings-photos-{device}-{scheme}")
    page.reload()
    expect(page.get_by_label("Keep the location of photos I upload")).to_be_checked()
