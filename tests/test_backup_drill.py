"""The restore drill: an instance with real photos (a HEIC, a PNG, camera JPEGs), a saved version, albums,
share links with passwords, a two-factor account, API keys and its audit log is backed up on SQLite
(with a passphrase and without) and restored into an empty PostgreSQL instance. Every backed-up table
is compared row by row and every file byte by byte, and the restored instance is used: the two-factor
account signs in, the password link opens, and new accounts and uploads get fresh ids.

Also: a backup written to S3 (backups.target = "s3://bucket/prefix") and restored from there.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import pyotp
import pytest
import sqlalchemy as sa

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.database import TEST_DATABASE_URL, app_settings, postgres_url
from tests.fixtures.media import corpus_file, make_jpeg, multipart, stored_keys
from tests.fixtures.shares import Link, make_link, open_link

PASSPHRASE = "a drill passphrase nobody guesses"
LINK_PASSWORD = "blue harbour 1987"
PHOTOS = [("photos", "IMG_5195.HEIC"), ("formats", "hopper.png"), ("photos", "Canon_40D.jpg"),
          ("photos", "DSCN0010.jpg")]
# The backup job writes this event after the archive is read: it is in the source's table, not in the archive.
AFTER_THE_ARCHIVE = {"backup_made"}
# The restore writes this one into the restored instance.
BY_THE_RESTORE = {"backup_restored"}


@pytest.fixture
def database_url(tmp_path):
    """The source instance is always on SQLite: the drill moves an instance from SQLite to PostgreSQL."""
    return f"sqlite:///{tmp_path / 'shoebox.db'}"


@pytest.fixture(params=["plain", "encrypted"])
def app(make_app, request):
    """The instance to back up, with backups.passphrase set (encrypted) or not."""
    return make_app(backups={"passphrase": PASSPHRASE if request.param == "encrypted" else ""})


@dataclass
class World:
    admin: int
    kim: int
    lee: int
    totp_secret: str
    recovery_codes: list[str]
    photos: list[str]
    album_link: Link


def api_headers(app, username: str) -> dict:
    token = app.test_client().post("/api/v1/auth/login", json={"identifier": username, "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def upload(app, headers: dict, data: bytes, name: str) -> str:
    """Upload a photo and make its preview, as a server's job worker would soon after."""
    from webapp import jobs

    body, content_type = multipart({"file": (data, name)})
    response = app.test_client().post("/api/v1/images", headers=headers, data=body, content_type=content_type)
    assert response.status_code == 201, response.get_json()
    assert jobs.work_until_idle(app, ["make_preview"]) == 1
    return response.get_json()["id"]


def enable_two_factor(app, user_id: int) -> tuple[str, list[str]]:
    from webapp.auth import twofactor
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        user = db.session.get(User, user_id)
        secret = twofactor.begin_enrolment(user)
        codes = twofactor.confirm_enrolment(user, pyotp.TOTP(secret).now())
        user.totp_last_step = 0  # the drill signs in with the current code again after the restore
        db.session.commit()
    return secret, codes


@pytest.fixture
def world(app, kim, make_user) -> World:
    """Photos from the corpus (kim's and lee's), a saved version, an album with a cover, three kinds of link
    (one with a password, opened once), an API key, instance settings, an invite, a backup schedule, a
    two-factor account with recovery codes, and the audit events all that wrote."""
    from webapp import instance
    from webapp.albums import service as albums
    from webapp.analytics.writer import writer_of
    from webapp.auth import invites
    from webapp.backups import service as backups
    from webapp.extensions import db
    from webapp.media import service as media_service
    from webapp.models import User

    admin = make_user(email="admin@example.com", username="admin", role="admin")
    lee = make_user(email="lee@example.com", username="lee")
    photos = [upload(app, kim.headers, corpus_file(*path).read_bytes(), path[-1]) for path in PHOTOS]
    upload(app, api_headers(app, "lee"), corpus_file("photos", "Nikon_D70.jpg").read_bytes(), "Nikon_D70.jpg")
    saved = kim.test_client.post(f"/api/v1/images/{photos[1]}/transform", headers=kim.headers,
                                 json={"transformations": {"resize": {"width": 48}, "format": "webp"}})
    assert saved.status_code == 201, saved.get_json()
    assert kim.test_client.post("/api/v1/api-keys", headers=kim.headers, json={"name": "script"}).status_code == 201
    with app.app_context():
        user = db.session.get(User, kim.id)
        album = albums.create_album(user, "Lisbon, spring")
        albums.add_photos(album, media_service.get_many_for(user, photos[:3]))
        albums.update_album(album, cover_media_id=photos[2])
        album_id = album.id
    album_link = make_link(app, kim.id, album_id=album_id, password=LINK_PASSWORD, label="for the family")
    make_link(app, kim.id, media_id=photos[0], max_views=5)
    make_link(app, kim.id, media_ids=photos[2:], allow_download=False)
    visitor = app.test_client()
    assert open_link(visitor, album_link, LINK_PASSWORD).status_code == 303
    assert visitor.get(album_link.url).status_code == 200
    writer_of(app).flush()
    with app.app_context():
        instance.put("registration", "invite")
        instance.put("hotlink_allowed_sites", ["blog.example.org"])
        db.session.commit()
        invites.create_invite(db.session.get(User, admin), note="for the neighbour")
        backups.save_schedule(db.session.get(User, kim.id), "account",
                              backups.ScheduleInput("weekly", 4, 2, keep_daily=7, keep_weekly=4, keep_monthly=6))
    secret, codes = enable_two_factor(app, kim.id)
    return World(admin, kim.id, lee, secret, codes, photos, album_link)


