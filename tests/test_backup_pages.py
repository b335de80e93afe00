"""The backup pages over HTTP: Settings → Backups (make, follow, download, delete, upload, preview,
restore, schedule), Admin → Backups (admins only), the failure banner and email, and restoring an
empty instance from the setup page."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta

import pytest
from markupsafe import escape

from tests.fixtures.accounts import STRONG_PASSWORD, AuthActions, csrf_token_from
from tests.fixtures.media import make_jpeg, multipart

HTMX = {"HX-Request": "true"}


def token(client, path="/settings/backups") -> str:
    return csrf_token_from(client.get(path).get_data(as_text=True))


def html_of(response) -> str:
    return response.get_data(as_text=True)


def backup_row(app, backup_id):
    from webapp.extensions import db
    from webapp.models import Backup

    with app.app_context():
        backup = db.session.get(Backup, backup_id)
        if backup is not None:
            db.session.expunge(backup)
        return backup


def backup_ids(app, **where) -> list[str]:
    from webapp.extensions import db
    from webapp.models import Backup

    with app.app_context():
        return list(db.session.scalars(db.select(Backup.id).filter_by(**where).order_by(Backup.created_at)))


def start_backup(client, path="/settings/backups") -> str:
    """Press "Back up now" without JavaScript; returns the new backup's id from the page that follows."""
    response = client.post(path, data={"csrf_token": token(client, path)})
    assert response.status_code == 303
    page = html_of(client.get(path))
    match = re.search(r'hx-get="/backups/([\w-]+)/progress" hx-trigger="every 1s"', page)
    assert match, "the page does not follow the backup it started"
    return match.group(1)


@pytest.fixture
def kim_page(app, kim, client):
    """kim with three photos, logged in on `client` through the login form."""
    for n in range(3):
        assert kim.upload(make_jpeg(colour=(n * 70, 40, 40))).status_code == 201
    AuthActions(client).login("kim")
    return client


def other_client(app, make_user, username):
    make_user(email=f"{username}@example.com", username=username)
    client = app.test_client()
    AuthActions(client).login(username)
    return client


# --- Settings → Backups -------------------------------------------------------------------------

def test_settings_links_to_backups_and_the_page_needs_a_login(app, client, kim_page):
    settings = html_of(kim_page.get("/settings/"))
    assert 'href="/settings/backups"' in settings
    page = html_of(kim_page.get("/settings/backups"))
    assert "Download my data" in page and "Back up my account now" in page
    assert "GDPR" in page
    anonymous = app.test_client()
    response = anonymous.get("/settings/backups")
    assert response.status_code == 302 and "/login" in response.location


def test_back_up_now_shows_progress_then_a_download_and_the_list(app, kim_page):
    from webapp import jobs

    backup_id = start_backup(kim_page)
    polled = kim_page.get(f"/backups/{backup_id}/progress", headers=HTMX)
    assert polled.status_code == 200 and "HX-Request" in polled.headers["Vary"]
    fragment = html_of(polled)
    assert fragment.lstrip().startswith('<div id="backup-job"') and 'hx-trigger="every 1s"' in fragment
    assert '<progress class="backup-progress-bar" max="100" value="0"' in fragment
    assert "Waiting for a worker to start it." in fragment

    assert jobs.work_until_idle(app) >= 1
    done = html_of(kim_page.get(f"/backups/{backup_id}/progress", headers=HTMX))
    assert "every 1s" not in done, "the component must stop polling once the backup is made"
    assert f'href="/backups/{backup_id}/download"' in done
    assert "read back in full and every checksum verified" in done
    assert 'id="backup-list" class="card backup-section" hx-swap-oob="true"' in done  # the list follows

    page = html_of(kim_page.get("/settings/backups"))
    item = page[page.index(f'id="backup-{backup_id}"'):]
    item = item[:item.index("</li>")]
    backup = backup_row(app, backup_id)
    assert "Made by hand" in item and "Ready" in item and "3 photos" in item and "read back" in item
    from webapp.i18n import human_size
    with app.test_request_context():
        assert human_size(backup.size) in item
    with kim_page.get(f"/backups/{backup_id}/download") as download:
        assert download.status_code == 200 and download.headers["Content-Type"] == "application/zip"
        assert "attachment" in download.headers["Content-Disposition"]
        assert "manifest.json" in zipfile.ZipFile(io.BytesIO(download.data)).namelist()


