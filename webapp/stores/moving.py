"""The jobs that move every file from one store to another, and that remove the old copies afterwards.

storage_move: every key on the source, in key order, is streamed to the target while its SHA-256 is
taken, checked against the photo's recorded checksum (originals), then checked on the target (by the MD5
an S3 store reports for a single-part upload, else read back and hashed again), a few at a time. A cursor
in the database (the last key before which everything is copied and flushed) lets a run that was killed
continue: the keys after it, those that were in flight included, are copied and checked again. Then the
target becomes the active store (every instance is told), and a final sweep copies whatever appeared on
the source meanwhile, once every instance writes to the target: the state named the target for new files
before the job began, and instances read the state again within REFRESH_SECONDS, so the sweep waits until
GRACE_SECONDS after the run began (for a move of any size, that has passed while copying). The source
keeps its copies until storage_cleanup.

A file whose bytes on the source do not match its recorded checksum is not written to the target; the
others are copied, and the move then stops short of switching stores (failed, with the keys named):
the site keeps working as during the move, and the move can be started again once those photos have
been restored from a backup or deleted.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from collections.abc import Iterator
from contextlib import closing
from concurrent.futures import Future, ThreadPoolExecutor

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from .. import cluster, jobs
from ..extensions import db
from ..models import Media, Variant
from ..storage import BlobNotFound, BlobStore, StorageError
from . import location
from .router import REFRESH_SECONDS

log = logging.getLogger(__name__)

# Enough to keep a remote store busy; more only takes CPU and the storage client's one I/O loop from requests.
COPY_THREADS = 6
WINDOW = COPY_THREADS * 2  # keys in flight at most: a resumed run re-checks this many after the cursor
CURSOR_SECONDS = 1.0
# Long enough for every instance to read the new state: each re-reads it at least every REFRESH_SECONDS (at once
# when Redis tells it), and a write it began before then and ends after is copied on by the router itself. A file
# that still reaches only the old store after the sweep is copied by the clean-up before anything is deleted.
GRACE_SECONDS = REFRESH_SECONDS + 1
_CHUNK = 1 << 20


class Mismatch(StorageError):
    """The bytes on the source do not match the checksum recorded when the photo was uploaded."""


class _Copier:
    """Copies one key from the source to the target, checked on both sides; safe to call from many threads."""

    def __init__(self, source: BlobStore, target: BlobStore, expected: dict[str, str]):
        self.source, self.target, self.expected = source, target, expected

    def copy(self, key: str) -> int:
        """Copy `key`; returns its size (0 when it vanished from the source meanwhile)."""
        digest, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
        try:
            with self.source.open(key) as stream, self.target.writer(key, durable=False) as sink:
                while chunk := stream.read(_CHUNK):
                    digest.update(chunk)
                    md5.update(chunk)
                    sink.write(chunk)
                    size += len(chunk)
                wanted = self.expected.get(key)
                if wanted and digest.hexdigest() != wanted:
                    raise Mismatch(key)  # inside the writer: the target never shows these bytes
        except BlobNotFound:
            return 0  # deleted since the listing
        if self.target.md5(key) != md5.hexdigest():  # the store does not say, or says otherwise: read it back
            with self.target.open(key) as back:
                if _sha256(back) != digest.hexdigest():
                    self.target.delete(key)
                    raise StorageError(f"{key} read back from the target differs from what was written.")
        if not self.source.exists(key):
            # Deleted while it was copied: a deletion removes the source's copy before the target's, so either it
            # already removed this copy too, or this removes it (no orphan either way).
            self.target.delete(key)
            return 0
        return size


def _sha256(stream) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def originals_checksums() -> dict[str, str]:
    """storage key -> SHA-256 recorded for every original."""
    rows = db.session.execute(select(Media.storage_key, Media.sha256).execution_options(yield_per=5000))
    found = {key: sha for key, sha in rows if sha}
    db.session.commit()
    return found


def recorded_bytes() -> int:
    media = db.session.scalar(select(func.coalesce(func.sum(Media.size), 0)))
    variants = db.session.scalar(select(func.coalesce(func.sum(Variant.size), 0)))
    db.session.commit()
    return int(media) + int(variants)


def _stores(payload: dict) -> tuple[str, str, BlobStore, BlobStore]:
    from ..extensions import blob_store

    source, target = payload.get("source"), payload.get("target")
    router = blob_store()
    try:
        return source, target, router.named(source), router.named(target)
    except StorageError as error:
        raise jobs.Permanent(str(error)) from error


@jobs.handler("storage_move", title=_l("Moving the files to another store"), max_attempts=20)
def run_move(context) -> dict:
    # The state sent new files to the target before this run began, so every instance writes there by then.
    everyone_writes_to_target = time.monotonic() + GRACE_SECONDS
    source_name, target_name, source, target = _stores(context.payload)
    row = location.read_row()
    if row.get("active") == target_name and row.get("previous") == source_name and row.get("phase") == "sweep":
        return _finish(context, source, target, everyone_writes_to_target)  # killed after the switch: sweep again
    if row.get("moving_to") != target_name or (row.get("active") or location.MAIN_STORE) != source_name:
        raise jobs.Permanent(f"The files are no longer being moved from {source_name} to {target_name}.")
    location.change(job_id=context.job_id)
    copier = _Copier(source, target, originals_checksums())
    _copy_all(context, copier, row)
    _retry_mismatched(context, copier, target_name)
    target.sync()
    location.change(active=target_name, moving_to=None, previous=source_name, phase="sweep", cursor=None)
    cluster.announce("storage")
    return _finish(context, source, target, everyone_writes_to_target)


def _copy_all(context, copier: _Copier, row: dict) -> None:
    """Copy every key after the cursor, a few at a time, saving the cursor as the copied prefix grows."""
    keys = [key for key in copier.source.keys() if key != location.MARKER]
    cursor = row.get("cursor") or ""
    todo = [key for key in keys if key > cursor]
    if cursor:  # a run was stopped: what it had in flight may have left unfinished uploads
        for key in todo[:WINDOW]:
            copier.target.discard_unfinished(key)
    done, copied = len(keys) - len(todo), int(row.get("bytes_done") or 0)
    mismatched = set(row.get("mismatched") or [])
    total = max(recorded_bytes(), copied)
    context.progress(items=done, items_total=len(keys), bytes_done=copied, bytes_total=total,
                     message=_("Copying the files to the new store."))
    saved = time.monotonic()
    with closing(_copied_in_order(copier, todo)) as outcomes:
        for cursor, size, matched in outcomes:
            copied, done = copied + size, done + 1
            if matched:
                mismatched.discard(cursor)
            else:
                mismatched.add(cursor)
            if time.monotonic() - saved >= CURSOR_SECONDS:
                _save(copier.target, cursor, copied, mismatched)
                saved = time.monotonic()
                context.progress(items=done, bytes_done=copied, bytes_total=max(total, copied))
    _save(copier.target, cursor, copied, mismatched)
    context.progress(items=done, bytes_done=copied, bytes_total=max(total, copied))


def _copied_in_order(copier: _Copier, keys: list[str]) -> Iterator[tuple[str, int, bool]]:
    """Copy `keys` on COPY_THREADS threads, at most WINDOW in flight; yield (key, bytes, matched) in key order."""
    flight: deque[tuple[str, Future]] = deque()
    with ThreadPoolExecutor(COPY_THREADS, thread_name_prefix="shoebox-move") as pool:
        try:
            for key in keys:
                flight.append((key, pool.submit(copier.copy, key)))
                if len(flight) >= WINDOW:
                    yield _outcome(*flight.popleft())
            while flight:
                yield _outcome(*flight.popleft())
        finally:
            for _key, future in flight:
                future.cancel()


def _outcome(key: str, future: Future) -> tuple[str, int, bool]:
    try:
        return key, future.result(), True
    except Mismatch:
        log.error("%s does not match its recorded checksum; it was not copied.", key)
        return key, 0, False


def _save(target: BlobStore, cursor: str, copied: int, mismatched: set[str]) -> None:
    target.sync()  # flushed before the cursor passes them
    location.change(cursor=cursor, bytes_done=copied, mismatched=sorted(mismatched))


def _retry_mismatched(context, copier: _Copier, target_name: str) -> None:
    """Try once more the files that did not match (restored meanwhile?); stop the move if any still does not."""
    still = []
    expected = originals_checksums()
    copier.expected = expected
    for key in location.read_row().get("mismatched") or []:
        context.check()
        if key not in expected:
            continue  # its photo was deleted
        try:
            copier.copy(key)
        except Mismatch:
            still.append(key)
    location.change(mismatched=still)
    if still:
        raise jobs.Permanent(
            f"{len(still)} file(s) on the old store do not match the checksum recorded at upload and were not "
            f"copied: {', '.join(still[:10])}. New files still go to {target_name} and every photo is still "
            "served; restore those photos from a backup or delete them, then start the move again.")


def _finish(context, source: BlobStore, target: BlobStore, deadline: float) -> dict:
    """Wait until every instance writes to the target (time.monotonic() reaches `deadline`), copy what reached
    the source meanwhile, end."""
    if time.monotonic() < deadline:
        context.progress(message=_("Waiting for every instance to write to the new store."))
    while time.monotonic() < deadline:
        context.check()
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    context.progress(message=_("Copying the files added during the move."))
    on_target = set(target.keys())
    late = [key for key in source.keys() if key != location.MARKER and key not in on_target]
    copier = _Copier(source, target, originals_checksums())
    skipped = []
    for key in late:
        context.check()
        try:
            copier.copy(key)
        except Mismatch:
            skipped.append(key)  # stays on the old store, from where reads still find it
    target.sync()
    location.change(phase=None, job_id=None, bytes_done=None, mismatched=skipped or None)
    cluster.announce("storage")
    context.progress(1.0, message=_("The files are on the new store."))
    return {"source": context.payload.get("source"), "target": context.payload.get("target"),
            "objects": int(context.detail.get("items") or 0), "bytes": int(context.detail.get("bytes") or 0),
            "copied_late": len(late) - len(skipped), "not_copied": skipped}


@jobs.handler("storage_cleanup", title=_l("Removing the old copies of the files"), max_attempts=5)
def run_cleanup(context) -> dict:
    """Delete the previous store's copies, once every file the database names is on the active store."""
    from ..extensions import blob_store

    row = location.read_row()
    previous = row.get("previous")
    if not previous or row.get("moving_to"):
        raise jobs.Permanent("There are no old copies to remove.")
    router = blob_store()
    active, old = router.named(row.get("active") or location.MAIN_STORE), router.named(previous)
    on_active = set(active.keys())
    referenced = [key for (key,) in db.session.execute(select(Media.storage_key))]
    referenced += [key for (key,) in db.session.execute(select(Variant.storage_key))]
    db.session.commit()
    # A file only on the old store (written there by an instance that had not heard of the move yet, after the
    # move's last sweep) is copied over, checked like the move's own copies, before anything is deleted.
    stragglers = [key for key in referenced if key not in on_active and old.exists(key)]
    copier = _Copier(old, active, originals_checksums())
    for key in stragglers:
        try:
            copier.copy(key)
        except Mismatch:
            raise jobs.Permanent(f"{key} on the old store no longer matches its recorded checksum; the old copies "
                                 "were kept.") from None
        on_active.add(key)
    keys = [key for key in old.keys() if key in on_active and key != location.MARKER]
    for done, key in enumerate(keys, 1):
        old.delete(key)
        if done % 100 == 0:
            context.progress(items=done, items_total=len(keys))
    location.change(previous=None)
    cluster.announce("storage")
    current_app.logger.info("Removed %d old copies from the store %s.", len(keys), previous)
    return {"removed": len(keys), "store": previous}
