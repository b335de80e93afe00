"""Settings → Integrations in real Chromium: reached from the settings page, both downloads through their
buttons, revoking a key, the Photos setting, the deletion page; screenshots at phone and desktop width, in
light and dark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.fixtures.browser import PHONE, SCREENSHOTS, logged_in_page, screenshot
from tests.fixtures.media import make_jpeg

pytestmark = pytest.mark.browser


def test_both_downloads_work_from_the_page_and_their_keys_can_be_revoked(page_for, live_server):
    page = logged_in_page(page_for, live_server)
    page.goto(live_server.url + "/settings/")
    page.click(".settings-nav >> text=Integrations")
    expect(page).to_have_url(live_server.url + "/settings/integrations")
    expect(page.locator("#integration-keys")).to_contain_text("No screenshot tool has a key yet.")

    page.select_option("#sharex-uploads_public", "public")
    with page.expect_download() as sharex:
        page.click("text=Download ShareX config")
    assert sharex.value.suggested_filename.endswith(".sxcu")
    config = json.loads(Path(sharex.value.path()).read_text())
    with page.expect_download() as script:
        page.click("text=Download Flameshot / shell script")
    assert script.value.suggested_filename.endswith("-screenshot.sh")
    assert Path(script.value.path()).read_text().startswith("#!/bin/sh\n")

    page.reload()
    rows = page.locator("#integration-keys tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("ShareX")
    expect(rows.nth(1)).to_contain_text("public")
    expect(rows.nth(0)).to_contain_text("Screenshot script")

    page.once("dialog", lambda dialog: dialog.accept())
    rows.nth(1).locator("button", has_text="Revoke").click()
    expect(rows).to_have_count(1)
    expect(page.locator("#flashes")).to_contain_text("The key was revoked")
    sent = requests.post(config["RequestURL"], headers=config["Headers"],
                         files={config["FileFormName"]: ("a.jpg", make_jpeg())})
    assert sent.status_code == 401


def test_the_photos_setting_makes_new_uploads_public(page_for, live_server):
    page = logged_in_page(page_for, live_server)
    page.goto(live_server.url + "/settings/")
    expect(page.locator(".integrations-note")).to_have_count(0)
    page.check("#photos-uploads_public")
    page.click("#photos button[type=submit]")
    expect(page.locator("#flashes")).to_contain_text("Photo settings saved.")
    page.goto(live_server.url + "/settings/integrations")
    expect(page.locator(".integrations-note")).to_have_count(0)  # the warning about private links is gone
    from webapp.extensions import db
    from webapp.models import User

    with live_server.app.app_context():
        assert db.session.scalar(db.select(User.uploads_public).where(User.username == "kim")) is True


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", ["phone", "desktop"])
def test_integrations_page_screenshots(page_for, live_server, scheme, width):
    options = PHONE if width == "phone" else {"width": 1280, "height": 900}
    page = logged_in_page(page_for, live_server, color_scheme=scheme, **options)
    page.goto(live_server.url + "/settings/integrations")
    with page.expect_download():
        page.click("text=Download ShareX config")
    page.reload()
    expect(page.locator("#integration-keys tbody tr")).to_have_count(1)
    expect(page.locator(".integrations-note")).to_be_visible()
    expect(page.locator("#integration-keys td", has_text="as my account’s setting")).to_be_visible()
    # Nothing sticks out sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= page.evaluate("window.innerWidth")
    page.evaluate("window.scrollTo(0, 0)")  # the reload kept the scroll: a full-page shot would show the bar mid-page
    screenshot(page, f"integrations-{width}-{scheme}")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_deletion_page_shows_the_upload_and_deletes_it(page_for, live_server, scheme):
    from webapp.auth import service
    from tests.fixtures.accounts import STRONG_PASSWORD

    with live_server.app.app_context():
        service.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True)
    token = requests.post(f"{live_server.url}/api/v1/auth/login",
                          json={"identifier": "kim", "password": STRONG_PASSWORD}).json()["access_token"]
    made = requests.post(f"{live_server.url}/api/v1/images", headers={"Authorization": f"Bearer {token}"},
                         files={"file": ("screenshot-2026-12-03.jpg", make_jpeg((800, 500), (40, 90, 160)))}).json()
    page = page_for(color_scheme=scheme, **PHONE)
    page.goto(made["deletion_url"])
    preview = page.locator(".deletion-link-preview img")
    expect(preview).to_be_visible()
    assert page.evaluate("img => img.complete && img.naturalWidth > 0", preview.element_handle())
    screenshot(page, f"deletion-link-phone-{scheme}")
    page.click("text=Delete for good")
    expect(page.locator("h1")).to_have_text("Deleted")
    assert requests.get(made["url"], headers={"Authorization": f"Bearer {token}"}).status_code == 404


def test_a_read_only_key_is_made_on_the_settings_page(page_for, live_server):
    page = logged_in_page(page_for, live_server, **PHONE)
    page.goto(live_server.url + "/settings/#api-keys")
    page.fill("#key-name", "Photo frame")
    page.select_option("#key-scope", "read")
    page.select_option("#key-uploads_public", "private")
    page.click("#api-keys button[type=submit]")
    key = page.locator("#new-api-key").inner_text()
    expect(page.locator("#api-keys tbody tr td", has_text="Read only")).to_be_visible()
    page.locator("#api-keys").scroll_into_view_if_needed()
    assert page.evaluate("document.documentElement.scrollWidth") <= page.evaluate("window.innerWidth")
    page.locator("#api-keys").screenshot(path=str(SCREENSHOTS / "settings-api-keys-phone.png"))
    refused = requests.post(f"{live_server.url}/api/v1/images", headers={"X-API-Key": key},
                            files={"file": ("a.jpg", make_jpeg())})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