def test_back_up_now_with_htmx_answers_with_the_component(app, kim_page):
    response = kim_page.post("/settings/backups", headers={**HTMX, "X-CSRFToken": token(kim_page)})
    assert response.status_code == 200
    assert html_of(response).lstrip().startswith('<div id="backup-job"')
    assert 'hx-trigger="every 1s"' in html_of(response)
    assert len(backup_ids(app)) == 1


def test_a_second_backup_while_one_is_made_is_refused_in_one_sentence(app, kim_page):
    start_backup(kim_page)
    response = kim_page.post("/settings/backups", data={"csrf_token": token(kim_page)}, follow_redirects=True)
    assert "A backup is being made already; wait for it to finish." in html_of(response)
    assert len(backup_ids(app)) == 1


def test_back_up_now_without_a_csrf_token_is_refused(app, kim_page):
    response = kim_page.post("/settings/backups", data={})
    assert response.status_code == 400
    assert backup_ids(app) == []


def test_someone_elses_backup_is_404_everywhere(app, kim_page, make_user):
    from webapp import jobs

    backup_id = start_backup(kim_page)
    jobs.work_until_idle(app)
    lee = other_client(app, make_user, "lee")
    lee_token = token(lee)
    for path in (f"/backups/{backup_id}/progress", f"/backups/{backup_id}/download", f"/backups/{backup_id}/restore",
                 f"/backups/{backup_id}/restores/1", "/backups/nothing-like-this/progress",
                 f"/backups/{'x' * 300}/download"):
        assert lee.get(path, headers=HTMX if path.endswith("progress") else {}).status_code == 404, path
    for path in (f"/backups/{backup_id}/delete", f"/backups/{backup_id}/restore"):
        assert lee.post(path, data={"csrf_token": lee_token}).status_code == 404, path
    assert backup_row(app, backup_id).status == "done"


def test_delete_asks_first_needs_csrf_and_removes_the_archive(app, kim_page):
    from webapp import jobs
    from webapp.backups import making

    backup_id = start_backup(kim_page)
    jobs.work_until_idle(app)
    page = html_of(kim_page.get("/settings/backups"))
    assert '<details class="backup-delete">' in page and "Delete this backup for good?" in page
    key = backup_row(app, backup_id).storage_key
    assert kim_page.post(f"/backups/{backup_id}/delete", data={}).status_code == 400
    assert backup_row(app, backup_id) is not None
    response = kim_page.post(f"/backups/{backup_id}/delete", data={"csrf_token": token(kim_page)})
    assert response.status_code == 303 and response.location.endswith("/settings/backups#backup-list")
    assert backup_row(app, backup_id) is None
    with app.app_context():
        assert not making.backup_store().exists(key)
    assert "No backups yet." in html_of(kim_page.get("/settings/backups"))


def test_a_failed_backup_shows_its_error_escaped(app, kim, client):
    from webapp.backups import service
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        backup = service._new_backup("account", kim.id, kim.id, "manual")
        backup.status, backup.error = "failed", '<img src=x onerror="alert(1)">'
        db.session.commit()
    AuthActions(client).login("kim")
    page = html_of(client.get("/settings/backups"))
    assert '<img src=x onerror="alert(1)">' not in page
    assert str(escape('<img src=x onerror="alert(1)">')) in page
    assert "Failed" in page


# --- schedules ------------------------------------------------------------------------------------

def schedule_data(**changes):
    data = {"frequency": "weekly", "hour": "5", "weekday": "2", "keep_daily": "7", "keep_weekly": "4",
            "keep_monthly": "6"}
    data.update(changes)
    return data


