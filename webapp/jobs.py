"""The in-process scheduler, the lock that makes one instance its leader, and the job registry.

Every instance may run the scheduler; only the one holding the leader lock (a PostgreSQL
advisory lock, or a lock file beside the SQLite database) actually runs jobs. Work that must
happen exactly once is claimed row by row by the domain that owns it, not here.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import click
from apscheduler.schedulers.background import BackgroundScheduler
from filelock import FileLock, Timeout
from flask import Flask
from sqlalchemy import text

from .extensions import db
from .models import JobRun, utcnow

log = logging.getLogger(__name__)

LEADER_LOCK_ID = 0x5B0C_0002
INSTANCE = f"{socket.gethostname()}:{os.getpid()}"
HEARTBEAT = "heartbeat"


@dataclass
class ScheduledJob:
    name: str
    func: Callable[[], None]
    trigger: str
    trigger_args: dict = field(default_factory=dict)


REGISTRY: dict[str, ScheduledJob] = {}


def register(name: str, func: Callable[[], None], trigger: str, **trigger_args) -> None:
    """Have the leader run `func` on `trigger` ("interval" or "cron"), inside an app context.

    Each domain registers its jobs from its init_app(); registering a name again replaces it.
    """
    REGISTRY[name] = ScheduledJob(name, func, trigger, trigger_args)


def scheduled(name: str, trigger: str, **trigger_args):
    """register() as a decorator."""
    def decorate(func):
        register(name, func, trigger, **trigger_args)
        return func
    return decorate


class LeaderLock:
    """At most one holder across all instances sharing the database."""

    def __init__(self, app: Flask):
        self.app = app
        self._connection = None
        self._file_lock = None

    @property
    def held(self) -> bool:
        return self._connection is not None or self._file_lock is not None

    def acquire(self) -> bool:
        """Try once, without waiting; keep the lock if it was got. Returns whether it is held now."""
        with self.app.app_context():
            if db.engine.dialect.name == "postgresql":
                return self._acquire_advisory()
            return self._acquire_file()

    def _acquire_advisory(self) -> bool:
        if self._connection is not None:
            try:  # the lock lives as long as this connection does
                self._connection.execute(text("SELECT 1"))
                self._connection.commit()  # never idle in a transaction: servers may end such sessions
                return True
            except Exception:
                log.warning("Lost the scheduler lock's database connection; will try to take it again.")
                self._connection, lost = None, self._connection
                try:  # closing the session frees the lock if the server still thinks it holds it
                    lost.invalidate()
                except Exception:
                    log.debug("Invalidating the lost lock connection failed.", exc_info=True)
        connection = db.engine.connect()
        got = connection.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": LEADER_LOCK_ID}).scalar()
        connection.commit()
        if got:
            self._connection = connection
        else:
            connection.close()
        return bool(got)

    def _acquire_file(self) -> bool:
        if self._file_lock is not None:
            return True
        # Not thread-local: a scheduler thread takes the lock and shutdown() releases it from another.
        lock = FileLock(str(Path(self.app.config["SHOEBOX"]["data_dir"]) / ".scheduler.lock"), timeout=0,
                        thread_local=False)
        try:
            lock.acquire()
        except Timeout:
            return False
        self._file_lock = lock
        return True

    def release(self) -> None:
        """Give the lock up so another instance can lead."""
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": LEADER_LOCK_ID})
                self._connection.close()
            except Exception:
                log.debug("Releasing the advisory lock failed; closing the connection frees it anyway.")
            self._connection = None
        if self._file_lock is not None:
            self._file_lock.release()
            self._file_lock = None


class Scheduler:
    """APScheduler in this process, running registered jobs only while this instance leads."""

    def __init__(self, app: Flask):
        self.app = app
        settings = app.config["SHOEBOX"]["scheduler"]
        self.lock = LeaderLock(app)
        self.started_at = utcnow()
        self._leading = threading.Lock()
        self._stopping = False
        self._apscheduler = BackgroundScheduler(timezone=timezone.utc, job_defaults={
            "coalesce": True,  # after downtime, run once rather than once per missed slot
            "misfire_grace_time": settings["misfire_grace_seconds"],
            "max_instances": 1,
        })
        self._apscheduler.add_job(self.try_to_lead, "interval", seconds=10, id="leadership",
                                  next_run_time=datetime.now(timezone.utc))
        jobs = dict(REGISTRY)
        jobs[HEARTBEAT] = ScheduledJob(HEARTBEAT, lambda: None, "interval",
                                       {"seconds": settings["heartbeat_seconds"]})
        for job in jobs.values():
            self._apscheduler.add_job(self.run, job.trigger, args=[job], id=job.name, **job.trigger_args)

    def start(self) -> None:
        self._apscheduler.start()
        atexit.register(self.shutdown)
        log.info("Scheduler started on %s with jobs: %s", INSTANCE, ", ".join(sorted(REGISTRY) + [HEARTBEAT]))

    def shutdown(self) -> None:
        self._stopping = True
        if self._apscheduler.running:
            self._apscheduler.shutdown(wait=False)
        with self._leading:  # a try_to_lead already running finishes before the lock is released
            self.lock.release()

    def try_to_lead(self) -> None:
        with self._leading:
            if not self._stopping:
                self._try_to_lead()

    def _try_to_lead(self) -> None:
        was_leader = self.lock.held
        try:
            leader = self.lock.acquire()
        except Exception:
            log.exception("Could not reach the database to take the scheduler lock.")
            return
        if leader and not was_leader:
            log.info("This instance (%s) now runs the scheduled jobs.", INSTANCE)
            try:  # the SQLite lock is a file, so leading does not prove the database is reachable
                self.run(ScheduledJob(HEARTBEAT, lambda: None, "interval"))
            except Exception:
                log.exception("Could not record the scheduler's first heartbeat.")

    def run(self, job: ScheduledJob) -> None:
        """Run one job if this instance leads, recording its start, end and outcome."""
        if not self.lock.held:
            return
        with self.app.app_context():
            run_job(job.name, job.func)


def run_job(name: str, func: Callable[[], None]) -> bool:
    """Run `func` now, recording it in job_runs; returns whether it succeeded. Needs an app context."""
    record = db.session.get(JobRun, name) or JobRun(name=name)
    record.instance, record.started_at, record.status, record.error = INSTANCE, utcnow(), "running", ""
    db.session.add(record)
    db.session.commit()
    try:
        func()
        record.status = "ok"
    except Exception as exc:
        db.session.rollback()
        log.exception("Scheduled job %s failed", name)
        record = db.session.get(JobRun, name)
        record.status, record.error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
    record.finished_at = utcnow()
    db.session.commit()
    return record.status == "ok"


def status(app: Flask) -> dict:
    """The scheduler's health for /health/ready: disabled, starting, ok or stale."""
    settings = app.config["SHOEBOX"]["scheduler"]
    scheduler: Scheduler | None = app.extensions.get("shoebox_scheduler")
    if scheduler is None:
        return {"status": "disabled", "ok": True}
    beat = db.session.get(JobRun, HEARTBEAT)
    last = beat.finished_at if beat else None
    allowed = timedelta(seconds=3 * settings["heartbeat_seconds"] + 15)
    now = utcnow()
    report = {"leader": scheduler.lock.held, "last_heartbeat": last.isoformat() if last else None}
    if last is not None and now - last <= allowed:
        return {"status": "ok", "ok": True, **report}
    if now - scheduler.started_at <= allowed:
        return {"status": "starting", "ok": True, **report}
    return {"status": "stale", "ok": False, **report}


def init_app(app: Flask) -> None:
    """Start the scheduler when configured, except inside `flask` shell commands."""
    if not app.config["SHOEBOX"]["scheduler"]["enabled"]:
        return
    if click.get_current_context(silent=True) is not None:
        return  # a one-off command such as `flask db upgrade` must not start background jobs
    scheduler = Scheduler(app)
    app.extensions["shoebox_scheduler"] = scheduler
    scheduler.start()
