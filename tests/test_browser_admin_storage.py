"""Admin → Storage in real Chromium: a move from the in-memory store to a folder, through the dry run, the
confirm button and the job's progress until it is done (the section then stops asking); without JavaScript
too; and the page on a phone, light and dark."""

from __future__ import annotations

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.browser import PHONE
from tests.fixtures.browser import screenshot as save_screenshot
from tests.fixtures.media import make_jpeg, multipart

pytestmark = pytest.mark.browser


@pytest.fixture
def other_stores(tmp_path):
    """The stores configured besides [storage]: the folder `alt` (a test may parametrize this away)."""
    return {"alt": {"url": f"file://{tmp_path}/alt"}}


@pytest.fixture
def make_app(make_app, other_stores):
    """Apps with the other stores, and a worker of their own that runs the move."""
    def factory(**extra):
        return make_app(**{"stores": other_stores, "jobs": {"workers": 1}, **extra})
    return factory


@pytest.fixture
def admin_page(live_server, page_for):
    """open(**page options) -> a page logged in as the admin "root", who has three photos."""
    from webapp.auth import service

    with live_server.app.app_context():
        service.create_user("root@example.com", "root", STRONG_PASSWORD, role="admin", verified=True)
    client = live_server.app.test_client()
    access = client.post("/api/v1/auth/login", json={"identifier": "root", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    for n in range(3):
        body, content_type = multipart({"file": (make_jpeg(size=(640, 480), colour=(60 * n, 90, 150)), "photo.jpg")})
        assert client.post("/api/v1/images", data=body, content_type=content_type,
                           headers={"Authorization": f"Bearer {access}"}).status_code == 201

    def open_page(**options):
        page = page_for(**options)
        page.goto(live_server.url + "/login")
        page.fill("#identifier", "root")
        page.fill("#password", STRONG_PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(live_server.url + "/")
        return page
    return open_page


def screenshot(page, name: str) -> None:
    """A full-page screenshot from the top (a click scrolls, and the sticky header would then cover the page)."""
    page.evaluate("window.scrollTo(0, 0)")
    save_screenshot(page, name)


def active_store(app) -> str:
    from webapp.stores import service

    with app.app_context():
        return service.current().active


def test_a_move_goes_through_the_dry_run_and_the_page_follows_it_until_done(live_server, admin_page, tmp_path):
    page = admin_page()
    polls = []
    page.on("request", lambda request: polls.append(request.url) if "/admin/storage/jobs/" in request.url else None)
    page.goto(live_server.url + "/admin")
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Storage").click()
    page.wait_for_url(live_server.url + "/admin/storage")
    assert "memory://" in page.locator("#storage-current").inner_text()

    page.get_by_role("button", name="Move to alt …").click()
    plan = page.locator("#storage-plan")
    plan.wait_for()
    assert "Dry run: nothing has been copied" in plan.inner_text()
    assert "Free space there" in plan.inner_text()
    screenshot(page, "admin-storage-dry-run")

    page.get_by_role("button", name="Start moving to alt").click()
    page.locator("#storage-job").wait_for(timeout=30_000)
    assert "Moving the files to alt" in page.locator("#storage-job").inner_text()
    assert "The move to alt has started" in page.locator("#flashes").inner_text()
    screenshot(page, "admin-storage-moving")

    page.locator("#storage-move").get_by_text("Moved to alt").wait_for(timeout=30_000)
    assert "alt" in page.locator("#storage-current").inner_text()
    assert "file://" in page.locator("#storage-current").inner_text()
    assert active_store(live_server.app) == "alt"
    assert polls, "the section followed the job"
    screenshot(page, "admin-storage-done")
    asked = len(polls)
    page.wait_for_timeout(4500)
    assert len(polls) == asked, "once the job has ended the section stops asking"
    assert (tmp_path / "alt" / "originals").is_dir()


def test_a_refusal_is_one_sentence_beside_the_button(live_server, admin_page, tmp_path):
    (tmp_path / "alt").mkdir()
    (tmp_path / "alt" / "someone-elses.txt").write_text("not Shoebox's")
    page = admin_page()
    page.goto(live_server.url + "/admin/storage")

    page.get_by_role("button", name="Move to alt …").click()

    error = page.locator("#storage-target-alt #target-errors")
    error.wait_for()
    assert error.inner_text() == "The store alt holds files that are not this site's: choose an empty folder or bucket."
    assert page.get_by_role("button", name="Move to alt …").get_attribute("aria-describedby") == "target-errors"


def test_the_move_works_without_javascript(live_server, admin_page):
    page = admin_page(java_script_enabled=False)
    page.goto(live_server.url + "/admin/storage")

    page.get_by_role("button", name="Move to alt …").click()
    page.locator("#storage-plan").wait_for()
    page.get_by_role("button", name="Start moving to alt").click()

    page.wait_for_url(live_server.url + "/admin/storage")
    assert "The move to alt has started" in page.locator("#flashes").inner_text()
    for _ in range(60):
        if active_store(live_server.app) == "alt":
            break
        page.wait_for_timeout(500)
    page.goto(live_server.url + "/admin/storage")
    assert "alt" in page.locator("#storage-current").inner_text()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_storage_page_fits_a_phone(live_server, admin_page, scheme):
    page = admin_page(color_scheme=scheme, **PHONE)
    page.goto(live_server.url + "/admin/storage")
    screenshot(page, f"admin-storage-phone-{scheme}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.get_by_role("button", name="Move to alt …").click()
    page.locator("#storage-plan").wait_for()
    screenshot(page, f"admin-storage-dry-run-phone-{scheme}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), \
        page.evaluate("document.documentElement.scrollWidth")

    page.get_by_role("button", name="Start moving to alt").click()
    page.locator("#storage-job").wait_for(timeout=30_000)
    screenshot(page, f"admin-storage-moving-phone-{scheme}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.locator("#storage-move").get_by_text("Moved to alt").wait_for(timeout=30_000)


@pytest.mark.parametrize("other_stores", [{}])
def test_with_no_other_store_the_page_says_how_to_add_one(live_server, admin_page, other_stores):
    page = admin_page(color_scheme="dark", **PHONE)
    page.goto(live_server.url + "/admin/storage")

    section = page.locator("#storage-move")
    assert "No other store is configured" in section.inner_text()
    assert "[stores.<name>]" in section.inner_text()
    assert section.get_by_role("button").count() == 0
    screenshot(page, "admin-storage-no-other-store-phone-dark")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
