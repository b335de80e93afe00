"""Attack: moving every file to another store while the site keeps working (issue 17). Fifty starts of a move
or a clean-up at once, callers without manage_settings and hostile store names, deletes racing the copy, an
instance that still writes to the old store, a target store that goes away in the middle, and whether the
clean-up can ever remove the only copy of a file."""

from __future__ import annotations

import hashlib
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD, AuthActions, csrf_token_from
from tests.fixtures.media import make_jpeg
from tests.test_storage_move import bucket_table, flask_check_is_clean, folder_table, seed_files, state

API = "/api/v1/admin/storage"


@pytest.fixture(autouse=True)
def short_grace(monkeypatch):
    """Every instance in these tests is this process, unless a test says otherwise."""
    from webapp.stores import moving

    monkeypatch.setattr(moving, "GRACE_SECONDS", 0.1)


def storage_jobs(app) -> list[tuple[int, str, str]]:
    from webapp.extensions import db
    from webapp.models import Job

    with app.app_context():
        rows = db.session.execute(db.select(Job.id, Job.name, Job.state)
                                  .where(Job.name.in_(["storage_move", "storage_cleanup"])).order_by(Job.id)).all()
        return [tuple(row) for row in rows]


def run_jobs(app) -> None:
    from webapp import jobs

    jobs.work_until_idle(app, names=["storage_move", "storage_cleanup"])


def bearer(app, make_user, username: str, role: str = "user") -> tuple:
    make_user(username=username, role=role)
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": username, "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    return client, {"Authorization": f"Bearer {token}"}


def keys_on(app, name: str) -> list[str]:
    from webapp.extensions import blob_store
    from webapp.stores import location

    with app.app_context():
        return sorted(key for key in blob_store().named(name).keys() if key != location.MARKER)


def referenced(app) -> dict[str, str | None]:
    """Every key a row names -> the SHA-256 recorded for it (None for variants)."""
    from webapp.extensions import db
    from webapp.models import Media, Variant

    with app.app_context():
        found = dict(db.session.execute(db.select(Media.storage_key, Media.sha256)).all())
        found.update({key: None for (key,) in db.session.execute(db.select(Variant.storage_key))})
        return found


def read_through_site(app, key: str) -> bytes:
    from webapp.extensions import blob_store

    with app.app_context(), blob_store().open(key) as stream:
        return stream.read()


def add_file_row(app, key_store: str, data: bytes) -> str:
    """A photo row whose original is written to the store `key_store` only, as an instance that had not read the
    switch yet would leave it; returns its key."""
    import secrets

    from webapp.auth import service
    from webapp.extensions import blob_store, db
    from webapp.models import Media, User

    with app.app_context():
        user = db.session.scalar(db.select(User).limit(1)) or service.create_user(
            f"{uuid.uuid4().hex[:8]}@example.com", f"u{uuid.uuid4().hex[:8]}", STRONG_PASSWORD, verified=True)
        media_id = secrets.token_urlsafe(16)[:22]
        key = f"originals/{media_id[:2]}/{media_id}.bin"
        blob_store().named(key_store).put(key, data)
        db.session.add(Media(id=media_id, user_id=user.id, kind="file", original_name="late.bin", storage_key=key,
                             mime_type="application/octet-stream", ext="bin", size=len(data),
                             sha256=hashlib.sha256(data).hexdigest()))
        user.storage_used += len(data)
        user.media_count += 1
        db.session.commit()
        return key


def at_once(attempt, start: threading.Event) -> list:
    """Fifty calls of attempt(n) on as many threads as a server has (server.threads = 8; more would only wait
    for the database pool), released together."""
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(attempt, n) for n in range(50)]
        start.set()
        return [future.result() for future in futures]


THREADS = 8


# --- fifty at once ------------------------------------------------------------------------------------

