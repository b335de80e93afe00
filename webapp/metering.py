"""Bandwidth served from each account's photos, and API requests, counted without a write per request.

record() adds to an in-process tally keyed by (user, UTC day); a daemon thread adds the tally to
daily_usage (bytes_out, api_requests) every FLUSH_SECONDS in one statement per key, and the rest is
written when the process exits normally. A process killed outright loses at most the last few
seconds of counts, and several instances each enforce the monthly limit on what the database held
at most CACHE_SECONDS ago plus their own tally: across instances the bytes counted are approximate by
that much (the other instances' last seconds of traffic).

The serving hot path pays a dict lookup and a lock: the month's total and the owner's plan limit are
read from the database at most once per owner every CACHE_SECONDS, on a short connection of their own.
The limit itself is never left to that: a change to an owner's plan, or to a plan's limits, is announced
(webapp/cluster.py) and every instance reads it afresh on its next request; an instance that cannot
hear of changes reads both on every request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import date, datetime, timezone

from flask import Flask, current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from . import cluster
from .errors import RateLimited
from .extensions import db
from .flushing import Flusher
from .i18n import human_size
from .models import DailyUsage, Plan, User

log = logging.getLogger(__name__)

FLUSH_SECONDS = 5.0
CACHE_SECONDS = 10.0
# A database that stays unreachable this many flushes in a row (a minute) costs the counts that wait.
MOST_FAILURES = 12
EXTENSION = "shoebox_meter"


class BandwidthExceeded(RateLimited):
    """The owner of a photo has used this month's bandwidth."""

    code = "bandwidth_exceeded"


def _month(day: date) -> tuple[int, int]:
    return day.year, day.month


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def seconds_to_next_month(now: datetime | None = None) -> int:
    """Seconds until the next calendar month begins in UTC (what Retry-After says for bandwidth)."""
    now = now or _utc_now()
    start = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=timezone.utc)
    return max(1, int((start - now).total_seconds() + 0.999))


