"""The admin dashboard's figures: totals, daily series, top users, recent sign-ins and the instance's health.

No request in here: the page (dashboard_routes.py) and the API (api/admin_stats.py) both call `dashboard()`.
Each figure is one query on an index or on the kept per-user totals, never a scan of the photos, so the
page costs the same at 100,000 photos as at 100. Days are UTC days. Views are every view event (a view,
or a download through a share link): they are counted on the index of their time alone, without reading
the rows to tell their kinds apart.
"""

from __future__ import annotations

import functools
import shutil
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from time import monotonic

from flask import Flask, current_app
from sqlalchemy import bindparam, case, func, or_, select

from .. import __version__
from ..extensions import blob_store, db
from ..jobs import HEARTBEAT, REGISTRY, title_of
from ..models import AuditEvent, DailyUsage, Job, JobRun, ShareLink, User, UTCDateTime, ViewEvent, utcnow

PERIODS = (7, 30, 90)
DEFAULT_DAYS = 30
TOP = 10
FAILED_SIGN_INS = ("login_failed", "two_factor_failed")
SERIES = ("signups", "uploads", "storage_added", "views", "api_requests", "failed_sign_ins")
# Disk free below these shares of the data folder's disk is a warning, then a failure.
DISK_WARNING, DISK_FAILED = 0.10, 0.02


@dataclass(frozen=True)
class Totals:
    users_active: int  # neither blocked nor waiting for deletion
    users_blocked: int
    users_pending_deletion: int
    media: int  # photos and files, as each account's kept count says
    storage_bytes: int
    storage_backend: str  # the store's URL scheme: "file", "s3" or "memory"
    share_links_active: int  # not revoked, not expired, views left
    views_today: int  # view events since midnight UTC: views, and downloads through share links


@dataclass(frozen=True)
class Point:
    day: date
    value: int


@dataclass(frozen=True)
class Series:
    name: str
    points: list[Point]

    @property
    def total(self) -> int:
        return sum(p.value for p in self.points)


@dataclass(frozen=True)
class TopUser:
    id: int
    username: str
    display_name: str
    storage_used: int
    media_count: int


@dataclass(frozen=True)
class SignIn:
    at: datetime
    user_id: int | None
    username: str | None
    display_name: str
    ip: str
    device: str
    browser: str
    user_agent: str


@dataclass(frozen=True)
class Check:
    name: str  # "database", "storage", "scheduler", "limits", "cluster" or "disk"
    status: str  # "ok", "warning" or "failed": what the badge says
    state: str  # what the check itself reported ("ok", "unreachable", "stale", "disabled"...)
    detail: str = ""


@dataclass(frozen=True)
class JobHealth:
    name: str
    title: str
    status: str  # "ok", "warning", "failed", or "none" when it has never been queued
    state: str | None  # the latest run's: queued, running, done, failed or cancelled
    finished_at: datetime | None
    error: str


@dataclass(frozen=True)
class Health:
    checks: list[Check]
    leader: str | None  # the instance whose heartbeat the scheduler last recorded
    last_heartbeat: datetime | None
    jobs: list[JobHealth]
    disk_free: int | None
    disk_total: int | None
    version: str

    @property
    def status(self) -> str:
        """The worst badge of the checks and the jobs."""
        seen = {c.status for c in self.checks} | {j.status for j in self.jobs}
        return next((s for s in ("failed", "warning") if s in seen), "ok")


@dataclass(frozen=True)
class Dashboard:
    days: int
    first_day: date
    last_day: date
    totals: Totals
    series: dict[str, Series]
    top_users: list[TopUser]
    recent_sign_ins: list[SignIn]
    health: Health


def dashboard(app: Flask, days: int = DEFAULT_DAYS, today: date | None = None) -> Dashboard:
    """Everything the dashboard shows, over the last `days` UTC days up to `today`."""
    days = days if days in PERIODS else DEFAULT_DAYS
    last = today or utcnow().date()
    first = last - timedelta(days=days - 1)
    return Dashboard(days=days, first_day=first, last_day=last, totals=totals(last),
                     series=series(first, last), top_users=top_users(), recent_sign_ins=recent_sign_ins(),
                     health=health(app))


# --- totals ---------------------------------------------------------------------------------------

def totals(today: date | None = None) -> Totals:
    """The instance's totals now; views since midnight UTC of `today`."""
    pending = User.delete_scheduled_for.is_not(None)
    users = db.session.execute(select(
        _count_if(User.is_blocked), _count_if(pending),
        _count_if(~User.is_blocked & User.delete_scheduled_for.is_(None)),
        func.coalesce(func.sum(User.media_count), 0), func.coalesce(func.sum(User.storage_used), 0))).one()
    blocked, pending_deletion, active, media, storage = (int(v or 0) for v in users)
    now = utcnow()
    midnight = _midnight(today or now.date())
    links = db.session.scalar(select(func.count()).select_from(ShareLink).where(
        ShareLink.revoked_at.is_(None), or_(ShareLink.expires_at.is_(None), ShareLink.expires_at > now),
        or_(ShareLink.max_views.is_(None), ShareLink.views < ShareLink.max_views)))
    views = db.session.scalar(select(func.count()).select_from(ViewEvent).where(
        ViewEvent.at >= midnight, ViewEvent.at < midnight + timedelta(days=1)))
    return Totals(users_active=active, users_blocked=blocked, users_pending_deletion=pending_deletion, media=media,
                  storage_bytes=storage, storage_backend=blob_store().scheme, share_links_active=links or 0,
                  views_today=views or 0)


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