def test_fifty_api_starts_of_a_move_make_exactly_one_job(make_app, make_user, tmp_path):
    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    seed_files(app, count=3)
    client, headers = bearer(app, make_user, "boss", role="admin")
    start = threading.Event()

    def attempt(_n):
        own = app.test_client()
        start.wait(30)
        return own.post(f"{API}/move", json={"target": "disk2", "dry_run": False}, headers=headers).status_code

    statuses = at_once(attempt, start)
    started = [name for _id, name, _state in storage_jobs(app)]
    from webapp import jobs

    workers = [threading.Thread(target=jobs.work_until_idle, args=(app, ["storage_move"])) for _ in range(4)]
    for worker in workers:  # as the instances of a cluster would: each worker takes one of the jobs
        worker.start()
    for worker in workers:
        worker.join(120)
    # whatever was started: the files end up once on disk2, and nothing is lost
    assert state(app).active == "disk2" and state(app).moving_to is None
    assert keys_on(app, "disk2") == sorted(referenced(app))
    flask_check_is_clean(app)
    assert statuses.count(202) == 1 and statuses.count(400) == 49, (statuses, storage_jobs(app))
    assert started == ["storage_move"]


def test_fifty_form_starts_of_a_move_make_exactly_one_job(make_app, make_user, tmp_path):
    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    seed_files(app, count=3)
    make_user(username="root", role="admin")
    first = app.test_client()
    AuthActions(first).login("root")
    csrf = csrf_token_from(first.get("/admin/storage").get_data(as_text=True))
    session = first.get_cookie("shoebox_session")
    start = threading.Event()

    def attempt(_n):
        own = app.test_client()
        own.set_cookie(session.key, session.value, domain=session.domain or "localhost")
        start.wait(30)
        return own.post("/admin/storage/move", data={"csrf_token": csrf, "target": "disk2"}).status_code

    statuses = at_once(attempt, start)
    assert statuses.count(303) == 1, statuses
    assert [name for _id, name, _state in storage_jobs(app)] == ["storage_move"]


def test_fifty_cleanups_at_once_make_exactly_one_job(make_app, make_user, tmp_path, monkeypatch):
    from webapp import jobs

    real_enqueue = jobs.enqueue

    def slow_enqueue(*args, **kwargs):  # a loaded server: the check and the insert a little further apart
        import time

        time.sleep(0.05)
        return real_enqueue(*args, **kwargs)

    monkeypatch.setattr(jobs, "enqueue", slow_enqueue)
    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    seed_files(app, count=3)
    client, headers = bearer(app, make_user, "boss", role="admin")
    assert client.post(f"{API}/move", json={"target": "disk2", "dry_run": False}, headers=headers).status_code == 202
    run_jobs(app)
    start = threading.Event()

    def attempt(_n):
        own = app.test_client()
        start.wait(30)
        return own.post(f"{API}/cleanup", headers=headers).status_code

    statuses = at_once(attempt, start)
    assert statuses.count(202) == 1 and statuses.count(400) == 49, statuses
    assert [name for _id, name, _state in storage_jobs(app)] == ["storage_move", "storage_cleanup"]


# --- who may ------------------------------------------------------------------------------------------

def test_api_keys_of_an_admin_with_read_or_upload_scope_are_refused(make_app, make_user, tmp_path):
    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    seed_files(app, count=1)
    client, headers = bearer(app, make_user, "boss", role="admin")
    for scope in ("read", "upload"):
        made = client.post("/api/v1/api-keys", headers=headers, json={"name": f"k-{scope}", "scope": scope})
        assert made.status_code == 201, made.get_json()
        key = {"X-API-Key": made.get_json()["key"]}
        for path, body in (("/move", {"target": "disk2", "dry_run": False}), ("/move", {"target": "disk2"}),
                           ("/cleanup", None)):
            response = client.post(API + path, json=body, headers=key)
            assert response.status_code in (403, 404), (scope, path, response.status_code)
        if scope == "upload":
            assert client.get(API, headers=key).status_code in (403, 404)
    assert storage_jobs(app) == [] and state(app).moving_to is None


