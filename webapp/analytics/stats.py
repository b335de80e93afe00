"""A photo's or a share link's views over the last days: per day, in total, and where they came from.

No HTTP here: the pages and the API load the photo or link through its own door and pass it in.
Every query reads one photo's or one link's events through the (media_id, at) or (share_id, at) index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import func, select

from ..extensions import db
from ..models import Media, ShareLink, ViewEvent, utcnow
from .agents import DEVICES

DEFAULT_DAYS = 30
MOST_DAYS = 365
TOP = 10


@dataclass(frozen=True)
class Day:
    """One UTC day: its views, and its visitors (each counted once that day)."""

    day: date
    views: int
    visitors: int


@dataclass(frozen=True)
class Count:
    name: str  # "" when unknown (no referrer, a browser nobody recognises)
    count: int


@dataclass(frozen=True)
class Stats:
    """What the statistics page and the API show for one photo or link, over `days` UTC days up to today."""

    first_day: date
    last_day: date
    days: list[Day]
    views: int
    visitors: int  # the sum of each day's visitors: one person on two days counts twice
    downloads: int
    password_failures: int
    referrers: list[Count]
    devices: list[Count]
    browsers: list[Count]
    systems: list[Count]

    @property
    def busiest(self) -> Day | None:
        """The day with the most views (the latest of equals), or None without any."""
        best = max(reversed(self.days), key=lambda d: d.views, default=None)
        return best if best is not None and best.views else None


def photo_stats(media: Media, days: int = DEFAULT_DAYS, today: date | None = None) -> Stats:
    """Views of a photo's page and original (views through share links count on the link)."""
    return _stats(ViewEvent.media_id, media.id, days, today)


def share_stats(link: ShareLink, days: int = DEFAULT_DAYS, today: date | None = None) -> Stats:
    """Views, downloads and wrong passwords of one share link."""
    return _stats(ViewEvent.share_id, link.id, days, today)


def _stats(column, key: str, days: int, today: date | None) -> Stats:
    days = max(1, min(days, MOST_DAYS))
    last = today or utcnow().date()
    first = last - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, tzinfo=timezone.utc)
    until = datetime.combine(last + timedelta(days=1), time.min, tzinfo=timezone.utc)
    scope = (column == key, ViewEvent.at >= since, ViewEvent.at < until)
    views = (*scope, ViewEvent.kind == "view")
    daily = _daily(views, first, days)
    totals = dict(db.session.execute(select(ViewEvent.kind, func.count()).where(*scope).group_by(ViewEvent.kind))
                  .all())
    return Stats(first_day=first, last_day=last, days=daily, views=totals.get("view", 0),
                 visitors=sum(d.visitors for d in daily), downloads=totals.get("download", 0),
                 password_failures=totals.get("password_failed", 0),
                 referrers=_top(ViewEvent.referrer_host, views), devices=_devices(_top(ViewEvent.device, views)),
                 browsers=_top(ViewEvent.browser, views), systems=_top(ViewEvent.os, views))


def _daily(where: tuple, first: date, days: int) -> list[Day]:
    """Every day of the period, those without a view as zeros."""
    day = func.date(ViewEvent.at)  # SQLite's date() and PostgreSQL's date() both give the UTC day stored
    rows = db.session.execute(select(day, func.count(), func.count(ViewEvent.visitor.distinct()))
                              .where(*where).group_by(day)).all()
    found = {_as_date(value): (views, visitors) for value, views, visitors in rows}
    return [Day(d, *found.get(d, (0, 0))) for d in (first + timedelta(days=n) for n in range(days))]


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _top(column, where: tuple) -> list[Count]:
    """The TOP most frequent values of `column` among the views, most first (names A to Z among equals)."""
    count = func.count().label("n")
    rows = db.session.execute(select(column, count).where(*where).group_by(column)
                              .order_by(count.desc(), column).limit(TOP)).all()
    return [Count(name or "", n) for name, n in rows]


def _devices(counts: list[Count]) -> list[Count]:
    """Device counts by DEVICES name; an event without one (written before devices were read) is "other"."""
    merged: dict[str, int] = {}
    for c in counts:
        name = c.name if c.name in DEVICES else "other"
        merged[name] = merged.get(name, 0) + c.count
    return [Count(name, n) for name, n in sorted(merged.items(), key=lambda item: (-item[1], item[0]))]