# --- series ---------------------------------------------------------------------------------------

def series(first: date, last: date) -> dict[str, Series]:
    """Each figure per UTC day from `first` to `last`, days without any as 0, in SERIES order.

    Days before `last` are over: their figures are kept for CLOSED_DAYS_SECONDS in this process (only a
    deleted account or pruning changes them), so that a page view counts the last day alone.
    """
    found = _closed_days(first, last - timedelta(days=1)) if first < last else {name: {} for name in SERIES}
    todays = _count_days(last, last)
    every_day = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return {name: Series(name, [Point(d, todays[name].get(d, found[name].get(d, 0))) for d in every_day])
            for name in SERIES}


# Not told of changes across instances, and need not be: a day that is over changes only when rows of it are
# deleted (a photo, an account, audit events past retention), and these are the admin's statistics, a few
# minutes late on one instance as on several; nothing anyone may revoke is read from here.
CLOSED_DAYS_SECONDS = 300
CLOSED_DAYS = "shoebox_dashboard_closed_days"  # the app's extension: {(first, last): (expires, figures)}
_closed_lock = threading.Lock()


def _closed_days(first: date, last: date) -> dict[str, dict[date, int]]:
    """_count_days for days that are over, remembered by the app for CLOSED_DAYS_SECONDS."""
    kept_by_app = current_app.extensions.setdefault(CLOSED_DAYS, {})
    now = monotonic()
    with _closed_lock:
        kept = kept_by_app.get((first, last))
    if kept is not None and kept[0] > now:
        return kept[1]
    counted = _count_days(first, last)
    with _closed_lock:
        for stale in [key for key, (expires, _figures) in kept_by_app.items() if expires <= now]:
            del kept_by_app[stale]
        kept_by_app[(first, last)] = (now + CLOSED_DAYS_SECONDS, counted)
    return counted


def _count_days(first: date, last: date) -> dict[str, dict[date, int]]:
    """Each figure on each UTC day from `first` to `last` that has any: one query per figure."""
    found: dict[str, dict[date, int]] = {}
    found["signups"] = _per_day(User.created_at, first, last)
    usage = db.session.execute(
        select(DailyUsage.day, func.sum(DailyUsage.uploads), func.sum(DailyUsage.bytes_in),
               func.sum(DailyUsage.api_requests))
        .where(DailyUsage.day >= first, DailyUsage.day <= last).group_by(DailyUsage.day)).all()
    found["uploads"] = {_as_date(day): int(n or 0) for day, n, _b, _a in usage}
    found["storage_added"] = {_as_date(day): int(b or 0) for day, _n, b, _a in usage}
    found["api_requests"] = {_as_date(day): int(a or 0) for day, _n, _b, a in usage}
    found["views"] = _per_day_by_ranges(ViewEvent.at, first, last)
    found["failed_sign_ins"] = _per_day(AuditEvent.at, first, last, AuditEvent.action.in_(FAILED_SIGN_INS))
    return found


def _per_day(column, first: date, last: date, *where) -> dict[date, int]:
    """How many rows have `column` on each UTC day from `first` to `last`: one query grouped by date(column)."""
    day = func.date(column)  # SQLite's date() and PostgreSQL's both give the stored (UTC) day
    rows = db.session.execute(select(day, func.count())
                              .where(column >= _midnight(first), column < _midnight(last + timedelta(days=1)), *where)
                              .group_by(day)).all()
    return {_as_date(value): int(count) for value, count in rows}