@pytest.fixture
def postgres_instance(tmp_path):
    """postgres_instance(**settings) -> an empty instance on a PostgreSQL schema of its own, dropped after."""
    from webapp import create_app

    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(postgres_url(TEST_DATABASE_URL)).update_query_dict({"options": f"-csearch_path={schema}"}) \
        .render_as_string(hide_password=False)
    made = []

    def make(**settings):
        made.append(create_app(app_settings(tmp_path / "postgres", url, **settings)))
        return made[-1]

    yield make
    stop_apps(made)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def stop_apps(apps: list) -> None:
    """What make_app does after a test, for apps made here."""
    import fsspec

    from webapp import jobs
    from webapp.extensions import db

    for app in apps:
        jobs.shutdown(app, wait=10)
        app.extensions["shoebox_analytics"].stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        root = "/" + app.config["SHOEBOX"]["storage"]["url"].removeprefix("memory://").strip("/")
        if fsspec.filesystem("memory").exists(root):
            fsspec.filesystem("memory").rm(root, recursive=True)


# --- making, moving and comparing ------------------------------------------------------------------

def make_backup(app, admin_id: int):
    from webapp import jobs
    from webapp.backups import service
    from webapp.extensions import db
    from webapp.models import Backup, User

    with app.app_context():
        backup_id = service.start_backup(db.session.get(User, admin_id), "instance").id
    assert jobs.work_until_idle(app) == 1
    with app.app_context():
        backup = db.session.get(Backup, backup_id)
        db.session.expunge(backup)
    assert backup.status == "done", backup.error
    return backup


def database_of(app) -> str:
    from webapp.extensions import db

    with app.app_context():
        return db.engine.dialect.name


def archive_of(app, backup) -> bytes:
    from webapp.backups import making

    with app.app_context(), making.backup_store().open(backup.storage_key) as stream:
        return stream.read()


def restore_instance(app, data: bytes) -> dict:
    """Upload the archive on the setup page of the empty instance `app` and run the restore; returns its result."""
    from webapp import jobs
    from webapp.backups import service
    from webapp.extensions import db
    from webapp.models import Job

    with app.app_context():
        uploaded = service.receive_archive(None, "instance", io.BytesIO(data), setup=True)
        job_id = service.start_restore(None, uploaded, setup=True).id
    assert jobs.work_until_idle(app) == 1
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job.state == "done", job.error
        return job.result


def _plain(value):
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def backed_up_rows(app, leave_out: set[str]) -> dict[str, list[tuple]]:
    """Every row of every table an instance backup holds, as plain values in a stable order; audit events
    whose action is in `leave_out` are left out."""
    from webapp.backups import contents
    from webapp.extensions import db

    with app.app_context():
        rows = {}
        for table in contents.tables("instance"):
            statement = sa.select(table)
            if table.name == "audit_events":
                statement = statement.where(table.c.action.not_in(leave_out))
            rows[table.name] = sorted((tuple(_plain(value) for value in row) for row in db.session.execute(statement)),
                                      key=repr)
        db.session.remove()
    return rows


def blobs_of(app) -> dict[str, str]:
    from webapp.extensions import blob_store

    with app.app_context():
        return {key: hashlib.sha256(blob_store().open(key).read()).hexdigest() for key in stored_keys(app)}


def assert_same_instance(source, restored, backup) -> None:
    before = backed_up_rows(source, AFTER_THE_ARCHIVE)
    after = backed_up_rows(restored, BY_THE_RESTORE)
    assert {name: len(rows) for name, rows in before.items()} == backup.counts
    for name, rows in before.items():
        assert after[name] == rows, f"{name} differs after the restore"
    assert blobs_of(restored) == blobs_of(source)


# --- the drill --------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not TEST_DATABASE_URL, reason="the drill restores into PostgreSQL: set TEST_DATABASE_URL "
                                                  "(.ci/run does, so it runs in CI)")
def test_an_instance_backed_up_on_sqlite_restores_into_postgresql_row_by_row_and_byte_by_byte(postgres_instance, app,
                                                                                              world):
    backup = make_backup(app, world.admin)
    assert backup.encrypted == bool(app.config["SHOEBOX"]["backups"]["passphrase"])
    restored = postgres_instance(backups={"passphrase": app.config["SHOEBOX"]["backups"]["passphrase"]})
    assert database_of(restored) == "postgresql"
    result = restore_instance(restored, archive_of(app, backup))

    assert result["added"]["media"] == 5 and result["added"]["users"] == 3
    assert_same_instance(app, restored, backup)
    assert_two_factor_sign_in_works(restored, world)
    assert_password_link_opens(restored, world, app)
    assert_new_rows_get_fresh_ids(restored, world)


