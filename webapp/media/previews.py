"""A photo's preview (the 1600 px "medium" size), made after the upload has been answered.

An upload makes only what its answer needs (the original and the gallery thumbnail) and queues a
job for the preview in the transaction that commits the photo. A worker makes it on a thread of the
lowest CPU priority, so a stream of uploads is not slowed by the previews of the ones before it:
they catch up when the uploads stop. A page that wants the preview sooner makes it on the spot
(service.get_preset_for), and whichever of the two finishes second finds it there.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from .. import jobs
from ..extensions import db
from ..models import Job, Media, Variant, utcnow
from . import service

log = logging.getLogger(__name__)

# Its own decode slot, not one of service.IMAGE_WORK: a thread at nice 19 may wait long for the CPU
# while uploads run, and must not keep one of theirs meanwhile.
SLOT = threading.BoundedSemaphore(1)
KEEP_FINISHED = timedelta(days=1)


@jobs.handler(service.PREVIEW_JOB, title=_l("Photo preview"), max_attempts=3)
def make_preview(context: jobs.JobContext) -> dict:
    """Make the preview of the photo in the payload, unless it is gone or already has one."""
    app = current_app._get_current_object()
    return _idle_thread().submit(_make_in_app, app, context.payload["media_id"]).result()


def _make_in_app(app: Flask, media_id: str) -> dict:
    with app.app_context():
        try:
            media = db.session.get(Media, media_id)
            if media is None or media.kind != "image" or db.session.scalar(
                    select(Variant.id).where(Variant.media_id == media_id, Variant.spec == service.PREVIEW)):
                return {"made": False}
            service.make_preset(media, service.PREVIEW, slot=SLOT)
            return {"made": True}
        finally:
            db.session.remove()


def prune_finished() -> int:
    """Delete the rows of preview jobs that ended a day ago or more (one per upload: an import of 10,000
    photos would keep 10,000); returns how many. A failed one is kept for the admin to see."""
    cutoff = utcnow() - KEEP_FINISHED
    deleted = db.session.execute(delete(Job).where(Job.name == service.PREVIEW_JOB, Job.state == "done",
                                                   Job.finished_at < cutoff)).rowcount
    db.session.commit()
    return deleted


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _idle_thread() -> ThreadPoolExecutor:
    """One thread at the lowest CPU priority (nice 19), made on first use."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(1, thread_name_prefix="previews", initializer=_lowest_priority)
        return _POOL


def _lowest_priority() -> None:
    try:  # Linux gives each thread its own nice value
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        log.debug("Could not lower the previews thread's priority; previews run at normal priority.")
