"""Workers inside each app process: claim a job, keep its lease alive, run its handler, record the end.

A keeper thread renews the lease (and writes the progress) every few seconds while the handler
works, and tells the handler when the job was cancelled or its lease was lost; the handler learns
it at its next `context.progress()` or `context.check()`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from flask import Flask

from ..extensions import db
from . import queue
from .registry import HANDLERS

log = logging.getLogger(__name__)

PROCESS = f"{socket.gethostname()}:{os.getpid()}"
PROGRESS_WRITE_SECONDS = 1.0


@dataclass
class JobContext:
    """What a handler gets: the job's payload, and a way to report progress and learn it should stop."""

    job_id: int
    name: str
    payload: dict
    attempt: int
    user_id: int | None
    fraction: float = 0.0
    detail: dict = field(default_factory=dict)
    cancelled: bool = False
    lost: bool = False
    started: float = field(default_factory=time.monotonic)
    _keeper: "_LeaseKeeper | None" = None

    def progress(self, fraction: float | None = None, *, items: int | None = None, items_total: int | None = None,
                 bytes_done: int | None = None, bytes_total: int | None = None, message: str | None = None) -> None:
        """Report how far the job is (a fraction from 0 to 1, or counts of items and bytes); may raise
        Cancelled or LeaseLost."""
        for key, value in (("items", items), ("items_total", items_total), ("bytes", bytes_done),
                           ("bytes_total", bytes_total), ("message", message)):
            if value is not None:
                self.detail[key] = value
        if fraction is None:
            if self.detail.get("bytes_total"):
                fraction = self.detail.get("bytes", 0) / self.detail["bytes_total"]
            elif self.detail.get("items_total"):
                fraction = self.detail.get("items", 0) / self.detail["items_total"]
        if fraction is not None:
            self.fraction = max(0.0, min(1.0, fraction))
            elapsed = time.monotonic() - self.started
            if 0.02 < self.fraction < 1 and elapsed > 2:
                self.detail["seconds_left"] = round(elapsed * (1 - self.fraction) / self.fraction)
        if self._keeper is not None:
            self._keeper.nudge()
        self.check()

    def check(self) -> None:
        if self.lost:
            raise queue.LeaseLost(f"Job {self.job_id} was taken over by another worker.")
        if self.cancelled:
            raise queue.Cancelled("Cancelled.")


class _LeaseKeeper(threading.Thread):
    """Renews one job's lease every lease/3 seconds, and writes its progress at most once a second."""

    def __init__(self, app: Flask, context: JobContext, owner: str, lease_seconds: int):
        super().__init__(name=f"shoebox-lease-{context.job_id}", daemon=True)
        self.app, self.context, self.owner, self.lease_seconds = app, context, owner, lease_seconds
        self._halt = threading.Event()
        self._wake = threading.Event()
        self._last_write = 0.0

    def nudge(self) -> None:
        if time.monotonic() - self._last_write >= PROGRESS_WRITE_SECONDS:
            self._wake.set()

    def stop(self) -> None:
        self._halt.set()
        self._wake.set()
        self.join(timeout=10)

    def run(self) -> None:
        interval = max(1.0, self.lease_seconds / 3)
        while not self._halt.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            if self._halt.is_set():
                return
            self._last_write = time.monotonic()
            try:
                with self.app.app_context():
                    ours, cancel = queue.renew(self.context.job_id, self.owner, self.lease_seconds,
                                               self.context.fraction, dict(self.context.detail))
                    db.session.remove()
            except Exception:  # the database is busy or down: try again; the lease is long enough
                log.warning("Could not renew the lease of job %s.", self.context.job_id, exc_info=True)
                continue
            self.context.lost = self.context.lost or not ours
            self.context.cancelled = self.context.cancelled or cancel


def run_one(app: Flask, owner: str, names: list[str] | None = None) -> bool:
    """Claim one job and run it to its end in this thread; returns whether there was one."""
    settings = app.config["SHOEBOX"]["jobs"]
    with app.app_context():
        try:
            job = queue.claim(owner, settings["lease_seconds"], names)
        finally:
            db.session.remove()
        if job is None:
            return False
        context = JobContext(job.id, job.name, dict(job.payload or {}), job.attempts, job.user_id)
        max_attempts = job.max_attempts
        db.session.remove()
    handler = HANDLERS.get(context.name)
    keeper = _LeaseKeeper(app, context, owner, settings["lease_seconds"])
    context._keeper = keeper
    keeper.start()
    outcome, detail = "done", None
    try:
        with app.app_context():
            try:
                if handler is None:
                    raise queue.Permanent(f"This version of Shoebox has no job called {context.name!r}.")
                detail = handler.func(context)
            except queue.Cancelled:
                outcome = "cancelled"
            except queue.LeaseLost:
                outcome = "lost"
            except queue.Permanent as error:
                outcome, detail = "permanent", str(error)
            except Exception as error:
                log.exception("Job %s (%s) failed on attempt %d.", context.job_id, context.name, context.attempt)
                outcome, detail = "failed", f"{type(error).__name__}: {error}"
            finally:
                db.session.rollback()
                db.session.remove()
    finally:
        keeper.stop()
    with app.app_context():
        try:
            if outcome == "done":
                queue.succeed(context.job_id, owner, detail if isinstance(detail, dict) else None)
            elif outcome == "cancelled":
                queue.mark_cancelled(context.job_id, owner, context.fraction, dict(context.detail))
            elif outcome in ("failed", "permanent"):
                queue.fail(context.job_id, owner, detail or "", attempts=context.attempt, max_attempts=max_attempts,
                           permanent=outcome == "permanent", progress=context.fraction, detail=dict(context.detail))
            else:
                log.warning("Job %s was taken over by another worker; this one stopped.", context.job_id)
        finally:
            db.session.remove()
    return True


def work_until_idle(app: Flask, names: list[str] | None = None, limit: int = 1000) -> int:
    """Run due jobs in this thread until none is left (for `flask` commands and tests); returns how many."""
    owner = f"{PROCESS}:inline:{uuid.uuid4().hex[:6]}"
    done = 0
    while done < limit and run_one(app, owner, names):
        done += 1
    return done


class Workers:
    """N threads in this process that claim and run jobs until the process stops."""

    def __init__(self, app: Flask, count: int):
        self.app = app
        self.count = count
        self.settings = app.config["SHOEBOX"]["jobs"]
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.owners = [f"{PROCESS}:w{n}:{uuid.uuid4().hex[:6]}" for n in range(count)]

    def start(self) -> None:
        queue.on_commit(self._wake.set)
        for owner in self.owners:
            thread = threading.Thread(target=self._loop, args=(owner,), name=f"shoebox-{owner.rsplit(':', 2)[1]}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("%d job worker(s) started on %s.", self.count, PROCESS)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self, owner: str) -> None:
        while not self._stopping.is_set():
            try:
                ran = run_one(self.app, owner)
            except Exception:  # the database is down: wait and try again
                log.warning("The job worker could not reach the database.", exc_info=True)
                ran = False
            if not ran:
                self._wake.wait(self.settings["poll_seconds"])
                self._wake.clear()

    def stop(self, wait: float = 5.0) -> None:
        """Stop taking jobs; a job still running after `wait` seconds is given back for another worker."""
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + wait
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            with self.app.app_context():
                given_back = queue.release_all(self.owners)
            if given_back:
                log.info("Gave back %d unfinished job(s) for another worker.", given_back)
