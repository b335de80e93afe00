"""The clock: one leader among instances, the scheduled runs it queues as jobs, the heartbeat it
records (a job_runs row named "heartbeat") and its health in /health/ready.

Two apps from one `make_app` share a data dir and a database: two instances of Shoebox.
Schedulers from `make_scheduler` are built but never started, so the test alone decides
when each one tries to lead and ticks; apps made with `scheduler.enabled` run the real background
scheduler. What happens to a job once queued is tests/test_job_queue.py's subject.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from filelock import FileLock, Timeout
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from webapp import jobs
from webapp.extensions import db
from webapp.models import Job, JobRun, utcnow
from tests.fixtures.jobs import wait_until

ENABLED = {"enabled": True, "heartbeat_seconds": 5}


@pytest.fixture
def make_scheduler(make_app):
    """Schedulers that are built but not started; each gives up its lock after the test."""
    made = []

    def factory(app):
        scheduler = jobs.Scheduler(app)
        made.append(scheduler)
        return scheduler

    yield factory
    for scheduler in made:
        scheduler.shutdown()


def job_run(app, name):
    """The job_runs row for `name`, read fresh from the database (None if it never ran)."""
    with app.app_context():
        record = db.session.get(JobRun, name)
        if record is not None:
            db.session.expunge(record)
        return record


def running_scheduler(app):
    """The app's started scheduler, once it leads and its first heartbeat is recorded."""
    scheduler = app.extensions["shoebox_scheduler"]
    wait_until(lambda: scheduler.lock.held and _finished(job_run(app, jobs.HEARTBEAT)), what="leadership")
    return scheduler


def _finished(record):
    return record is not None and record.finished_at is not None


def is_postgresql(app):
    with app.app_context():
        return db.engine.dialect.name == "postgresql"


# Leadership


def test_only_one_of_two_instances_leads(make_app, make_scheduler):
    first, second = make_scheduler(make_app()), make_scheduler(make_app())

    first.try_to_lead()
    second.try_to_lead()

    assert first.lock.held
    assert not second.lock.held
    assert second.lock.acquire() is False
    assert first.lock.acquire() is True, "asking again must not lose the lock"


