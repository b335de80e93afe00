"""Moving the files to another store, as the admin pages and `flask storage` see it: the stores this
instance knows, where the files are, a dry run, and starting a move or the clean-up afterwards."""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit
from urllib.request import url2pathname

from flask_babel import gettext as _
from sqlalchemy import func, select

from .. import audit, cluster, jobs
from ..errors import InvalidInput, NotFound
from ..extensions import blob_store, db
from ..i18n import human_size
from ..models import Job, Media, User, Variant, utcnow
from ..storage import BlobNotFound, BlobStore, StorageError
from . import location, moving
from .location import StoreState

__all__ = ["StoreChoice", "StoreState", "Usage", "MovePlan", "configured", "current", "usage", "plan_move",
           "start_move", "start_cleanup", "store_named"]

PROBE_BYTES = 256 << 10
# A start between its claim and its job holds off others this long at most (if it died there).
STARTING_SECONDS = 60


@dataclass
class StoreChoice:
    name: str
    url: str  # shown to admins; never the credentials
    kind: Literal["local", "s3", "memory"]
    active: bool


@dataclass
class Usage:
    objects: int
    bytes: int


@dataclass
class MovePlan:
    target: str
    objects: int
    bytes: int
    seconds_estimate: int
    free_bytes: int | None  # None: the target cannot tell (S3)


_KINDS = {"file": "local", "s3": "s3", "memory": "memory"}


def configured() -> list[StoreChoice]:
    """Every store this instance's configuration names, the one the files are in marked active."""
    active = current().active
    return [StoreChoice(name, table["url"], _KINDS[urlsplit(table["url"]).scheme], name == active)
            for name, table in location.tables().items()]


def current() -> StoreState:
    """Where the files are, and whether a move is under way."""
    return location.current()


def usage() -> Usage:
    """How many files the database names (originals and variants) and their bytes."""
    media = db.session.execute(select(func.count(Media.id), func.coalesce(func.sum(Media.size), 0))).one()
    variants = db.session.execute(select(func.count(Variant.id), func.coalesce(func.sum(Variant.size), 0))).one()
    return Usage(objects=int(media[0]) + int(variants[0]), bytes=int(media[1]) + int(variants[1]))


def store_named(name_or_url: str) -> str:
    """The name of the configured store called `name_or_url`, or whose url it is; else InvalidInput."""
    stores = location.tables()
    if name_or_url in stores:
        return name_or_url
    for name, table in stores.items():
        if table["url"].rstrip("/") == str(name_or_url).rstrip("/"):
            return name
    raise InvalidInput(_("No store called %(name)s is configured: add a [stores.<name>] table with its url and "
                         "credentials to the configuration of every instance, then restart them.",
                         name=name_or_url), field="target")


def plan_move(target: str) -> MovePlan:
    """The dry run: check that the files can move to `target` and say how much there is to copy."""
    name = store_named(target)
    state = _movable_state(name)
    tables = location.tables()
    _refuse_overlap(state.active, name, tables)
    store = blob_store().named(name)
    seconds_per_probe = _probe(name, store)
    _refuse_foreign(name, store)
    needed = usage()
    free = _free_bytes(tables[name])
    if free is not None and free < needed.bytes:
        raise InvalidInput(_("The store %(name)s has %(free)s free, and the files take %(needed)s: free some space "
                             "or choose another store.", name=name, free=human_size(free),
                             needed=human_size(needed.bytes)), field="target")
    return MovePlan(target=name, objects=needed.objects, bytes=needed.bytes, free_bytes=free,
                    seconds_estimate=_estimate(needed, seconds_per_probe))


def _movable_state(name: str) -> StoreState:
    state = current()
    if state.moving_to:
        job = db.session.get(Job, state.job_id) if state.job_id else None
        if job is not None and job.state in ("queued", "running"):
            raise InvalidInput(_("The files are being moved to %(name)s already; wait for that move to finish.",
                                 name=state.moving_to), field="target")
        if state.moving_to != name:
            raise InvalidInput(_("A move to %(name)s stopped before it finished: start it again to finish it "
                                 "first.", name=state.moving_to), field="target")
        return state
    if name == state.active:
        raise InvalidInput(_("The files are in %(name)s already.", name=name), field="target")
    if state.previous and state.previous != name:
        # A move copies from the active store only: a file left only in the old store would be lost to it.
        raise InvalidInput(_("Remove the old copies from %(name)s first (a move copies from the current store "
                             "only, and any file only they hold is copied over first).", name=state.previous),
                           field="target")
    if db.session.scalar(select(Job.id).where(Job.name == "storage_cleanup", Job.state.in_(("queued", "running")))):
        # It deletes from the old store what it finds on the active one: a move now would lose files to it.
        raise InvalidInput(_("The old copies are being removed; start the move once that is done."), field="target")
    return state


def _refuse_overlap(source: str, target: str, tables: dict) -> None:
    """Two names for one place (or one inside the other) would copy files onto themselves."""
    a, b = _place(tables[source]), _place(tables[target])
    if a[0] == b[0] and (a[1] == b[1] or a[1].startswith(b[1] + "/") or b[1].startswith(a[1] + "/")):
        raise InvalidInput(_("The store %(target)s is the same folder or bucket as %(source)s (or inside it): "
                             "choose another place.", target=target, source=source), field="target")


def _place(table: dict) -> tuple[str, str]:
    parts = urlsplit(table["url"])
    if parts.scheme == "file":
        return "file", os.path.abspath(url2pathname(parts.path)).rstrip("/")
    host = table.get("endpoint_url") or "aws"
    return f"{parts.scheme}:{host}", f"/{parts.netloc}/{parts.path.strip('/')}".rstrip("/")


