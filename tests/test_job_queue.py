"""The jobs table: a job exists only if what asked for it committed; each is claimed by one worker at
a time under a lease; a dead worker's job is taken again when its lease runs out, and the dead
worker can no longer change it; failures are tried again later, then end failed; jobs can be
cancelled and tried again; the leader's scheduled runs are queued once per slot, whoever leads.

Runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL. Workers are off in tests: a test runs
jobs with jobs.work_until_idle(app) or jobs.run_one(app, owner), or starts Workers itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from tests.fixtures import ROOT
from tests.fixtures.database import app_settings
from tests.fixtures.jobs import job_row, queue_job, wait_until
from webapp import jobs
from webapp.extensions import db
from webapp.jobs import queue
from webapp.models import Job, User, utcnow

LEASE = 10  # the shortest lease the config allows


def set_columns(app, job_id, **values):
    """Change a job's row behind the queue's back (time passing, say)."""
    with app.app_context():
        db.session.execute(sa.update(Job).where(Job.id == job_id).values(**values))
        db.session.commit()


def in_background(target, *args):
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


# --- queued with what asked for it -------------------------------------------------------------

def test_a_job_queued_in_a_transaction_that_rolls_back_never_exists(app, define_job, make_user):
    ran = []
    name = define_job(lambda context: ran.append(context.job_id))
    user_id = make_user()

    with app.app_context():
        db.session.get(User, user_id).display_name = "Renamed"
        job_id = jobs.enqueue(name, {"n": 1}, user_id=user_id).id
        db.session.rollback()

    assert job_row(app, job_id) is None
    assert jobs.work_until_idle(app) == 0
    assert ran == []


def test_a_job_queued_with_a_change_is_committed_with_it_and_runs_with_its_payload(app, define_job, make_user):
    seen = []
    name = define_job(lambda context: seen.append((context.payload, context.user_id, context.attempt)))
    user_id = make_user()

    with app.app_context():
        db.session.get(User, user_id).display_name = "Renamed"
        job_id = jobs.enqueue(name, {"n": 1}, user_id=user_id).id
        db.session.commit()

    assert job_row(app, job_id).state == "queued"
    assert jobs.work_until_idle(app) == 1
    assert seen == [({"n": 1}, user_id, 1)]
    done = job_row(app, job_id)
    assert (done.state, done.progress, done.attempts, done.lease_owner) == ("done", 1.0, 1, None)
    assert done.started_at <= done.finished_at


def test_queuing_a_job_nobody_handles_is_refused(app):
    with app.app_context(), pytest.raises(ValueError, match="no_such_job"):
        jobs.enqueue("no_such_job")


def test_a_handlers_result_is_kept_with_the_job(app, define_job):
    job_id = queue_job(app, define_job(lambda context: {"files": 3}))

    jobs.work_until_idle(app)

    assert job_row(app, job_id).result == {"files": 3}


# --- one worker at a time ----------------------------------------------------------------------

def test_fifty_workers_claiming_at_once_run_every_job_exactly_once(app, define_job):
    ran, lock = [], threading.Lock()

    def record(context):
        with lock:
            ran.append(context.job_id)

    name = define_job(record)
    job_ids = [queue_job(app, name, {"n": n}) for n in range(100)]
    start = threading.Barrier(50)
    deadline = time.monotonic() + 120

    def worker(number):
        owner = f"test-worker-{number}"
        start.wait()
        while time.monotonic() < deadline:
            if not jobs.run_one(app, owner):
                with lock:
                    if len(ran) >= len(job_ids):
                        return
                time.sleep(0.01)

    threads = [in_background(worker, n) for n in range(50)]
    for thread in threads:
        thread.join(timeout=150)

    assert sorted(ran) == job_ids
    with app.app_context():
        states = db.session.execute(sa.select(Job.state, Job.attempts, sa.func.count()).group_by(Job.state, Job.attempts)).all()
    assert [tuple(row) for row in states] == [("done", 1, 100)]


def test_one_job_and_fifty_claimers_at_once_it_goes_to_exactly_one(app, define_job):
    job_id = queue_job(app, define_job(lambda context: None))
    start = threading.Barrier(50)
    claimed, lock = [], threading.Lock()

    def claimer(number):
        start.wait()
        with app.app_context():
            job = queue.claim(f"claimer-{number}", LEASE)
            db.session.remove()
        if job is not None:
            with lock:
                claimed.append((job.id, f"claimer-{number}"))

    threads = [in_background(claimer, n) for n in range(50)]
    for thread in threads:
        thread.join(timeout=60)

    assert len(claimed) == 1
    assert claimed[0][0] == job_id
    assert job_row(app, job_id).lease_owner == claimed[0][1]


def test_an_expired_lease_is_taken_over_and_the_old_owner_can_change_nothing(app, define_job):
    job_id = queue_job(app, define_job(lambda context: None))
    with app.app_context():
        assert queue.claim("old-worker", LEASE).id == job_id
        assert queue.claim("other-worker", LEASE) is None, "a leased job is nobody else's"
    set_columns(app, job_id, lease_expires_at=utcnow() - timedelta(seconds=1))

    with app.app_context():
        taken = queue.claim("new-worker", LEASE)
        assert (taken.id, taken.lease_owner, taken.attempts) == (job_id, "new-worker", 2)
        assert queue.renew(job_id, "old-worker", LEASE, 0.9, {"message": "old"}) == (False, False)
        assert queue.succeed(job_id, "old-worker", {"from": "old"}) is False
        assert queue.fail(job_id, "old-worker", "old failure", attempts=1, max_attempts=3, permanent=False) is False
        assert queue.release(job_id, "old-worker") is False

    row = job_row(app, job_id)
    assert (row.state, row.lease_owner, row.progress, row.detail, row.error) == ("running", "new-worker", 0.0, {}, "")
    with app.app_context():
        assert queue.renew(job_id, "new-worker", LEASE, 0.5, {"items": 1}) == (True, False)
        assert queue.succeed(job_id, "new-worker", {"from": "new"}) is True
    assert (job_row(app, job_id).state, job_row(app, job_id).result) == ("done", {"from": "new"})


def test_a_worker_whose_lease_was_taken_stops_at_its_next_progress_and_writes_nothing(app, define_job):
    seen = []

    def slow(context):
        set_columns(app, context.job_id, lease_owner="thief", lease_expires_at=utcnow() + timedelta(minutes=5))
        try:
            for _ in range(200):
                context.progress(0.5)
                time.sleep(0.05)
        except jobs.LeaseLost:
            seen.append("lease lost")
            raise

    job_id = queue_job(app, define_job(slow))

    assert jobs.work_until_idle(app) == 1

    assert seen == ["lease lost"]
    row = job_row(app, job_id)
    assert (row.state, row.lease_owner, row.progress) == ("running", "thief", 0.0)


def test_a_running_job_keeps_its_lease_renewed_and_its_progress_written(app, define_job):
    seen = {}

    def steady(context):
        context.progress(items=0, items_total=4, message="Counting")
        before = job_row(app, context.job_id).lease_expires_at
        for n in range(1, 4):
            time.sleep(1.1)
            context.progress(items=n)
        time.sleep(0.3)
        row = job_row(app, context.job_id)
        seen.update(before=before, after=row.lease_expires_at, progress=row.progress, detail=row.detail)

    job_id = queue_job(app, define_job(steady))

    jobs.work_until_idle(app)

    assert seen["after"] > seen["before"]
    assert seen["detail"]["items"] >= 2
    assert seen["progress"] == pytest.approx(seen["detail"]["items"] / 4)
    assert seen["detail"]["items_total"] == 4 and seen["detail"]["message"] == "Counting"
    assert job_row(app, job_id).state == "done"


# --- failures and retries ----------------------------------------------------------------------

def test_a_job_failing_every_time_is_tried_again_later_then_ends_failed_with_its_error(app, define_job):
    attempts = []

    def broken(context):
        attempts.append(context.attempt)
        context.progress(0.5, message="halfway")
        raise RuntimeError("thumbnail cache is on fire")

    job_id = queue_job(app, define_job(broken, max_attempts=3))
    pauses = []
    for attempt in (1, 2):
        before = utcnow()
        assert jobs.work_until_idle(app) == 1
        row = job_row(app, job_id)
        assert (row.state, row.attempts, row.error) == ("queued", attempt, "RuntimeError: thumbnail cache is on fire")
        assert (row.progress, row.detail) == (0.0, {}), "the next try starts over"
        pauses.append((row.run_after - before).total_seconds())
        assert jobs.work_until_idle(app) == 0, "a retry waits for its time"
        set_columns(app, job_id, run_after=utcnow() - timedelta(seconds=1))

    assert jobs.work_until_idle(app) == 1

    assert attempts == [1, 2, 3]
    assert 25 <= pauses[0] <= 35 and 55 <= pauses[1] <= 65, pauses
    row = job_row(app, job_id)
    assert (row.state, row.attempts, row.error) == ("failed", 3, "RuntimeError: thumbnail cache is on fire")
    assert (row.progress, row.detail["message"]) == (0.5, "halfway"), "a failed job shows how far it got"
    assert row.finished_at is not None and row.lease_owner is None
    assert jobs.work_until_idle(app) == 0


def test_a_permanent_failure_fails_at_once(app, define_job):
    attempts = []

    def refuses(context):
        attempts.append(context.attempt)
        raise jobs.Permanent("The archive is not a Shoebox backup.")

    job_id = queue_job(app, define_job(refuses, max_attempts=5))

    jobs.work_until_idle(app)

    row = job_row(app, job_id)
    assert attempts == [1]
    assert (row.state, row.attempts, row.error) == ("failed", 1, "The archive is not a Shoebox backup.")


def test_a_job_whose_handler_is_gone_fails_saying_so(app, define_job):
    name = define_job(lambda context: None)
    job_id = queue_job(app, name)
    jobs.HANDLERS.pop(name)

    jobs.work_until_idle(app)

    row = job_row(app, job_id)
    assert row.state == "failed"
    assert name in row.error


def test_a_worker_that_died_on_the_last_attempt_leaves_the_job_failed(app, define_job):
    job_id = queue_job(app, define_job(lambda context: None, max_attempts=1))
    with app.app_context():
        queue.claim("dead-worker", LEASE)
    set_columns(app, job_id, lease_expires_at=utcnow() - timedelta(seconds=1))

    assert jobs.work_until_idle(app) == 0

    row = job_row(app, job_id)
    assert (row.state, row.attempts, row.lease_owner) == ("failed", 1, None)
    assert row.error == "The worker running it stopped, on its last attempt."


def test_a_failed_job_can_be_tried_again_with_fresh_attempts(app, define_job):
    fixed = threading.Event()

    def flaky(context):
        if not fixed.is_set():
            raise jobs.Permanent("Not yet.")
        return {"ok": True}

    job_id = queue_job(app, define_job(flaky))
    jobs.work_until_idle(app)
    fixed.set()

    with app.app_context():
        assert jobs.retry(db.session.get(Job, job_id)) is True
    row = job_row(app, job_id)
    assert (row.state, row.attempts, row.error, row.finished_at) == ("queued", 0, "", None)
    jobs.work_until_idle(app)

    row = job_row(app, job_id)
    assert (row.state, row.attempts, row.result) == ("done", 1, {"ok": True})
    with app.app_context():
        assert jobs.retry(db.session.get(Job, job_id)) is False, "a done job is not tried again"
    assert job_row(app, job_id).state == "done"


# --- cancelling --------------------------------------------------------------------------------

def test_a_cancelled_queued_job_never_runs(app, define_job):
    ran = []
    job_id = queue_job(app, define_job(lambda context: ran.append(1)))

    with app.app_context():
        assert jobs.cancel(db.session.get(Job, job_id)) == "cancelled"

    assert jobs.work_until_idle(app) == 0
    assert ran == []
    row = job_row(app, job_id)
    assert row.state == "cancelled" and row.finished_at is not None


def test_a_cancelled_running_job_learns_it_at_its_next_progress_and_ends_cancelled(app, define_job):
    started, seen = threading.Event(), []

    def long_work(context):
        started.set()
        try:
            for n in range(600):
                context.progress(n / 600)
                time.sleep(0.05)
        except jobs.Cancelled:
            seen.append("cancelled")
            raise

    job_id = queue_job(app, define_job(long_work))
    worker = in_background(jobs.work_until_idle, app)
    assert started.wait(10)

    with app.app_context():
        assert jobs.cancel(db.session.get(Job, job_id)) == "running", "it stops at its next step"
    worker.join(timeout=15)

    assert seen == ["cancelled"]
    row = job_row(app, job_id)
    assert (row.state, row.lease_owner) == ("cancelled", None)
    assert row.finished_at is not None


def test_a_cancelled_job_can_be_queued_again(app, define_job):
    ran = []
    job_id = queue_job(app, define_job(lambda context: ran.append(1)))
    with app.app_context():
        jobs.cancel(db.session.get(Job, job_id))
        assert jobs.retry(db.session.get(Job, job_id)) is True

    assert jobs.work_until_idle(app) == 1
    assert ran == [1]


def test_cancelling_a_job_whose_worker_died_ends_it_cancelled_without_running_it_again(app, define_job):
    ran = []
    job_id = queue_job(app, define_job(lambda context: ran.append(1)))
    with app.app_context():
        queue.claim("dead-worker", LEASE)
        assert jobs.cancel(db.session.get(Job, job_id)) == "running"
    set_columns(app, job_id, lease_expires_at=utcnow() - timedelta(seconds=1))

    assert jobs.work_until_idle(app) == 0

    assert ran == []
    assert job_row(app, job_id).state == "cancelled"


def test_cancelling_a_finished_job_changes_nothing_and_keeps_nothing_else(app, define_job):
    job_id = queue_job(app, define_job(lambda context: None))
    jobs.work_until_idle(app)

    with app.app_context():
        db.session.add(Job(name="bystander", payload={}, state="done", max_attempts=1, detail={}, error=""))
        assert jobs.cancel(db.session.get(Job, job_id)) == "done"
        assert db.session.scalar(sa.select(sa.func.count()).where(Job.name == "bystander")) == 0, \
            "what the caller added is rolled back with the refused change"


# --- scheduled slots ---------------------------------------------------------------------------

@pytest.fixture
def only_schedule(monkeypatch, schedule_job):
    """only_schedule(**interval) -> the name of the one scheduled job the clock knows of in this test."""
    def make(**trigger_args):
        name = schedule_job(lambda: None, "interval", **trigger_args)
        monkeypatch.setattr(jobs.scheduler, "REGISTRY", {name: jobs.REGISTRY[name]})
        monkeypatch.setattr(jobs.scheduler, "SOURCES", [])
        return name
    return make


def slots_of(app, name):
    with app.app_context():
        return db.session.scalars(sa.select(Job.slot).where(Job.name == name).order_by(Job.id)).all()


AT = datetime(2026, 3, 1, 10, 30, tzinfo=timezone.utc)


def test_queue_due_queues_a_slot_once_however_often_and_from_however_many_instances(make_app, only_schedule):
    name = only_schedule(hours=1)
    apps = [make_app(), make_app()]
    start = threading.Barrier(8)
    counts, lock = [], threading.Lock()

    def leader(app):
        start.wait()
        with app.app_context():
            queued = jobs.queue_due(AT, timedelta(hours=1))
            db.session.remove()
        with lock:
            counts.append(queued)

    threads = [in_background(leader, apps[n % 2]) for n in range(8)]
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(counts) == [0] * 7 + [1]
    assert slots_of(apps[0], name) == [f"{name}@2026-03-01T10:00:00+00:00"]


def test_a_new_leader_queues_the_last_missed_slot_within_the_grace_period_only(app, only_schedule):
    name = only_schedule(hours=1)
    with app.app_context():
        assert jobs.queue_due(AT.replace(hour=8, minute=0, second=5), timedelta(hours=1)) == 1  # the old leader

        # The old leader died after 08:00; a new one takes over at 10:30.
        assert jobs.queue_due(AT, timedelta(minutes=10)) == 0, "10:00 is older than the grace period"
        assert jobs.queue_due(AT, timedelta(hours=3)) == 1, "09:00 and 10:00 were missed: only 10:00 runs"
        assert jobs.queue_due(AT + timedelta(minutes=5), timedelta(hours=3)) == 0

    assert slots_of(app, name) == [f"{name}@2026-03-01T08:00:00+00:00", f"{name}@2026-03-01T10:00:00+00:00"]


# --- workers that die or stop ------------------------------------------------------------------

BLOCKING_WORKER = """
import json, pathlib, sys, time
settings, marker, name = json.loads(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
from webapp import create_app, jobs

@jobs.handler(name)
def block(context):
    marker.write_text(str(context.job_id))
    while True:
        context.progress(0.25, message="half asleep")
        time.sleep(0.2)

create_app(settings)
while True:
    time.sleep(1)
"""


def test_a_job_whose_worker_was_killed_is_taken_again_when_its_lease_runs_out(
        make_app, define_job, tmp_path, database_url):
    ran_here = []
    app = make_app()
    name = define_job(lambda context: ran_here.append(context.attempt))
    job_id = queue_job(app, name)
    settings = app_settings(tmp_path, database_url, jobs={"workers": 1, "lease_seconds": LEASE, "poll_seconds": 1},
                            logging={"level": "WARNING"})
    marker = tmp_path / "claimed"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SHOEBOX_")}
    worker = subprocess.Popen([sys.executable, "-c", BLOCKING_WORKER, json.dumps(settings), str(marker), name],
                              cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until(marker.exists, timeout=60, what="the other process to claim the job")
        wait_until(lambda: job_row(app, job_id).progress == 0.25, timeout=10, what="its progress to be written")
        assert jobs.work_until_idle(app) == 0, "the job is leased to the other process"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        output = worker.stdout.read().decode(errors="replace")
        worker.stdout.close()
    killed = job_row(app, job_id)
    assert (killed.state, killed.attempts, killed.detail["message"]) == ("running", 1, "half asleep"), output

    wait_until(lambda: jobs.work_until_idle(app) == 1, timeout=LEASE + 10, what="the lease to run out")

    assert ran_here == [2]
    row = job_row(app, job_id)
    assert (row.state, row.attempts, row.lease_owner) == ("done", 2, None)


def test_stopping_the_workers_gives_a_running_job_back_without_counting_the_attempt(make_app, define_job):
    app = make_app(jobs={"workers": 1, "lease_seconds": LEASE, "poll_seconds": 1})
    started, finish, endings = threading.Event(), threading.Event(), []

    def patient(context):
        started.set()
        try:
            while not finish.is_set():
                context.progress(0.5)
                time.sleep(0.05)
        except jobs.LeaseLost:
            endings.append("gave up the lease")
            raise
        endings.append("finished")

    job_id = queue_job(app, define_job(patient))
    assert started.wait(15), "the worker did not take the job"

    jobs.shutdown(app, wait=0.5)

    row = job_row(app, job_id)
    assert (row.state, row.attempts, row.lease_owner) == ("queued", 0, None)
    wait_until(lambda: endings == ["gave up the lease"], timeout=10, what="the stopped worker to let go")
    finish.set()
    assert jobs.work_until_idle(app) == 1
    row = job_row(app, job_id)
    assert (row.state, row.attempts) == ("done", 1)
    assert endings == ["gave up the lease", "finished"]
