"""Admin → Jobs: what runs, waits, failed and finished, with progress and errors; cancel and try again,
audited; hidden from everyone but admins; keeps itself up to date only while something is active."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from markupsafe import escape

from tests.fixtures.accounts import AuthActions, csrf_token_from
from tests.fixtures.jobs import job_row

HTMX = {"HX-Request": "true"}


@pytest.fixture
def admin_client(app, client, make_user, auth):
    """A client logged in as the admin "root" (kim also exists, as a plain user)."""
    make_user(username="kim")
    make_user(username="root", role="admin")
    auth.login("root")
    return client


@pytest.fixture
def backup_job(define_job):
    """A job kind with a title, as the backups domain registers one."""
    return define_job(lambda context: None, title="Back up the instance")


def add_job(app, name, state="queued", **fields):
    """A jobs row in any state, as workers would have left it; returns its id."""
    from webapp.extensions import db
    from webapp.models import Job, User, utcnow

    with app.app_context():
        if "user" in fields:
            fields["user_id"] = db.session.scalar(db.select(User.id).where(User.username == fields.pop("user")))
        values = {"payload": {}, "attempts": 0, "max_attempts": 3, "progress": 0.0, "detail": {}, "error": "",
                  "run_after": utcnow(), **fields}
        if state in ("running", "done", "failed", "cancelled"):
            values.setdefault("started_at", utcnow() - timedelta(minutes=3))
            values["attempts"] = values["attempts"] or 1
        if state in ("done", "failed", "cancelled"):
            values.setdefault("finished_at", utcnow())
        if state == "running":
            values.setdefault("lease_owner", "host:1:w0")
            values.setdefault("lease_expires_at", utcnow() + timedelta(minutes=1))
        job = Job(name=name, state=state, **values)
        db.session.add(job)
        db.session.commit()
        return job.id


def token(client) -> str:
    return csrf_token_from(client.get("/admin/jobs").get_data(as_text=True))


def section(html: str, element_id: str) -> str:
    """The HTML of the element with this id, up to the next section of the page."""
    start = html.index(f'id="{element_id}"')
    following = [html.find(f'id="{other}"', start + 1) for other in ("jobs-active", "jobs-finished")]
    ends = [at for at in following if at > start]
    return html[start:min(ends) if ends else len(html)]


def audit_events(app, action):
    from webapp.extensions import db
    from webapp.models import AuditEvent

    with app.app_context():
        events = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == action)).all()
        db.session.expunge_all()
        return events


# --- nobody but an admin learns that the page exists ------------------------------------------

@pytest.mark.parametrize("who", ["anonymous", "plain user"])
def test_the_jobs_page_and_its_buttons_answer_404_to_anyone_but_an_admin(app, client, make_user, backup_job, who):
    make_user(username="kim")
    failed = add_job(app, backup_job, "failed", error="boom")
    queued = add_job(app, backup_job, "queued")
    if who == "plain user":
        AuthActions(client).login("kim")
    csrf = csrf_token_from(client.get("/login" if who == "anonymous" else "/").get_data(as_text=True))

    for headers in ({}, HTMX):
        assert client.get("/admin/jobs", headers=headers).status_code == 404
    for path in (f"/admin/jobs/{failed}/retry", f"/admin/jobs/{queued}/cancel"):
        for sent in ({}, {"csrf_token": csrf}):  # even without a token: a 400 would confirm the route
            assert client.post(path, data=sent).status_code == 404, (path, sent)

    assert (job_row(app, failed).state, job_row(app, queued).state) == ("failed", "queued")


def test_the_admin_navigation_links_to_the_jobs_page(admin_client):
    html = admin_client.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/jobs"' in html

    jobs_page = admin_client.get("/admin/jobs").get_data(as_text=True)
    assert re.search(r'<a href="/admin/jobs" aria-current="page">', jobs_page)


# --- what the page shows ----------------------------------------------------------------------

def test_each_job_is_listed_under_its_state_with_its_title_and_who_asked(app, admin_client, backup_job):
    running = add_job(app, backup_job, "running", user="kim", progress=0.4, attempts=2)
    queued = add_job(app, backup_job, "queued", slot=f"{backup_job}@2026-03-01T04:00:00+00:00")
    failed = add_job(app, backup_job, "failed", error="The backup store is full.", attempts=3)
    done = add_job(app, backup_job, "done", user="root")
    cancelled = add_job(app, backup_job, "cancelled")

    html = admin_client.get("/admin/jobs").get_data(as_text=True)

    active, finished = section(html, "jobs-active"), section(html, "jobs-finished")
    for job_id in (running, queued):
        assert f'id="job-{job_id}"' in active
    for job_id in (failed, done, cancelled):
        assert f'id="job-{job_id}"' in finished
    assert html.count("Back up the instance") == 5
    assert "Asked for by kim" in active and "On schedule" in active
    assert "Try 2 of 3" in active
    assert "The backup store is full." in finished and "Asked for by root" in finished


def test_a_running_job_shows_its_progress_items_bytes_and_time_left(app, admin_client, backup_job):
    add_job(app, backup_job, "running", progress=0.75, detail={
        "items": 3, "items_total": 4, "bytes": 3 * 1024 * 1024, "bytes_total": 4 * 1024 * 1024,
        "seconds_left": 120, "message": "Reading back"})

    active = section(admin_client.get("/admin/jobs").get_data(as_text=True), "jobs-active")

    assert '<progress class="job-progress" max="1" value="0.75"' in active
    assert "75%" in active
    assert "3 of 4 items" in active
    assert "3 MB of 4 MB" in active
    assert "About 2 minutes left" in active
    assert "Reading back" in active


def test_an_error_with_html_in_it_is_shown_as_text(app, admin_client, backup_job):
    add_job(app, backup_job, "failed", error='<img src=x onerror="alert(1)"><script>alert(2)</script>')

    html = admin_client.get("/admin/jobs").get_data(as_text=True)

    assert "<script>alert(2)" not in html and "<img src=x" not in html
    assert str(escape('<img src=x onerror="alert(1)"><script>alert(2)</script>')) in html


def test_a_queued_job_waiting_for_its_next_try_says_why_and_when(app, admin_client, backup_job):
    from webapp.models import utcnow

    add_job(app, backup_job, "queued", attempts=1, error="RuntimeError: the disk is busy",
            run_after=utcnow() + timedelta(minutes=1))

    active = section(admin_client.get("/admin/jobs").get_data(as_text=True), "jobs-active")

    assert "The last try failed: RuntimeError: the disk is busy" in active
    assert "Next try" in active


def test_with_no_jobs_the_page_says_so(admin_client):
    html = admin_client.get("/admin/jobs").get_data(as_text=True)

    assert "Nothing is running or waiting to run." in html
    assert "No job has failed." in html
    assert "No job has finished yet." in html


def test_the_finished_list_keeps_the_latest_fifty(app, admin_client, backup_job):
    from webapp.models import utcnow

    ids = [add_job(app, backup_job, "done", finished_at=utcnow() - timedelta(minutes=60 - n)) for n in range(55)]

    finished = section(admin_client.get("/admin/jobs").get_data(as_text=True), "jobs-finished")

    shown = [int(n) for n in re.findall(r'id="job-(\d+)"', finished)]
    assert shown == list(reversed(ids))[:50]


# --- keeping itself up to date ------------------------------------------------------------------

def test_the_running_section_polls_itself_only_while_something_is_queued_or_running(app, admin_client, backup_job):
    job_id = add_job(app, backup_job, "running")

    polling = admin_client.get("/admin/jobs", headers=HTMX)
    html = polling.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="jobs-active"'), "an htmx refresh gets the section, not the page"
    assert 'hx-trigger="every 2s"' in html and 'hx-target="this"' in html
    assert '<div id="jobs-finished" hx-swap-oob="true">' in html
    assert "HX-Request" in polling.headers["Vary"]

    with app.app_context():
        from webapp.extensions import db
        from webapp.models import Job

        db.session.get(Job, job_id).state = "done"
        db.session.commit()
    html = admin_client.get("/admin/jobs", headers=HTMX).get_data(as_text=True)

    assert "hx-trigger" not in section(html, "jobs-active")
    assert f'id="job-{job_id}"' in section(html, "jobs-finished"), "the finished job moves down with the last refresh"


def test_the_full_page_polls_too_while_a_job_is_queued(app, admin_client, backup_job):
    add_job(app, backup_job, "queued")

    html = admin_client.get("/admin/jobs").get_data(as_text=True)

    assert "<html" in html
    assert 'hx-trigger="every 2s"' in section(html, "jobs-active")
    assert "hx-swap-oob" not in html


# --- cancel and try again -----------------------------------------------------------------------

def test_an_admin_tries_a_failed_job_again_and_it_is_audited(app, admin_client, backup_job):
    job_id = add_job(app, backup_job, "failed", error="boom", attempts=3)

    response = admin_client.post(f"/admin/jobs/{job_id}/retry", data={"csrf_token": token(admin_client)})

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/jobs")
    row = job_row(app, job_id)
    assert (row.state, row.attempts, row.error) == ("queued", 0, "")
    [event] = audit_events(app, "job_retried")
    assert (event.target, event.details) == (f"job:{job_id}", {"name": backup_job, "state": "failed"})
    assert "The job was queued again." in admin_client.get("/admin/jobs").get_data(as_text=True)


def test_an_admin_cancels_a_queued_job_with_htmx_and_gets_the_sections_back(app, admin_client, backup_job):
    job_id = add_job(app, backup_job, "queued")

    response = admin_client.post(f"/admin/jobs/{job_id}/cancel", headers={**HTMX, "X-CSRFToken": token(admin_client)})

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="jobs-active"')
    assert "hx-trigger" not in section(html, "jobs-active"), "nothing is left to watch"
    assert f'id="job-{job_id}"' in section(html, "jobs-finished")
    assert "The job was cancelled." in html
    assert job_row(app, job_id).state == "cancelled"
    [event] = audit_events(app, "job_cancelled")
    assert event.details == {"name": backup_job, "state": "queued"}


def test_cancelling_a_running_job_asks_it_to_stop(app, admin_client, backup_job):
    job_id = add_job(app, backup_job, "running")

    response = admin_client.post(f"/admin/jobs/{job_id}/cancel", headers={**HTMX, "X-CSRFToken": token(admin_client)})

    html = response.get_data(as_text=True)
    assert "The job will stop at its next step." in html
    item = html[html.index(f'id="job-{job_id}"'):]
    assert "Stopping" in item[:item.index("</li>")]
    assert "Cancel job" not in item[:item.index("</li>")]
    row = job_row(app, job_id)
    assert (row.state, row.cancel_requested) == ("running", True)
    assert len(audit_events(app, "job_cancelled")) == 1


def test_only_active_jobs_have_a_cancel_button_and_only_ended_ones_a_retry_button(app, admin_client, backup_job):
    ids = {state: add_job(app, backup_job, state) for state in ("queued", "running", "failed", "cancelled", "done")}

    html = admin_client.get("/admin/jobs").get_data(as_text=True)

    for state, job_id in ids.items():
        item = html[html.index(f'id="job-{job_id}"'):]
        item = item[:item.index("</li>")]
        assert (f"/admin/jobs/{job_id}/cancel" in item) == (state in ("queued", "running")), state
        assert (f"/admin/jobs/{job_id}/retry" in item) == (state in ("failed", "cancelled")), state


@pytest.mark.parametrize("state, action", [("done", "cancel"), ("cancelled", "cancel"), ("done", "retry"),
                                           ("queued", "retry"), ("running", "retry")])
def test_a_button_for_a_job_that_moved_on_is_refused_and_nothing_is_audited(app, admin_client, backup_job,
                                                                            state, action):
    job_id = add_job(app, backup_job, state)

    response = admin_client.post(f"/admin/jobs/{job_id}/{action}",
                                 headers={**HTMX, "X-CSRFToken": token(admin_client)})

    assert response.status_code == 409
    assert job_row(app, job_id).state == state
    assert audit_events(app, f"job_{'cancelled' if action == 'cancel' else 'retried'}") == []


def test_a_missing_job_is_404_for_the_admin_too(admin_client):
    for action in ("cancel", "retry"):
        response = admin_client.post(f"/admin/jobs/999999/{action}",
                                     headers={**HTMX, "X-CSRFToken": token(admin_client)})
        assert response.status_code == 404


@pytest.mark.parametrize("action, state", [("retry", "failed"), ("cancel", "queued")])
def test_the_buttons_need_the_csrf_token(app, admin_client, backup_job, action, state):
    job_id = add_job(app, backup_job, state)

    for sent in ({}, {"csrf_token": "not-the-token"}):
        response = admin_client.post(f"/admin/jobs/{job_id}/{action}", data=sent)
        assert response.status_code == 400, sent

    assert job_row(app, job_id).state == state
    assert audit_events(app, "job_retried") == [] and audit_events(app, "job_cancelled") == []