def test_saving_a_schedule_shows_the_next_run_in_utc(app, kim_page):
    from webapp.backups import service
    from webapp.extensions import db
    from webapp.models import User

    page = html_of(kim_page.get("/settings/backups"))
    assert "Scheduled backups are off." in page and "Times are UTC." in page
    response = kim_page.post("/settings/backups/schedule", data={**schedule_data(), "csrf_token": token(kim_page)})
    assert response.status_code == 303 and response.location.endswith("#backup-schedule")
    with app.app_context():
        schedule = service.schedule_of(db.session.scalars(db.select(User).filter_by(username="kim")).one(), "account")
        assert (schedule.frequency, schedule.hour, schedule.weekday) == ("weekly", 5, 2)
        assert schedule.next_run_at.weekday() == 2 and schedule.next_run_at.hour == 5
    page = html_of(kim_page.get("/settings/backups"))
    assert re.search(r"The next one is made on Wednesday, [^<]+, at 5:00\sAM UTC\.", page)
    assert '<option selected value="weekly">' in page


def test_a_wrong_schedule_comes_back_with_one_sentence_beside_its_field(app, kim_page):
    response = kim_page.post("/settings/backups/schedule", headers={**HTMX, "X-CSRFToken": token(kim_page)},
                             data=schedule_data(keep_weekly="lots"))
    assert response.status_code == 200
    section = html_of(response)
    assert section.lstrip().startswith('<section id="backup-schedule"')
    errors = re.findall(r'<ul class="field-errors" id="([\w-]+)-errors">\s*<li>([^<]+)</li>', section)
    assert errors == [("keep_weekly", "Enter a whole number from 0 to 520.")]
    response = kim_page.post("/settings/backups/schedule", headers={**HTMX, "X-CSRFToken": token(kim_page)},
                             data=schedule_data(keep_daily="0", keep_weekly="0", keep_monthly="0"))
    assert "Keep at least one backup: a day, a week or a month." in html_of(response)
    assert "Scheduled backups are off." in html_of(kim_page.get("/settings/backups"))


# --- restoring into an account --------------------------------------------------------------------

def kims_archive(app, kim_page) -> bytes:
    from webapp import jobs

    backup_id = start_backup(kim_page)
    jobs.work_until_idle(app)
    with kim_page.get(f"/backups/{backup_id}/download") as download:
        return download.data


def upload(client, data: bytes, name="backup.zip", path="/settings/backups/upload"):
    """Send `data` as the form's file field, with the CSRF token of the page that has the form."""
    form_page = "/setup/restore" if path.startswith("/setup") else "/settings/backups"
    body, content_type = multipart({"file": (data, name), "csrf_token": token(client, form_page)})
    return client.post(path, data=body, content_type=content_type)


def test_an_uploaded_archive_is_previewed_then_restored_once(app, kim_page, make_user):
    from webapp import jobs

    data = kims_archive(app, kim_page)
    lee = other_client(app, make_user, "lee")
    response = upload(lee, data)
    assert response.status_code == 303
    preview_path = response.location
    preview = html_of(lee.get(preview_path))
    holds = re.search(r"<dt>It holds</dt><dd>([^<]+)</dd>", preview).group(1)
    here = re.search(r"<dt>Already here</dt><dd>([^<]+)</dd>", preview).group(1)
    assert holds.split(", ")[0] == "3 photos" and here.split(", ")[0] == "0 photos"
    assert "3 photos (" in preview and "This archive of the account kim was made on" in preview

    restored = lee.post(preview_path, data={"csrf_token": csrf_token_from(preview)})
    assert restored.status_code == 303
    running = html_of(lee.get(restored.location))
    assert 'id="restore-job"' in running and 'hx-trigger="every 1s"' in running
    jobs.work_until_idle(app)
    done = html_of(lee.get(restored.location, headers=HTMX))
    assert "every 1s" not in done
    assert "Restored: 3 photos, 0 albums and 0 share links added to your account." in done

    again = html_of(lee.get(preview_path))
    assert "nothing: everything in it is here already" in again
    assert re.search(r"<dt>Already here</dt><dd>3 photos", again)


