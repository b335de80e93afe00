"""Plans, and the counters that hold them: each check-and-take is one conditional SQL statement.

Daily counters live in daily_usage, keyed by (user, UTC day): a new day is a new row, so nothing
ever resets them. Storage is a running total on the user, changed by conditional UPDATEs. A limit
of 0 means unlimited. Concurrent requests can never take more than the limit, on SQLite (writes
are serialised) and on PostgreSQL (the UPDATE re-checks its WHERE on the locked row).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Literal

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from .errors import RateLimited, TooLarge
from .extensions import db
from .i18n import human_size
from .models import DailyUsage, User, utcnow

MiB = 1024 * 1024
GiB = 1024 * MiB

SEEDED_PLANS = {
    "free": dict(max_upload_bytes=25 * MiB, uploads_per_day=200, transforms_per_day=20,
                 storage_bytes=5 * GiB, api_requests_per_hour=1000, bandwidth_bytes_per_month=50 * GiB),
    "pro": dict(max_upload_bytes=100 * MiB, uploads_per_day=2000, transforms_per_day=200,
                storage_bytes=100 * GiB, api_requests_per_hour=10000, bandwidth_bytes_per_month=1024 * GiB),
    "unlimited": dict(max_upload_bytes=0, uploads_per_day=0, transforms_per_day=0,
                      storage_bytes=0, api_requests_per_hour=0, bandwidth_bytes_per_month=0),
}

Counter = Literal["uploads", "transforms"]


class QuotaExceeded(RateLimited):
    """A daily counter or the storage allowance is used up; says which and when it resets."""

    code = "quota_exceeded"


def today(now: datetime | None = None) -> date:
    """The UTC day that `now` falls on."""
    return (now or utcnow()).astimezone(timezone.utc).date()


def seconds_to_midnight(now: datetime | None = None) -> int:
    """Seconds until the next UTC day begins (what Retry-After says for daily counters)."""
    now = (now or utcnow()).astimezone(timezone.utc)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), timezone.utc)
    return max(1, int((midnight - now).total_seconds() + 0.999))


def _ensure_row(user_id: int, day: date) -> None:
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    db.session.execute(insert(DailyUsage).values(user_id=user_id, day=day, uploads=0, transforms=0,
                                                  bytes_in=0, bytes_out=0, api_requests=0)
                       .on_conflict_do_nothing(index_elements=["user_id", "day"]))


def take(user_id: int, counter: Counter, limit: int, amount: int = 1, now: datetime | None = None, *,
         commit: bool = True) -> int:
    """Take `amount` from today's `counter` if that stays within `limit` (0: unlimited).

    Commits unless `commit` is False (the caller's transaction then decides, so a crash before it
    commits takes nothing). Returns the counter's new value; raises QuotaExceeded with Retry-After
    to the next UTC day.
    """
    day = today(now)
    _ensure_row(user_id, day)
    column = getattr(DailyUsage, counter)
    statement = (update(DailyUsage).where(DailyUsage.user_id == user_id, DailyUsage.day == day)
                 .values({counter: column + amount}).returning(column))
    if limit > 0:
        statement = statement.where(column + amount <= limit)
    value = db.session.execute(statement).scalar()
    if commit:
        db.session.commit()
    if value is None:
        raise _exceeded(counter, limit, now)
    return value


def check(user_id: int, counter: Counter, limit: int, amount: int = 1, now: datetime | None = None) -> None:
    """Raise QuotaExceeded if taking `amount` now would pass `limit`; takes nothing.

    For refusing early, before costly work: only take() inside the committing transaction binds.
    """
    if limit > 0 and getattr(used_today(user_id, now), counter) + amount > limit:
        raise _exceeded(counter, limit, now)


def _exceeded(counter: Counter, limit: int, now: datetime | None) -> QuotaExceeded:
    messages = {"uploads": _("You have used today's %(limit)s uploads; more are possible after midnight UTC.",
                             limit=limit),
                "transforms": _("You have used today's %(limit)s transformations; more are possible after "
                                "midnight UTC.", limit=limit)}
    return QuotaExceeded(messages[counter], code=f"{counter[:-1]}_quota_exceeded",
                         retry_after=seconds_to_midnight(now))


def give_back(user_id: int, counter: Counter, amount: int = 1, day: date | None = None) -> None:
    """Return units taken by take() for work that then failed; commits."""
    column = getattr(DailyUsage, counter)
    db.session.execute(update(DailyUsage)
                       .where(DailyUsage.user_id == user_id, DailyUsage.day == (day or today()), column >= amount)
                       .values({counter: column - amount}))
    db.session.commit()


def used_today(user_id: int, now: datetime | None = None) -> DailyUsage:
    """Today's counters for the user (zeros when nothing was used yet)."""
    row = db.session.get(DailyUsage, (user_id, today(now)))
    return row or DailyUsage(user_id=user_id, day=today(now), uploads=0, transforms=0, bytes_in=0, bytes_out=0,
                             api_requests=0)


def reserve_storage(user_id: int, size: int, limit: int, *, commit: bool = True) -> None:
    """Add `size` bytes to the user's storage if it fits in `limit` (0: unlimited).

    Commits unless `commit` is False, as for take().
    """
    statement = update(User).where(User.id == user_id).values(storage_used=User.storage_used + size)
    if limit > 0:
        statement = statement.where(User.storage_used + size <= limit)
    reserved = db.session.execute(statement).rowcount == 1
    if commit:
        db.session.commit()
    if not reserved:
        raise _storage_exceeded(limit)


def check_storage(user_id: int, size: int, limit: int) -> None:
    """Raise TooLarge if `size` more bytes would not fit in `limit` now; reserves nothing."""
    if limit > 0 and storage_used(user_id) + size > limit:
        raise _storage_exceeded(limit)


def _storage_exceeded(limit: int) -> TooLarge:
    return TooLarge(_("This upload does not fit in your storage allowance of %(limit)s.",
                      limit=human_size(limit)), code="storage_quota_exceeded")


def release_storage(user_id: int, size: int, *, commit: bool = True) -> None:
    """Give `size` bytes of storage back (a deleted file); commits unless `commit` is False."""
    db.session.execute(update(User).where(User.id == user_id)
                       .values(storage_used=User.storage_used - size))
    if commit:
        db.session.commit()


def storage_used(user_id: int) -> int:
    """Bytes the user's files take now, as counted."""
    return db.session.scalar(select(User.storage_used).where(User.id == user_id)) or 0