def assert_two_factor_sign_in_works(app, world: World) -> None:
    client = app.test_client()
    login = {"identifier": "kim", "password": STRONG_PASSWORD}
    assert client.post("/api/v1/auth/login", json=login).get_json()["error"]["code"] == "otp_required"
    assert client.post("/api/v1/auth/login", json={**login, "otp": "000000"}).status_code == 401
    assert client.post("/api/v1/auth/login", json={**login, "otp": pyotp.TOTP(world.totp_secret).now()}) \
        .status_code == 200
    assert client.post("/api/v1/auth/login", json={**login, "otp": world.recovery_codes[0]}).status_code == 200
    assert client.post("/api/v1/auth/login", json={**login, "otp": world.recovery_codes[0]}).status_code == 401


def assert_password_link_opens(app, world: World, source) -> None:
    """The link, its password (an Argon2 hash made by the source) and what it serves came across."""
    link = world.album_link
    visitor, before = app.test_client(), source.test_client()
    assert visitor.get(link.url).status_code == 401
    assert open_link(visitor, link, "not the password").status_code == 401
    assert open_link(visitor, link, LINK_PASSWORD).status_code == 303
    assert open_link(before, link, LINK_PASSWORD).status_code == 303
    assert visitor.get(link.url).status_code == 200
    for photo in world.photos[:3]:  # the HEIC (served as a JPEG), the PNG and a camera JPEG
        for size in ("original", "large"):
            served = visitor.get(f"{link.url}/p/{photo}/{size}")
            assert served.status_code == 200 and served.data == before.get(f"{link.url}/p/{photo}/{size}").data
    assert visitor.get(f"{link.url}/p/{world.photos[3]}/original").status_code == 404  # not in the album


def assert_new_rows_get_fresh_ids(app, world: World) -> None:
    """The sequences were moved past the restored ids: a new account, upload, size and event are added."""
    from webapp.auth import service as accounts
    from webapp.extensions import db
    from webapp.models import AuditEvent, Media, User, Variant

    with app.app_context():
        highest = {model: db.session.scalar(sa.select(sa.func.max(model.id))) for model in (User, Variant, AuditEvent)}
        newcomer = accounts.create_user("new@example.com", "newcomer", STRONG_PASSWORD, verified=True).id
    assert newcomer == highest[User] + 1
    photo = upload(app, api_headers(app, "newcomer"), make_jpeg(colour=(9, 99, 199)), "after.jpg")
    with app.app_context():
        assert db.session.get(Media, photo).user_id == newcomer
        sizes = db.session.scalars(sa.select(Variant.id).where(Variant.media_id == photo)).all()
        assert sizes and min(sizes) > highest[Variant]
        assert db.session.scalar(sa.select(sa.func.max(AuditEvent.id))) > highest[AuditEvent]


# --- S3 as the backup target -----------------------------------------------------------------------

@pytest.mark.s3
@pytest.mark.slow
def test_a_backup_written_to_s3_is_read_back_there_and_restores(make_app, moto_server, s3, s3_bucket, tmp_path):
    """Over 8 MiB, so the archive goes up as a multipart upload; nothing but the finished archive is left."""
    from PIL import Image

    from tests.fixtures.s3server import ACCESS_KEY, REGION, SECRET_KEY

    credentials = {"endpoint_url": moto_server, "key": ACCESS_KEY, "secret": SECRET_KEY, "region": REGION}
    source = make_app(storage=credentials, backups={"target": f"s3://{s3_bucket}/shoebox-backups"})
    admin = _user(source, "admin@example.com", "admin", "admin")
    _user(source, "kim@example.com", "kim", "user")
    headers = api_headers(source, "kim")
    noise = io.BytesIO()
    Image.frombytes("RGB", (1800, 1700), os.urandom(1800 * 1700 * 3)).save(noise, "PNG")  # ~9 MB, incompressible
    upload(source, headers, noise.getvalue(), "noise.png")
    upload(source, headers, corpus_file("photos", "IMG_5195.HEIC").read_bytes(), "IMG_5195.HEIC")
    backup = make_backup(source, admin)

    stored = [item["Key"] for item in s3.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    assert stored == [f"shoebox-backups/{backup.storage_key}"] and backup.storage_key.startswith("instance/")
    assert not s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")
    data = s3.get_object(Bucket=s3_bucket, Key=stored[0])["Body"].read()
    assert len(data) == backup.size > 8 << 20 and hashlib.sha256(data).hexdigest() == backup.sha256

    restored = make_app(database={"url": f"sqlite:///{tmp_path / 'restored.db'}"}, data_dir=str(tmp_path / "restored"),
                        storage=credentials, backups={"target": f"s3://{s3_bucket}/restored"})
    restore_instance(restored, data)
    assert_same_instance(source, restored, backup)


def _user(app, email: str, username: str, role: str) -> int:
    from webapp.auth import service as accounts

    with app.app_context():
        return accounts.create_user(email, username, STRONG_PASSWORD, role=role, verified=True).id