def test_a_file_that_is_no_archive_is_refused_beside_the_upload_field(app, kim_page):
    response = upload(kim_page, b"just some text", name="notes.zip")
    assert response.status_code == 200
    page = html_of(response)
    assert re.search(r'id="file-errors"><li>This file is not a Shoebox backup: it is not a zip archive, or it is cut '
                     r"short\.</li>", page)
    assert backup_ids(app) == []
    response = kim_page.post("/settings/backups/upload", data={"csrf_token": token(kim_page)})
    assert '<li>Choose a backup archive to upload.</li>' in html_of(response)


def test_the_upload_limit_is_stated_as_the_server_applies_it(app, kim_page):
    from webapp.i18n import human_size

    with app.test_request_context():
        limit = human_size(app.config["MAX_CONTENT_LENGTH"])
    assert f"Archives up to {limit} can be uploaded here." in html_of(kim_page.get("/settings/backups"))


# --- Admin → Backups ------------------------------------------------------------------------------

@pytest.fixture
def admin_client(app, client, make_user):
    make_user(username="root", role="admin")
    AuthActions(client).login("root")
    return client


ADMIN_PATHS = [("get", "/admin/backups"), ("post", "/admin/backups"), ("post", "/admin/backups/schedule")]


@pytest.mark.parametrize("who", ["anonymous", "plain user"])
def test_admin_backups_are_404_to_anyone_but_an_admin(app, client, make_user, who):
    make_user(username="root", role="admin")
    if who == "plain user":
        make_user(username="pat")
        AuthActions(client).login("pat")
        assert "/admin/backups" not in html_of(client.get("/settings/backups"))
    for method, path in ADMIN_PATHS:
        assert getattr(client, method)(path, data=schedule_data()).status_code == 404, (method, path)
    assert backup_ids(app) == []


def test_an_admins_post_without_csrf_is_refused(app, admin_client):
    assert admin_client.post("/admin/backups", data={}).status_code == 400
    assert backup_ids(app) == []


def test_admin_backs_up_the_instance_and_is_told_why_there_is_no_restore(app, admin_client):
    from webapp import jobs

    page = html_of(admin_client.get("/admin/backups"))
    assert 'href="/admin/backups" aria-current="page"' in page
    assert "Instance archives are not encrypted" in page
    with app.app_context():
        target = app.config["SHOEBOX"]["backups"]["target"].removeprefix("file://")
    assert f'<code class="backup-target">{target}</code>' in page
    backup_id = start_backup(admin_client, "/admin/backups")
    jobs.work_until_idle(app)
    page = html_of(admin_client.get("/admin/backups"))
    item = page[page.index(f'id="backup-{backup_id}"'):]
    item = item[:item.index("</li>")]
    assert "Ready" in item and "1 account" in item
    assert f'/backups/{backup_id}/download"' in item and "/restore" not in item
    assert "There is no Restore button here: an instance backup restores only into an empty instance" in page
    assert admin_client.get(f"/backups/{backup_id}/restore").status_code == 409


def test_the_admin_page_says_when_archives_are_encrypted_and_hides_credentials(make_app, make_user, tmp_path):
    app = make_app(backups={"passphrase": "a long passphrase", "target": "s3://bucket/backups"})
    from webapp.backups import service

    with app.test_request_context():
        assert service.archive_settings() == {"encrypted": True, "target": "s3://bucket/backups"}
        app.config["SHOEBOX"]["backups"]["target"] = "s3://key:secret@bucket/backups?token=abc"
        assert service.archive_settings()["target"] == "s3://bucket/backups"


