"""How often each photo's original was viewed (media.views), counted without a write per request.

count() adds one to an in-process tally keyed by photo; a daemon thread adds the tally to media.views
every FLUSH_SECONDS in one UPDATE per photo, and the rest is written when the process exits normally.
Serving pays a lock and a dict increment instead of an UPDATE, a commit and the reload of the row the
commit expired. Several instances each keep their own tally; the additions are exact across them.
A process killed outright loses at most the last second of views.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

from flask import Flask, current_app
from sqlalchemy import update

from ..extensions import db
from ..flushing import Flusher
from ..models import Media

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
# A database that stays unreachable this many flushes in a row costs the views that wait.
MOST_FAILURES = 60
EXTENSION = "shoebox_views"


class ViewCounter:
    """One app's waiting views and the thread that writes them (started on the first view, ended when idle)."""

    def __init__(self, app: Flask):
        self.app = app
        self._waiting: Counter[str] = Counter()
        self._lock = threading.Lock()  # guards _waiting, _thread and _stopped
        self._writing = threading.Lock()  # one flush at a time: flush() returns once every earlier view is in
        self._failures = 0
        self.flusher = Flusher("shoebox-views", FLUSH_SECONDS, self.flush, lambda: bool(self._waiting))

    def add(self, media_id: str) -> None:
        """Count one view of `media_id`; this is all a request pays."""
        with self._lock:
            self._waiting[media_id] += 1
        self.flusher.poke()

    def flush(self) -> int:
        """Add every waiting view to media.views now; returns how many photos' counts were written."""
        with self._writing:
            with self._lock:
                batch, self._waiting = self._waiting, Counter()
            if not batch:
                return 0
            try:
                self._write(batch)
            except Exception as error:
                self._keep(batch, error)
                return 0
            self._failures = 0
            return len(batch)

    def _write(self, batch: Counter[str]) -> None:
        with self.app.app_context():
            for media_id, views in sorted(batch.items()):  # one order everywhere: no deadlock between instances
                db.session.execute(update(Media).where(Media.id == media_id).values(views=Media.views + views))
            db.session.commit()

    def _keep(self, batch: Counter[str], error: Exception) -> None:
        """Put views that could not be written back for the next flush, unless the database has been gone long."""
        self._failures += 1
        if self._failures >= MOST_FAILURES or self.flusher.stopped:
            log.warning("Could not write the views of %d photos; they are dropped (%s).", len(batch),
                        error.__class__.__name__)
            self._failures = 0
            return
        log.warning("Could not write the views of %d photos; they wait for the next try (%s).", len(batch),
                    error.__class__.__name__)
        with self._lock:
            self._waiting.update(batch)

def counter_of(app: Flask | None = None) -> ViewCounter:
    """The app's view counter, made on first use."""
    app = app or current_app._get_current_object()
    counter = app.extensions.get(EXTENSION)
    if counter is None:
        counter = app.extensions.setdefault(EXTENSION, ViewCounter(app))
    return counter


def count(media_id: str) -> None:
    """Count one view of a photo's original (written to media.views within about a second)."""
    counter_of().add(media_id)


def flush(app: Flask | None = None) -> int:
    """Write the waiting views now (tests, backups; the thread and the exit do it by themselves)."""
    return counter_of(app).flush()


def stop(app: Flask) -> None:
    """Write what waits and end the app's thread, if it has counted any view (an app going away, in tests)."""
    counter = app.extensions.get(EXTENSION)
    if counter is not None:
        counter.flusher.stop()
