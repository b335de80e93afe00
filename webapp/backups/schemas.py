"""The JSON of backups: what the API accepts to make one, upload one and change a schedule, and how it shows
a backup, a restore's job and a schedule."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from .. import models
from ..errors import InvalidInput
from ..jobs.schemas import Job
from ..schemas import Body, Out, Query, Timestamp, Url, iso
from ..web import absolute_url
from . import service

Scope = Literal["account", "instance"]
SCOPE = ("`account`: yours (the default). `instance`: the whole instance, for admins only (anyone else gets "
         "404).")
# The service's bounds (save_schedule), so that the document says them too.
KEEP_DAILY, KEEP_WEEKLY, KEEP_MONTHLY = 365, 520, 240


# --- requests ---------------------------------------------------------------------------------

class ScopeQuery(Query):
    scope: Scope = Field("account", description=SCOPE)


class NewBackup(Body):
    scope: Scope = Field("account", description=SCOPE)


class ArchiveUpload(BaseModel):
    """A multipart upload of a Shoebox archive in `file`, spooled to disk, never held in memory."""

    model_config = ConfigDict(extra="ignore", arbitrary_types_allowed=True, json_schema_extra={"required": ["file"]})

    file: Annotated[Any, WithJsonSchema({"type": "string", "format": "binary",
                                         "description": "A Shoebox backup archive (.zip)."})] = None
    scope: Scope = Field("account", description="What the archive is of: `account` restores into your account "
                                                "(adding only what is not there yet); `instance` restores only "
                                                "into an empty instance, so here it is always refused (409).")

    @model_validator(mode="after")
    def needs_a_file(self):
        if not hasattr(self.file, "stream"):
            raise missing_file()
        return self


def missing_file() -> InvalidInput:
    """The refusal of an upload without its archive (no file part, or not multipart at all)."""
    return InvalidInput(_("Send the archive as multipart form data in a field named file."), code="missing_file",
                        field="file")


class ScheduleChanges(Body):
    """Fields left out keep their current value."""

    frequency: Literal["off", "daily", "weekly"] = Field(None, description="`off` stops scheduled backups.")
    hour: int = Field(None, ge=0, le=23, description="The hour (UTC) a scheduled backup starts.")
    weekday: int = Field(None, ge=0, le=6, description="Weekly backups only: the day, 0 = Monday … 6 = Sunday.")
    keep_daily: int = Field(None, ge=0, le=KEEP_DAILY, description="Keep the newest scheduled backup of this "
                                                                   "many days.")
    keep_weekly: int = Field(None, ge=0, le=KEEP_WEEKLY, description="… of this many weeks.")
    keep_monthly: int = Field(None, ge=0, le=KEEP_MONTHLY, description="… of this many months. While the "
                                                                        "schedule is on, at least one of the "
                                                                        "three must be above 0.")

    def over(self, schedule: models.BackupSchedule) -> service.ScheduleInput:
        """The schedule's values with this body's in place of them."""
        names = ("frequency", "hour", "weekday", "keep_daily", "keep_weekly", "keep_monthly")
        return service.ScheduleInput(**{name: getattr(self if name in self.model_fields_set else schedule, name)
                                        for name in names})


# --- responses --------------------------------------------------------------------------------

class Backup(Out):
    id: str
    scope: Scope
    origin: Literal["manual", "scheduled", "uploaded"] = Field(
        description="`uploaded`: an archive someone uploaded to restore from.")
    status: Literal["pending", "running", "done", "failed"] = Field(
        description="`done` only once the archive was read back in full and every checksum matched.")
    progress: float = Field(ge=0, le=1, description="How far its job is, from 0 to 1; 1 when done.")
    size: int = Field(ge=0, description="Bytes of the archive (0 until it is done).")
    sha256: str | None = Field(description="Of the whole archive file; null until it is done.")
    counts: dict[str, int] = Field(description="Rows per table in the archive (empty for an encrypted upload, "
                                               "whose contents are read when it is restored).")
    encrypted: bool = Field(description="Encrypted with age and backups.passphrase (instance backups).")
    error: str | None = Field(description="Why it failed, in one sentence.")
    created_at: Timestamp
    finished_at: Timestamp | None
    verified_at: Timestamp | None = Field(description="When every entry was last read back and checked.")
    download_url: Url | None = Field(description="The archive (Range requests work); null until it is done.")
    job_id: int | None = Field(description="The job making it (see GET /api/v1/jobs/{id}).")

    @classmethod
    def of(cls, backup: models.Backup) -> Backup:
        """A backup as the API shows it."""
        done = backup.status == "done"
        return cls(id=backup.id, scope=backup.scope, origin=backup.origin, status=backup.status,
                   progress=_progress(backup), size=backup.size, sha256=backup.sha256 or None,
                   counts=backup.counts or {}, encrypted=backup.encrypted, error=backup.error or None,
                   created_at=iso(backup.created_at), finished_at=iso(backup.finished_at),
                   verified_at=iso(backup.verified_at), job_id=backup.job_id,
                   download_url=absolute_url("api.download_backup", backup_id=backup.id) if done else None)


def _progress(backup: models.Backup) -> float:
    if backup.status == "done":
        return 1.0
    return _fraction(backup.job.progress) if backup.job is not None else 0.0


def _fraction(value: float | None) -> float:
    return round(min(max(value or 0.0, 0.0), 1.0), 4)


class BackupList(Out):
    items: list[Backup] = Field(description="Newest first; at most 100.")
    next_cursor: None = Field(description="Always null: the list is one page.")


class RestoreQueued(Out):
    """The restore's job; follow it with GET /api/v1/jobs/{id}."""

    job: Job

    @classmethod
    def of(cls, job: models.Job) -> RestoreQueued:
        return cls(job=Job.of(job))


class Schedule(Out):
    scope: Scope
    frequency: Literal["off", "daily", "weekly"]
    hour: int = Field(ge=0, le=23, description="UTC.")
    weekday: int = Field(ge=0, le=6, description="0 = Monday … 6 = Sunday (weekly backups).")
    keep_daily: int = Field(ge=0)
    keep_weekly: int = Field(ge=0)
    keep_monthly: int = Field(ge=0)
    next_run_at: Timestamp | None = Field(description="When the next scheduled backup starts; null when off.")

    @classmethod
    def of(cls, schedule: models.BackupSchedule) -> Schedule:
        return cls(scope=schedule.scope, frequency=schedule.frequency, hour=schedule.hour, weekday=schedule.weekday,
                   keep_daily=schedule.keep_daily, keep_weekly=schedule.keep_weekly,
                   keep_monthly=schedule.keep_monthly, next_run_at=iso(schedule.next_run_at))