def test_a_failed_scheduled_backup_puts_a_banner_on_the_admin_pages_and_emails_the_admins(app, admin_client):
    from webapp.backups import service, tasks
    from webapp.extensions import db
    from webapp.models import OutboxMessage

    error = 'Disk full <script>alert("x")</script>'
    with app.app_context():
        backup = service._new_backup("instance", None, None, "scheduled")
        backup.status, backup.error = "failed", error
        db.session.commit()
        backup_id = backup.id
    for path in ("/admin/", "/admin/backups"):
        page = html_of(admin_client.get(path))
        banner = page[page.index('class="notice notice-danger backup-failure"'):]
        banner = banner[:banner.index("</div>")]
        assert "The scheduled backup of the instance from" in banner
        assert str(escape(error)) in banner and "<script>" not in banner
        assert ('href="/admin/backups"' in banner) == (path == "/admin/")  # no link to the page it is on

    with app.app_context():
        tasks._tell_admins(backup_id, error)
        message = db.session.scalars(db.select(OutboxMessage)).one()
    assert message.subject == "A scheduled backup failed"
    assert "The backup of the whole instance from" in message.text_body and error in message.text_body
    assert "http://shoebox.test/admin/backups" in message.text_body
    assert str(escape(error)) in message.html_body and "<script>" not in message.html_body
    assert 'href="http://shoebox.test/admin/backups"' in message.html_body


def test_the_banner_goes_once_a_later_scheduled_backup_succeeds(app, admin_client):
    from webapp.backups import service
    from webapp.extensions import db
    from webapp.models import utcnow

    with app.app_context():
        failed = service._new_backup("instance", None, None, "scheduled")
        failed.status, failed.error, failed.created_at = "failed", "Disk full", utcnow() - timedelta(days=1)
        later = service._new_backup("instance", None, None, "scheduled")
        later.status = "done"
        db.session.commit()
    assert "backup-failure" not in html_of(admin_client.get("/admin/"))


# --- restoring an empty instance from the setup page ----------------------------------------------

@pytest.fixture
def archive_from(tmp_path):
    """archive_from(scope) -> the bytes of an archive made on another Shoebox (SQLite) that has root
    (the admin) and kim with two photos: of the instance, or of kim's account."""
    from tests.fixtures.database import app_settings
    from webapp import create_app, jobs
    from webapp.auth import service as accounts
    from webapp.backups import making, service
    from webapp.extensions import db
    from webapp.models import Backup, User

    source = create_app(app_settings(tmp_path / "source", f"sqlite:///{tmp_path / 'source.db'}"))
    with source.app_context():
        accounts.create_user("root@example.com", "root", STRONG_PASSWORD, role="admin", verified=True)
        accounts.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True)
    api = source.test_client()
    bearer = {"Authorization": "Bearer " + api.post("/api/v1/auth/login", json={
        "identifier": "kim", "password": STRONG_PASSWORD}).get_json()["access_token"]}
    for n in range(2):
        body, content_type = multipart({"file": (make_jpeg(colour=(20, n * 90, 20)), "p.jpg")})
        assert api.post("/api/v1/images", headers=bearer, data=body, content_type=content_type).status_code == 201

    def make(scope: str) -> bytes:
        with source.app_context():
            person = db.session.scalars(db.select(User).filter_by(username="root" if scope == "instance" else "kim"))
            backup_id = service.start_backup(person.one(), scope).id
        jobs.work_until_idle(source)
        with source.app_context():
            with making.backup_store().open(db.session.get(Backup, backup_id).storage_key) as stream:
                return stream.read()

    yield make
    jobs.shutdown(source, wait=5)
    source.extensions["shoebox_analytics"].stop()
    with source.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def instance_archive(archive_from):
    return archive_from("instance")


def test_the_setup_page_offers_a_restore_beside_the_admin_account(app, client):
    page = html_of(client.get("/setup"))
    assert "Create admin account" in page and 'href="/setup/restore"' in page
    restore = html_of(client.get("/setup/restore"))
    from webapp.i18n import human_size

    with app.test_request_context():
        limit = human_size(app.config["MAX_CONTENT_LENGTH"])
    assert f"Archives up to {limit} can be uploaded here." in restore
    assert "flask --app webapp restore ARCHIVE" in restore
    assert "There are no instance archives in the backup folder." in restore
    assert client.post("/setup/restore/upload", data={}).status_code == 400  # no CSRF token