def test_an_admin_of_everything_but_settings_is_refused_by_the_api_and_the_pages(make_app, make_user, tmp_path):
    from webapp.auth.permissions import ADMIN_PERMISSIONS
    from webapp.extensions import db
    from webapp.models import Group, GroupPermission, User, UserGroup

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    client, headers = bearer(app, make_user, "pat")
    others = [permission for permission in ADMIN_PERMISSIONS if permission != "manage_settings"]
    with app.app_context():
        group = Group(name="almost-admins", description="")
        db.session.add(group)
        db.session.flush()
        pat = db.session.scalar(db.select(User).where(User.username == "pat"))
        db.session.add_all([GroupPermission(group_id=group.id, permission=p) for p in others] +
                           [UserGroup(user_id=pat.id, group_id=group.id)])
        db.session.commit()
    for other in ("users", "plans", "audit", "stats"):  # the other permissions work
        assert client.get(f"/api/v1/admin/{other}", headers=headers).status_code == 200, other
    assert client.get("/api/v1/admin/settings", headers=headers).status_code == 404
    assert client.get(API, headers=headers).status_code == 404
    assert client.post(f"{API}/move", json={"target": "disk2", "dry_run": False}, headers=headers).status_code == 404
    assert client.post(f"{API}/cleanup", headers=headers).status_code == 404
    page = app.test_client()
    AuthActions(page).login("pat")
    assert page.get("/admin/storage").status_code == 404
    csrf = csrf_token_from(page.get("/").get_data(as_text=True))
    for path in ("plan", "move", "cleanup"):
        assert page.post(f"/admin/storage/{path}", data={"csrf_token": csrf, "target": "disk2"}).status_code == 404
    assert storage_jobs(app) == [] and state(app).moving_to is None


HOSTILE = ["../", "../../etc", "disk2/../storage", "x" * 5000, "disk2\u202e", "dïsk2", "\u0000", " disk2",
           "file:///etc/", "s3://someone-elses-bucket/files", "storage", "http://127.0.0.1:1/"]


@pytest.mark.parametrize("target", HOSTILE)
def test_hostile_target_names_are_refused_by_the_api_and_the_form(make_app, make_user, tmp_path, target):
    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    seed_files(app, count=1)
    client, headers = bearer(app, make_user, "boss", role="admin")
    for dry_run in (True, False):
        response = client.post(f"{API}/move", json={"target": target, "dry_run": dry_run}, headers=headers)
        assert response.status_code == 400, (dry_run, response.status_code)
        error = response.get_json()["error"]
        assert error.get("field") == "target" or error["code"] == "nul_character", error
    page = app.test_client()
    AuthActions(page).login("boss")
    csrf = csrf_token_from(page.get("/admin/storage").get_data(as_text=True))
    for path in ("plan", "move"):
        response = page.post(f"/admin/storage/{path}", data={"csrf_token": csrf, "target": target},
                             headers={"HX-Request": "true", "X-CSRFToken": csrf})
        assert response.status_code == 200 and 'id="target-errors"' in response.get_data(as_text=True), path
    assert storage_jobs(app) == [] and state(app).moving_to is None
    assert keys_on(app, "disk2") == [] and not (tmp_path / "etc").exists()


def test_the_store_in_use_is_refused_by_name_and_by_url(make_app, make_user, tmp_path):
    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    seed_files(app, count=1)
    client, headers = bearer(app, make_user, "boss", role="admin")
    assert client.post(f"{API}/move", json={"target": "disk2", "dry_run": False}, headers=headers).status_code == 202
    run_jobs(app)
    for target in ("disk2", (tmp_path / "b").as_uri() + "/"):
        response = client.post(f"{API}/move", json={"target": target, "dry_run": False}, headers=headers)
        assert response.status_code == 400 and response.get_json()["error"]["field"] == "target", target
    assert [name for _id, name, _state in storage_jobs(app)] == ["storage_move"]


# --- the site changes while the files move --------------------------------------------------------------