def _per_day_by_ranges(column, first: date, last: date) -> dict[date, int]:
    """_per_day for a large table: one statement that counts each day's range of the column's index. SQLite
    computes date() row by row, 0.2 s over 200,000 view events; the ranges alone take a tenth of that."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    bounds = {}
    for n, day in enumerate(days):
        bounds[f"from{n}"], bounds[f"to{n}"] = _midnight(day), _midnight(day + timedelta(days=1))
    counts = db.session.execute(_range_counts(column, len(days)), bounds).one()
    return {day: int(count) for day, count in zip(days, counts, strict=True)}


@functools.cache
def _range_counts(column, days: int):
    """The statement of _per_day_by_ranges, made once: building 90 subqueries took as long as running them."""
    return select(*[select(func.count()).select_from(column.class_)
                    .where(column >= bindparam(f"from{n}", type_=UTCDateTime),
                           column < bindparam(f"to{n}", type_=UTCDateTime)).scalar_subquery()
                    for n in range(days)])


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


# --- people ---------------------------------------------------------------------------------------

def top_users(limit: int = TOP) -> list[TopUser]:
    """The accounts using the most storage, most first (ix_users_storage, read backwards)."""
    rows = db.session.execute(select(User.id, User.username, User.display_name, User.storage_used, User.media_count)
                              .order_by(User.storage_used.desc(), User.id.desc()).limit(limit)).all()
    return [TopUser(*row) for row in rows]


def recent_sign_ins(limit: int = TOP) -> list[SignIn]:
    """The latest sign-ins, newest first, with who signed in and from what."""
    rows = db.session.execute(
        select(AuditEvent.at, AuditEvent.actor_id, User.username, User.display_name, AuditEvent.ip,
               AuditEvent.device, AuditEvent.browser, AuditEvent.user_agent)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(AuditEvent.action == "login").order_by(AuditEvent.id.desc()).limit(limit)).all()
    return [SignIn(at, actor, username, display_name or "", ip or "", device or "", browser or "", agent or "")
            for at, actor, username, display_name, ip, device, browser, agent in rows]


# --- health ---------------------------------------------------------------------------------------

def health(app: Flask) -> Health:
    """What /health/ready checks, the scheduler's leader, each scheduled job's latest run, disk free, version."""
    from .. import health as readiness_checks  # (late: the health module imports the API, which imports this)

    found = readiness_checks.readiness()
    beat = _heartbeat()
    free, total = _disk(app.config["SHOEBOX"]["data_dir"])
    checks = [Check("database", _badge(found["database"]), found["database"]["status"],
                    found["database"].get("detail") or found["database"].get("dialect", "")),
              Check("storage", _badge(found["storage"]), found["storage"]["status"],
                    found["storage"].get("detail") or ""),
              _scheduler_check(found["scheduler"], beat, app.config["SHOEBOX"]["scheduler"]["heartbeat_seconds"]),
              _redis_check("limits", found["limits"], degraded="per instance"),
              _redis_check("cluster", found["cluster"], degraded="unreachable"),
              _disk_check(free, total)]
    return Health(checks=checks, leader=beat.instance if beat else None,
                  last_heartbeat=beat.finished_at if beat else None, jobs=scheduled_runs(), disk_free=free,
                  disk_total=total, version=__version__)


def _badge(result: dict) -> str:
    return "ok" if result.get("ok") else "failed"


def _scheduler_check(result: dict, beat: JobRun | None, heartbeat_seconds: int) -> Check:
    """ok while a leader beats; starting is a warning, and so is a scheduler this server does not run unless
    another instance's heartbeat is recent (the allowance /health/ready gives); stale is a failure."""
    state = result.get("status", "unknown")
    if state == "disabled" and beat is not None and beat.finished_at is not None:
        if utcnow() - beat.finished_at <= timedelta(seconds=3 * heartbeat_seconds + 15):
            return Check("scheduler", "ok", state, "")
    status = "ok" if state == "ok" else "warning" if state in ("starting", "disabled") else "failed"
    return Check("scheduler", status, state, result.get("detail") or "")


def _redis_check(name: str, result: dict, degraded: str) -> Check:
    """A warning, not a failure, while Redis is down: the instance still serves (see /health/ready)."""
    state = result["status"]
    return Check(name, "warning" if state == degraded else "ok", state, result.get("detail") or "")


def _disk_check(free: int | None, total: int | None) -> Check:
    if not total:
        return Check("disk", "warning", "unknown", "")
    share = free / total
    return Check("disk", "failed" if share < DISK_FAILED else "warning" if share < DISK_WARNING else "ok", "ok", "")


def _heartbeat() -> JobRun | None:
    try:
        return db.session.get(JobRun, HEARTBEAT)
    except Exception:  # the database check already says why
        db.session.rollback()
        return None


def _disk(folder: str) -> tuple[int | None, int | None]:
    try:
        usage = shutil.disk_usage(folder)
    except OSError:
        return None, None
    return usage.free, usage.total


def scheduled_runs() -> list[JobHealth]:
    """Each scheduled job's latest run (by its slot key, "name@time", on the slot's unique index), A to Z."""
    runs = []
    for name in sorted(REGISTRY):
        try:
            job = db.session.scalar(select(Job).where(Job.slot >= f"{name}@0", Job.slot < f"{name}@A",
                                                      Job.name == name).order_by(Job.slot.desc()).limit(1))
        except Exception:
            db.session.rollback()
            job = None
        runs.append(_job_health(name, job))
    return runs


def _job_health(name: str, job: Job | None) -> JobHealth:
    if job is None:
        return JobHealth(name, title_of(name), "none", None, None, "")
    status = {"failed": "failed", "cancelled": "warning"}.get(job.state, "ok")
    return JobHealth(name, title_of(name), status, job.state, job.finished_at, job.error or "")
