"""Single sign-on in real Chromium: the log-in page's button at phone and desktop width, light and dark, and a
whole sign-in through the provider's own pages (oidc-provider on Node.js, tests/fixtures/oidc/)."""

from __future__ import annotations


import pytest
from playwright.sync_api import expect

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.browser import ThreadedServer, free_port, screenshot

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
ALICE = {"email": "alice@example.com", "email_verified": True, "preferred_username": "alice", "name": "Alice"}


@pytest.fixture
def sso_server(make_app, start_oidc_provider):
    """make(**oidc settings) -> (the app served for real, signing in through its own provider, provider); an admin
    exists. The provider is started first: it must know the server's callback address."""
    servers = []

    def make(**oidc):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        provider = start_oidc_provider([url + "/auth/oidc/callback"])
        provider.people({"alice": ALICE})
        app = make_app(server={"base_url": url}, oidc=provider.settings(button_label="Sign in with Home SSO", **oidc))
        from webapp.auth import service

        with app.app_context():
            service.create_user("admin@example.com", "admin", STRONG_PASSWORD, role="admin", verified=True)
        servers.append(ThreadedServer(app, port))
        return url, provider

    yield make
    for server in servers:
        server.stop()


def test_signing_in_through_the_provider_pages_makes_an_account(sso_server, page_for):
    url, provider = sso_server()
    page = page_for()
    page.goto(url + "/login")
    button = page.get_by_role("link", name="Sign in with Home SSO")
    expect(button).to_be_visible()
    screenshot(page, "sso-login-desktop")
    button.click()
    page.wait_for_url(provider.issuer + "/interaction/**")
    page.get_by_role("button", name="Alice").click()
    page.wait_for_url(url + "/")
    expect(page.locator(".user-name")).to_have_text("alice")
    page.goto(url + "/settings/")
    section = page.locator("#single-sign-on")
    expect(section).to_contain_text("alice@example.com")
    section.scroll_into_view_if_needed()
    section.screenshot(path=str(screenshot(page, "sso-settings").with_name("sso-settings-section.png")))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_login_page_with_single_sign_on_on_a_phone(sso_server, page_for, scheme):
    url, _provider = sso_server()
    page = page_for(color_scheme=scheme, **PHONE)
    page.goto(url + "/login")
    button = page.get_by_role("link", name="Sign in with Home SSO")
    expect(button).to_be_visible()
    box = button.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]  # the whole button fits the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, f"sso-login-phone-{scheme}")


def test_password_sign_in_off_puts_the_provider_first(sso_server, page_for):
    url, _provider = sso_server(password_login=False)
    page = page_for(**PHONE)
    page.goto(url + "/login")
    expect(page.get_by_text("kept for administrators")).to_be_visible()
    expect(page.locator("#identifier")).to_be_hidden()  # the password form waits behind the administrators' fold
    screenshot(page, "sso-login-phone-sso-only")
    page.get_by_text("Administrator log-in with a password").click()
    page.fill("#identifier", "admin")
    page.fill("#password", STRONG_PASSWORD)
    page.locator("details button[type=submit]").click()
    page.wait_for_url(url + "/")
    expect(page.locator(".user-name")).to_have_text("admin")