class Person:
    """A logged-in API client of a new person on `app`."""

    def __init__(self, app):
        from webapp.auth import service

        name = f"k{uuid.uuid4().hex[:8]}"
        with app.app_context():
            service.create_user(f"{name}@example.com", name, STRONG_PASSWORD, verified=True)
        self.client = app.test_client()
        token = self.client.post("/api/v1/auth/login", json={"identifier": name, "password": STRONG_PASSWORD}) \
            .get_json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def upload(self, colour) -> str:
        from tests.fixtures.media import multipart

        body, content_type = multipart({"file": (make_jpeg(colour=colour), "photo.jpg")})
        response = self.client.post("/api/v1/images", headers=self.headers, data=body, content_type=content_type)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    def delete(self, media_id: str) -> None:
        assert self.client.delete(f"/api/v1/images/{media_id}", headers=self.headers).status_code == 204

    def transform(self, media_id: str) -> None:
        response = self.client.post(f"/api/v1/images/{media_id}/transform", headers=self.headers,
                                    json={"transformations": {"resize": {"width": 16}, "flip": True}})
        assert response.status_code == 201, response.get_json()

    def change(self, media_id: str, **changes) -> None:
        response = self.client.patch(f"/api/v1/images/{media_id}", headers=self.headers, json=changes)
        assert response.status_code == 200, response.get_json()


def keys_of(app, media_id: str) -> list[str]:
    from webapp.extensions import db
    from webapp.models import Media, Variant

    with app.app_context():
        media = db.session.get(Media, media_id)
        return [media.storage_key] + list(db.session.scalars(db.select(Variant.storage_key)
                                                              .where(Variant.media_id == media_id)))


def assert_settled(app, store: str, old: str) -> None:
    """After the move and its clean-up: every key a row names is on `store` with its recorded bytes, nothing
    else is on either store, and the integrity check finds nothing."""
    wanted = referenced(app)
    assert keys_on(app, store) == sorted(wanted)
    assert keys_on(app, old) == []
    for key, sha in wanted.items():
        data = read_through_site(app, key)
        if sha:
            assert hashlib.sha256(data).hexdigest() == sha, key
    flask_check_is_clean(app)


def cleanup(app) -> tuple:
    from webapp.stores import service

    with app.app_context():
        job_id = service.start_cleanup(None).id
    run_jobs(app)
    from tests.fixtures.jobs import job_row

    row = job_row(app, job_id)
    return row.state, row.error


def test_uploads_deletes_transforms_and_privacy_changes_during_the_move_leave_nothing_lost_or_doubled(
        make_app, tmp_path, monkeypatch):
    from webapp.stores import moving, service

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    kim = Person(app)
    photos = [kim.upload((n * 20, 40, 90)) for n in range(10)]
    by_key = {key: media_id for media_id in photos for key in keys_of(app, media_id)}
    order = sorted(by_key)
    copied: list[str] = []
    done: dict[str, str] = {}
    real = moving._Copier.copy
    lock = threading.Lock()

    def copy(self, key):
        size = real(self, key)
        with lock:
            copied.append(key)
            step = len(copied)
        if step == 3:  # while the copying goes on: each change the site allows
            first_copied = by_key[copied[0]]
            not_yet = next(by_key[k] for k in reversed(order) if by_key[k] != first_copied)
            kim.delete(first_copied)
            kim.delete(not_yet)
            survivors = [p for p in photos if p not in (first_copied, not_yet)]
            kim.transform(survivors[0])
            kim.transform(survivors[-1])
            kim.change(survivors[1], is_public=False, title="renamed while moving")
            done["new"] = kim.upload((1, 2, 3))
            done["deleted"] = f"{first_copied} {not_yet}"
        return size

    monkeypatch.setattr(moving._Copier, "copy", copy)
    monkeypatch.setattr(moving, "COPY_THREADS", 1)
    monkeypatch.setattr(moving, "WINDOW", 1)
    with app.app_context():
        service.start_move(None, "disk2")
    run_jobs(app)
    assert done, "the changes were not made during the move"
    assert state(app).active == "disk2"
    assert cleanup(app)[0] == "done"
    assert_settled(app, "disk2", "storage")


