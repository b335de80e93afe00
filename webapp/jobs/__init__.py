"""Background work, done once, on any number of instances.

Every unit of work is a row in the `jobs` table, committed in the same transaction as what asked
for it (`enqueue`). Workers in each app process claim rows with a lease (worker.py, queue.py);
APScheduler is only the clock, on the leader, queuing scheduled runs by time slot (scheduler.py).
Each job's work lives in its domain, registered with `handler` or `register`.
"""

from __future__ import annotations

import atexit

import click
from flask import Flask

from .queue import (Cancelled, LeaseLost, Permanent, as_dict, cancel, enqueue, enqueue_slot, get, get_job_for, recent,
                    retry)
from .registry import HANDLERS, REGISTRY, ScheduledJob, add_source, handler, register, scheduled, title_of
from .scheduler import HEARTBEAT, INSTANCE, LEADER_LOCK_ID, LeaderLock, Scheduler, queue_due, status
from .worker import JobContext, Workers, run_one, work_until_idle

__all__ = ["Cancelled", "LeaseLost", "Permanent", "as_dict", "cancel", "enqueue", "enqueue_slot", "get", "get_job_for",
           "recent", "retry", "HANDLERS", "REGISTRY", "ScheduledJob", "add_source", "handler", "register", "scheduled",
           "title_of", "HEARTBEAT", "INSTANCE", "LEADER_LOCK_ID", "LeaderLock", "Scheduler", "queue_due", "status",
           "JobContext", "Workers", "run_one", "work_until_idle", "init_app", "shutdown"]


def init_app(app: Flask) -> None:
    """Start this process's workers and, when configured, the scheduler; not inside `flask` commands
    (a one-off command such as `flask db upgrade` must not start background work)."""
    if click.get_current_context(silent=True) is not None:
        return
    count = app.config["SHOEBOX"]["jobs"]["workers"]
    if count:
        workers = Workers(app, count)
        app.extensions["shoebox_workers"] = workers
        workers.start()
    if app.config["SHOEBOX"]["scheduler"]["enabled"]:
        scheduler = Scheduler(app)
        app.extensions["shoebox_scheduler"] = scheduler
        scheduler.start()
    atexit.register(shutdown, app)


def shutdown(app: Flask, wait: float = 5.0) -> None:
    """Stop the scheduler (freeing the leader lock) and the workers (giving back unfinished jobs)."""
    from .. import cluster

    cluster.stop(app)
    scheduler = app.extensions.pop("shoebox_scheduler", None)
    if scheduler is not None:
        scheduler.shutdown()
    workers = app.extensions.pop("shoebox_workers", None)
    if workers is not None:
        workers.stop(wait)