def test_setup_restore_from_an_upload_brings_the_instance_back(app, client, instance_archive):
    from webapp import jobs

    response = upload(client, instance_archive, path="/setup/restore/upload")
    assert response.status_code == 303 and re.search(r"/setup/restore/\d+$", response.location)
    progress = response.location
    running = html_of(client.get(progress))
    assert 'id="setup-job"' in running and 'hx-trigger="every 1s"' in running
    assert html_of(app.test_client().get(progress, headers=HTMX)).count("every 1s") == 1  # nothing to hide yet

    jobs.work_until_idle(app)
    done = html_of(client.get(progress, headers=HTMX))
    assert "Restored: 2 accounts, 2 photos. Log in with your usual account." in done and "every 1s" not in done
    stranger = html_of(app.test_client().get(progress))
    assert "This Shoebox has been restored. Log in with your usual account." in stranger
    assert "2 accounts" not in stranger and "2 photos" not in stranger

    assert client.get("/setup/restore").status_code == 404
    assert client.get("/setup").status_code == 404
    form_token = csrf_token_from(running)
    for path in ("/setup/restore/upload", "/setup/restore/stored"):
        assert client.post(path, data={"csrf_token": form_token, "key": "instance/x.zip"}).status_code == 404
    assert AuthActions(client).login("kim").status_code == 302  # the restored password works


def test_setup_progress_is_gone_an_hour_after_the_restore(app, client, instance_archive):
    from webapp import jobs
    from webapp.extensions import db
    from webapp.models import Job, utcnow

    progress = upload(client, instance_archive, path="/setup/restore/upload").location
    jobs.work_until_idle(app)
    job_id = int(progress.rsplit("/", 1)[1])
    with app.app_context():
        db.session.get(Job, job_id).finished_at = utcnow() - timedelta(hours=2)
        db.session.commit()
    assert client.get(progress).status_code == 404
    assert app.test_client().get(progress).status_code == 404


def test_setup_progress_answers_only_for_setup_restores(app, client, make_user):
    from tests.fixtures.jobs import queue_job

    job_id = queue_job(app, "restore", {"backup_id": "x", "user_id": 5})
    assert client.get(f"/setup/restore/{job_id}").status_code == 404
    assert client.get("/setup/restore/99999").status_code == 404


def test_setup_restore_from_the_backup_folder_without_copying(app, client, instance_archive):
    from webapp import jobs
    from webapp.backups import making
    from webapp.extensions import db
    from webapp.models import Backup

    key = "instance/2024-05-01-0300-fromtheoldbox.zip"
    with app.app_context():
        making.backup_store().put(key, io.BytesIO(instance_archive))
    page = html_of(client.get("/setup/restore"))
    assert "2024-05-01-0300-fromtheoldbox.zip" in page
    refused = client.post("/setup/restore/stored", data={"key": "../../etc/passwd", "csrf_token": csrf_token_from(page)})
    assert refused.status_code == 200
    assert '<li>There is no such archive in the backup folder.</li>' in html_of(refused)
    response = client.post("/setup/restore/stored", data={"key": key, "csrf_token": csrf_token_from(page)})
    assert response.status_code == 303
    jobs.work_until_idle(app)
    assert "Restored: 2 accounts, 2 photos." in html_of(client.get(response.location))
    with app.app_context():
        backup = db.session.scalars(db.select(Backup).filter_by(storage_key=key)).one()
        assert backup.origin == "uploaded" and backup.scope == "instance"
        assert list(making.backup_store().keys("uploaded")) == []  # nothing was copied


def test_setup_refuses_an_account_archive_in_one_sentence(app, client, archive_from):
    response = upload(client, archive_from("account"), path="/setup/restore/upload")
    assert response.status_code == 200
    assert re.search(r'id="file-errors"><li>This is a backup of one account; restore it from that account',
                     html_of(response))
    assert backup_ids(app) == []
