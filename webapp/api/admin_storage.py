"""JSON endpoints for Admin → Storage: the stores and what the active one holds, a move's dry run, the move
itself, and (once a move is done) deleting the old copies. Permission manage_settings; anyone without it
gets 404."""

from __future__ import annotations

from flask import g

from ..admin.storage_schemas import MoveJob, MovePlan, MoveRequest, StorageOverview
from ..auth import permissions
from ..stores import service
from ..web import absolute_url
from . import bp
from .contract import operation

NOT_ADMIN = {404: "You do not hold the manage_settings permission."}
REFUSED = {400: "The move cannot be made: `target` names no configured store, the store the files are in "
                "already, or a store that is full, unreachable or holds another site's files; or a move is under "
                "way. `error.message` says which and `error.field` is `target`."}


@bp.get("/api/v1/admin/storage")
@operation("getStorage", (200, StorageOverview, "The stores, the state of moves and what the active store holds."),
           tag="admin", admit=permissions.api_needs("manage_settings"), errors=NOT_ADMIN)
def get_storage():
    """Every configured store (the active one first), which one the site uses, a move under way, the files and
    bytes the site keeps, and the job of a move that is under way or stopped unfinished."""
    return StorageOverview.of(service.configured(), service.current(), service.usage(), service.current_job())


@bp.post("/api/v1/admin/storage/move")
@operation("moveStorage", (200, MovePlan, "The dry run: what the move would copy, and about how long it takes."),
           also=(202, MoveJob, "The move is queued; `Location` is where to follow its job."), tag="admin",
           json=MoveRequest, admit=permissions.api_needs("manage_settings"), errors={**NOT_ADMIN, **REFUSED})
def move_storage(json: MoveRequest):
    """Move every file to another configured store. With `dry_run` (the default) nothing is copied: the answer
    says how many files and bytes would be, an estimate of the time and the target's free space.

    With `"dry_run": false` a job copies the files while the site keeps working; new uploads go to the new
    store once the move starts, and the old copies are left where they were.
    """
    if json.dry_run:
        return MovePlan.of(service.plan_move(json.target))
    job = service.start_move(g.api_user, json.target)
    return MoveJob.of(job), 202, {"Location": absolute_url("api.get_job", job_id=job.id)}


@bp.post("/api/v1/admin/storage/cleanup")
@operation("cleanUpStorage", (202, MoveJob, "The clean-up is queued; `Location` is where to follow its job."),
           tag="admin", admit=permissions.api_needs("manage_settings"),
           errors={**NOT_ADMIN, 400: "No finished move left copies behind, a move is under way or the copies "
                                     "are being removed already; `error.field` is `target`."})
def clean_up_storage():
    """Delete the copies a finished move left in the store it moved the files from."""
    job = service.start_cleanup(g.api_user)
    return MoveJob.of(job), 202, {"Location": absolute_url("api.get_job", job_id=job.id)}