def test_a_photo_deleted_while_its_file_is_being_copied_leaves_no_copy_behind(make_app, tmp_path, monkeypatch):
    from webapp.extensions import blob_store
    from webapp.stores import service

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    kim = Person(app)
    photos = [kim.upload((n * 30, 10, 10)) for n in range(4)]
    victim = photos[2]
    victim_key = keys_of(app, victim)[0]
    with app.app_context():
        source = blob_store().named("storage")
    real_open = source.open
    fired = []

    def open_then_delete(key):
        stream = real_open(key)
        if key == victim_key and threading.current_thread().name.startswith("shoebox-move") and not fired:
            fired.append(key)
            kim.delete(victim)  # listed, opened, and now deleted before the copy is written
        return stream

    monkeypatch.setattr(source, "open", open_then_delete)
    with app.app_context():
        service.start_move(None, "disk2")
    run_jobs(app)
    assert fired and state(app).active == "disk2"
    assert victim_key not in keys_on(app, "disk2"), "the deleted photo's file was copied after its deletion"
    assert cleanup(app)[0] == "done"
    assert_settled(app, "disk2", "storage")


# --- an instance that has not read the switch yet ---------------------------------------------------------

def stale_instance(make_app, tables: dict):
    """A second instance on the same database whose router keeps the state it has read now, whatever happens."""
    import time

    from webapp.extensions import blob_store

    other = make_app(**tables)
    with other.app_context():
        router = blob_store()
        router.state()
        router._read_at = time.monotonic() + 10 ** 6
        router.forget = lambda _key=None: None
    return other


def test_the_cleanup_never_deletes_a_file_a_stale_instance_wrote_only_to_the_old_store(make_app, tmp_path):
    tables = dict(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    app = make_app(**tables)
    seed_files(app, count=3)
    stale = stale_instance(make_app, tables)
    from webapp.stores import service

    with app.app_context():
        service.start_move(None, "disk2")
    run_jobs(app)
    assert state(app).active == "disk2"
    late = Person(stale).upload((200, 100, 0))  # after the final sweep, through the instance that missed it
    late_key = keys_of(app, late)[0]
    assert late_key in keys_on(app, "storage") and late_key not in keys_on(app, "disk2")
    original = read_through_site(app, late_key)  # the up-to-date instance finds it on the old store

    status, error = cleanup(app)

    assert status == "done", error  # it copied the late file over (checked) before removing anything
    assert late_key in keys_on(app, "disk2") and late_key not in keys_on(app, "storage")
    assert read_through_site(app, late_key) == original
    assert state(app).previous is None


def test_a_second_move_keeps_serving_a_file_that_is_only_on_the_old_store(make_app, tmp_path):
    """A move to a third store while the first still holds the only copy of a stale instance's upload: refused
    until the clean-up has copied that file over; then it stays readable during that move and after it."""
    tables = dict(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b"),
                                                                "disk3": folder_table(tmp_path / "c")})
    app = make_app(**tables)
    seed_files(app, count=3)
    stale = stale_instance(make_app, tables)
    from webapp.stores import service

    with app.app_context():
        service.start_move(None, "disk2")
    run_jobs(app)
    late_key = keys_of(app, Person(stale).upload((5, 100, 200)))[0]
    original = read_through_site(app, late_key)

    from webapp.errors import InvalidInput

    with app.app_context(), pytest.raises(InvalidInput):  # refused until the old copies are dealt with
        service.start_move(None, "disk3")
    assert cleanup(app)[0] == "done"  # copies the late file over first
    with app.app_context():
        service.start_move(None, "disk3")
    assert read_through_site(app, late_key) == original, "unreadable while the second move runs"
    run_jobs(app)
    assert read_through_site(app, late_key) == original, "unreadable after the second move"
    flask_check_is_clean(app)


# --- the target goes away in the middle ---------------------------------------------------------------------

