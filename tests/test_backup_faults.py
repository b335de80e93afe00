"""Backups and restores that are interrupted: a worker process killed (kill -9) in the middle of writing an
archive or restoring one, and a backup store that fails while the archive is written.

A killed backup never counts and leaves only its unfinished temp file, which the next attempt (taken
once the dead worker's lease runs out) removes before it finishes, verified. A killed restore commits
nothing, and its next attempt adds every row and file exactly once. A store that fails mid-write marks
the backup failed with one sentence and keeps nothing.

The killed worker is a real app process on the same database, data folder and file store, whose writes
to the file stores are slowed down (a slow disk) so that it is surely mid-write when it is killed.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.fixtures import ROOT
from tests.fixtures.database import app_settings
from tests.fixtures.jobs import job_row, wait_until
from tests.fixtures.media import stored_keys

LEASE = 10  # the shortest lease the config allows
PASSPHRASE = "a passphrase for the interrupted backups"

SLOW_WORKER = """
import json, sys, threading, time
from webapp import create_app, storage

settings, pause = json.loads(sys.argv[1]), float(sys.argv[2])
write = storage._FolderWriter.write

def slow_write(self, chunk):  # a slow disk under both file stores: every write waits
    time.sleep(pause)
    write(self, chunk)

storage._FolderWriter.write = slow_write
create_app(settings)
print("worker started", flush=True)
threading.Event().wait()
"""


def shared_settings(tmp_path: Path, passphrase: str = "") -> dict:
    """What the test's app and the worker process share: a file store (a memory store is per process),
    the data folder with its backups, a short lease."""
    return {"storage": {"url": (tmp_path / "files").as_uri()}, "jobs": {"lease_seconds": LEASE},
            "backups": {"passphrase": passphrase}, "logging": {"level": "WARNING"}}


@pytest.fixture
def app(make_app, tmp_path, request):
    """The app under test, on files shared with worker processes; request.param is the backup passphrase."""
    return make_app(**shared_settings(tmp_path, getattr(request, "param", "")))


@pytest.fixture
def slow_worker(app, tmp_path, database_url):
    """slow_worker(pause) -> a process running the app's job worker on this test's database and files,
    waiting `pause` seconds before each write to a file store. Killed after the test if still alive."""
    started = []

    def start(pause: float) -> subprocess.Popen:
        settings = app_settings(tmp_path, database_url, **shared_settings(tmp_path, app.config["SHOEBOX"]["backups"]
                                                                          ["passphrase"]))
        settings["jobs"] = {"workers": 1, "lease_seconds": LEASE, "poll_seconds": 1}
        environment = {key: value for key, value in os.environ.items() if not key.startswith("SHOEBOX_")}
        log = open(tmp_path / f"worker{len(started)}.log", "wb")
        process = subprocess.Popen([sys.executable, "-c", SLOW_WORKER, json.dumps(settings), str(pause)], cwd=ROOT,
                                   env=environment, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL


@pytest.fixture
def library(app, kim):
    """kim with ten photos of noise (a few hundred KB each, so an archive takes many writes), two in an album."""
    from PIL import Image

    from webapp import jobs
    from webapp.albums import service as albums
    from webapp.extensions import db
    from webapp.media import service as media_service
    from webapp.models import User

    ids = []
    for n in range(10):
        image, data = Image.frombytes("RGB", (640, 480), os.urandom(640 * 480 * 3)), io.BytesIO()
        image.save(data, "JPEG", quality=90)
        response = kim.upload(data.getvalue(), name=f"noise{n}.jpg")
        assert response.status_code == 201, response.get_json()
        ids.append(response.get_json()["id"])
    assert jobs.work_until_idle(app, ["make_preview"]) == 10  # as a server's job worker would soon after
    with app.app_context():
        user = db.session.get(User, kim.id)
        album = albums.create_album(user, "Static")
        albums.add_photos(album, media_service.get_many_for(user, ids[:2]))
    return kim.id


@pytest.fixture
def admin(make_user) -> int:
    return make_user(email="admin@example.com", username="admin", role="admin")


def backups_folder(app) -> Path:
    return Path(app.config["SHOEBOX"]["data_dir"]) / "backups"


def files_under(folder: Path) -> list[str]:
    """Every file below `folder` (hidden temp files too), relative to it."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()) \
        if folder.is_dir() else []


def scratch_files(app) -> list[str]:
    """Files in the data folder's scratch space: a plain archive being encrypted, say."""
    folder = Path(app.config["SHOEBOX"]["data_dir"]) / "tmp"
    return [name for name in files_under(folder) if not name.endswith(".lock")]


def lease_ran_out(app, job_id: int) -> bool:
    from webapp.models import utcnow

    row = job_row(app, job_id)
    return row.lease_expires_at is not None and row.lease_expires_at < utcnow()