def _probe(name: str, store: BlobStore) -> float:
    """Write, read back and delete a small file on the store; returns the seconds it took."""
    key, data = f"shoebox-probe-{secrets.token_hex(8)}", secrets.token_bytes(PROBE_BYTES)
    started = time.monotonic()
    try:
        store.put(key, data)
        with store.open(key) as back:
            same = back.read() == data
        store.delete(key)
    except (StorageError, ValueError) as error:
        raise InvalidInput(_("Shoebox could not write a test file to the store %(name)s and read it back "
                             "(%(reason)s): check the url, endpoint_url, key and secret of [stores.%(name)s].",
                             name=name, reason=str(error).rstrip(".")), field="target") from error
    if not same:
        raise InvalidInput(_("The store %(name)s gave back other bytes than Shoebox wrote to it.", name=name),
                           field="target")
    return time.monotonic() - started


def _refuse_foreign(name: str, store: BlobStore) -> None:
    """A target must be empty, or hold this site's marker (files left by an earlier move of this site)."""
    site = location.claim_site_id()
    try:
        with store.open(location.MARKER) as stream:
            marked = json.loads(stream.read(4096) or b"{}").get("site")
    except BlobNotFound:
        marked = None
    except (ValueError, AttributeError):
        marked = "unreadable"
    if marked == site:
        return
    if marked is not None or next(iter(store.keys()), None) is not None:
        raise InvalidInput(_("The store %(name)s holds files that are not this site's: choose an empty folder or "
                             "bucket.", name=name), field="target")


def _free_bytes(table: dict) -> int | None:
    parts = urlsplit(table["url"])
    if parts.scheme != "file":
        return None
    folder = os.path.abspath(url2pathname(parts.path))
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    return shutil.disk_usage(folder).free


def _estimate(needed: Usage, seconds_per_probe: float) -> int:
    """Seconds to copy, from the probe: its time per file, plus the bytes at the rate the probe moved them
    (written and read back), over the copying threads."""
    per_file = max(seconds_per_probe, 0.001)
    rate = 2 * PROBE_BYTES / per_file
    return math.ceil((needed.objects * per_file + needed.bytes / rate) / moving.COPY_THREADS)


def start_move(actor: User | None, target: str) -> Job:
    """Check as plan_move() does, then move the files to `target` in a job (new files go there at once)."""
    seen = _unclaimed()  # before the checks: a start that wins meanwhile changes it
    plan = plan_move(target)
    state = current()
    source = state.active
    _mark(blob_store().named(source))
    _mark(blob_store().named(plan.target))
    # New files go to the target from now on (before the job exists, so that its worker finds the state set).
    if location.claim(seen, moving_to=plan.target) is None:
        raise _started_meanwhile()
    cluster.announce("storage")
    job = jobs.enqueue("storage_move", {"source": source, "target": plan.target},
                       user_id=actor.id if actor else None)
    audit.record("storage_move_started", actor.id if actor else None, target=f"store:{plan.target}",
                 source=source, objects=plan.objects, bytes=plan.bytes, resumed=state.moving_to == plan.target)
    db.session.commit()
    location.change(job_id=job.id, starting=None)
    return job


STORAGE_JOBS = ("storage_move", "storage_cleanup")


def current_job() -> Job | None:
    """The move or clean-up under way, else the move the state still names (one that stopped unfinished)."""
    running = db.session.scalar(select(Job).where(Job.name.in_(STORAGE_JOBS), Job.state.in_(("queued", "running")))
                                .order_by(Job.id.desc()).limit(1))
    job_id = current().job_id
    return running or (db.session.get(Job, job_id) if job_id is not None else None)


def get_storage_job(job_id: int) -> Job:
    """A move or clean-up by its id (the caller checked manage_settings), or NotFound."""
    job = db.session.get(Job, job_id)
    if job is None or job.name not in STORAGE_JOBS:
        raise NotFound(_("There is no such job."), code="job_not_found")
    return job


def _unclaimed() -> str | None:
    """The row's claim, for location.claim(); refused while another start is between its claim and its job
    (or died there less than STARTING_SECONDS ago)."""
    row = location.read_row()
    starting = row.get("starting")
    if starting and utcnow() - datetime.fromisoformat(starting) < timedelta(seconds=STARTING_SECONDS):
        raise _started_meanwhile()
    return row.get("claim")


def _started_meanwhile() -> InvalidInput:
    return InvalidInput(_("A move or a removal of old copies was started a moment ago; see its progress on this "
                          "page."), field="target")


def _mark(store: BlobStore) -> None:
    """Write this site's marker to a store it keeps files in (a later move may then use it again)."""
    store.put(location.MARKER, json.dumps({"site": location.claim_site_id()}).encode(),
              content_type="application/json")


def start_cleanup(actor: User | None) -> Job:
    """Remove the previous store's copies in a job, after copying over any file only they hold."""
    seen = _unclaimed()
    state = current()
    if state.moving_to:
        raise InvalidInput(_("The files are still being moved; remove the old copies once the move is done."),
                           field="target")
    if not state.previous:
        raise InvalidInput(_("There are no old copies to remove."), field="target")
    if db.session.scalar(select(Job.id).where(Job.name == "storage_cleanup", Job.state.in_(("queued", "running")))):
        raise InvalidInput(_("The old copies are being removed already."), field="target")
    if location.claim(seen) is None:
        raise _started_meanwhile()
    job = jobs.enqueue("storage_cleanup", {"store": state.previous}, user_id=actor.id if actor else None)
    audit.record("storage_cleanup_started", actor.id if actor else None, target=f"store:{state.previous}")
    db.session.commit()
    location.change(starting=None)
    return job
