"""Backups through the JSON API: make one (202, then done once read back), list, read, download with Range,
restore (a backup of one's own, or an uploaded archive), delete, and the schedules; other people's backups
and the instance's (for anyone but an admin) are 404."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.jobs import job_row
from tests.fixtures.media import make_jpeg, multipart


class Caller:
    """An account's API client: caller.get(path), caller.post(path, json=...), …"""

    def __init__(self, app, user_id: int, username: str):
        self.id, self.client = user_id, app.test_client()
        token = self.client.post("/api/v1/auth/login", json={"identifier": username, "password": STRONG_PASSWORD})
        self.headers = {"Authorization": f"Bearer {token.get_json()['access_token']}"}

    def __getattr__(self, method):
        if method not in {"get", "post", "put", "delete"}:
            raise AttributeError(method)
        return lambda path, **kwargs: getattr(self.client, method)(
            path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    def upload_archive(self, data: bytes, **form):
        body, content_type = multipart({"file": (data, "backup.zip"), **form})
        return self.post("/api/v1/backups/restore", data=body, content_type=content_type)


@pytest.fixture
def kim(app, make_user):
    """kim, with two photos."""
    caller = Caller(app, make_user(username="kim"), "kim")
    for n in range(2):
        body, content_type = multipart({"file": (make_jpeg(colour=(90 * n, 40, 40)), f"p{n}.jpg")})
        assert caller.post("/api/v1/images", data=body, content_type=content_type).status_code == 201
    return caller


@pytest.fixture
def lee(app, make_user):
    return Caller(app, make_user(username="lee"), "lee")


@pytest.fixture
def admin(app, make_user):
    return Caller(app, make_user(username="boss", role="admin"), "boss")


def run_jobs(app) -> None:
    from webapp import jobs

    jobs.work_until_idle(app)


def made(app, caller: Caller, scope: str = "account") -> dict:
    """A finished backup of the caller's account (or of the instance), as the API shows it."""
    started = caller.post("/api/v1/backups", json={"scope": scope})
    assert started.status_code == 202, started.get_data(as_text=True)
    run_jobs(app)
    backup = caller.get(f"/api/v1/backups/{started.get_json()['id']}").get_json()
    assert backup["status"] == "done", backup
    return backup


def stored_archive(app, backup_id: str) -> bytes:
    from webapp.backups import making
    from webapp.extensions import db
    from webapp.models import Backup

    with app.app_context():
        with making.backup_store().open(db.session.get(Backup, backup_id).storage_key) as stream:
            return stream.read()


def error_of(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    return response.get_json()["error"]


# --- making one --------------------------------------------------------------------------------

def test_a_backup_is_accepted_with_its_location_and_is_done_once_read_back(app, kim):
    started = kim.post("/api/v1/backups", json={"scope": "account"})

    assert started.status_code == 202
    pending = started.get_json()
    assert started.headers["Location"] == f"http://shoebox.test/api/v1/backups/{pending['id']}"
    assert (pending["status"], pending["progress"], pending["download_url"], pending["sha256"]) == \
        ("pending", 0.0, None, None)
    assert pending["scope"] == "account" and pending["origin"] == "manual" and isinstance(pending["job_id"], int)

    run_jobs(app)
    done = kim.get(started.headers["Location"].removeprefix("http://shoebox.test")).get_json()
    assert done["status"] == "done" and done["progress"] == 1.0 and done["error"] is None
    assert done["counts"]["media"] == 2 and done["encrypted"] is False
    assert done["size"] == len(stored_archive(app, done["id"]))
    assert done["sha256"] == hashlib.sha256(stored_archive(app, done["id"])).hexdigest()
    assert done["verified_at"] and done["finished_at"] and datetime.fromisoformat(done["created_at"])
    assert done["download_url"] == f"http://shoebox.test/api/v1/backups/{done['id']}/download"


def test_a_backup_without_a_body_is_of_ones_account(app, kim):
    response = kim.post("/api/v1/backups")
    assert response.status_code == 202 and response.get_json()["scope"] == "account"


def test_a_second_backup_while_one_is_being_made_is_409(app, kim):
    assert kim.post("/api/v1/backups", json={"scope": "account"}).status_code == 202

    error = error_of(kim.post("/api/v1/backups", json={"scope": "account"}), 409)

    assert error["message"] == "A backup is being made already; wait for it to finish."
    assert len(kim.get("/api/v1/backups").get_json()["items"]) == 1


def test_progress_is_its_jobs_while_it_runs(app, kim):
    from webapp.extensions import db
    from webapp.models import Backup, Job

    backup = kim.post("/api/v1/backups", json={"scope": "account"}).get_json()
    with app.app_context():
        db.session.get(Backup, backup["id"]).status = "running"
        job = db.session.get(Job, backup["job_id"])
        job.state, job.progress = "running", 0.4
        db.session.commit()

    shown = kim.get(f"/api/v1/backups/{backup['id']}").get_json()
    assert (shown["status"], shown["progress"]) == ("running", 0.4)


def test_a_failed_backup_says_why(app, kim, monkeypatch):
    from webapp.backups import archive, making

    def broken(*args, **kwargs):
        raise archive.ArchiveError("The archive in the backup store is not the size that was written.")
    monkeypatch.setattr(making, "make", broken)
    backup = kim.post("/api/v1/backups", json={"scope": "account"}).get_json()
    run_jobs(app)

    shown = kim.get(f"/api/v1/backups/{backup['id']}").get_json()
    assert shown["status"] == "failed" and shown["download_url"] is None
    assert shown["error"] == "The archive in the backup store is not the size that was written."


def test_the_list_is_ones_own_newest_first(app, kim, lee):
    first = made(app, kim)
    second = made(app, kim)
    made(app, lee)

    listed = kim.get("/api/v1/backups").get_json()
    assert [b["id"] for b in listed["items"]] == [second["id"], first["id"]] and listed["next_cursor"] is None
    assert kim.get("/api/v1/backups?scope=account").get_json() == listed
    assert len(lee.get("/api/v1/backups").get_json()["items"]) == 1


def test_an_unknown_scope_is_refused_by_name(kim):
    assert error_of(kim.get("/api/v1/backups?scope=everything"), 400)["field"] == "scope"
    assert error_of(kim.post("/api/v1/backups", json={"scope": "everything"}), 400)["field"] == "scope"
    assert error_of(kim.post("/api/v1/backups", json={"scope": "account", "colour": "red"}), 400)["field"] == \
        "colour"


def test_the_api_needs_credentials(client):
    assert client.get("/api/v1/backups").status_code == 401
    assert client.post("/api/v1/backups", json={"scope": "account"}).status_code == 401


# --- who sees what -----------------------------------------------------------------------------

def test_someone_elses_backup_is_404_whatever_is_asked(app, kim, lee):
    backup = made(app, kim)
    path = f"/api/v1/backups/{backup['id']}"

    for response in (lee.get(path), lee.get(f"{path}/download"), lee.post(f"{path}/restore"), lee.delete(path)):
        assert error_of(response, 404)["code"] == "not_found"
    assert kim.get(path).status_code == 200


def test_the_instance_scope_is_404_for_anyone_but_an_admin(app, kim, admin):
    instance = made(app, admin, "instance")
    path = f"/api/v1/backups/{instance['id']}"

    assert kim.get("/api/v1/backups?scope=instance").status_code == 404
    assert kim.post("/api/v1/backups", json={"scope": "instance"}).status_code == 404
    assert kim.get("/api/v1/backups/schedule?scope=instance").status_code == 404
    assert kim.put("/api/v1/backups/schedule?scope=instance", json={"frequency": "daily"}).status_code == 404
    assert kim.upload_archive(stored_archive(app, instance["id"]), scope="instance").status_code == 404
    for response in (kim.get(path), kim.get(f"{path}/download"), kim.post(f"{path}/restore"), kim.delete(path)):
        assert response.status_code == 404
    assert [b["id"] for b in admin.get("/api/v1/backups?scope=instance").get_json()["items"]] == [instance["id"]]
    assert kim.get("/api/v1/backups").get_json()["items"] == []


def test_an_admin_backs_up_the_whole_instance(app, kim, admin):
    backup = made(app, admin, "instance")

    assert backup["scope"] == "instance" and backup["counts"]["users"] == 2 and backup["counts"]["media"] == 2
    assert admin.get("/api/v1/backups").get_json()["items"] == []  # the admin's own account has none


# --- downloading -------------------------------------------------------------------------------

def test_the_download_is_the_stored_archive_byte_for_byte_and_resumes_with_range(app, kim):
    backup = made(app, kim)
    stored = stored_archive(app, backup["id"])
    url = backup["download_url"].removeprefix("http://shoebox.test")

    with kim.get(url) as whole:
        assert whole.status_code == 200 and whole.data == stored
        assert whole.headers["Content-Type"] == "application/zip"
        assert whole.headers["Content-Disposition"].startswith("attachment;")
        assert "no-store" in whole.headers["Cache-Control"]
    with kim.get(url, headers={"Range": "bytes=100-"}) as part:
        assert part.status_code == 206 and part.data == stored[100:]
        assert part.headers["Content-Range"] == f"bytes 100-{len(stored) - 1}/{len(stored)}"
    with kim.get(url, headers={"Range": "bytes=0-99"}) as head:
        assert head.data + part.data == stored
    with kim.get(url, headers={"If-None-Match": whole.headers["ETag"]}) as again:
        assert again.status_code == 304 and again.data == b""


def test_an_unfinished_backup_cannot_be_downloaded(app, kim):
    backup = kim.post("/api/v1/backups", json={"scope": "account"}).get_json()

    error = error_of(kim.get(f"/api/v1/backups/{backup['id']}/download"), 409)
    assert error["message"] == "This backup is not finished yet."


# --- restoring ---------------------------------------------------------------------------------

def test_restoring_ones_backup_queues_a_job_and_adds_nothing_that_is_there(app, kim):
    backup = made(app, kim)

    response = kim.post(f"/api/v1/backups/{backup['id']}/restore")

    assert response.status_code == 202
    job = response.get_json()["job"]
    assert set(job) == {"id", "name", "state", "progress", "error", "created_at", "finished_at"}
    assert (job["name"], job["state"], job["progress"], job["error"], job["finished_at"]) == \
        ("restore", "queued", 0.0, None, None)
    run_jobs(app)
    finished = job_row(app, job["id"])
    assert finished.state == "done" and finished.result["added"] == {"photos": 0, "albums": 0, "share_links": 0}
    assert len(kim.get("/api/v1/images").get_json()["items"]) == 2


def test_an_uploaded_archive_restores_into_the_uploaders_account(app, kim, lee):
    archive = stored_archive(app, made(app, kim)["id"])

    response = lee.upload_archive(archive)

    assert response.status_code == 202, response.get_data(as_text=True)
    run_jobs(app)
    assert job_row(app, response.get_json()["job"]["id"]).state == "done"
    assert len(lee.get("/api/v1/images").get_json()["items"]) == 2
    uploaded = lee.get("/api/v1/backups").get_json()["items"]
    assert [(b["origin"], b["status"], b["size"]) for b in uploaded] == [("uploaded", "done", len(archive))]
    with lee.get(uploaded[0]["download_url"].removeprefix("http://shoebox.test")) as download:
        assert download.data == archive


@pytest.mark.parametrize("data, reason", [
    (b"this is not a zip", "This file is not a Shoebox backup: it is not a zip archive, or it is cut short."),
    (b"", "This file is not a Shoebox backup: it is not a zip archive, or it is cut short."),
])
def test_a_file_that_is_no_archive_is_refused_naming_the_file(app, lee, data, reason):
    error = error_of(lee.upload_archive(data), 400)

    assert (error["field"], error["code"], error["message"]) == ("file", "invalid_archive", reason)
    assert lee.get("/api/v1/backups").get_json()["items"] == []
    assert _uploaded_files(app) == []


def test_a_cut_short_archive_is_refused_and_nothing_is_kept(app, kim, lee):
    archive = stored_archive(app, made(app, kim)["id"])

    error = error_of(lee.upload_archive(archive[: len(archive) // 2]), 400)

    assert error["field"] == "file" and error["message"].startswith("This file is not a Shoebox backup")
    assert lee.get("/api/v1/backups").get_json()["items"] == []
    assert _uploaded_files(app) == []


def test_an_instance_archive_is_refused_by_the_account_restore(app, kim, admin):
    archive = stored_archive(app, made(app, admin, "instance")["id"])

    error = error_of(kim.upload_archive(archive), 400)

    assert error["field"] == "file"
    assert error["message"] == ("This is a backup of a whole instance; restore it on an empty instance, from the "
                                "setup page or with flask restore.")


def test_an_instance_archive_upload_into_this_instance_is_409_and_kept_nowhere(app, admin):
    archive = stored_archive(app, made(app, admin, "instance")["id"])

    error = error_of(admin.upload_archive(archive, scope="instance"), 409)

    assert error["message"] == ("An instance backup restores only into an empty instance, and this one has "
                                "accounts already.")
    assert len(admin.get("/api/v1/backups?scope=instance").get_json()["items"]) == 1
    assert _uploaded_files(app) == []


def test_an_upload_without_its_file_is_refused_naming_file(lee):
    body, content_type = multipart({"scope": "account"})
    missing = error_of(lee.post("/api/v1/backups/restore", data=body, content_type=content_type), 400)
    as_json = error_of(lee.post("/api/v1/backups/restore", json={"scope": "account"}), 400)

    for error in (missing, as_json):
        assert (error["field"], error["code"]) == ("file", "missing_file")
        assert error["message"] == "Send the archive as multipart form data in a field named file."


def _uploaded_files(app) -> list[str]:
    from webapp.backups import making

    with app.app_context():
        return list(making.backup_store().keys("uploaded"))


# --- deleting ----------------------------------------------------------------------------------

def test_deleting_a_backup_removes_it_and_its_archive(app, kim):
    from webapp.backups import making

    backup = made(app, kim)
    with app.app_context():
        keys = list(making.backup_store().keys("account"))
    assert len(keys) == 1

    assert kim.delete(f"/api/v1/backups/{backup['id']}").status_code == 204

    assert kim.get(f"/api/v1/backups/{backup['id']}").status_code == 404
    assert kim.get("/api/v1/backups").get_json()["items"] == []
    with app.app_context():
        assert list(making.backup_store().keys("account")) == []


def test_a_backup_being_made_cannot_be_deleted(app, kim):
    backup = kim.post("/api/v1/backups", json={"scope": "account"}).get_json()

    error = error_of(kim.delete(f"/api/v1/backups/{backup['id']}"), 409)

    assert error["message"] == "This backup is still being made; wait for it to finish."


# --- schedules ---------------------------------------------------------------------------------

def test_the_schedule_is_off_until_set(kim):
    assert kim.get("/api/v1/backups/schedule").get_json() == {
        "scope": "account", "frequency": "off", "hour": 3, "weekday": 6, "keep_daily": 7, "keep_weekly": 4,
        "keep_monthly": 6, "next_run_at": None}


def test_a_weekly_schedule_runs_next_on_its_day_and_hour(kim):
    response = kim.put("/api/v1/backups/schedule?scope=account",
                       json={"frequency": "weekly", "hour": 4, "weekday": 0, "keep_weekly": 8})

    assert response.status_code == 200, response.get_data(as_text=True)
    saved = response.get_json()
    assert (saved["frequency"], saved["hour"], saved["weekday"]) == ("weekly", 4, 0)
    assert (saved["keep_daily"], saved["keep_weekly"], saved["keep_monthly"]) == (7, 8, 6)  # the rest kept
    next_run = datetime.fromisoformat(saved["next_run_at"])
    assert (next_run.weekday(), next_run.hour, next_run.minute) == (0, 4, 0)
    assert kim.get("/api/v1/backups/schedule").get_json() == saved

    off = kim.put("/api/v1/backups/schedule", json={"frequency": "off"}).get_json()
    assert off["next_run_at"] is None and off["hour"] == 4


def test_the_instance_schedule_is_the_admins(admin, kim):
    saved = admin.put("/api/v1/backups/schedule?scope=instance", json={"frequency": "daily", "hour": 2}).get_json()

    assert saved["scope"] == "instance" and saved["frequency"] == "daily"
    assert admin.get("/api/v1/backups/schedule?scope=instance").get_json() == saved
    assert admin.get("/api/v1/backups/schedule").get_json()["frequency"] == "off"  # the admin's own account


@pytest.mark.parametrize("body, field, message", [
    ({"hour": 24}, "hour", "hour must be at most 23."),
    ({"hour": -1}, "hour", "hour must be at least 0."),
    ({"hour": "4"}, "hour", "hour must be a whole number."),
    ({"weekday": 7}, "weekday", "weekday must be at most 6."),
    ({"frequency": "hourly"}, "frequency", "frequency must be one of 'off', 'daily' or 'weekly'."),
    ({"keep_monthly": 241}, "keep_monthly", "keep_monthly must be at most 240."),
    ({"frequency": "daily", "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0}, "keep_daily",
     "Keep at least one backup: a day, a week or a month."),
    ({"every": "day"}, "every", "Unknown fields: every."),
])
def test_a_bad_schedule_is_refused_naming_its_field(kim, body, field, message):
    error = error_of(kim.put("/api/v1/backups/schedule", json=body), 400)

    assert (error["field"], error["message"]) == (field, message)
    assert kim.get("/api/v1/backups/schedule").get_json()["frequency"] == "off"


def test_the_document_lists_every_backup_operation(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operations = {op["operationId"] for path, item in document["paths"].items() if path.startswith("/api/v1/backups")
                  for op in item.values()}

    assert operations == {"listBackups", "createBackup", "getBackup", "downloadBackup", "restoreBackup",
                          "restoreUploadedBackup", "deleteBackup", "getBackupSchedule", "setBackupSchedule"}
    schema = document["components"]["schemas"]["Backup"]
    assert set(schema["properties"]["status"]["enum"]) == {"pending", "running", "done", "failed"}
    assert schema["properties"]["progress"]["maximum"] == 1
