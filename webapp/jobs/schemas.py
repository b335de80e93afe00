"""The JSON of a job: GET /api/v1/jobs/<id>, and wherever an answer says which job does the work."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .. import models
from ..schemas import Out, Timestamp, iso


class Job(Out):
    """One piece of background work (a backup, a restore, …) and how far it has got."""

    id: int
    name: str = Field(description="What kind of work, such as `backup` or `restore`.", examples=["backup"])
    state: Literal["queued", "running", "done", "failed", "cancelled"] = Field(
        description="queued: waiting for a worker (or for its next try after a failure); running; done; "
                    "failed: every try failed, `error` says why; cancelled.")
    progress: float = Field(ge=0, le=1, description="How much is done, from 0 to 1.")
    error: str | None = Field(description="Why the last try failed; null when none did.")
    created_at: Timestamp
    finished_at: Timestamp | None = Field(description="When it ended (done, failed or cancelled); null before.")

    @classmethod
    def of(cls, job: models.Job) -> Job:
        return cls(id=job.id, name=job.name, state=job.state, progress=round(min(max(job.progress or 0.0, 0.0), 1.0), 4),
                   error=job.error or None, created_at=iso(job.created_at), finished_at=iso(job.finished_at))
