"""Admin → Plans and Admin → Groups in Chromium: a plan is made from the form (sizes with units), an
error comes back beside its field, retiring asks first; the group form's checkboxes say what each
permission allows; both pages fit a phone in light and dark."""

from __future__ import annotations

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.browser import PHONE, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def admin_page(live_server, page_for):
    """open(**page options) -> a page logged in as the admin "root" (kim is a plain user)."""
    from webapp.auth import service

    with live_server.app.app_context():
        service.create_user("root@example.com", "root", STRONG_PASSWORD, role="admin", verified=True)
        service.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True)

    def open_page(**options):
        page = page_for(**options)
        page.goto(live_server.url + "/login")
        page.fill("#identifier", "root")
        page.fill("#password", STRONG_PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(live_server.url + "/")
        return page
    return open_page


def test_a_plan_is_made_refused_named_and_retired(live_server, admin_page):
    page = admin_page()
    page.goto(live_server.url + "/admin/plans")
    page.fill("#name", "family")
    page.fill("#storage_bytes", "lots")
    page.get_by_role("button", name="Create plan").click()
    page.wait_for_selector("#storage_bytes-errors")
    assert "storage_bytes must be a size such as 25 MB" in page.locator("#storage_bytes-errors").inner_text()
    page.fill("#storage_bytes", "20 GB")
    page.get_by_role("button", name="Create plan").click()
    page.wait_for_selector("text=Plan family created.")
    family = page.locator(".plan", has_text="family")
    assert "20 GB" in family.inner_text()
    page.once("dialog", lambda dialog: dialog.accept())
    family.get_by_role("button", name="Retire").click()
    page.wait_for_selector("text=Plan family retired")
    assert "Retired" in page.locator(".plan", has_text="family").inner_text()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_plans_and_groups_fit_a_phone(live_server, admin_page, scheme):
    page = admin_page(color_scheme=scheme, **PHONE)
    for path, name in (("/admin/plans", "plans"), ("/admin/groups", "groups"), ("/admin/groups/2", "group")):
        page.goto(live_server.url + path)
        screenshot(page, f"admin-{name}-phone-{scheme}")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
            path, page.evaluate("document.documentElement.scrollWidth"))
    assert page.get_by_label("Read the audit log").count() == 1
