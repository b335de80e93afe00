"""JSON endpoint for background work: how a job of yours is getting on."""

from __future__ import annotations

from flask import g

from .. import jobs
from ..jobs.schemas import Job
from . import bp
from .contract import operation


@bp.get("/api/v1/jobs/<int(min=0, max=2147483647):job_id>")
@operation("getJob", (200, Job, "The job."), tag="jobs", errors={404: "No such job of yours."})
def get_job(job_id: int):
    """A job that works for you (a backup or restore you asked for, say): its state, progress and error.

    Admins may read any job.
    """
    return Job.of(jobs.get_job_for(g.api_user, job_id))
