"""The integrity check: blobs no row points at (orphans) and rows whose blob is gone (missing).

An upload writes its blobs before its row, so a crash can leave orphans behind. Only orphans
older than a grace period are removed, so an upload still in flight is never touched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select

from .. import jobs
from ..extensions import blob_store, db
from ..models import Media, Variant, utcnow

log = logging.getLogger(__name__)

GRACE = timedelta(hours=6)
PREFIXES = ("originals", "variants")


@dataclass
class Report:
    orphans: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # "media:<id>" or "variant:<id>"


def check(remove_orphans: bool = False, grace: timedelta = GRACE) -> Report:
    """Compare storage with the database; optionally delete orphans older than `grace`."""
    store = blob_store()
    stored = {key for prefix in PREFIXES for key in store.keys(prefix)}
    rows = {key: f"media:{media_id}" for key, media_id in db.session.execute(select(Media.storage_key, Media.id))}
    rows.update({key: f"variant:{vid}" for key, vid in db.session.execute(select(Variant.storage_key, Variant.id))})
    report = Report(orphans=sorted(stored - set(rows)), missing=sorted(rows[key] for key in set(rows) - stored))
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


@jobs.scheduled("integrity_check", "cron", hour=4, minute=7)
def run_integrity_check() -> None:
    """Daily: remove old orphan blobs and log rows whose blobs are missing."""
    report = check(remove_orphans=True)
    if report.removed:
        log.info("Integrity check removed %d orphan blobs.", len(report.removed))
    if report.missing:
        log.error("Integrity check: %d rows point at missing blobs: %s", len(report.missing),
                  ", ".join(report.missing[:20]))
