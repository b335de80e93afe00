"""The integrity check: blobs no row points at (orphans), rows whose blob is gone (missing), and
counters (storage used, number of photos) that disagree with the rows.

An upload writes its blobs before its row, so a crash can leave orphans behind. Only orphans
older than a grace period are removed, so an upload still in flight is never touched. Counters
change in the same transaction as the rows they count, so they drift only through a bug or a
hand-edited database; the check puts them right, one user at a time, under that user's row lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update

from .. import scratch
from ..extensions import blob_store, db
from ..models import Media, User, Variant, utcnow

log = logging.getLogger(__name__)

GRACE = timedelta(hours=6)
PREFIXES = ("originals", "variants")


@dataclass(frozen=True)
class Drift:
    """A user whose counters disagree with their rows: what was counted, and what the rows say."""

    user_id: int
    username: str
    storage_counted: int
    storage_actual: int
    photos_counted: int
    photos_actual: int


@dataclass
class Report:
    orphans: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # "media:<id>" or "variant:<id>"
    repaired: list[Drift] = field(default_factory=list)


def check(remove_orphans: bool = False, grace: timedelta = GRACE) -> Report:
    """Compare storage with the database and repair counters; optionally delete orphans older than `grace`."""
    repaired = repair_counters()
    store = blob_store()
    stored = {key for prefix in PREFIXES for key in store.keys(prefix)}
    rows = {key: f"media:{media_id}" for key, media_id in db.session.execute(select(Media.storage_key, Media.id))}
    rows.update({key: f"variant:{vid}" for key, vid in db.session.execute(select(Variant.storage_key, Variant.id))})
    report = Report(orphans=sorted(stored - set(rows)), missing=sorted(rows[key] for key in set(rows) - stored),
                    repaired=repaired)
    if remove_orphans:
        cutoff = utcnow() - grace
        for key in report.orphans:
            if store.modified_at(key) < cutoff and not _now_referenced(key):
                store.delete(key)
                report.removed.append(key)
    return report


def _now_referenced(key: str) -> bool:
    """Whether a row came to point at `key` since the listing (a slow upload finishing)."""
    return db.session.scalar(select(Media.id).where(Media.storage_key == key)) is not None or \
        db.session.scalar(select(Variant.id).where(Variant.storage_key == key)) is not None


def _actual_storage(user_id):
    return select(func.coalesce(func.sum(Media.size), 0)).where(Media.user_id == user_id).scalar_subquery()


def _actual_photos(user_id):
    return select(func.count(Media.id)).where(Media.user_id == user_id).scalar_subquery()


def counter_drift() -> list[Drift]:
    """Users whose storage_used or media_count disagree with their photos' rows (reads only)."""
    storage, photos = _actual_storage(User.id), _actual_photos(User.id)
    rows = db.session.execute(
        select(User.id, User.username, User.storage_used, storage, User.media_count, photos)
        .where((User.storage_used != storage) | (User.media_count != photos)).order_by(User.id))
    return [Drift(*row) for row in rows]


def repair_counters() -> list[Drift]:
    """Set every drifted counter to what the rows say; returns the drift found.

    Each user's row is locked first (uploads and deletes change it in their own transactions), so
    the sums are taken after any upload in flight for that user has committed or rolled back.
    """
    repaired = []
    for drift in counter_drift():
        db.session.execute(select(User.id).where(User.id == drift.user_id).with_for_update())
        db.session.execute(update(User).where(User.id == drift.user_id).values(
            storage_used=_actual_storage(drift.user_id), media_count=_actual_photos(drift.user_id)))
        db.session.commit()
        repaired.append(drift)
        log.warning("Counters of user %s disagreed with their photos (storage %d counted, %d stored; "
                    "%d photos counted, %d stored) and were put right.", drift.username, drift.storage_counted,
                    drift.storage_actual, drift.photos_counted, drift.photos_actual)
    return repaired


def run_integrity_check() -> None:
    """Daily: repair counters, remove old orphan blobs and stale scratch files, log missing blobs."""
    scratch.sweep(current_app.config["SHOEBOX"]["data_dir"])
    report = check(remove_orphans=True)
    if report.removed:
        log.info("Integrity check removed %d orphan blobs.", len(report.removed))
    if report.missing:
        log.error("Integrity check: %d rows point at missing blobs: %s", len(report.missing),
                  ", ".join(report.missing[:20]))
