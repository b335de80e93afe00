"""The buffer between serving and the view_events table.

record() hands each event to its app's EventWriter, which only appends a small tuple to a list: serving
never waits for the database. A daemon thread writes what waits in one batch every FLUSH_SECONDS (sooner
once BATCH events wait), reading device, browser and OS from the User-Agent as it goes; when the process
exits normally (Ctrl-C, `docker stop`) the rest is written before it ends. A process killed outright
(kill -9, the kernel's out-of-memory killer) loses what was still waiting: at most the last second of events.

A database error while writing is logged and that batch dropped: statistics must never break serving.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import NamedTuple

from flask import Flask
from sqlalchemy import insert

from ..extensions import db
from ..flushing import Flusher
from ..models import ViewEvent
from .agents import describe

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
BATCH = 500
# A database far behind (or gone) must not eat the memory: past this many waiting, new events are dropped.
MOST_WAITING = 50_000
EXTENSION = "shoebox_analytics"


class Event(NamedTuple):
    """One view, download or wrong password as the request left it; the User-Agent is read later."""

    kind: str
    owner_id: int
    media_id: str | None
    share_id: str | None
    at: datetime
    visitor: str
    referrer_host: str
    user_agent: str


class EventWriter:
    """One app's waiting events and the thread that writes them (started on the first event, ended when idle)."""

    def __init__(self, app: Flask):
        self.app = app
        self._waiting: list[Event] = []
        self._lock = threading.Lock()  # guards _waiting and _dropping
        self._writing = threading.Lock()  # one batch at a time: flush() returns once every earlier event is in
        self._dropping = False
        self.flusher = Flusher("shoebox-analytics", FLUSH_SECONDS, self.flush, lambda: bool(self._waiting))

    def add(self, event: Event) -> None:
        """Queue one event; this is all a request pays."""
        with self._lock:
            if len(self._waiting) >= MOST_WAITING:
                if not self._dropping:
                    log.warning("%d view events wait to be written; new ones are dropped until they are.",
                                MOST_WAITING)
                self._dropping = True
                return
            self._waiting.append(event)
            if len(self._waiting) >= BATCH:
                self.flusher.hurry()
        self.flusher.poke()

    def flush(self) -> int:
        """Write every waiting event now; returns how many were taken (written, or dropped on an error)."""
        with self._writing:
            with self._lock:
                batch, self._waiting, self._dropping = self._waiting, [], False
            if batch:
                self._write(batch)
            return len(batch)

    def stop(self) -> None:
        """End the thread and write what waits (at exit, and when a test's app goes away)."""
        self.flusher.stop()

    def _write(self, batch: list[Event]) -> None:
        try:
            rows = [_row(event) for event in batch]
            with self.app.app_context():
                db.session.execute(insert(ViewEvent), rows)
                db.session.commit()
        except Exception:
            log.exception("Could not write %d view events; they are dropped.", len(batch))


def _row(event: Event) -> dict:
    agent = describe(event.user_agent)
    return {"owner_id": event.owner_id, "media_id": event.media_id, "share_id": event.share_id,
            "kind": event.kind, "at": event.at, "visitor": event.visitor, "referrer_host": event.referrer_host,
            "device": agent.device, "browser": agent.browser, "os": agent.os}


def writer_of(app: Flask) -> EventWriter:
    """The app's writer (made by init_app)."""
    return app.extensions[EXTENSION]