def start_backup(app, user_id: int, scope: str):
    from webapp.backups import service
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        backup = service.start_backup(db.session.get(User, user_id), scope)
        return backup.id, backup.job_id


def backup_row(app, backup_id: str):
    from webapp.extensions import db
    from webapp.models import Backup

    with app.app_context():
        backup = db.session.get(Backup, backup_id)
        db.session.expunge(backup)
        return backup


def verified_counts(app, backup) -> dict:
    """Read the archive in the backup store back in full, every checksum checked; returns its counts."""
    from webapp import scratch
    from webapp.backups import making

    with app.app_context(), scratch.workspace(app.config["SHOEBOX"]["data_dir"]) as work, \
            making.backup_store().open(backup.storage_key) as stream, \
            making.opened(stream, app.config["SHOEBOX"]["backups"]["passphrase"], work) as reader:
        return reader.verify()


# --- kill -9 in the middle of a backup ------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("app", ["", PASSPHRASE], ids=["plain", "encrypted"], indirect=True)
def test_a_backup_killed_mid_write_never_counts_and_is_made_whole_once_its_lease_runs_out(app, library, admin,
                                                                                          slow_worker):
    from webapp import jobs
    from webapp.backups import service
    from webapp.extensions import db
    from webapp.models import User

    backup_id, job_id = start_backup(app, admin, "instance")
    pending = backups_folder(app) / "pending"
    worker = slow_worker(pause=0.1)
    wait_until(lambda: any(path.stat().st_size > 0 for path in pending.glob(".*.part~")), timeout=60,
               what="the worker to be writing the archive")
    kill(worker)

    killed = backup_row(app, backup_id)
    assert (killed.status, killed.storage_key, killed.finished_at) == ("running", "", None)
    with app.app_context():
        assert [b.id for b in service.backups_of(db.session.get(User, admin), "instance") if b.status == "done"] == []
    left = files_under(backups_folder(app))
    assert left and all(re.fullmatch(rf"pending/\.{backup_id}\.zip\.\w+\.part~", name) for name in left), left
    assert jobs.work_until_idle(app) == 0, "the job is still leased to the killed worker"

    wait_until(lambda: lease_ran_out(app, job_id), timeout=LEASE + 5, what="the dead worker's lease to run out")
    assert jobs.work_until_idle(app) == 1

    job, backup = job_row(app, job_id), backup_row(app, backup_id)
    assert (job.state, job.attempts) == ("done", 2), job.error
    assert backup.status == "done" and backup.verified_at is not None and backup.error == ""
    assert backup.encrypted == bool(app.config["SHOEBOX"]["backups"]["passphrase"])
    assert files_under(backups_folder(app)) == [backup.storage_key]  # no temp file, nothing pending
    assert verified_counts(app, backup) == backup.counts and backup.counts["media"] == 10
    assert scratch_files(app) == [], "a plain archive was left in the scratch space"


# --- kill -9 in the middle of a restore -----------------------------------------------------------

def rows_of(app, user_id: int) -> dict:
    """What an account holds, by table (the ids it got on restore aside), and its counters."""
    from webapp.extensions import db
    from webapp.models import Album, AlbumItem, Media, User, Variant

    with app.app_context():
        media = db.session.scalars(sa.select(Media).where(Media.user_id == user_id)).all()
        user = db.session.get(User, user_id)
        return {
            "photos": sorted(m.sha256 for m in media),
            "sizes": db.session.scalar(sa.select(sa.func.count()).select_from(Variant).join(Media)
                                       .where(Media.user_id == user_id)),
            "albums": sorted(a.title for a in db.session.scalars(sa.select(Album).where(Album.user_id == user_id))),
            "album_items": db.session.scalar(sa.select(sa.func.count()).select_from(AlbumItem).join(Album)
                                             .where(Album.user_id == user_id)),
            "counters": (user.media_count, user.storage_used),
        }


def keys_of(app, user_id: int) -> set[str]:
    from webapp.extensions import db
    from webapp.models import Media, Variant

    with app.app_context():
        return set(db.session.scalars(sa.select(Media.storage_key).where(Media.user_id == user_id))) | \
            set(db.session.scalars(sa.select(Variant.storage_key).join(Media).where(Media.user_id == user_id)))


