"""GET /api/v1/jobs/<id>: a job that works for you, how far it has got and why it failed; nobody else's."""

from __future__ import annotations

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.jobs import queue_job


def bearer(app, username):
    login = app.test_client().post("/api/v1/auth/login", json={"identifier": username, "password": STRONG_PASSWORD})
    return {"Authorization": f"Bearer {login.get_json()['access_token']}"}


@pytest.fixture
def reporting_job(define_job):
    """A job that reports progress and can be told to fail."""
    def work(context):
        context.progress(items=1, items_total=4)
        if context.payload.get("fail"):
            raise RuntimeError("the disk is full")

    return define_job(work, max_attempts=1)


def test_a_queued_job_of_yours_says_queued_with_no_progress(app, kim, reporting_job):
    job_id = queue_job(app, reporting_job, user_id=kim.id)

    response = kim.get(f"/api/v1/jobs/{job_id}")

    assert response.status_code == 200
    body = response.get_json()
    assert body.keys() == {"id", "name", "state", "progress", "error", "created_at", "finished_at"}
    assert (body["id"], body["name"], body["state"], body["progress"], body["error"], body["finished_at"]) == \
        (job_id, reporting_job, "queued", 0, None, None)
    assert body["created_at"].endswith("+00:00")


def test_a_finished_job_says_done_with_all_of_its_progress(app, kim, reporting_job):
    from webapp import jobs

    job_id = queue_job(app, reporting_job, user_id=kim.id)
    jobs.work_until_idle(app)

    body = kim.get(f"/api/v1/jobs/{job_id}").get_json()

    assert (body["state"], body["progress"], body["error"]) == ("done", 1, None)
    assert body["finished_at"] >= body["created_at"]


def test_a_failed_job_says_why(app, kim, reporting_job):
    from webapp import jobs

    job_id = queue_job(app, reporting_job, {"fail": True}, user_id=kim.id)
    jobs.work_until_idle(app)

    body = kim.get(f"/api/v1/jobs/{job_id}").get_json()

    assert (body["state"], body["error"]) == ("failed", "RuntimeError: the disk is full")
    assert body["progress"] == 0.25


def test_someone_elses_job_and_a_missing_one_are_both_404(app, kim, make_user, reporting_job):
    other = make_user(username="lee")
    theirs = queue_job(app, reporting_job, user_id=other)
    nobodys = queue_job(app, reporting_job)

    for job_id in (theirs, nobodys, 999_999, 2_147_483_647):
        response = kim.get(f"/api/v1/jobs/{job_id}")
        assert response.status_code == 404, job_id
        assert response.get_json()["error"]["code"] == "job_not_found"
    assert kim.get(f"/api/v1/jobs/{theirs}").get_json() == kim.get("/api/v1/jobs/999999").get_json(), \
        "another person's job looks exactly like one that does not exist"


def test_an_admin_may_read_any_job(app, kim, make_user, reporting_job):
    make_user(username="root", role="admin")
    job_id = queue_job(app, reporting_job, user_id=kim.id)

    response = app.test_client().get(f"/api/v1/jobs/{job_id}", headers=bearer(app, "root"))

    assert response.status_code == 200
    assert response.get_json()["id"] == job_id


def test_reading_a_job_needs_credentials(app, kim, reporting_job):
    job_id = queue_job(app, reporting_job, user_id=kim.id)

    response = app.test_client().get(f"/api/v1/jobs/{job_id}")

    assert response.status_code == 401


def test_the_operation_is_in_the_api_document(client):
    document = client.get("/api/v1/openapi.json").get_json()

    operation = document["paths"]["/api/v1/jobs/{job_id}"]["get"]
    assert operation["operationId"] == "getJob"
    assert set(operation["responses"]) >= {"200", "401", "404", "429"}
    job = document["components"]["schemas"]["Job"]
    assert job["properties"]["state"]["enum"] == ["queued", "running", "done", "failed", "cancelled"]
    assert (job["properties"]["progress"]["minimum"], job["properties"]["progress"]["maximum"]) == (0, 1)