def test_the_lock_is_an_advisory_lock_on_postgresql_and_a_file_in_the_data_dir_on_sqlite(make_app, make_scheduler):
    app = make_app()
    make_scheduler(app).try_to_lead()

    if is_postgresql(app):
        with app.app_context(), db.engine.connect() as conn:
            holders = conn.execute(sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND (classid::bigint << 32) + objid::bigint = :id"), {"id": jobs.LEADER_LOCK_ID}).scalar()
        assert holders == 1
    else:
        lock_file = Path(app.config["SHOEBOX"]["data_dir"]) / ".scheduler.lock"
        with pytest.raises(Timeout):
            FileLock(str(lock_file), timeout=0, thread_local=False).acquire()


def test_when_the_leader_shuts_down_another_instance_takes_over_on_its_next_try(make_app, make_scheduler):
    leader = running_scheduler(make_app(scheduler=ENABLED))
    follower = make_scheduler(make_app())
    follower.try_to_lead()
    assert not follower.lock.held

    leader.shutdown()
    follower.try_to_lead()

    assert not leader.lock.held
    assert follower.lock.held


def test_the_new_leader_records_a_heartbeat_at_once(make_app, make_scheduler):
    app = make_app()
    before = utcnow()

    make_scheduler(app).try_to_lead()

    beat = job_run(app, jobs.HEARTBEAT)
    assert beat.status == "ok"
    assert beat.instance == jobs.INSTANCE
    assert beat.finished_at >= before


def test_the_leader_keeps_its_postgresql_lock_when_the_server_ends_idle_transactions(
        make_app, make_scheduler, database_url):
    # Some servers end sessions left idle inside a transaction; the lock's session must not be one.
    url = sa.make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    options = url.query["options"] + " -cidle_in_transaction_session_timeout=200"
    impatient_url = url.update_query_dict({"options": options}).render_as_string(hide_password=False)
    leader = make_scheduler(make_app(database={"url": impatient_url}))
    follower = make_scheduler(make_app())

    leader.try_to_lead()
    leader.try_to_lead()  # the periodic check that the lock's connection is still alive
    time.sleep(0.6)

    assert follower.lock.acquire() is False
    assert leader.lock.acquire() is True


def test_a_leader_whose_lock_connection_was_cut_takes_the_lock_again(make_app, make_scheduler, caplog):
    app = make_app()
    if not is_postgresql(app):
        pytest.skip("advisory locks are PostgreSQL's")
    leader = make_scheduler(app)
    leader.try_to_lead()
    with app.app_context(), db.engine.connect() as conn:
        conn.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND (classid::bigint << 32) + objid::bigint = :id"), {"id": jobs.LEADER_LOCK_ID})
        conn.commit()

    with caplog.at_level(logging.WARNING, logger="webapp.jobs"):
        leader.try_to_lead()

    assert "Lost the scheduler lock" in caplog.text
    assert leader.lock.held
    assert make_scheduler(make_app()).lock.acquire() is False


def test_try_to_lead_logs_and_returns_when_the_database_is_unreachable(
        make_app, make_scheduler, database_url, tmp_path, caplog):
    if database_url.startswith("sqlite"):
        unreachable = f"sqlite:///{tmp_path / 'no-such-dir' / 'shoebox.db'}"
    else:
        unreachable = "postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2"
    scheduler = make_scheduler(make_app(database={"url": unreachable, "auto_migrate": False}))

    with caplog.at_level(logging.ERROR, logger="webapp.jobs"):
        scheduler.try_to_lead()

    errors = [record for record in caplog.records if record.name == "webapp.jobs" and record.levelno >= logging.ERROR]
    assert errors, "the failure must be logged"
    assert errors[0].exc_info is not None


# Scheduled runs


def jobs_named(app, name):
    """The jobs rows of `name`, oldest first."""
    with app.app_context():
        rows = db.session.scalars(sa.select(Job).where(Job.name == name).order_by(Job.id)).all()
        db.session.expunge_all()
        return rows


def test_the_leaders_tick_queues_a_due_run_and_a_followers_tick_queues_nothing(
        make_app, make_scheduler, schedule_job):
    ran_in = []
    name = schedule_job(lambda: ran_in.append(current_app._get_current_object()))
    leader_app, follower_app = make_app(), make_app()
    leader, follower = make_scheduler(leader_app), make_scheduler(follower_app)
    leader.lock.acquire()
    follower.try_to_lead()

    assert follower.tick() == 0
    assert jobs_named(follower_app, name) == []

    assert leader.tick() >= 1
    [queued] = jobs_named(leader_app, name)
    assert (queued.state, queued.slot.split("@")[0], queued.user_id) == ("queued", name, None)
    assert ran_in == [], "the clock only queues; workers run"

    assert jobs.work_until_idle(follower_app, names=[name]) == 1  # any instance's workers may run it
    assert ran_in == [follower_app]
    assert jobs_named(leader_app, name)[0].state == "done"


def test_ticking_again_in_the_same_slot_queues_nothing_more(make_app, make_scheduler, schedule_job):
    name = schedule_job(lambda: None, hours=1)
    app = make_app()
    scheduler = make_scheduler(app)
    scheduler.try_to_lead()  # a new leader ticks at once

    scheduler.tick()
    scheduler.tick()

    assert len(jobs_named(app, name)) == 1


def test_the_running_scheduler_queues_registered_jobs_on_their_trigger_and_workers_run_them(
        make_app, schedule_job):
    ran = []
    name = schedule_job(lambda: ran.append(utcnow()), seconds=1)
    app = make_app(scheduler=ENABLED, jobs={"workers": 1, "poll_seconds": 1})

    wait_until(lambda: any(job.state == "done" for job in jobs_named(app, name)), timeout=20,
               what=f"a run of {name} to be done")

    assert ran
    assert "shoebox_workers" in app.extensions


def test_interval_slots_count_from_a_fixed_moment_so_every_instance_computes_the_same(schedule_job):
    name = schedule_job(lambda: None, minutes=30)
    now = datetime(2026, 3, 1, 10, 47, 12, tzinfo=timezone.utc)

    slot = jobs.REGISTRY[name].due_slot(now, timedelta(hours=1))

    assert slot == datetime(2026, 3, 1, 10, 30, tzinfo=timezone.utc)


def test_a_cron_slot_outside_the_grace_period_is_not_due(schedule_job):
    name = schedule_job(lambda: None, "cron", hour=4, minute=23)
    now = datetime(2026, 3, 1, 6, 0, tzinfo=timezone.utc)

    assert jobs.REGISTRY[name].due_slot(now, timedelta(hours=2)) == datetime(2026, 3, 1, 4, 23, tzinfo=timezone.utc)
    assert jobs.REGISTRY[name].due_slot(now, timedelta(hours=1)) is None


def test_the_clocks_own_jobs_never_overlap_and_a_late_tick_runs_once(make_app):
    scheduler = running_scheduler(make_app(scheduler=ENABLED))

    scheduled = {job.id: job for job in scheduler._apscheduler.get_jobs()}

    assert scheduled.keys() == {"leadership", "tick"}
    for job in scheduled.values():
        assert (job.coalesce, job.max_instances) == (True, 1), job.id


def test_a_registered_job_has_a_title_and_runs_its_function_in_an_app_context(app, schedule_job):
    seen = []
    name = schedule_job(lambda: seen.append(current_app.name), hours=6)
    jobs.HANDLERS[name].title = "Tidy the attic"

    with app.app_context():
        db.session.add(Job(name=name, payload={}, state="queued", max_attempts=3, detail={}, error=""))
        db.session.commit()

    assert jobs.work_until_idle(app) == 1
    assert seen == [app.name]
    assert jobs.title_of(name) == "Tidy the attic"
    assert jobs.title_of("no_such_job") == "no_such_job"


def test_flask_commands_start_neither_the_scheduler_nor_workers(make_app, monkeypatch):
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "false")  # FlaskGroup sets it; restore it afterwards
    cli = FlaskGroup(create_app=lambda: make_app(scheduler=ENABLED, jobs={"workers": 2}), load_dotenv=False,
                     set_debug_flag=False)

    @cli.command("probe")
    @with_appcontext
    def probe():
        started = [key for key in ("shoebox_scheduler", "shoebox_workers") if key in current_app.extensions]
        click.echo(",".join(started) or "nothing started")

    result = CliRunner().invoke(cli, ["probe"], catch_exceptions=False)

    assert result.output.strip() == "nothing started"


