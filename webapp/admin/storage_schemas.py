"""What Admin → Storage takes in and gives out: the page's form, and the API's models.

The form only carries the store's name (and CSRF); webapp.stores.service checks it, for the page and the
API alike, so a store that cannot be moved to gets the same sentence, naming the field `target`, from either.
"""

from __future__ import annotations

from typing import Literal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from pydantic import Field
from wtforms import HiddenField

from .. import models
from ..jobs.schemas import Job
from ..schemas import Body, Out

# --- the page's form ---------------------------------------------------------------------------------


class MoveForm(FlaskForm):
    """A "Move to …" button, its dry run's confirm button and the clean-up button: the store, and CSRF."""

    target = HiddenField(_l("Store"))


# --- the API -----------------------------------------------------------------------------------------

class Store(Out):
    """A store configured in every instance's config ([storage], or a [stores.<name>] table)."""

    name: str = Field(description="`storage` for the [storage] table, else the name of a [stores.<name>] table.",
                      examples=["b2"])
    url: str = Field(description="Where the files are, without credentials.", examples=["s3://photos/shoebox"])
    kind: Literal["local", "s3", "memory"]
    active: bool = Field(description="Whether the site keeps its files here now.")


class StorageState(Out):
    active: str = Field(description="The store the site keeps its files in now.")
    moving_to: str | None = Field(description="The store a move under way copies the files to; null when none is.")
    previous: str | None = Field(description="The store the files were last moved from (its copies are left "
                                             "there); null before any move.")
    job_id: int | None = Field(description="The job of a move under way or stopped unfinished; null otherwise.")


class Usage(Out):
    objects: int = Field(ge=0, description="Files the site keeps: originals and their saved sizes and versions.")
    bytes: int = Field(ge=0, description="What they take, in bytes.")


class MoveJob(Job):
    """A move's job, with its counts while it runs."""

    items: int | None = Field(description="Files copied so far; null before the job says.")
    items_total: int | None = Field(description="Files to copy; null before the job has counted them.")
    bytes_done: int | None = Field(description="Bytes copied so far.")
    bytes_total: int | None = Field(description="Bytes to copy.")
    seconds_left: int | None = Field(description="An estimate of the time left, in seconds.")

    @classmethod
    def of(cls, job: models.Job) -> MoveJob:
        detail = job.detail or {}
        return cls(**Job.of(job).model_dump(), items=detail.get("items"), items_total=detail.get("items_total"),
                   bytes_done=detail.get("bytes"), bytes_total=detail.get("bytes_total"),
                   seconds_left=detail.get("seconds_left"))


class StorageOverview(Out):
    stores: list[Store] = Field(description="Every configured store, the active one first.")
    state: StorageState
    usage: Usage
    job: MoveJob | None = Field(description="The job of a move that is under way or stopped before it finished; "
                                            "null otherwise.")
    cleanup: bool = Field(description="Whether a finished move left copies in the previous store that POST "
                                      "/api/v1/admin/storage/cleanup would delete.")

    @classmethod
    def of(cls, stores, state, usage, job: models.Job | None) -> StorageOverview:
        """From webapp.stores.service's StoreChoice list, StoreState and Usage, and the move's job."""
        listed = sorted(stores, key=lambda store: not store.active)
        return cls(stores=[Store(name=s.name, url=s.url, kind=s.kind, active=s.active) for s in listed],
                   state=StorageState(active=state.active, moving_to=state.moving_to, previous=state.previous,
                                      job_id=state.job_id),
                   usage=Usage(objects=usage.objects, bytes=usage.bytes),
                   job=MoveJob.of(job) if job is not None else None,
                   cleanup=bool(state.previous and not state.moving_to))


class MoveRequest(Body):
    target: str = Field(min_length=1, max_length=32, description="The store to move the files to (its name).",
                        examples=["b2"])
    dry_run: bool = Field(True, description="`true` (the default): only say what the move would copy and how "
                                            "long it would take; `false`: start it.")


class MovePlan(Out):
    """What a move would do, measured without copying anything."""

    target: str
    objects: int = Field(ge=0, description="Files to copy.")
    bytes: int = Field(ge=0, description="Bytes to copy.")
    seconds_estimate: int = Field(ge=0, description="About how long the copy would take, in seconds.")
    free_bytes: int | None = Field(description="Free space in the target store; null when the store cannot tell "
                                               "(S3 and B2 never can).")

    @classmethod
    def of(cls, plan) -> MovePlan:
        """From webapp.stores.service's MovePlan."""
        return cls(target=plan.target, objects=plan.objects, bytes=plan.bytes,
                   seconds_estimate=plan.seconds_estimate, free_bytes=plan.free_bytes)