@pytest.mark.slow
def test_a_restore_killed_mid_copy_commits_nothing_and_its_retry_adds_everything_once(app, library, make_user,
                                                                                      slow_worker, tmp_path):
    from webapp import jobs
    from webapp.backups import making, service
    from webapp.extensions import db
    from webapp.models import Backup, User

    backup_id, _ = start_backup(app, library, "account")
    assert jobs.work_until_idle(app) == 1
    lee = make_user(email="lee@example.com", username="lee")
    with app.app_context():
        with making.backup_store().open(backup_row(app, backup_id).storage_key) as stream:
            uploaded_id = service.receive_archive(db.session.get(User, lee), "account", stream).id
        job_id = service.start_restore(db.session.get(User, lee), db.session.get(Backup, uploaded_id)).id
    kims_keys = set(stored_keys(app))
    worker = slow_worker(pause=0.3)
    wait_until(lambda: len(set(stored_keys(app)) - kims_keys) >= 2, timeout=60,
               what="the worker to be copying the archive's files")
    kill(worker)

    assert rows_of(app, lee) == {"photos": [], "sizes": 0, "albums": [], "album_items": 0, "counters": (0, 0)}
    assert jobs.work_until_idle(app) == 0, "the job is still leased to the killed worker"
    wait_until(lambda: lease_ran_out(app, job_id), timeout=LEASE + 5, what="the dead worker's lease to run out")
    assert jobs.work_until_idle(app) == 1

    job = job_row(app, job_id)
    assert (job.state, job.attempts) == ("done", 2), job.error
    kims, lees = rows_of(app, library), rows_of(app, lee)
    assert lees["photos"] == kims["photos"] and len(lees["photos"]) == 10  # each photo once, none doubled
    assert (lees["sizes"], lees["albums"], lees["album_items"]) == (kims["sizes"], ["Static"], 2)
    assert lees["counters"] == kims["counters"]
    assert set(stored_keys(app)) == kims_keys | keys_of(app, lee), "a file with no row, or a row with no file"
    assert not [name for name in files_under(tmp_path / "files") if name.endswith(".part~")]

    with app.app_context():  # and restoring it once more adds nothing at all
        service.start_restore(db.session.get(User, lee), db.session.get(Backup, uploaded_id))
    assert jobs.work_until_idle(app) == 1
    assert rows_of(app, lee) == lees and set(stored_keys(app)) == kims_keys | keys_of(app, lee)


# --- the backup store fails while the archive is written --------------------------------------------

@pytest.fixture
def fill_the_disk(monkeypatch):
    """fill_the_disk() -> from now on, a file being written to a folder store fails after 100 KB with
    "No space left on device"; .undo() makes room again."""
    from webapp import storage

    def fill():
        write, written = storage._FolderWriter.write, {}

        def write_until_full(self, chunk):
            written[id(self)] = written.get(id(self), 0) + len(chunk)
            if written[id(self)] > 100_000:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            write(self, chunk)

        monkeypatch.setattr(storage._FolderWriter, "write", write_until_full)
        return monkeypatch
    return fill


def test_a_backup_whose_disk_fills_up_fails_with_a_sentence_and_leaves_nothing(app, library, admin, fill_the_disk):
    from webapp import jobs
    from webapp.extensions import db
    from webapp.models import Job, utcnow

    backup_id, job_id = start_backup(app, admin, "instance")
    full = fill_the_disk()
    assert jobs.work_until_idle(app) == 1

    backup, job = backup_row(app, backup_id), job_row(app, job_id)
    assert backup.status == "failed" and backup.storage_key == ""
    assert re.fullmatch(r"The storage /\S+/backups is unavailable: \[Errno 28\] No space left on device\.",
                        backup.error), backup.error
    assert job.state == "queued" and job.run_after > utcnow(), "a full disk may have room later: it is tried again"
    assert files_under(backups_folder(app)) == [] and scratch_files(app) == []

    full.undo()  # room again, and the time for the next attempt comes
    with app.app_context():
        db.session.execute(sa.update(Job).where(Job.id == job_id).values(run_after=utcnow()))
        db.session.commit()
    assert jobs.work_until_idle(app) == 1
    backup = backup_row(app, backup_id)
    assert (backup.status, backup.error) == ("done", "")
    assert files_under(backups_folder(app)) == [backup.storage_key]


def test_a_backup_to_an_unreachable_s3_endpoint_fails_with_a_sentence(make_app, make_user):
    import socket

    from webapp import jobs

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = make_app(storage={"endpoint_url": f"http://127.0.0.1:{port}", "key": "testing", "secret": "testing",
                            "region": "us-east-1"}, backups={"target": "s3://backups/shoebox"})
    admin = make_user(email="admin@example.com", username="admin", role="admin")
    backup_id, job_id = start_backup(app, admin, "instance")
    assert jobs.work_until_idle(app) == 1

    backup = backup_row(app, backup_id)
    assert backup.status == "failed" and backup.storage_key == ""
    assert re.fullmatch(rf"The storage s3://backups/shoebox at http://127\.0\.0\.1:{port} is unavailable: [^\n]+\.",
                        backup.error), backup.error
    assert job_row(app, job_id).state == "queued"
