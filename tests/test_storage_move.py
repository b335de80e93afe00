"""Moving every file to another store while the site keeps working: the dry run, the move between local
folders and S3 buckets (a local moto server), uploads and reads during a move, checksums, refusals."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import threading
import time
import uuid

import pytest

from tests.fixtures.media import make_jpeg
from tests.fixtures.s3server import ACCESS_KEY, REGION, SECRET_KEY


@pytest.fixture(autouse=True)
def short_grace(monkeypatch):
    """Every instance in these tests is this one process: no need to wait for others to read the switch."""
    from webapp.stores import moving

    monkeypatch.setattr(moving, "GRACE_SECONDS", 0.1)


def folder_table(path) -> dict:
    return {"url": path.as_uri()}


def bucket_table(moto_server, bucket, prefix="files") -> dict:
    return {"url": f"s3://{bucket}/{prefix}", "endpoint_url": moto_server, "key": ACCESS_KEY, "secret": SECRET_KEY,
            "region": REGION}


def new_bucket(s3) -> str:
    name = f"move-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def seed_files(app, count=6, size=40_000) -> dict[str, bytes]:
    """`count` photos (rows with their checksums, blobs in the active store) and a variant of each."""
    from webapp.auth import service
    from webapp.extensions import blob_store, db
    from webapp.models import Media, User, Variant

    stored = {}
    with app.app_context():
        user = service.create_user(f"{uuid.uuid4().hex[:8]}@example.com", f"u{uuid.uuid4().hex[:8]}",
                                   "correct horse battery staple", verified=True)
        for _ in range(count):
            media_id = secrets.token_urlsafe(16)[:22]
            data, small = os.urandom(size), os.urandom(size // 4)
            key, variant_key = f"originals/{media_id[:2]}/{media_id}.bin", f"variants/{media_id}/t-small.webp"
            blob_store().put(key, data)
            blob_store().put(variant_key, small)
            db.session.add(Media(id=media_id, user_id=user.id, kind="file", original_name="f.bin", storage_key=key,
                                 mime_type="application/octet-stream", ext="bin", size=len(data),
                                 sha256=hashlib.sha256(data).hexdigest()))
            db.session.flush()
            db.session.add(Variant(media_id=media_id, spec="small", storage_key=variant_key, mime_type="image/webp",
                                   size=len(small), width=8, height=8))
            user.storage_used += len(data)
            user.media_count += 1
            stored[key], stored[variant_key] = data, small
        db.session.get(User, user.id)
        db.session.commit()
    return stored


def run_move(app, target: str):
    from webapp import jobs
    from webapp.stores import service

    with app.app_context():
        job_id = service.start_move(None, target).id
    jobs.work_until_idle(app)
    return job_row(app, job_id)


def run_cleanup(app):
    from webapp import jobs
    from webapp.stores import service

    with app.app_context():
        job_id = service.start_cleanup(None).id
    jobs.work_until_idle(app)
    return job_row(app, job_id)


def job_row(app, job_id):
    from tests.fixtures.jobs import job_row as row

    return row(app, job_id)


def state(app):
    from webapp.stores import service

    with app.app_context():
        return service.current()


def assert_all_on(app, store_name: str, files: dict[str, bytes]) -> None:
    from webapp.extensions import blob_store

    with app.app_context():
        store = blob_store().named(store_name)
        for key, data in files.items():
            with store.open(key) as stream:
                assert hashlib.sha256(stream.read()).digest() == hashlib.sha256(data).digest(), key


def flask_check_is_clean(app) -> None:
    result = app.test_cli_runner().invoke(args=["check"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("0 users' counters repaired, 0 orphan blobs (0 removed), "
                                          "0 rows with missing blobs."), result.output


# --- the dry run -------------------------------------------------------------------------------------

def test_dry_run_counts_files_and_bytes_and_changes_nothing(make_app, tmp_path):
    from webapp.extensions import blob_store
    from webapp.stores import service

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    files = seed_files(app, count=5)
    with app.app_context():
        plan = service.plan_move("disk2")
        assert (plan.target, plan.objects, plan.bytes) == ("disk2", len(files), sum(map(len, files.values())))
        assert plan.free_bytes == shutil.disk_usage(tmp_path).free or plan.free_bytes > plan.bytes
        assert plan.seconds_estimate >= 1
        assert service.usage() == service.Usage(len(files), plan.bytes)
        assert list(blob_store().named("disk2").keys()) == []  # the probe cleaned up after itself
    assert state(app) == service.StoreState("storage", None, None, None)


def test_configured_stores_show_urls_and_never_credentials(make_app, tmp_path, moto_server, s3):
    from webapp.stores import service

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"b2": bucket_table(moto_server, "bucket-x")})
    with app.app_context():
        choices = service.configured()
    assert [(c.name, c.url, c.kind, c.active) for c in choices] == [
        ("storage", (tmp_path / "a").as_uri(), "local", True), ("b2", "s3://bucket-x/files", "s3", False)]
    assert SECRET_KEY not in repr(choices)


# --- moves between local folders and buckets --------------------------------------------------------

@pytest.mark.s3
def test_local_to_s3_copies_every_file_checked_and_switches_the_store(make_app, tmp_path, moto_server, s3,
                                                                       s3_bucket, kim_factory):
    app = make_app(storage=folder_table(tmp_path / "a"), stores={"b2": bucket_table(moto_server, s3_bucket)})
    files = seed_files(app)
    job = run_move(app, "b2")
    assert job.state == "done", job.error
    assert job.result["objects"] == len(files) and job.result["target"] == "b2"
    assert state(app).active == "b2" and state(app).previous == "storage" and state(app).moving_to is None
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"]}
    assert listed == {f"files/{key}" for key in files} | {"files/shoebox-site.json"}
    assert_all_on(app, "b2", files)
    shutil.rmtree(tmp_path / "a")  # the old copies gone: reads come from S3 alone
    kim = kim_factory(app)
    photo = kim.upload(make_jpeg()).get_json()
    assert f"files/{photo_key(app, photo['id'])}" in {o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"]}
    response = kim.get(f"/i/{photo['id']}")
    assert response.status_code == 200
    response.close()
    flask_check_is_clean(app)


@pytest.mark.s3
@pytest.mark.parametrize("bucket_says", ["its md5", "another md5", "nothing"])
def test_each_copy_to_s3_is_checked_by_the_buckets_md5_and_read_back_when_that_does_not_match(
        make_app, tmp_path, moto_server, s3_bucket, monkeypatch, bucket_says):
    from webapp.storage import BlobStore

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"b2": bucket_table(moto_server, s3_bucket)})
    files = seed_files(app, count=3)
    read_back, real_open = [], BlobStore.open

    def open_counting_reads_from_s3(self, key):
        if self.scheme == "s3" and key in files:  # not the probe and the site marker the start reads
            read_back.append(key)
        return real_open(self, key)
    monkeypatch.setattr(BlobStore, "open", open_counting_reads_from_s3)
    if bucket_says != "its md5":
        monkeypatch.setattr(BlobStore, "md5", lambda self, key: "0" * 32 if bucket_says == "another md5" else None)
    job = run_move(app, "b2")
    assert job.state == "done", job.error
    assert sorted(read_back) == ([] if bucket_says == "its md5" else sorted(files))
    assert_all_on(app, "b2", files)


@pytest.mark.s3
def test_s3_to_another_bucket_then_back_to_local(make_app, tmp_path, moto_server, s3, s3_bucket):
    other = new_bucket(s3)
    app = make_app(storage=bucket_table(moto_server, s3_bucket), stores={
        "second": bucket_table(moto_server, other, prefix="moved"), "disk": folder_table(tmp_path / "disk")})
    files = seed_files(app)
    assert run_move(app, "second").state == "done"
    assert_all_on(app, "second", files)
    assert state(app).active == "second"
    assert run_cleanup(app).state == "done"  # a move copies from the current store only: the old copies go first
    job = run_move(app, "disk")
    assert job.state == "done", job.error
    assert_all_on(app, "disk", files)
    assert state(app).active == "disk" and state(app).previous == "second"
    assert sorted(p.relative_to(tmp_path / "disk").as_posix() for p in (tmp_path / "disk").rglob("*")
                  if p.is_file()) == sorted([*files, "shoebox-site.json"])
    flask_check_is_clean(app)


def photo_key(app, media_id: str) -> str:
    from webapp.extensions import db
    from webapp.models import Media

    with app.app_context():
        return db.session.get(Media, media_id).storage_key


@pytest.fixture
def kim_factory():
    """kim_factory(app) -> a logged-in API client for a new person on `app`."""
    from tests.fixtures.accounts import STRONG_PASSWORD
    from tests.fixtures.media import multipart

    def make(app):
        from webapp.auth import service

        name = f"k{uuid.uuid4().hex[:8]}"
        with app.app_context():
            service.create_user(f"{name}@example.com", name, STRONG_PASSWORD, verified=True)
        client = app.test_client()
        token = client.post("/api/v1/auth/login", json={"identifier": name, "password": STRONG_PASSWORD}) \
            .get_json()["access_token"]

        class Person:
            headers = {"Authorization": f"Bearer {token}"}

            def upload(self, data):
                body, content_type = multipart({"file": (data, "photo.jpg")})
                return client.post("/api/v1/images", headers=self.headers, data=body, content_type=content_type)

            def get(self, path):
                return client.get(path, headers=self.headers)
        return Person()
    return make


# --- the site keeps working during a move ------------------------------------------------------------

def test_uploads_during_a_move_land_on_the_target_and_every_photo_stays_readable(make_app, tmp_path, monkeypatch,
                                                                                   kim_factory):
    from webapp import jobs
    from webapp.extensions import blob_store
    from webapp.stores import moving

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    kim = kim_factory(app)
    before = [kim.upload(make_jpeg(colour=(n * 20, 10, 10))).get_json()["id"] for n in range(6)]
    copy = moving._Copier.copy
    monkeypatch.setattr(moving._Copier, "copy", lambda self, key: (time.sleep(0.3), copy(self, key))[1])
    monkeypatch.setattr(moving, "COPY_THREADS", 1)  # one file at a time, so that the move lasts a few seconds
    from webapp.stores import service

    with app.app_context():
        job_id = service.start_move(None, "disk2").id
    worker = threading.Thread(target=jobs.run_one, args=(app, "test-worker", ["storage_move"]))
    worker.start()
    during = []
    try:
        while worker.is_alive():
            for media_id in before + during:
                response = kim.get(f"/i/{media_id}")
                assert response.status_code == 200, media_id
                response.close()
            if not during and job_row(app, job_id).detail.get("items"):
                during.append(kim.upload(make_jpeg(colour=(1, 200, 3))).get_json()["id"])
                with app.app_context():
                    assert blob_store().named("disk2").exists(photo_key(app, during[0]))
                    assert not blob_store().named("storage").exists(photo_key(app, during[0]))
            time.sleep(0.05)
    finally:
        worker.join()
    assert during, f"the move ended before an upload could be made during it: {job_row(app, job_id).__dict__}"
    assert job_row(app, job_id).state == "done"
    shutil.rmtree(tmp_path / "a")
    for media_id in before + during:
        response = kim.get(f"/i/{media_id}")
        assert response.status_code == 200
        response.close()
    flask_check_is_clean(app)


def test_a_file_whose_writing_began_before_the_move_and_ended_during_it_reaches_the_target(make_app, tmp_path):
    from webapp.extensions import blob_store
    from webapp.stores import service

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    seed_files(app, count=1)
    with app.app_context():
        with blob_store().writer("originals/zz/slow-upload") as sink:
            sink.write(b"first half, ")
            service.start_move(None, "disk2")
            sink.write(b"second half")
        assert (tmp_path / "b" / "originals/zz/slow-upload").read_bytes() == b"first half, second half"


def test_a_file_an_instance_wrote_to_the_old_store_before_it_heard_of_the_move_is_swept_across(make_app, tmp_path,
                                                                                              monkeypatch):
    from webapp.extensions import blob_store
    from webapp.stores import moving, router

    monkeypatch.setattr(router, "REFRESH_SECONDS", 60)  # however slow this machine, the other one stays stale
    settings = dict(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    app, other = make_app(**settings), make_app(**settings)  # two instances of one site, without Redis between
    seed_files(app, count=2)
    with other.app_context():
        assert blob_store().primary is blob_store().named("storage")  # read now, and trusted
    copy, late = moving._Copier.copy, []

    def copy_while_the_other_instance_writes(self, key):
        if not late:
            with other.app_context():
                blob_store().put("originals/zz/written-late", b"from the instance that had not heard yet")
            late.append(True)
        return copy(self, key)
    monkeypatch.setattr(moving._Copier, "copy", copy_while_the_other_instance_writes)
    job = run_move(app, "disk2")
    assert job.state == "done" and job.result["copied_late"] == 1
    assert (tmp_path / "b" / "originals/zz/written-late").read_bytes() == b"from the instance that had not heard yet"


@pytest.mark.parametrize("copying", ["slower than the wait", "instant"])
def test_the_wait_for_every_instance_to_write_to_the_target_runs_alongside_the_copying(make_app, tmp_path,
                                                                                       monkeypatch, copying):
    from webapp.stores import moving

    monkeypatch.setattr(moving, "GRACE_SECONDS", 1.0)
    monkeypatch.setattr(moving, "COPY_THREADS", 1)
    monkeypatch.setattr(moving, "WINDOW", 1)
    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    seed_files(app, count=2)  # four files
    copy, finish, wait_left = moving._Copier.copy, moving._finish, []

    def copy_slowly(self, key):
        time.sleep(0.4)
        return copy(self, key)

    def finish_noting_the_wait_left(context, source, target, deadline):
        wait_left.append(deadline - time.monotonic())
        return finish(context, source, target, deadline)
    if copying != "instant":
        monkeypatch.setattr(moving._Copier, "copy", copy_slowly)
    monkeypatch.setattr(moving, "_finish", finish_noting_the_wait_left)
    started = time.monotonic()
    job = run_move(app, "disk2")
    assert job.state == "done", job.error
    if copying == "instant":
        assert wait_left[0] > 0 and time.monotonic() - started >= 1.0  # the sweep still waited its second
    else:
        assert wait_left[0] < 0  # 4 × 0.4 s of copying outlasted the 1 s wait: the sweep began at once


@pytest.mark.s3
def test_during_a_move_to_s3_a_photo_still_on_disk_is_streamed_and_a_new_one_redirects(make_app, tmp_path, moto_server,
                                                                                      s3_bucket, kim_factory):
    from tests.fixtures.media import multipart
    from webapp.stores import service

    app = make_app(storage={**folder_table(tmp_path / "a"), "redirect_to_presigned": True},
                   stores={"b2": bucket_table(moto_server, s3_bucket)})
    kim = kim_factory(app)

    def upload_public():
        body, content_type = multipart({"file": (make_jpeg(), "p.jpg"), "is_public": "true"})
        response = app.test_client().post("/api/v1/images", headers=kim.headers, data=body, content_type=content_type)
        return response.get_json()["id"]
    on_disk = upload_public()
    with app.app_context():
        service.start_move(None, "b2")  # the job is not run: every file but new ones stays on disk
    on_s3 = upload_public()
    anyone = app.test_client()
    streamed = anyone.get(f"/i/{on_disk}")
    assert streamed.status_code == 200 and streamed.data[:2] == b"\xff\xd8"
    streamed.close()
    redirected = anyone.get(f"/i/{on_s3}")
    assert redirected.status_code == 302 and redirected.headers["Location"].startswith(moto_server)


# --- checksums ----------------------------------------------------------------------------------------

def test_an_original_that_does_not_match_its_checksum_is_not_copied_and_the_move_stops(make_app, tmp_path):
    from webapp.extensions import blob_store

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    files = seed_files(app)
    bad = sorted(key for key in files if key.startswith("originals/"))[1]
    (tmp_path / "a" / bad).write_bytes(b"rotten bits")
    job = run_move(app, "disk2")
    assert job.state == "failed"
    assert bad in job.error and "do not match the checksum" in job.error
    assert not (tmp_path / "b" / bad).exists()  # nothing wrong was published
    assert_all_on(app, "disk2", {key: data for key, data in files.items() if key != bad})
    assert state(app).moving_to == "disk2" and state(app).active == "storage"  # new files go to disk2 meanwhile
    with app.app_context():
        with blob_store().open(bad) as stream:
            assert stream.read() == b"rotten bits"  # still served from where it is
    (tmp_path / "a" / bad).write_bytes(files[bad])  # restored from a backup, say
    job = run_move(app, "disk2")
    assert job.state == "done", job.error
    assert_all_on(app, "disk2", files)
    flask_check_is_clean(app)


# --- refusals ------------------------------------------------------------------------------------------

def refusal(app, target: str) -> str:
    from webapp.errors import InvalidInput
    from webapp.stores import service

    with app.app_context(), pytest.raises(InvalidInput) as caught:
        service.plan_move(target)
    assert caught.value.field == "target"
    return caught.value.message


def test_unknown_store_same_store_and_overlapping_folders_are_refused(make_app, tmp_path):
    app = make_app(storage=folder_table(tmp_path / "a"), stores={"inner": folder_table(tmp_path / "a" / "x"),
                                                                  "disk2": folder_table(tmp_path / "b")})
    assert "add a [stores.<name>] table" in refusal(app, "nowhere")
    assert "add a [stores.<name>] table" in refusal(app, "file:///not/configured")
    assert refusal(app, "storage") == "The files are in storage already."
    assert "same folder or bucket" in refusal(app, "inner")


def test_a_url_names_the_configured_store(make_app, tmp_path):
    from webapp.stores import service

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    with app.app_context():
        assert service.store_named((tmp_path / "b").as_uri()) == "disk2"
        assert service.plan_move((tmp_path / "b").as_uri()).target == "disk2"


def test_a_second_move_is_refused_while_one_runs(make_app, tmp_path):
    from webapp.stores import service

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b"),
                                                                  "disk3": folder_table(tmp_path / "c")})
    seed_files(app, count=1)
    with app.app_context():
        service.start_move(None, "disk2")
    assert "being moved to disk2 already" in refusal(app, "disk2")
    assert "being moved to disk2 already" in refusal(app, "disk3")


@pytest.mark.s3
def test_an_unreachable_endpoint_or_a_missing_bucket_is_refused(make_app, tmp_path, moto_server):
    with socket_closed_port() as port:
        app = make_app(storage=folder_table(tmp_path / "a"), stores={
            "down": bucket_table(f"http://127.0.0.1:{port}", "bucket"),
            "nobucket": bucket_table(moto_server, f"missing-{uuid.uuid4().hex[:8]}")})
        message = refusal(app, "down")
    assert message.startswith("Shoebox could not write a test file to the store down and read it back (")
    assert message.endswith("check the url, endpoint_url, key and secret of [stores.down].")
    assert "could not write a test file to the store nobucket" in refusal(app, "nobucket")
    assert state(app).moving_to is None


class socket_closed_port:
    """A loopback port nothing listens on."""

    def __enter__(self):
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]

    def __exit__(self, *exc):
        return False


@pytest.mark.s3
def test_a_target_holding_another_sites_files_is_refused(make_app, tmp_path, moto_server, s3, s3_bucket):
    s3.put_object(Bucket=s3_bucket, Key="files/holiday.jpg", Body=b"someone else's")
    app = make_app(storage=folder_table(tmp_path / "a"), stores={"b2": bucket_table(moto_server, s3_bucket)})
    assert refusal(app, "b2") == "The store b2 holds files that are not this site's: choose an empty folder or bucket."
    other = tmp_path / "b"
    other.mkdir()
    (other / "shoebox-site.json").write_text('{"site": "another-site"}')
    app2 = make_app(storage=folder_table(tmp_path / "c"), stores={"disk": folder_table(other)})
    assert "holds files that are not this site's" in refusal(app2, "disk")


def test_a_folder_without_room_for_the_files_is_refused(make_app, tmp_path, monkeypatch):
    from webapp.stores import service

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    files = seed_files(app, count=2)
    real = shutil.disk_usage
    monkeypatch.setattr(service.shutil, "disk_usage", lambda path: real(path)._replace(free=1000))
    from webapp.i18n import human_size

    with app.test_request_context():
        expected = (f"The store disk2 has {human_size(1000)} free, and the files take "
                    f"{human_size(sum(map(len, files.values())))}: free some space or choose another store.")
    assert refusal(app, "disk2") == expected


def test_an_instance_without_the_active_store_in_its_config_refuses_to_start(make_app, tmp_path):
    from webapp.config import ConfigError

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    seed_files(app, count=1)
    assert run_move(app, "disk2").state == "done"
    with pytest.raises(ConfigError, match=r"add a \[stores.disk2\] table"):
        make_app(storage=folder_table(tmp_path / "a"))


# --- after the move -----------------------------------------------------------------------------------

def test_cleanup_removes_the_old_copies_once_every_file_is_on_the_new_store(make_app, tmp_path):
    from webapp import jobs
    from webapp.stores import service

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    files = seed_files(app)
    assert run_move(app, "disk2").state == "done"
    with app.app_context():
        job_id = service.start_cleanup(None).id
    jobs.work_until_idle(app)
    assert job_row(app, job_id).state == "done" and job_row(app, job_id).result["removed"] == len(files)
    assert [p.name for p in (tmp_path / "a").rglob("*") if p.is_file()] == ["shoebox-site.json"]
    assert state(app).previous is None
    assert_all_on(app, "disk2", files)
    flask_check_is_clean(app)


def test_cleanup_copies_a_file_only_the_old_store_holds_before_removing_anything(make_app, tmp_path):
    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    files = seed_files(app)
    assert run_move(app, "disk2").state == "done"
    only_old = sorted(files)[0]
    (tmp_path / "b" / only_old).unlink()  # as if written to the old store by an instance that had not heard

    assert run_cleanup(app).state == "done"

    assert_all_on(app, "disk2", files)
    assert (tmp_path / "b" / only_old).read_bytes() == files[only_old]
    assert not [p for p in (tmp_path / "a").rglob("*") if p.is_file() and p.name != "shoebox-site.json"]
    flask_check_is_clean(app)


def test_a_cleanup_keeps_the_old_copy_whose_bytes_no_longer_match_their_checksum(make_app, tmp_path):
    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    files = seed_files(app)
    assert run_move(app, "disk2").state == "done"
    damaged = next(key for key in sorted(files) if key.startswith("originals/"))
    (tmp_path / "b" / damaged).unlink()
    (tmp_path / "a" / damaged).write_bytes(b"not what was uploaded")

    job = run_cleanup(app)

    assert job.state == "failed" and damaged in job.error
    assert (tmp_path / "a" / damaged).read_bytes() == b"not what was uploaded"  # nothing removed
    assert not (tmp_path / "b" / damaged).exists()


def test_a_move_to_a_third_store_waits_for_the_old_copies_to_be_removed(make_app, tmp_path):
    from webapp.errors import InvalidInput
    from webapp.stores import service

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"b": folder_table(tmp_path / "b"),
                                                                   "c": folder_table(tmp_path / "c")})
    seed_files(app, count=2)
    assert run_move(app, "b").state == "done"
    with app.app_context(), pytest.raises(InvalidInput) as refused:
        service.plan_move("c")
    assert refused.value.field == "target" and "Remove the old copies from storage first" in refused.value.message
    assert run_cleanup(app).state == "done"
    assert run_move(app, "c").state == "done"


def test_an_instance_backup_leaves_out_which_store_holds_the_files(make_app, tmp_path):
    """A restore writes the files to the restoring instance's own store: the archived choice would be wrong there."""
    from webapp.backups import contents
    from webapp.extensions import db

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"disk2": folder_table(tmp_path / "b")})
    seed_files(app, count=1)
    assert run_move(app, "disk2").state == "done"
    with app.app_context():
        settings = next(table for table in contents.tables("instance") if table.name == "settings")
        keys = [row.key for row in db.session.execute(contents.select_rows(settings, "instance", None))]
    assert "storage_location" not in keys
