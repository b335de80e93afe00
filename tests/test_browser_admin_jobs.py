"""Admin → Jobs in real Chromium: it follows a running job until it ends and then stops asking, its
buttons work with and without JavaScript, and it fits a phone in light and dark."""

from __future__ import annotations

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.browser import PHONE, screenshot
from tests.fixtures.jobs import job_row
from tests.test_admin_jobs import add_job

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


def set_state(app, job_id, **values):
    from webapp.extensions import db
    from webapp.models import Job, utcnow

    with app.app_context():
        job = db.session.get(Job, job_id)
        for key, value in values.items():
            setattr(job, key, value)
        if values.get("state") in ("done", "failed", "cancelled"):
            job.finished_at, job.lease_owner = utcnow(), None
        db.session.commit()


def test_the_page_follows_a_running_job_until_it_ends_then_stops_asking(live_server, admin_page, define_job):
    app = live_server.app
    name = define_job(lambda context: None, title="Back up the instance")
    job_id = add_job(app, name, "running", user="kim", progress=0.3,
                     detail={"items": 3, "items_total": 10, "seconds_left": 95})
    page = admin_page()
    polls = []
    page.on("request", lambda request: polls.append(request.url) if request.url.endswith("/admin/jobs")
            and request.headers.get("hx-request") else None)
    page.goto(live_server.url + "/admin/jobs")
    running = page.locator(f"#jobs-active #job-{job_id}")
    assert "3 of 10 items" in running.inner_text()

    set_state(app, job_id, progress=0.8, detail={"items": 8, "items_total": 10, "seconds_left": 20})
    page.locator(f"#job-{job_id}").get_by_text("8 of 10 items").wait_for(timeout=5000)
    assert page.locator(f"#job-{job_id} progress").get_attribute("value") == "0.8"

    set_state(app, job_id, state="done", progress=1.0)
    page.locator(f"#jobs-finished #job-{job_id}").wait_for(timeout=5000)
    assert page.locator("#jobs-active").inner_text().strip().endswith("Nothing is running or waiting to run.")
    asked = len(polls)
    page.wait_for_timeout(4500)
    assert len(polls) == asked, "with nothing running or queued the page stops asking"


def test_try_again_and_cancel_with_javascript(live_server, admin_page, define_job):
    app = live_server.app
    name = define_job(lambda context: None, title="Back up the instance")
    failed = add_job(app, name, "failed", error="<b>The backup store is full.</b>")
    page = admin_page()
    page.goto(live_server.url + "/admin/jobs")
    assert page.locator(f"#job-{failed} .job-error").inner_text() == "<b>The backup store is full.</b>"

    page.locator(f"#job-{failed}").get_by_role("button", name="Try again").click()
    page.locator(f"#jobs-active #job-{failed}").wait_for()
    assert "The job was queued again." in page.locator("#flashes").inner_text()
    assert job_row(app, failed).state == "queued"

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#job-{failed}").get_by_role("button", name="Cancel job").click()
    page.locator(f"#jobs-finished #job-{failed}").wait_for()
    assert job_row(app, failed).state == "cancelled"
    assert page.url == live_server.url + "/admin/jobs"


def test_try_again_works_without_javascript(live_server, admin_page, define_job):
    app = live_server.app
    failed = add_job(app, define_job(lambda context: None), "failed", error="boom")
    page = admin_page(java_script_enabled=False)
    page.goto(live_server.url + "/admin/jobs")

    page.locator(f"#job-{failed}").get_by_role("button", name="Try again").click()

    page.wait_for_url(live_server.url + "/admin/jobs")
    assert "The job was queued again." in page.locator("#flashes").inner_text()
    assert page.locator(f"#jobs-active #job-{failed}").count() == 1
    assert job_row(app, failed).state == "queued"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_jobs_page_fits_a_phone(live_server, admin_page, define_job, scheme):
    app = live_server.app
    name = define_job(lambda context: None, title="Back up the instance")
    add_job(app, name, "running", user="kim", progress=0.42, attempts=2, detail={
        "items": 420, "items_total": 1000, "bytes": 420 * 1024 ** 2, "bytes_total": 1000 * 1024 ** 2,
        "seconds_left": 260, "message": "Writing originals/ab/a-very-long-storage-key-that-does-not-wrap-by-itself"})
    add_job(app, name, "queued", slot=f"{name}@2026-03-01T04:00:00+00:00")
    add_job(app, name, "failed", error="OSError: " + "x" * 180, attempts=3)
    add_job(app, name, "done", user="root")
    page = admin_page(color_scheme=scheme, **PHONE)

    page.goto(live_server.url + "/admin/jobs")

    screenshot(page, f"admin-jobs-phone-{scheme}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), \
        page.evaluate("document.documentElement.scrollWidth")