class Meter:
    """One app's tally of bytes served and API requests, and the thread that writes it."""

    def __init__(self, app: Flask):
        self.app = app
        self._lock = threading.Lock()  # guards the tallies and the cache
        self._writing = threading.Lock()  # one flush at a time
        self._pending: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0])  # [bytes_out, api_requests]
        self._month_bytes: dict[tuple[int, tuple[int, int]], int] = defaultdict(int)  # unwritten bytes this month
        self._known: dict[int, tuple[float, tuple[int, int], int, int]] = {}  # user: (until, month, limit, written)
        self._forgets = 0  # how many forget()s: a look-up that began before one is not kept
        self._failures = 0
        self.flusher = Flusher("shoebox-meter", FLUSH_SECONDS, self.flush, lambda: bool(self._pending))

    # --- counting ---------------------------------------------------------------------------------

    def record(self, user_id: int, bytes_out: int = 0, api_requests: int = 0) -> None:
        """Count bytes served from `user_id`'s photos and API requests they made; no database work."""
        if not bytes_out and not api_requests:
            return
        day = _utc_now().date()
        with self._lock:
            counts = self._pending[(user_id, day)]
            counts[0] += bytes_out
            counts[1] += api_requests
            if bytes_out:
                self._month_bytes[(user_id, _month(day))] += bytes_out
        self.flusher.poke()

    def flush(self) -> int:
        """Add every waiting count to daily_usage now; returns how many (user, day) rows were written."""
        with self._writing:
            with self._lock:
                batch, self._pending = dict(self._pending), defaultdict(lambda: [0, 0])
            if not batch:
                return 0
            try:
                self._write(batch)
            except Exception as error:
                self._keep(batch, error)
                return 0
            self._failures = 0
            with self._lock:
                for (user_id, day), (sent, _requests) in batch.items():
                    key = (user_id, _month(day))
                    left = self._month_bytes.get(key, 0) - sent
                    if left > 0:
                        self._month_bytes[key] = left
                    else:
                        self._month_bytes.pop(key, None)
                    known = self._known.get(user_id)
                    if known is not None and known[1] == key[1]:  # what was just written joins the total read
                        self._known[user_id] = (*known[:3], known[3] + sent)
            return len(batch)

    def _keep(self, batch: dict[tuple[int, date], list[int]], error: Exception) -> None:
        """Put counts that could not be written back for the next flush, unless the database has been gone long."""
        self._failures += 1
        if self._failures >= MOST_FAILURES or self.flusher.stopped:
            log.warning("Could not write the bandwidth and API counts of %d accounts; they are dropped (%s).",
                        len(batch), error.__class__.__name__)
            self._failures = 0
            return
        log.warning("Could not write the bandwidth and API counts of %d accounts; they wait for the next try (%s).",
                    len(batch), error.__class__.__name__)
        with self._lock:
            for key, (sent, requests) in batch.items():
                counts = self._pending[key]
                counts[0] += sent
                counts[1] += requests

    def _write(self, batch: dict[tuple[int, date], list[int]]) -> None:
        with self.app.app_context():
            dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
            for (user_id, day), (sent, requests) in sorted(batch.items()):
                statement = dialect.insert(DailyUsage).values(
                    user_id=user_id, day=day, uploads=0, transforms=0, bytes_in=0, bytes_out=sent,
                    api_requests=requests)
                db.session.execute(statement.on_conflict_do_update(
                    index_elements=["user_id", "day"],
                    set_={"bytes_out": DailyUsage.bytes_out + statement.excluded.bytes_out,
                          "api_requests": DailyUsage.api_requests + statement.excluded.api_requests}))
            db.session.commit()

    # --- enforcing --------------------------------------------------------------------------------

    def refuse_over_bandwidth(self, owner_id: int) -> None:
        """BandwidthExceeded if the owner's plan limits bandwidth and this month's use has reached it."""
        now = _utc_now()
        month = _month(now.date())
        usable = cluster.bus_of(self.app).memory_usable
        known = self._known.get(owner_id) if usable else None
        if known is None or known[0] < time.monotonic() or known[1] != month:
            known = self._look_up(owner_id, month, keep=usable)
        _until, _month_key, limit, written = known
        if limit <= 0:
            return
        if written + self._month_bytes.get((owner_id, month), 0) >= limit:
            raise BandwidthExceeded(
                _("This photo's owner has used this month's %(limit)s of bandwidth; it can be seen again "
                  "from the first of next month.", limit=human_size(limit)),
                retry_after=seconds_to_next_month(now))

    def _look_up(self, owner_id: int, month: tuple[int, int], keep: bool) -> tuple[float, tuple[int, int], int, int]:
        """The owner's plan limit and the month's written total, on a connection of its own (remembered if `keep`)."""
        first = date(*month, 1)
        read_at = self._forgets
        # The request's own connection when its session holds one already, else a short one of its own: a request
        # never holds two pooled connections at once, which with many threads could leave them all waiting.
        with _reader() as connection:
            limit = connection.scalar(select(Plan.bandwidth_bytes_per_month).join(User, User.plan_id == Plan.id)
                                      .where(User.id == owner_id)) or 0
            written = 0
            if limit > 0:
                written = connection.scalar(select(func.coalesce(func.sum(DailyUsage.bytes_out), 0))
                                            .where(DailyUsage.user_id == owner_id, DailyUsage.day >= first)) or 0
        known = (time.monotonic() + CACHE_SECONDS, month, int(limit), int(written))
        with self._lock:
            if keep and read_at == self._forgets:
                self._known[owner_id] = known
        return known

    def forget(self, owner_id: int | None = None) -> None:
        """Read the owner's (or everyone's) plan limit and month total afresh on the next request (this process)."""
        with self._lock:
            self._forgets += 1
            if owner_id is None:
                self._known.clear()
            else:
                self._known.pop(owner_id, None)

    def forget_key(self, key: str | None) -> None:
        """forget() for an announcement (webapp/cluster.py), whose key is the owner's id as text."""
        self.forget(None if key is None else int(key))


@contextmanager
def _reader():
    """A connection to read with: the session's, when it is in a transaction, else a new one closed afterwards."""
    session = db.session()
    if session.in_transaction():
        yield session.connection()
        return
    with db.engine.connect() as connection:
        yield connection


def meter_of(app: Flask | None = None) -> Meter:
    """The app's meter, made on first use; it forgets what any instance announces about accounts and plans."""
    app = app or current_app._get_current_object()
    meter = app.extensions.get(EXTENSION)
    if meter is None:
        meter = app.extensions.setdefault(EXTENSION, Meter(app))
        cluster.listen(app, cluster.ACCOUNT, meter.forget_key)
        cluster.listen(app, cluster.PLANS, meter.forget_key)
    return meter


def record(user_id: int, bytes_out: int = 0, api_requests: int = 0) -> None:
    """Count bytes served from `user_id`'s photos and their API requests (see Meter.record)."""
    meter_of().record(user_id, bytes_out, api_requests)


def refuse_over_bandwidth(owner_id: int) -> None:
    """BandwidthExceeded (429) if the owner has used this month's bandwidth (see Meter.refuse_over_bandwidth)."""
    meter_of().refuse_over_bandwidth(owner_id)


def stop(app: Flask) -> None:
    """Write what waits and end the app's thread, if it has a meter (an app going away, in tests)."""
    meter = app.extensions.get(EXTENSION)
    if meter is not None:
        meter.flusher.stop()


def flush(app: Flask | None = None) -> int:
    """Write the waiting counts now (tests; the thread and the exit do it by themselves)."""
    return meter_of(app).flush()


def forget(owner_id: int | None = None) -> None:
    """After the commit that changed an owner's plan (or, with None, a plan's limits): every instance reads
    the limits afresh on its next request."""
    if owner_id is None:
        cluster.announce(cluster.PLANS)
    else:
        cluster.announce(cluster.ACCOUNT, owner_id)
