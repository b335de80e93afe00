"""The clock: APScheduler in each process, the lock that makes one instance its leader, and the
leader's tick that queues due jobs.

Every instance may run the scheduler; only the one holding the leader lock (a PostgreSQL advisory
lock, or a lock file beside the SQLite database) queues work. It queues each scheduled run as a
job keyed by (name, time slot) under a unique constraint, so a change of leader never queues a
slot twice, and a new leader queues the last slot the old one missed (within the grace period).
Workers on every instance run the jobs (worker.py).
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
from contextlib import suppress
from datetime import timedelta, timezone
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from filelock import FileLock, Timeout
from flask import Flask
from sqlalchemy import text

from ..extensions import db
from ..models import JobRun, utcnow
from . import queue
from .registry import REGISTRY, SOURCES

log = logging.getLogger("webapp.jobs")

LEADER_LOCK_ID = 0x5B0C_0002
INSTANCE = f"{socket.gethostname()}:{os.getpid()}"
HEARTBEAT = "heartbeat"
TICK_SECONDS = 15


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
        try:
            got = connection.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": LEADER_LOCK_ID}).scalar()
            connection.commit()
        except Exception:
            with suppress(Exception):
                connection.close()
            raise
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
            connection, self._connection = self._connection, None
            try:
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": LEADER_LOCK_ID})
            except Exception:
                log.debug("Releasing the advisory lock failed; ending the connection frees it anyway.")
                with suppress(Exception):
                    connection.invalidate()  # not back to the pool: the session ends, and the lock with it
            finally:
                with suppress(Exception):
                    connection.close()
        if self._file_lock is not None:
            self._file_lock.release()
            self._file_lock = None


class Scheduler:
    """APScheduler in this process: it tries to lead every 10 s and, while leading, ticks every 15 s."""

    def __init__(self, app: Flask):
        self.app = app
        settings = app.config["SHOEBOX"]["scheduler"]
        self.lock = LeaderLock(app)
        self.started_at = utcnow()
        self.grace = timedelta(seconds=settings["misfire_grace_seconds"])
        self.heartbeat_every = timedelta(seconds=settings["heartbeat_seconds"])
        self._last_beat = None
        # Held while trying to lead and while ticking (a tick may run inside a try): shutdown() takes it, so
        # that neither is half-way through, holding a database connection, once it returns.
        self._leading = threading.RLock()
        self._stopping = False
        self._apscheduler = BackgroundScheduler(timezone=timezone.utc, job_defaults={
            "coalesce": True, "misfire_grace_time": 60, "max_instances": 1})
        now = utcnow()
        self._apscheduler.add_job(self.try_to_lead, "interval", seconds=10, id="leadership", next_run_time=now)
        self._apscheduler.add_job(self.tick, "interval", seconds=TICK_SECONDS, id="tick", next_run_time=now)

    def start(self) -> None:
        self._apscheduler.start()
        atexit.register(self.shutdown)
        log.info("Scheduler started on %s with jobs: %s", INSTANCE, ", ".join(sorted(REGISTRY)))

    def shutdown(self) -> None:
        self._stopping = True
        if self._apscheduler.running:
            self._apscheduler.shutdown(wait=False)
        with self._leading:  # a try to lead or a tick already running finishes before the lock is released
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
                self.tick()
            except Exception:
                log.exception("Could not queue the scheduled jobs.")

    def tick(self) -> int:
        """While leading: record a heartbeat and queue every due slot; returns how many jobs were queued."""
        with self._leading:
            if self._stopping or not self.lock.held:
                return 0
            with self.app.app_context():
                try:
                    now = utcnow()
                    if self._last_beat is None or now - self._last_beat >= self.heartbeat_every:
                        beat(now)
                        self._last_beat = now
                    return queue_due(now, self.grace)
                finally:
                    db.session.remove()


def queue_due(now, grace: timedelta) -> int:
    """Queue the latest due slot of every scheduled job and whatever the sources say is due. Needs an
    app context; safe to call from any number of instances at once."""
    queued = 0
    for job in list(REGISTRY.values()):
        slot = job.due_slot(now, grace)
        if slot is not None:
            try:
                queued += queue.enqueue_slot(job.name, slot)
            except Exception:
                db.session.rollback()
                log.exception("Could not queue the scheduled job %s.", job.name)
    for source in list(SOURCES):
        try:
            queued += source(now) or 0
        except Exception:
            db.session.rollback()
            log.exception("Could not queue the jobs that %s says are due.", getattr(source, "__name__", source))
    return queued


def beat(now) -> None:
    """Record that the leader is alive (what /health/ready reads)."""
    record = db.session.get(JobRun, HEARTBEAT) or JobRun(name=HEARTBEAT)
    record.instance, record.started_at, record.finished_at, record.status, record.error = \
        INSTANCE, now, now, "ok", ""
    db.session.add(record)
    db.session.commit()


def status(app: Flask) -> dict:
    """The scheduler's health for /health/ready: disabled, starting, ok or stale."""
    settings = app.config["SHOEBOX"]["scheduler"]
    scheduler: Scheduler | None = app.extensions.get("shoebox_scheduler")
    if scheduler is None:
        return {"status": "disabled", "ok": True}
    record = db.session.get(JobRun, HEARTBEAT)
    last = record.finished_at if record else None
    allowed = timedelta(seconds=3 * settings["heartbeat_seconds"] + 15)
    now = utcnow()
    report = {"leader": scheduler.lock.held, "last_heartbeat": last.isoformat() if last else None}
    if last is not None and now - last <= allowed:
        return {"status": "ok", "ok": True, **report}
    if now - scheduler.started_at <= allowed:
        return {"status": "starting", "ok": True, **report}
    return {"status": "stale", "ok": False, **report}


