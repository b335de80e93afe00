"""The JSON of view statistics: GET /api/v1/images/<id>/stats and GET /api/v1/shares/<id>/stats."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..schemas import Out, Query
from . import agents
from .stats import DEFAULT_DAYS, MOST_DAYS, Count, Stats

Day = Annotated[str, Field(json_schema_extra={"format": "date"}, examples=["2025-05-01"])]


class StatsQuery(Query):
    days: int = Field(DEFAULT_DAYS, ge=1, le=MOST_DAYS,
                      description="How many UTC days, up to and including today. Events older than the "
                                  "instance's `analytics.retention_days` (90 by default) are gone.")


class DailyViews(Out):
    date: Day
    views: int = Field(ge=0)
    visitors: int = Field(ge=0, description="Different visitors that day.")


class Counted(Out):
    name: str = Field(description="Empty when unknown (no referrer, or an unrecognised browser or system).")
    count: int = Field(ge=1, description="Views.")


class DeviceCount(Out):
    name: Literal[agents.DEVICES]  # type: ignore[valid-type]
    count: int = Field(ge=1, description="Views.")


class ViewStats(Out):
    """Views of a photo (its page and original) or of a share link, over the last `days` UTC days.

    No address is kept: a visitor is a hash whose salt changes every UTC day, so one person on two days
    counts as two visitors and nobody can be followed from day to day.
    """

    days: int
    since: Day = Field(description="The first day counted (UTC).")
    until: Day = Field(description="The last day counted: today (UTC).")
    views: int = Field(ge=0)
    visitors: int = Field(ge=0, description="The sum of each day's visitors.")
    downloads: int = Field(ge=0, description="Originals and saved versions downloaded through a share link.")
    password_failures: int = Field(ge=0, description="Wrong passwords given on a share link.")
    daily: list[DailyViews] = Field(description="Every day of the period, oldest first, days without views as 0.")
    referrers: list[Counted] = Field(description="The sites visitors came from (host names), most views first; "
                                                 "at most 10.")
    devices: list[DeviceCount] = Field(description="desktop, phone, tablet, bot or other; most views first.")
    browsers: list[Counted] = Field(description="Most views first; at most 10.")
    os: list[Counted] = Field(description="Operating systems, most views first; at most 10.")

    @classmethod
    def of(cls, stats: Stats) -> ViewStats:
        """The API's shape of stats.Stats."""
        return cls(days=len(stats.days), since=stats.first_day.isoformat(), until=stats.last_day.isoformat(),
                   views=stats.views, visitors=stats.visitors, downloads=stats.downloads,
                   password_failures=stats.password_failures,
                   daily=[DailyViews(date=d.day.isoformat(), views=d.views, visitors=d.visitors)
                          for d in stats.days],
                   referrers=_counted(stats.referrers),
                   devices=[DeviceCount(name=c.name, count=c.count) for c in stats.devices],
                   browsers=_counted(stats.browsers), os=_counted(stats.systems))


def _counted(counts: list[Count]) -> list[Counted]:
    return [Counted(name=c.name, count=c.count) for c in counts]

