"""The JSON of the admin dashboard: GET /api/v1/admin/stats."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from ..schemas import Out, Query, Timestamp, iso
from . import dashboard

Day = Annotated[str, Field(json_schema_extra={"format": "date"}, examples=["2026-05-01"])]
Badge = Literal["ok", "warning", "failed"]


def _whole_number(value):
    """A query string's "30" as 30, so that the choice below is checked as a number."""
    return int(value) if isinstance(value, str) and value.isdigit() else value


class AdminStatsQuery(Query):
    days: Annotated[Literal[7, 30, 90], BeforeValidator(_whole_number)] = Field(
        dashboard.DEFAULT_DAYS, description="The period of the daily series: 7, 30 or 90 UTC days up to today.")


class AdminUserTotals(Out):
    active: int = Field(ge=0, description="Neither blocked nor waiting for deletion.")
    blocked: int = Field(ge=0)
    pending_deletion: int = Field(ge=0, description="Deletion scheduled, within the grace period.")


class AdminTotals(Out):
    users: AdminUserTotals
    media: int = Field(ge=0, description="Photos and files, everyone's.")
    storage_bytes: int = Field(ge=0, description="Bytes of originals stored, everyone's.")
    storage_backend: Literal["file", "s3", "memory"] = Field(description="Where they are stored: the local disk "
                                                                         "(file), S3, or memory (tests).")
    share_links_active: int = Field(ge=0, description="Links neither revoked, expired nor out of views.")
    views_today: int = Field(ge=0, description="Views of photos and share links since midnight UTC (downloads "
                                              "through a link included).")


class DailyFigure(Out):
    day: Day
    value: int = Field(ge=0)


class AdminSeries(Out):
    """Every day of the period, oldest first, days without any as 0."""

    signups: list[DailyFigure] = Field(description="Accounts created.")
    uploads: list[DailyFigure] = Field(description="Photos and files uploaded.")
    storage_added: list[DailyFigure] = Field(description="Bytes uploaded.")
    views: list[DailyFigure] = Field(description="Views of photos and share links (downloads through a link included).")
    api_requests: list[DailyFigure] = Field(description="Requests to the API.")
    failed_sign_ins: list[DailyFigure] = Field(description="Wrong passwords and wrong two-factor codes.")


class AdminTopUser(Out):
    id: int
    username: str
    display_name: str
    storage_used: int = Field(ge=0, description="Bytes.")
    media_count: int = Field(ge=0, description="Photos and files.")


class RecentSignIn(Out):
    at: Timestamp
    user_id: int | None = Field(description="Null when the account has been deleted since.")
    username: str | None
    ip: str = Field(description="The client's address.")
    device: str = Field(description="desktop, phone, tablet, bot or other; empty when unknown.")
    browser: str


class AdminCheck(Out):
    status: Badge
    state: str = Field(description="What the check found: ok, unreachable, starting, stale, disabled...",
                       examples=["ok"])
    detail: str = ""


class ScheduledJobRun(Out):
    name: str
    title: str
    status: Literal["ok", "warning", "failed", "none"] = Field(description="none: never queued yet.")
    state: str | None = Field(description="The latest run's: queued, running, done, failed or cancelled.")
    finished_at: Timestamp | None
    error: str


class AdminHealth(Out):
    status: Badge = Field(description="The worst of the checks and the scheduled jobs.")
    database: AdminCheck
    storage: AdminCheck
    scheduler: AdminCheck
    limits: AdminCheck = Field(description='Rate limits: state "shared", "per instance" (a warning: Redis is down) '
                                           'or "memory" (no Redis configured).')
    cluster: AdminCheck = Field(description='The channel between instances: state "single", "ok" or "unreachable" '
                                            '(a warning: this instance answers from the database meanwhile).')
    disk: AdminCheck
    leader: str | None = Field(description="The instance (host:pid) that last beat as the scheduler's leader.")
    last_heartbeat: Timestamp | None
    jobs: list[ScheduledJobRun] = Field(description="Each scheduled job's latest run, A to Z.")
    disk_free_bytes: int | None = Field(description="Free space on the data folder's disk.")
    disk_total_bytes: int | None
    version: str


class AdminStats(Out):
    """The instance at a glance: totals, daily series, top users, recent sign-ins and health."""

    days: Literal[7, 30, 90]
    since: Day = Field(description="The first day of the series (UTC).")
    until: Day = Field(description="The last day: today (UTC).")
    totals: AdminTotals
    series: AdminSeries
    top_users: list[AdminTopUser] = Field(description="The 10 accounts using the most storage, most first.")
    recent_sign_ins: list[RecentSignIn] = Field(description="The 10 latest sign-ins, newest first.")
    health: AdminHealth

    @classmethod
    def of(cls, found: dashboard.Dashboard) -> AdminStats:
        t = found.totals
        users = AdminUserTotals(active=t.users_active, blocked=t.users_blocked, pending_deletion=t.users_pending_deletion)
        totals = AdminTotals(users=users, media=t.media, storage_bytes=t.storage_bytes,
                             storage_backend=t.storage_backend, share_links_active=t.share_links_active,
                             views_today=t.views_today)
        series = AdminSeries(**{name: [DailyFigure(day=p.day.isoformat(), value=p.value) for p in s.points]
                                for name, s in found.series.items()})
        top = [AdminTopUser(id=u.id, username=u.username, display_name=u.display_name, storage_used=u.storage_used,
                            media_count=u.media_count) for u in found.top_users]
        sign_ins = [RecentSignIn(at=iso(s.at), user_id=s.user_id, username=s.username, ip=s.ip, device=s.device,
                                 browser=s.browser) for s in found.recent_sign_ins]
        return cls(days=found.days, since=found.first_day.isoformat(), until=found.last_day.isoformat(),
                   totals=totals, series=series, top_users=top, recent_sign_ins=sign_ins, health=_health(found.health))


def _health(found: dashboard.Health) -> AdminHealth:
    checks = {c.name: AdminCheck(status=c.status, state=c.state, detail=c.detail) for c in found.checks}
    runs = [ScheduledJobRun(name=j.name, title=str(j.title), status=j.status, state=j.state,
                            finished_at=iso(j.finished_at), error=j.error) for j in found.jobs]
    return AdminHealth(status=found.status, **checks, leader=found.leader, last_heartbeat=iso(found.last_heartbeat),
                       jobs=runs, disk_free_bytes=found.disk_free, disk_total_bytes=found.disk_total,
                       version=found.version)
