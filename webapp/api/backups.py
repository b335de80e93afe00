"""JSON endpoints for backups: list, make, read, download, restore (a backup, or an uploaded archive), delete,
and the schedules."""

from __future__ import annotations

from flask import g

from ..backups import downloads, service
from ..backups.schemas import (ArchiveUpload, Backup, BackupList, NewBackup, RestoreQueued, Schedule, ScheduleChanges,
                               ScopeQuery, missing_file)
from ..web import absolute_url
from . import bp
from .contract import operation

NO_SUCH = {404: "No such backup of yours (an instance backup: admins only)."}
INSTANCE_ONLY_ADMINS = {404: "`scope=instance` and you are not an admin."}


@bp.get("/api/v1/backups")
@operation("listBackups", (200, BackupList, "Your backups, or the instance's."), tag="backups", query=ScopeQuery,
           errors=INSTANCE_ONLY_ADMINS)
def list_backups(query: ScopeQuery):
    """The newest 100 backups of your account, or of the whole instance, newest first (uploaded archives too)."""
    return BackupList(items=[Backup.of(b) for b in service.backups_of(g.api_user, query.scope)], next_cursor=None)


@bp.post("/api/v1/backups")
@operation("createBackup", (202, Backup, "Queued; `Location` is where to follow it."), tag="backups",
           json=NewBackup, body_optional=True,
           errors={**INSTANCE_ONLY_ADMINS, 409: "A backup of this scope is being made already."})
def create_backup(json: NewBackup | None):
    """Start a backup of your account (`{"scope": "account"}`, or no body), or of the whole instance.

    A job writes the archive, reads it back in full and checks every entry; only then is it `done`.
    """
    backup = service.start_backup(g.api_user, json.scope if json else "account")
    return Backup.of(backup), 202, {"Location": absolute_url("api.get_backup", backup_id=backup.id)}


@bp.get("/api/v1/backups/<backup_id>")
@operation("getBackup", (200, Backup, "The backup."), tag="backups", errors=NO_SUCH)
def get_backup(backup_id: str):
    """One backup: its status, progress while its job runs, and what it holds once done."""
    return Backup.of(service.get_backup_for(g.api_user, backup_id))


@bp.get("/api/v1/backups/<backup_id>/download")
@operation("downloadBackup", (200, None, "The archive (application/zip)."), tag="backups", streamed=True,
           also=(206, None, "The part asked for with `Range`."),
           errors={**NO_SUCH, 409: "The backup is not finished yet."})
def download_backup(backup_id: str):
    """The archive itself. `Range` and `If-None-Match` work, so a cut download can resume."""
    return downloads.send_archive(service.get_backup_for(g.api_user, backup_id))


@bp.post("/api/v1/backups/<backup_id>/restore")
@operation("restoreBackup", (202, RestoreQueued, "The restore is queued."), tag="backups",
           errors={**NO_SUCH, 409: "The backup is not finished, is being restored already, or is an instance "
                                   "backup and this instance is not empty."})
def restore_backup(backup_id: str):
    """Restore an account backup into your account: what is there already (same id or same file) is left as it
    is, so restoring twice adds nothing the second time. An instance backup restores only into an empty instance."""
    job = service.start_restore(g.api_user, service.get_backup_for(g.api_user, backup_id))
    return RestoreQueued.of(job), 202


@bp.post("/api/v1/backups/restore")
@operation("restoreUploadedBackup", (202, RestoreQueued, "Kept as an uploaded backup; the restore is queued."),
           tag="backups", form=ArchiveUpload, errors={
               400: "Not a Shoebox archive, or one that is damaged, of the other scope or from a newer Shoebox; "
                    "`error.message` says which and `error.field` is `file`.",
               404: INSTANCE_ONLY_ADMINS[404], 409: "`scope=instance`: this instance is not empty.", 413: None})
def restore_uploaded_backup(form: ArchiveUpload | None):
    """Upload an archive (multipart, in `file`) and restore it into your account, as POST …/{id}/restore does.

    The archive is checked before it is kept; it then shows in the list as an `uploaded` backup.
    """
    if form is None:  # not multipart at all
        raise missing_file()
    return RestoreQueued.of(service.restore_upload(g.api_user, form.scope, form.file.stream)), 202


@bp.delete("/api/v1/backups/<backup_id>")
@operation("deleteBackup", (204, None, "Deleted."), tag="backups",
           errors={**NO_SUCH, 409: "The backup is being made or restored."})
def delete_backup(backup_id: str):
    """Delete a backup and its archive."""
    service.delete_backup(g.api_user, service.get_backup_for(g.api_user, backup_id))
    return "", 204


@bp.get("/api/v1/backups/schedule")
@operation("getBackupSchedule", (200, Schedule, "The schedule (off until set)."), tag="backups", query=ScopeQuery,
           errors=INSTANCE_ONLY_ADMINS)
def get_backup_schedule(query: ScopeQuery):
    """When your account (or the instance) is backed up, and how many scheduled backups are kept."""
    return Schedule.of(service.schedule_of(g.api_user, query.scope))


@bp.put("/api/v1/backups/schedule")
@operation("setBackupSchedule", (200, Schedule, "The schedule as it is now."), tag="backups", query=ScopeQuery,
           json=ScheduleChanges, errors=INSTANCE_ONLY_ADMINS)
def set_backup_schedule(query: ScopeQuery, json: ScheduleChanges):
    """Back up daily or weekly at an hour (UTC), and keep the newest scheduled backup of so many days, weeks
    and months (like restic's --keep-daily/weekly/monthly). Backups you start yourself are kept until deleted."""
    schedule = service.schedule_of(g.api_user, query.scope)
    return Schedule.of(service.save_schedule(g.api_user, query.scope, json.over(schedule)))
