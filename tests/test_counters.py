"""Storage and photo counters stay true whatever happens: racing deletes give storage back once, an
upload killed at any point charges nothing, the instance's size cap bounds every upload, scratch
files of a killed process go, and `flask check` (and every start) puts drifted counters right."""

from __future__ import annotations

import http.client
import io
import os
import signal
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.media import make_jpeg, media_count, multipart, stored_keys
from tests.fixtures.processes import spawn_shoebox, wait_until_healthy


def counters(app, user_id) -> tuple[int, int, int]:
    """(storage_used, media_count, uploads today) as committed, read on a connection of their own."""
    from sqlalchemy import text

    from webapp.extensions import db

    with app.app_context(), db.engine.connect() as connection:
        storage, photos = connection.execute(
            text("SELECT storage_used, media_count FROM users WHERE id = :id"), {"id": user_id}).one()
        uploads = connection.execute(text("SELECT COALESCE(SUM(uploads), 0) FROM daily_usage WHERE user_id = :id"),
                                     {"id": user_id}).scalar()
    return storage, photos, uploads


def set_plan(app, user_id, **limits):
    from webapp.extensions import db
    from webapp.models import Plan, User

    with app.app_context():
        user = db.session.get(User, user_id)
        plan = db.session.get(Plan, user.plan_id) if user.plan_id else \
            db.session.scalar(db.select(Plan).where(Plan.name == "free"))
        for name, value in limits.items():
            setattr(plan, name, value)
        user.plan_id = plan.id
        db.session.commit()


# --- deletes ---------------------------------------------------------------------------------------

def test_fifty_racing_deletes_give_storage_back_exactly_once(app, kim):
    ids = [kim.upload(make_jpeg(colour=(n * 40, 0, 0))).get_json()["id"] for n in range(5)]

    def attempt(media_id):
        with app.test_client() as client:
            return client.delete(f"/api/v1/images/{media_id}", headers=kim.headers).status_code

    with ThreadPoolExecutor(max_workers=25) as pool:
        statuses = list(pool.map(attempt, ids * 10))
    assert statuses.count(204) == 5 and statuses.count(404) == 45
    assert counters(app, kim.id)[:2] == (0, 0)
    assert media_count(app) == 0 and stored_keys(app) == []


def test_a_selection_delete_racing_single_deletes_releases_each_photo_once(app, kim, make_user):
    ids = [kim.upload(make_jpeg(colour=(0, n * 40, 0))).get_json()["id"] for n in range(4)]
    sizes = sum(kim.get(f"/api/v1/images/{media_id}").get_json()["size"] for media_id in ids)
    assert counters(app, kim.id)[0] == sizes

    from webapp.extensions import db
    from webapp.media import selection
    from webapp.models import User

    def delete_selection(_):
        with app.app_context():
            return selection.delete(db.session.get(User, kim.id), ids)

    def delete_one(media_id):
        with app.test_client() as client:
            return client.delete(f"/api/v1/images/{media_id}", headers=kim.headers).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        selections = [pool.submit(delete_selection, n) for n in range(4)]
        singles = list(pool.map(delete_one, ids))
        deleted_by_selections = []
        for future in selections:
            try:
                deleted_by_selections.append(future.result())
            except Exception as error:  # a selection whose photos were all taken by others finds none
                assert type(error).__name__ == "NotFound"
    assert sum(deleted_by_selections) + singles.count(204) == 4
    assert counters(app, kim.id)[:2] == (0, 0)


def test_storage_down_before_a_delete_changes_nothing(app, kim, monkeypatch):
    from webapp.storage import BlobStore, StorageUnavailable

    body = kim.upload(make_jpeg()).get_json()

    def down(self):
        raise StorageUnavailable("The storage is unavailable: connection refused.")

    monkeypatch.setattr(BlobStore, "check", down)
    response = kim.delete(f"/api/v1/images/{body['id']}")
    assert response.status_code == 503 and "Nothing was changed" in response.get_json()["error"]["message"]
    assert int(response.headers["Retry-After"]) > 0
    monkeypatch.undo()
    assert kim.get(f"/api/v1/images/{body['id']}").status_code == 200
    assert counters(app, kim.id)[:2] == (body["size"], 1)


