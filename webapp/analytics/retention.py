"""Forgetting old views: events older than the retention period (Admin → Settings, else the config file's
analytics.retention_days) are deleted by a daily job."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select

from ..extensions import db
from ..models import ViewEvent, utcnow

log = logging.getLogger(__name__)

# Deleted a slice at a time, so that recording never waits long behind the job's write lock.
SLICE = 5000


def retention_days() -> int:
    """How many days view events are kept: the admin's setting (Admin → Settings), else analytics.retention_days."""
    from .. import instance

    return instance.get("analytics_retention_days") or current_app.config["SHOEBOX"]["analytics"]["retention_days"]


def prune_view_events() -> int:
    """Delete the events older than the retention period; returns how many went. Needs an app context."""
    cutoff = utcnow() - timedelta(days=retention_days())
    pruned = 0
    while True:
        oldest = select(ViewEvent.id).where(ViewEvent.at < cutoff).limit(SLICE)
        gone = db.session.execute(delete(ViewEvent).where(ViewEvent.id.in_(oldest))
                                  .execution_options(synchronize_session=False)).rowcount
        db.session.commit()
        pruned += gone
        if gone < SLICE:
            break
    if pruned:
        log.info("Pruned %d view events older than %s.", pruned, cutoff.date().isoformat())
    return pruned
