"""The jobs table: queue a job with what asked for it, claim one with a lease, renew, finish, fail.

Claiming is one UPDATE … RETURNING over the oldest runnable row: `FOR UPDATE SKIP LOCKED` on
PostgreSQL, inside `BEGIN IMMEDIATE` on SQLite (one writer at a time), so a job is never claimed
twice. Every later change to a claimed row names its lease owner: a worker that lost its lease
(it was too slow to renew and another worker took the job) changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import bindparam, event, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..auth import permissions
from ..errors import NotFound
from ..extensions import db
from ..models import Job, UTCDateTime, utcnow
from .registry import HANDLERS

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "cancelled")
RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 3600
_ADDED = "shoebox_job_added"
_listeners: list = []  # called after a commit that queued a job: wakes this process's workers


class Cancelled(Exception):
    """Raised inside a job when someone cancelled it; the job ends as cancelled."""


class LeaseLost(Exception):
    """Raised inside a job whose lease another worker took over; this worker stops without writing."""


class Permanent(Exception):
    """A failure that trying again cannot mend (a bad archive, say): the job fails at once."""


def enqueue(name: str, payload: dict | None = None, *, user_id: int | None = None,
            max_attempts: int | None = None) -> Job:
    """Add a job to the current transaction: it is queued when (and only if) the caller commits."""
    if name not in HANDLERS:
        raise ValueError(f"No job is called {name!r}.")
    job = Job(name=name, payload=payload or {}, user_id=user_id, state="queued", attempts=0,
              max_attempts=max_attempts or HANDLERS[name].max_attempts, run_after=utcnow(), progress=0.0,
              detail={}, error="", created_at=utcnow())
    db.session.add(job)
    db.session.flush()
    db.session.info[_ADDED] = True
    return job


def enqueue_slot(name: str, slot: datetime, payload: dict | None = None, *, user_id: int | None = None,
                 key: str | None = None) -> bool:
    """Queue the scheduled run of `name` for `slot` unless some instance already did; commits.

    Returns whether this call queued it. The unique slot key makes a second insert do nothing,
    whichever instance (an old leader, a new one) tries.
    """
    slot_key = key or f"{name}@{slot.isoformat(timespec='seconds')}"
    values = dict(name=name, payload=payload or {}, user_id=user_id, slot=slot_key, state="queued", attempts=0,
                  max_attempts=HANDLERS[name].max_attempts, run_after=utcnow(),
                  cancel_requested=False, progress=0.0, detail={}, error="", created_at=utcnow())
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Job.__table__).values(**values).on_conflict_do_nothing(index_elements=["slot"])
    # RETURNING, not rowcount: psycopg reports no row count for an INSERT that returns the new key.
    queued = db.session.execute(statement.returning(Job.__table__.c.id)).first() is not None
    if queued:
        db.session.info[_ADDED] = True
    db.session.commit()
    return queued


def claim(owner: str, lease_seconds: int, names: list[str] | None = None) -> Job | None:
    """Take the oldest runnable job (queued and due, or running with its lease run out) for `owner`.

    First, a job whose lease ran out ends: as cancelled if someone asked for that, as failed after
    its last allowed attempt. Returns the claimed Job (loaded fresh), or None when there is nothing to do.
    """
    now = utcnow()
    only = "AND name IN :names" if names else ""
    pick = (f"SELECT id FROM jobs WHERE ((state = 'queued' AND run_after <= :now) OR "
            f"(state = 'running' AND lease_expires_at < :now AND attempts < max_attempts)) {only} "
            "ORDER BY run_after, id LIMIT 1")
    postgres = db.engine.dialect.name == "postgresql"
    if postgres:
        pick += " FOR UPDATE SKIP LOCKED"
    claim_sql = text(f"UPDATE jobs SET state = 'running', lease_owner = :owner, lease_expires_at = :expires, "
                     f"attempts = attempts + 1, started_at = COALESCE(started_at, :now), error = '' "
                     f"WHERE id = ({pick}) RETURNING id").bindparams(*_times("now", "expires"))
    end_abandoned = text(
        "UPDATE jobs SET state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'failed' END, "
        "error = CASE WHEN cancel_requested THEN error ELSE :error END, "
        "finished_at = :now, lease_owner = NULL, lease_expires_at = NULL "
        "WHERE (state = 'running' AND lease_expires_at < :now AND (attempts >= max_attempts OR cancel_requested)) "
        "OR (state = 'queued' AND cancel_requested)").bindparams(*_times("now"))
    params = {"now": now, "owner": owner, "expires": now + timedelta(seconds=lease_seconds)}
    if names:
        claim_sql = claim_sql.bindparams(bindparam("names", expanding=True))
        params["names"] = list(names)
    with db.engine.connect() as connection:
        if not postgres:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        connection.execute(end_abandoned, {"now": now, "error": "The worker running it stopped, on its last attempt."})
        row = connection.execute(claim_sql, params).first()
        connection.commit()
    if row is None:
        return None
    return db.session.get(Job, row.id, populate_existing=True)


def _times(*names: str) -> list:
    """Typed parameters, so that timestamps in raw SQL are stored as the Job model stores them."""
    return [bindparam(name, type_=UTCDateTime) for name in names]


def renew(job_id: int, owner: str, lease_seconds: int, progress: float, detail: dict) -> tuple[bool, bool]:
    """Extend the lease and record progress; returns (still ours, cancel requested).

    Runs on its own connection so that the job's own transaction (a restore's, say) is not committed.
    """
    now = utcnow()
    with db.engine.connect() as connection:
        row = connection.execute(
            update(Job.__table__).where(Job.__table__.c.id == job_id, Job.__table__.c.lease_owner == owner,
                                        Job.__table__.c.state == "running")
            .values(lease_expires_at=now + timedelta(seconds=lease_seconds), progress=progress, detail=detail)
            .returning(Job.__table__.c.cancel_requested)).first()
        connection.commit()
    return (row is not None, bool(row and row.cancel_requested))


def _finish(job_id: int, owner: str, **values) -> bool:
    with db.engine.connect() as connection:
        changed = connection.execute(
            update(Job.__table__).where(Job.__table__.c.id == job_id, Job.__table__.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None, **values)).rowcount
        connection.commit()
    return changed == 1


def succeed(job_id: int, owner: str, result) -> bool:
    return _finish(job_id, owner, state="done", progress=1.0, result=result, error="",
                   finished_at=utcnow())


def fail(job_id: int, owner: str, error: str, *, attempts: int, max_attempts: int, permanent: bool,
         progress: float = 0.0, detail: dict | None = None) -> bool:
    """Record a failure: queue the job again after a pause (to start over) while attempts remain, else
    mark it failed with how far it got."""
    error = error[:4000]
    now = utcnow()
    if permanent or attempts >= max_attempts:
        return _finish(job_id, owner, state="failed", error=error, finished_at=now, progress=progress,
                       detail=detail or {})
    pause = min(RETRY_BASE_SECONDS * 2 ** (attempts - 1), RETRY_MAX_SECONDS)
    return _finish(job_id, owner, state="queued", error=error, run_after=now + timedelta(seconds=pause),
                   progress=0.0, detail={})


def mark_cancelled(job_id: int, owner: str, progress: float = 0.0, detail: dict | None = None) -> bool:
    return _finish(job_id, owner, state="cancelled", finished_at=utcnow(), progress=progress, detail=detail or {})


def release(job_id: int, owner: str) -> bool:
    """Give a job back unfinished (this process is stopping): another worker takes it at once."""
    return _finish(job_id, owner, state="queued", attempts=Job.__table__.c.attempts - 1,
                   run_after=utcnow())


def release_all(owners: list[str]) -> int:
    """Give back every job still running under one of `owners` (unfinished, attempt not counted)."""
    table = Job.__table__
    with db.engine.connect() as connection:
        count = connection.execute(
            update(table).where(table.c.state == "running", table.c.lease_owner.in_(owners))
            .values(state="queued", attempts=table.c.attempts - 1, lease_owner=None, lease_expires_at=None,
                    run_after=utcnow())).rowcount
        connection.commit()
    return count


# --- what people do to jobs: see one, cancel one, try one again ---

def get(job_id: int) -> Job | None:
    return db.session.get(Job, job_id)


def get_job_for(viewer, job_id: int) -> Job:
    """The one door to a job: the person it works for, or someone with manage_backups; anyone else (and a missing id) is NotFound."""
    job = db.session.get(Job, job_id) if 0 < job_id <= 2**31 - 1 else None
    if job is None or viewer is None or not viewer.is_authenticated or \
            (job.user_id != viewer.id and not permissions.has(viewer, "manage_backups")):
        raise NotFound(_("There is no such job."), code="job_not_found")
    return job


def cancel(job: Job) -> str:
    """Cancel a queued job at once, or ask a running one to stop at its next step; returns its state.

    Commits the session (with whatever the caller added, an audit event say) only when the job
    changed; otherwise rolls it back.
    """
    changed = db.session.execute(update(Job).where(Job.id == job.id, Job.state == "queued")
                                 .values(state="cancelled", finished_at=utcnow())).rowcount
    if not changed:
        changed = db.session.execute(update(Job).where(Job.id == job.id, Job.state == "running")
                                     .values(cancel_requested=True)).rowcount
    _commit_if(changed)
    db.session.refresh(job)
    return job.state


def retry(job: Job) -> bool:
    """Queue a failed or cancelled job again with fresh attempts; returns whether it was queued.

    Commits (with whatever the caller added) only when it was; otherwise rolls back.
    """
    changed = db.session.execute(
        update(Job).where(Job.id == job.id, Job.state.in_(("failed", "cancelled")))
        .values(state="queued", attempts=0, error="", cancel_requested=False, run_after=utcnow(),
                progress=0.0, detail={}, result=None, finished_at=None, started_at=None)).rowcount
    if changed:
        db.session.info[_ADDED] = True
    _commit_if(changed)
    db.session.refresh(job)
    return changed == 1


def _commit_if(changed: int) -> None:
    if changed:
        db.session.commit()
    else:
        db.session.rollback()


def recent(states: tuple[str, ...], limit: int = 50) -> list[Job]:
    return list(db.session.scalars(select(Job).where(Job.state.in_(states))
                                   .order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)))


def on_commit(listener) -> None:
    """Call `listener()` after any commit that queued a job (workers in this process wake up)."""
    if listener not in _listeners:
        _listeners.append(listener)


@event.listens_for(Session, "after_commit")
def _after_commit(session) -> None:
    if session.info.pop(_ADDED, False):
        for listener in list(_listeners):
            listener()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session) -> None:
    session.info.pop(_ADDED, None)


def as_dict(job: Job) -> dict:
    """What the API and the pages say about a job."""
    return {"id": job.id, "name": job.name, "state": job.state, "progress": round(job.progress or 0.0, 4),
            "detail": job.detail or {}, "error": job.error or None, "attempts": job.attempts,
            "created_at": job.created_at, "started_at": job.started_at, "finished_at": job.finished_at}