def test_storage_failing_after_a_delete_leaves_orphans_for_the_integrity_check(app, kim, monkeypatch):
    from datetime import timedelta

    from webapp.media import integrity
    from webapp.storage import BlobStore, StorageUnavailable

    body = kim.upload(make_jpeg()).get_json()
    left = stored_keys(app)

    def failing_delete(self, key):
        raise StorageUnavailable("The storage is unavailable: connection reset.")

    monkeypatch.setattr(BlobStore, "delete", failing_delete)
    assert kim.delete(f"/api/v1/images/{body['id']}").status_code == 204  # true: the photo is gone
    monkeypatch.undo()
    assert kim.get(f"/api/v1/images/{body['id']}").status_code == 404
    assert counters(app, kim.id)[:2] == (0, 0)
    with app.app_context():
        assert integrity.check().orphans == sorted(left)
        assert sorted(integrity.check(remove_orphans=True, grace=timedelta(seconds=-1)).removed) == sorted(left)
    assert stored_keys(app) == []


# --- uploads ---------------------------------------------------------------------------------------

def test_an_upload_charges_nothing_until_its_row_is_committed(app, kim, monkeypatch):
    """kill -9 can land between any two steps: nothing may be committed before the row is."""
    from webapp.storage import BlobStore

    seen = []
    real_put = BlobStore.put

    def watching_put(self, key, *args, **kwargs):
        seen.append(counters(app, kim.id))
        return real_put(self, key, *args, **kwargs)

    monkeypatch.setattr(BlobStore, "put", watching_put)
    body = kim.upload(make_jpeg()).get_json()
    assert len(seen) == 2 and set(seen) == {(0, 0, 0)}  # original and thumbnail written (the preview comes later)
    assert counters(app, kim.id) == (body["size"], 1, 1)


def test_parallel_uploads_never_exceed_the_storage_allowance_and_refused_ones_leave_nothing(app, kim):
    data = make_jpeg()
    first = kim.upload(data).get_json()
    assert kim.delete(f"/api/v1/images/{first['id']}").status_code == 204
    set_plan(app, kim.id, storage_bytes=3 * first["size"] + first["size"] // 2)

    def attempt(n):
        with app.test_client() as client:
            body, content_type = multipart({"file": (data, f"{n}.jpg")})
            return client.post("/api/v1/images", headers=kim.headers, data=body,
                               content_type=content_type).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(attempt, range(10)))
    assert statuses.count(201) == 3 and statuses.count(413) == 7
    assert counters(app, kim.id) == (3 * first["size"], 3, 4)  # 4: the deleted first upload still counts today
    assert media_count(app) == 3 and len(stored_keys(app)) == 6  # an original and a thumbnail each


def test_the_instance_cap_bounds_uploads_on_a_plan_without_its_own_limit(make_app, make_user):
    app = make_app(limits={"max_upload_bytes": 100_000})
    user_id = make_user(username="kim")
    set_plan(app, user_id, max_upload_bytes=0)  # "unlimited" per file
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]

    def upload(data):
        body, content_type = multipart({"file": (data, "big.bmp")})
        return client.post("/api/v1/images", headers={"Authorization": f"Bearer {token}"}, data=body,
                           content_type=content_type)

    # Refused from the Content-Length, and (inside the framing allowance) after the body was read.
    for extra in (400_000, 30_000):
        response = upload(make_jpeg() + b"\0" * (100_000 + extra))
        error = response.get_json()["error"]
        assert response.status_code == 413 and error["code"] == "file_too_large"
        assert "this server accepts" in error["message"]
    assert upload(make_jpeg()).status_code == 201
    assert len(stored_keys(app)) == 2  # the original and its thumbnail


# --- kill -9 mid-upload, for real ------------------------------------------------------------------

def _big_png() -> bytes:
    """24 MP that compress well: seconds of decoding and resizing, a few hundred KB on the wire."""
    image = Image.linear_gradient("L").resize((6000, 4000)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def _prepare_instance(tmp_path: Path) -> None:
    """The data folder with one verified user, as the server process will find it."""
    from webapp import create_app
    from webapp.auth import service
    from webapp.extensions import db

    app = create_app({"data_dir": str(tmp_path / "data"), "scheduler": {"enabled": False},
                      "SHOEBOX_CONFIG_FILE": None})
    with app.app_context():
        service.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True)
        db.engine.dispose()


def _login(url: str) -> str:
    import json
    import urllib.request

    request = urllib.request.Request(url + "/api/v1/auth/login", method="POST",
                                     data=json.dumps({"identifier": "kim", "password": STRONG_PASSWORD}).encode(),
                                     headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=30))["access_token"]