# Health


def test_ready_reports_the_scheduler_disabled_when_it_is_turned_off(make_app):
    response = make_app(scheduler={"enabled": False}).test_client().get("/health/ready")

    assert response.status_code == 200
    assert response.json["checks"]["scheduler"] == {"status": "disabled"}


def test_ready_reports_starting_before_the_first_heartbeat(make_app, make_scheduler):
    other_instance = make_scheduler(make_app())
    other_instance.lock.acquire()  # holds the lock but has not beaten yet
    app = make_app(scheduler=ENABLED)

    response = app.test_client().get("/health/ready")

    assert response.status_code == 200
    scheduler = response.json["checks"]["scheduler"]
    assert (scheduler["status"], scheduler["leader"], scheduler["last_heartbeat"]) == ("starting", False, None)


def test_ready_reports_ok_once_the_leader_has_beaten(make_app):
    client = make_app(scheduler=ENABLED).test_client()

    wait_until(lambda: client.get("/health/ready").json["checks"]["scheduler"]["status"] == "ok",
               what="the scheduler to report ok")

    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json["checks"]["scheduler"]["leader"] is True
    assert response.json["checks"]["scheduler"]["last_heartbeat"] is not None


def test_ready_fails_naming_the_scheduler_when_the_heartbeat_is_stale(make_app):
    # A long heartbeat interval, so no real beat freshens the row while the test looks at it.
    app = make_app(scheduler={"enabled": True, "heartbeat_seconds": 3600})
    scheduler = running_scheduler(app)
    long_ago = utcnow() - timedelta(days=2)
    with app.app_context():
        db.session.get(JobRun, jobs.HEARTBEAT).finished_at = long_ago
        db.session.commit()
    scheduler.started_at = long_ago

    response = app.test_client().get("/health/ready")

    assert response.status_code == 503
    assert response.json["checks"]["scheduler"]["status"] == "stale"
    assert "scheduler" in response.json["error"]["message"]