@pytest.mark.s3
@pytest.mark.slow
def test_a_target_that_goes_down_mid_move_fails_clearly_the_site_reads_on_and_a_rerun_completes(
        make_app, tmp_path, monkeypatch):
    from moto.server import ThreadedMotoServer

    from tests.fixtures.s3server import s3_client, start_moto
    from tests.fixtures.jobs import job_row
    from webapp.stores import moving, service

    server, endpoint = start_moto()
    port = int(endpoint.rsplit(":", 1)[1])
    bucket = f"move-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    app = make_app(storage=folder_table(tmp_path / "a"), stores={"b2": bucket_table(endpoint, bucket)})
    files = seed_files(app, count=8, size=20_000)
    real = moving._Copier.copy
    copied = []

    def copy(self, key):
        size = real(self, key)
        copied.append(key)
        if len(copied) == 4:
            server.stop()  # the target stops answering in the middle
        return size

    monkeypatch.setattr(moving._Copier, "copy", copy)
    monkeypatch.setattr(moving, "COPY_THREADS", 1)
    monkeypatch.setattr(moving, "WINDOW", 1)
    unreadable = []
    try:
        with app.app_context():
            job_id = service.start_move(None, "b2").id
        run_jobs(app)
        row = job_row(app, job_id)
        assert row.state in ("queued", "failed") and row.error, (row.state, row.error)
        assert "b2" in row.error or "unavailable" in row.error.lower(), row.error
        for key, data in files.items():
            try:
                assert read_through_site(app, key) == data
            except Exception as error:  # noqa: BLE001 - which photo and why is the finding
                unreadable.append(f"{key}: {type(error).__name__}")
    finally:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()  # the same server back (moto keeps its buckets in this process)
    try:
        monkeypatch.setattr(moving._Copier, "copy", real)
        with app.app_context():
            from webapp.extensions import db
            from webapp.models import Job, utcnow

            db.session.execute(db.update(Job).where(Job.id == job_id, Job.state == "queued").values(run_after=utcnow()))
            db.session.commit()
            if job_row(app, job_id).state == "failed":
                service.start_move(None, "b2")
        run_jobs(app)
        assert state(app).active == "b2" and state(app).moving_to is None
        for key, data in files.items():
            assert read_through_site(app, key) == data
        assert keys_on(app, "b2") == sorted(files)
        flask_check_is_clean(app)
    finally:
        server.stop()
    # Every file was still on the old store, which answered: the site should have served them all.
    assert not unreadable, f"{len(unreadable)} of {len(files)} files unreadable while the target is down: " \
                           f"{unreadable[:2]}"


# --- kill -9 of `flask storage move` at other points than the middle ----------------------------------------

@pytest.mark.s3
@pytest.mark.slow
@pytest.mark.parametrize("point", ["early", "sweep"])
def test_a_move_killed_early_or_in_its_final_sweep_completes_when_run_again(make_app, tmp_path, database_url,
                                                                             moto_server, s3, s3_bucket, point):
    import signal
    import time

    from tests.test_storage_move_cli import cli_environment, flask
    from webapp.stores import location

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"b2": bucket_table(moto_server, s3_bucket)})
    files = seed_files(app, count=60, size=16_000)
    env = cli_environment(tmp_path, database_url, moto_server, s3_bucket)
    first = flask(env, "storage", "move", "--to", "b2")
    deadline = time.monotonic() + 90
    late = None
    with app.app_context():
        while first.poll() is None and time.monotonic() < deadline:
            row = location.read_row()
            if point == "early" and row.get("moving_to") == "b2" and row.get("job_id"):
                break
            if point == "sweep" and row.get("phase") == "sweep":
                break
            time.sleep(0.005)
    if point == "sweep":  # an instance that had not read the switch wrote a file to the old store meanwhile
        late = add_file_row(app, "storage", b"written to the old store during the grace period")
    first.send_signal(signal.SIGKILL)
    output = first.communicate()[0]
    assert first.returncode == -signal.SIGKILL, f"the move ended before it was killed {point}: {output}"
    with app.app_context():
        row = location.read_row()
    assert (row.get("phase") == "sweep") if point == "sweep" else (row.get("moving_to") == "b2"), row

    second = flask(env, "storage", "move", "--to", "b2")
    output = second.communicate(timeout=300)[0]
    assert second.returncode == 0, output
    assert state(app).active == "b2" and state(app).moving_to is None
    with app.app_context():
        assert not location.read_row().get("phase")
    wanted = sorted([*files, *([late] if late else [])])
    assert keys_on(app, "b2") == wanted  # none lost; a key is listed once, so none doubled either
    listed = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket)
              for item in page.get("Contents", [])]
    assert len(listed) == len(set(listed)) == len(wanted) + 1  # and the site's marker
    assert not s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")
    for key, data in files.items():
        assert read_through_site(app, key) == data
    check = flask(env, "check")
    output = check.communicate(timeout=120)[0]
    assert check.returncode == 0, output
    assert output.strip().endswith("0 users' counters repaired, 0 orphan blobs (0 removed), 0 rows with missing blobs.")