def _upload_in_background(url: str, token: str, data: bytes) -> threading.Thread:
    body, content_type = multipart({"file": (data, "big.png")})
    host, port = url.removeprefix("http://").split(":")

    def send():
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            connection.request("POST", "/api/v1/images", body=body,
                               headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})
            connection.getresponse().read()
        except OSError:
            pass  # the server was killed under it: that is the point
        finally:
            connection.close()

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def _wait_for(predicate, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


@pytest.mark.slow
def test_kill_9_while_an_upload_is_being_stored_charges_nothing_and_restart_removes_its_scratch(tmp_path):
    _prepare_instance(tmp_path)
    data_dir = tmp_path / "data"
    process, url = spawn_shoebox(tmp_path)
    try:
        wait_until_healthy(process, url)
        sender = _upload_in_background(url, _login(url), _big_png())
        # The original is normalised and its thumbnail is being made (seconds for 24 MP), before any blob is
        # written or anything charged: the moment an older pipeline had charged already.
        assert _wait_for(lambda: any((data_dir / "tmp").glob("*/*/original")))
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        sender.join(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
    dead_scratch = [entry.name for entry in (data_dir / "tmp").iterdir() if entry.is_dir()]
    assert any(name.startswith(f"{process.pid}-") for name in dead_scratch)

    with sqlite3.connect(data_dir / "shoebox.db") as database:
        storage, photos = database.execute("SELECT storage_used, media_count FROM users").fetchone()
        stored, rows = database.execute("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM media").fetchone()
        uploads = database.execute("SELECT COALESCE(SUM(uploads), 0) FROM daily_usage").fetchone()[0]
    assert (storage, photos, uploads) == (stored, rows, rows)

    restarted, url = spawn_shoebox(tmp_path)
    try:
        wait_until_healthy(restarted, url)
        left = [entry.name for entry in (data_dir / "tmp").iterdir()]
        assert not any(name.startswith(f"{process.pid}-") for name in left), left
    finally:
        restarted.terminate()
        restarted.wait(timeout=10)
        restarted.stdout.close()


# --- repairing drift -------------------------------------------------------------------------------

def _drift(app, user_id, storage, photos):
    from sqlalchemy import update

    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        db.session.execute(update(User).where(User.id == user_id).values(storage_used=storage, media_count=photos))
        db.session.commit()


def test_flask_check_reports_and_repairs_counters_that_disagree_with_the_rows(app, kim, runner):
    body = kim.upload(make_jpeg()).get_json()
    _drift(app, kim.id, -12_000, -3)
    result = runner.invoke(args=["check"])
    assert result.exit_code == 0, result.output
    assert f"counter  kim: storage -12000 -> {body['size']} bytes, photos -3 -> 1  (repaired)" in result.output
    assert "1 users' counters repaired" in result.output
    assert counters(app, kim.id)[:2] == (body["size"], 1)
    assert "0 users' counters repaired" in runner.invoke(args=["check"]).output


def test_starting_up_repairs_drifted_counters(app, kim, make_app):
    body = kim.upload(make_jpeg()).get_json()
    _drift(app, kim.id, 10 ** 9, 7)
    make_app()  # another start on the same database and data folder
    assert counters(app, kim.id)[:2] == (body["size"], 1)


def test_scratch_folders_of_stopped_processes_are_swept_and_live_ones_kept(tmp_path):
    import subprocess
    import sys

    from webapp import scratch

    data_dir = tmp_path / "data"
    mine = scratch.folder(data_dir)
    (mine / "upload").write_bytes(b"in flight")
    dead = scratch.root(data_dir) / "4242-deadbeef0000"
    (dead / "tmpabc").mkdir(parents=True)
    (dead / "tmpabc" / "upload").write_bytes(b"x" * 1000)
    (scratch.root(data_dir) / "4242-deadbeef0000.lock").touch()
    # Another live process holding its own folder.
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from webapp import scratch; "
        f"print(scratch.folder({str(data_dir)!r}).name, flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
    try:
        theirs = holder.stdout.readline().strip()
        assert scratch.sweep(data_dir) == ["4242-deadbeef0000"]
        assert (mine / "upload").exists() and (scratch.root(data_dir) / theirs).is_dir()
        assert not (scratch.root(data_dir) / "4242-deadbeef0000.lock").exists()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert scratch.sweep(data_dir) == [theirs]  # its process has gone now