# --- a move started while the clean-up runs ------------------------------------------------------------------

def test_a_move_back_started_while_the_cleanup_runs_loses_no_file(make_app, tmp_path, monkeypatch):
    """The clean-up is deleting the old copies from `storage` when an admin starts a move back to `storage`: it
    must be refused, or else every file must stay readable once both jobs end."""
    from webapp import jobs
    from webapp.errors import InvalidInput
    from webapp.extensions import blob_store
    from webapp.stores import service

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    files = seed_files(app, count=6)
    with app.app_context():
        service.start_move(None, "disk2")
    run_jobs(app)
    with app.app_context():
        old = blob_store().named("storage")
        service.start_cleanup(None)
    real_delete = old.delete
    deleting, carry_on = threading.Event(), threading.Event()

    def slow_delete(key):
        if threading.current_thread().name == "cleanup":
            deleting.set()
            carry_on.wait(60)
        real_delete(key)

    monkeypatch.setattr(old, "delete", slow_delete)
    worker = threading.Thread(target=jobs.run_one, args=(app, "cleaner", ["storage_cleanup"]), name="cleanup")
    worker.start()
    try:
        assert deleting.wait(30)
        try:
            with app.app_context():
                service.start_move(None, "storage")
        except InvalidInput:
            refused = True  # the defence: no move while the old copies are being removed
        else:
            refused = False
            jobs.work_until_idle(app, names=["storage_move"])
    finally:
        carry_on.set()
        worker.join(60)
    unreadable = []
    for key, data in files.items():
        try:
            assert read_through_site(app, key) == data
        except Exception as error:  # noqa: BLE001 - which file and why is the finding
            unreadable.append(f"{key}: {type(error).__name__}")
    assert not unreadable, f"move back not refused ({not refused}); {len(unreadable)} of {len(files)} files " \
                           f"unreadable after both jobs: {unreadable[:2]}; state {state(app)}"
    flask_check_is_clean(app)


# --- the target fills up ---------------------------------------------------------------------------------------

def test_a_target_folder_that_fills_up_stops_the_move_with_the_reason_and_the_site_reads_on(make_app, tmp_path,
                                                                                              monkeypatch):
    import errno

    from tests.fixtures.jobs import job_row
    from webapp.extensions import blob_store
    from webapp.stores import moving, service

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    files = seed_files(app, count=6)
    with app.app_context():
        target = blob_store().named("disk2")
    real_writer = target.writer
    full = {"now": False, "written": 0}

    def writer(key, **options):
        if full["now"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        full["written"] += 1
        full["now"] = full["written"] >= 5
        return real_writer(key, **options)

    monkeypatch.setattr(target, "writer", writer)
    monkeypatch.setattr(moving, "COPY_THREADS", 1)
    monkeypatch.setattr(moving, "WINDOW", 1)
    with app.app_context():
        job_id = service.start_move(None, "disk2").id
    run_jobs(app)
    row = job_row(app, job_id)
    assert row.state in ("queued", "failed") and "No space left on device" in row.error, (row.state, row.error)
    assert state(app).active == "storage" and state(app).moving_to == "disk2"
    for key, data in files.items():
        assert read_through_site(app, key) == data
    full["now"] = False  # room again
    full["written"] = -10 ** 6
    with app.app_context():
        from webapp.extensions import db
        from webapp.models import Job, utcnow

        db.session.execute(db.update(Job).where(Job.id == job_id, Job.state == "queued").values(run_after=utcnow()))
        db.session.commit()
        if job_row(app, job_id).state == "failed":
            service.start_move(None, "disk2")
    run_jobs(app)
    assert state(app).active == "disk2"
    assert keys_on(app, "disk2") == sorted(files)
    for key, data in files.items():
        assert read_through_site(app, key) == data
    flask_check_is_clean(app)
