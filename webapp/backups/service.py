"""Backups as people and the API see them: start one, list, download, delete, upload an archive,
restore, and the schedules with their retention. Everything long is a job (jobs.py in this package).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote, urlsplit, urlunsplit

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from .. import audit, jobs
from ..auth import permissions
from ..errors import Conflict, InvalidInput, NotFound
from ..extensions import db
from ..models import Backup, BackupSchedule, Job, User, utcnow
from . import archive, crypto, making, restoring

log = logging.getLogger(__name__)

SCOPES = ("account", "instance")
FREQUENCIES = ("off", "daily", "weekly")
UPLOAD_CHUNK = 1 << 20


def new_id() -> str:
    return secrets.token_urlsafe(16)


def may_manage(user: User | None, scope: str) -> bool:
    """Whether `user` may make, see and restore backups of `scope` (instance: with manage_backups only)."""
    return user is not None and (scope == "account" or permissions.has(user, "manage_backups"))


def _check_scope(user: User, scope: str) -> None:
    if scope not in SCOPES:
        raise InvalidInput(_("The scope must be account or instance."), field="scope")
    if not may_manage(user, scope):
        raise NotFound()


def get_backup_for(user: User | None, backup_id: str) -> Backup:
    """The backup if `user` may see it (their account's, or any instance backup for an admin); else 404."""
    backup = db.session.get(Backup, backup_id) if isinstance(backup_id, str) and len(backup_id) <= 22 else None
    if backup is None or user is None:
        raise NotFound(_("There is no such backup."))
    if backup.scope == "instance" and permissions.has(user, "manage_backups"):
        return backup
    if backup.scope == "account" and backup.user_id == user.id:
        return backup
    raise NotFound(_("There is no such backup."))


def backups_of(user: User, scope: str, limit: int = 100) -> list[Backup]:
    """The newest backups of the user's account or (admins only, else NotFound) of the instance."""
    _check_scope(user, scope)
    statement = select(Backup).where(Backup.scope == scope)
    if scope == "account":
        statement = statement.where(Backup.user_id == user.id)
    return list(db.session.scalars(statement.order_by(Backup.created_at.desc(), Backup.id).limit(limit)))


def in_progress(user: User, scope: str) -> Backup | None:
    statement = select(Backup).where(Backup.scope == scope, Backup.status.in_(("pending", "running")),
                                     Backup.origin != "uploaded")
    if scope == "account":
        statement = statement.where(Backup.user_id == user.id)
    return db.session.scalars(statement.limit(1)).first()


def being_made(backup: Backup) -> bool:
    """Whether the backup is still to be made: waiting, being written, or failed with a retry to come."""
    if backup.origin == "uploaded":
        return False
    return backup.status in ("pending", "running") or (backup.job is not None and
                                                        backup.job.state in ("queued", "running"))


def start_backup(actor: User, scope: str, *, origin: str = "manual") -> Backup:
    """Queue a backup of the actor's account or of the instance; the job is committed with the row."""
    _check_scope(actor, scope)
    if in_progress(actor, scope):
        raise Conflict(_("A backup is being made already; wait for it to finish."))
    backup = _new_backup(scope, actor.id if scope == "account" else None, actor.id, origin)
    job = jobs.enqueue("backup", {"backup_id": backup.id}, user_id=actor.id)
    backup.job_id = job.id
    audit.record("backup_started", actor.id, target=f"backup:{backup.id}", scope=scope)
    db.session.commit()
    return backup


def _new_backup(scope: str, user_id: int | None, created_by: int | None, origin: str) -> Backup:
    backup = Backup(id=new_id(), scope=scope, user_id=user_id, created_by=created_by, origin=origin,
                    status="pending", storage_key="", encrypted=False, size=0, sha256="", counts={}, error="",
                    created_at=utcnow())
    db.session.add(backup)
    db.session.flush()
    return backup


def delete_backup(actor: User, backup: Backup) -> None:
    """Delete the archive and its row; a backup being made or restored from cannot be deleted."""
    if backup.status in ("pending", "running") and backup.origin != "uploaded":
        raise Conflict(_("This backup is still being made; wait for it to finish."))
    if _restoring(backup):
        raise Conflict(_("This backup is being restored; wait for the restore to finish."))
    if backup.storage_key:
        making.backup_store().delete(backup.storage_key)
    audit.record("backup_deleted", actor.id, target=f"backup:{backup.id}", scope=backup.scope)
    db.session.delete(backup)
    db.session.commit()


def _restoring(backup: Backup) -> bool:
    for job in db.session.scalars(select(Job).where(Job.name == "restore", Job.state.in_(("queued", "running")))):
        if (job.payload or {}).get("backup_id") == backup.id:
            return True
    return False


def download_name(backup: Backup) -> str:
    stamp = backup.created_at.strftime("%Y-%m-%d-%H%M")
    return f"shoebox-{backup.scope}-{stamp}{'-encrypted' if backup.encrypted else ''}.zip"


# --- uploaded archives and restores ---

def receive_archive(actor: User | None, scope: str, stream, *, setup: bool = False) -> Backup:
    """Keep an uploaded archive in the backup store as a backup to restore from, after checking that
    it is a Shoebox archive of `scope` (an encrypted one is checked in full when it is restored).

    `setup`: an instance archive given on the setup page of an empty instance, by no one signed in.
    """
    if not setup:
        _check_scope(actor, scope)
    if stream is None:
        raise InvalidInput(_("Choose a backup archive to upload."), field="file")
    backup = _new_backup(scope, actor.id if actor and scope == "account" else None, actor.id if actor else None,
                         "uploaded")
    store = making.backup_store()
    key = f"uploaded/{backup.id}.zip"
    with store.writer(key, content_type="application/zip") as sink:
        hashing = archive.Hashing(sink)
        try:
            while chunk := stream.read(UPLOAD_CHUNK):
                hashing.write(chunk)
            sha256 = hashing.sha256
        finally:
            hashing.close()
    try:
        with store.open(key) as stored:
            encrypted = crypto.is_encrypted(stored)
            if not encrypted:
                reader = archive.Reader(stored, known_revisions=making.known_revisions())
                counts = dict(reader.manifest.get("counts") or {})
                if reader.scope != scope:
                    restoring._check_scope(reader, scope)
                reader.close()
            elif scope == "account":
                raise archive.ArchiveError(_("Account backups are never encrypted; this file is an encrypted "
                                             "instance backup."))
            else:
                counts = {}
    except archive.ArchiveError as error:
        db.session.rollback()
        store.delete(key)
        raise InvalidInput(str(error), code="invalid_archive", field="file") from error
    except BaseException:
        db.session.rollback()
        store.delete(key)
        raise
    backup.storage_key, backup.size, backup.sha256 = key, hashing.size, sha256
    backup.counts, backup.encrypted, backup.status, backup.finished_at = counts, encrypted, "done", utcnow()
    if actor is not None:
        audit.record("backup_uploaded", actor.id, target=f"backup:{backup.id}", scope=scope, size=hashing.size)
    db.session.commit()
    return backup


def preview(actor: User, backup: Backup) -> restoring.Preview:
    """What restoring this account backup into the actor's account would add."""
    if backup.scope != "account" or backup.status != "done":
        raise Conflict(_("Only a finished account backup can be previewed."))
    with making.backup_store().open(backup.storage_key) as stream:
        try:
            reader = archive.Reader(stream, known_revisions=making.known_revisions())
            try:
                return restoring.preview_account(reader, actor)
            finally:
                reader.close()
        except archive.ArchiveError as error:
            raise InvalidInput(str(error), code="invalid_archive", field="file") from error


def start_restore(actor: User | None, backup: Backup, *, setup: bool = False) -> Job:
    """Queue the restore of `backup`: into the actor's account, or (instance) into this empty instance."""
    if backup.status != "done" or not backup.storage_key:
        raise Conflict(_("This backup is not finished, so it cannot be restored."))
    if _restoring(backup):
        raise Conflict(_("This backup is being restored already."))
    if backup.scope == "instance":
        check_instance_empty()
    if not setup and actor is None:
        raise NotFound()
    job = jobs.enqueue("restore", {"backup_id": backup.id, "user_id": actor.id if actor else None},
                       user_id=actor.id if actor else None)
    if actor is not None:
        audit.record("restore_started", actor.id, target=f"backup:{backup.id}", scope=backup.scope)
    db.session.commit()
    return job


def restore_upload(actor: User, scope: str, stream) -> Job:
    """Keep an uploaded archive and queue its restore into the actor's account (an instance archive: into
    this instance, which must be empty; that is refused before the archive is read, so nothing is kept)."""
    _check_scope(actor, scope)
    if scope == "instance":
        check_instance_empty()
    return start_restore(actor, receive_archive(actor, scope, stream))


def check_instance_empty() -> None:
    """Conflict unless this instance has no accounts: the only kind an instance backup restores into."""
    if not restoring.instance_is_empty():
        raise Conflict(_("An instance backup restores only into an empty instance, and this one has accounts "
                         "already."))


def restore_job_for(backup_id: str, job_id: int) -> Job:
    job = db.session.get(Job, job_id)
    if job is None or job.name != "restore" or (job.payload or {}).get("backup_id") != backup_id:
        raise NotFound()
    return job


# --- restoring an empty instance from the setup page ---

SETUP_RESULT_SHOWN = timedelta(hours=1)


@dataclass
class StoredArchive:
    """An archive found in the backup store's instance/ folder."""

    key: str
    size: int
    modified_at: datetime


def stored_instance_archives() -> list[StoredArchive]:
    """The archives in the backup store's instance/ folder, newest first (the setup page offers them)."""
    store = making.backup_store()
    found = [StoredArchive(key, store.size(key), store.modified_at(key)) for key in store.keys("instance")
             if key.endswith(".zip")]
    return sorted(found, key=lambda stored: stored.modified_at, reverse=True)


def check_setup_restore() -> None:
    """Refuse a setup restore once the instance has accounts (NotFound) or while another one runs."""
    if not restoring.instance_is_empty():
        raise NotFound()
    if setup_restore_running() is not None:
        raise Conflict(_("A restore is under way already; wait for it to finish."))


def adopt_stored_archive(key: str) -> Backup:
    """A backup (origin "uploaded") of the instance archive at `key` in the backup store, checked and not
    copied, for the setup page of an empty instance; the same key gives the same backup again."""
    store = making.backup_store()
    if not isinstance(key, str) or key not in set(store.keys("instance")):
        raise InvalidInput(_("There is no such archive in the backup folder."), field="key")
    existing = db.session.scalars(select(Backup).where(Backup.storage_key == key, Backup.status == "done")).first()
    if existing is not None:
        return existing
    try:
        with store.open(key) as stream:
            encrypted = crypto.is_encrypted(stream)
            counts = {} if encrypted else _instance_counts(stream)
    except archive.ArchiveError as error:
        raise InvalidInput(str(error), code="invalid_archive", field="key") from error
    backup = _new_backup("instance", None, None, "uploaded")
    backup.storage_key, backup.size, backup.encrypted, backup.counts = key, store.size(key), encrypted, counts
    backup.status, backup.finished_at = "done", utcnow()
    db.session.commit()
    return backup


def _instance_counts(stream) -> dict:
    reader = archive.Reader(stream, known_revisions=making.known_revisions())
    try:
        restoring._check_scope(reader, "instance")
        return dict(reader.manifest.get("counts") or {})
    finally:
        reader.close()


def setup_restore_running() -> Job | None:
    """The restore started from the setup page that is queued or running, if there is one."""
    active = db.session.scalars(select(Job).where(Job.name == "restore", Job.user_id.is_(None),
                                                  Job.state.in_(("queued", "running"))))
    # An account's restore whose account was deleted has no user either, but its payload names one.
    return next((job for job in active if not (job.payload or {}).get("user_id")), None)


def setup_restore_job(job_id: int) -> Job:
    """A restore started from the setup page (by no one signed in); anything else is NotFound."""
    job = db.session.get(Job, job_id)
    if job is None or job.name != "restore" or job.user_id is not None or (job.payload or {}).get("user_id"):
        raise NotFound()
    return job


def setup_restore_shown(job: Job, *, started_here: bool) -> str:
    """How much the setup page may say of a setup restore: "all" while the instance is still empty, and to
    the browser that started it for an hour after it ended; "done" (only that) to anyone else in that hour,
    if it succeeded. Otherwise NotFound: once accounts exist, the page tells strangers nothing."""
    if restoring.instance_is_empty():
        return "all"
    recent = job.finished_at is not None and utcnow() - job.finished_at < SETUP_RESULT_SHOWN
    if recent and started_here:
        return "all"
    if recent and job.state == "done":
        return "done"
    raise NotFound()


def archive_settings() -> dict:
    """Whether instance archives are encrypted, and where archives are written (without any credentials)."""
    target = urlsplit(settings()["target"])
    if target.scheme == "file":
        shown = unquote(target.path)
    else:
        shown = urlunsplit((target.scheme, target.hostname or "", target.path, "", ""))
    return {"encrypted": bool(settings()["passphrase"]), "target": shown}


# --- schedules and retention ---

@dataclass
class ScheduleInput:
    frequency: str
    hour: int
    weekday: int
    keep_daily: int
    keep_weekly: int
    keep_monthly: int


def schedule_of(user: User, scope: str) -> BackupSchedule:
    """The schedule of the user's account or of the instance (a default, unsaved, when there is none)."""
    _check_scope(user, scope)
    owner = user.id if scope == "account" else None
    found = db.session.scalars(select(BackupSchedule).where(BackupSchedule.scope == scope,
                                                            BackupSchedule.user_id.is_(owner) if owner is None
                                                            else BackupSchedule.user_id == owner)).first()
    return found or BackupSchedule(scope=scope, user_id=owner, frequency="off", hour=3, weekday=6, keep_daily=7,
                                   keep_weekly=4, keep_monthly=6, next_run_at=None)


def save_schedule(user: User, scope: str, values: ScheduleInput) -> BackupSchedule:
    schedule = schedule_of(user, scope)
    if values.frequency not in FREQUENCIES:
        raise InvalidInput(_("How often must be off, daily or weekly."), field="frequency")
    for name, low, high in (("hour", 0, 23), ("weekday", 0, 6), ("keep_daily", 0, 365), ("keep_weekly", 0, 520),
                            ("keep_monthly", 0, 240)):
        value = getattr(values, name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise InvalidInput(_("%(field)s must be a whole number from %(low)d to %(high)d.", field=name, low=low,
                                 high=high), field=name)
    if values.frequency != "off" and not (values.keep_daily or values.keep_weekly or values.keep_monthly):
        raise InvalidInput(_("Keep at least one backup: a day, a week or a month."), code="nothing_kept",
                           field="keep_daily")
    for name in ("frequency", "hour", "weekday", "keep_daily", "keep_weekly", "keep_monthly"):
        setattr(schedule, name, getattr(values, name))
    schedule.next_run_at = next_run(schedule, utcnow())
    schedule.updated_at = utcnow()
    db.session.add(schedule)
    audit.record("backup_schedule_changed", user.id, target=f"{scope}", frequency=values.frequency,
                 hour=values.hour, weekday=values.weekday)
    db.session.commit()
    return schedule


def next_run(schedule: BackupSchedule, after: datetime) -> datetime | None:
    """The first time after `after` the schedule says a backup is due (UTC), or None when it is off."""
    if schedule.frequency == "off":
        return None
    moment = after.replace(minute=0, second=0, microsecond=0).replace(hour=schedule.hour)
    while moment <= after or (schedule.frequency == "weekly" and moment.weekday() != schedule.weekday):
        moment += timedelta(days=1)
    return moment


def queue_due_schedules(now: datetime) -> int:
    """A source for the leader's clock: queue each schedule's due backup once (keyed by its slot)."""
    queued = 0
    due = db.session.scalars(select(BackupSchedule).where(BackupSchedule.frequency != "off",
                                                          BackupSchedule.next_run_at <= now)).all()
    for schedule in due:
        slot = schedule.next_run_at
        key = f"backup:{schedule.scope}:{schedule.user_id or 0}@{slot.isoformat(timespec='minutes')}"
        payload = {"scope": schedule.scope, "user_id": schedule.user_id}
        schedule_id = schedule.id
        # Queued first, then moved on: a crash in between queues nothing twice (the slot key is unique).
        queued += jobs.enqueue_slot("scheduled_backup", slot, payload, user_id=schedule.user_id, key=key)
        schedule = db.session.get(BackupSchedule, schedule_id)
        schedule.next_run_at = next_run(schedule, now)
        db.session.commit()
    return queued


def to_keep(backups: list[Backup], schedule: BackupSchedule) -> set[str]:
    """The scheduled backups that retention keeps: the newest of each of the last keep_daily days, keep_weekly
    ISO weeks and keep_monthly months that have one (like restic's forget --keep-daily/weekly/monthly)."""
    done = sorted((backup for backup in backups if backup.status == "done"), key=lambda b: b.created_at,
                  reverse=True)
    kept: set[str] = set()
    for count, bucket in ((schedule.keep_daily, lambda moment: moment.date()),
                          (schedule.keep_weekly, lambda moment: moment.isocalendar()[:2]),
                          (schedule.keep_monthly, lambda moment: (moment.year, moment.month))):
        seen = []
        for backup in done:
            slot = bucket(backup.created_at)
            if slot in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(slot)
            kept.add(backup.id)
    return kept


def apply_retention(scope: str, user_id: int | None) -> int:
    """Delete the scheduled backups of one account or of the instance that retention no longer keeps."""
    owner_clause = Backup.user_id.is_(None) if user_id is None else Backup.user_id == user_id
    schedule_clause = BackupSchedule.user_id.is_(None) if user_id is None else BackupSchedule.user_id == user_id
    schedule = db.session.scalars(select(BackupSchedule).where(BackupSchedule.scope == scope,
                                                               schedule_clause)).first()
    if schedule is None:
        return 0
    scheduled = list(db.session.scalars(select(Backup).where(Backup.scope == scope, owner_clause,
                                                             Backup.origin == "scheduled")))
    keep = to_keep(scheduled, schedule)
    removed = 0
    for backup in scheduled:
        if backup.id in keep or backup.status in ("pending", "running"):
            continue
        if backup.storage_key:
            making.backup_store().delete(backup.storage_key)
        db.session.delete(backup)
        removed += 1
    db.session.commit()
    return removed


def latest_failure() -> dict | None:
    """The last scheduled backup failure that no later scheduled backup of its scope has made good."""
    failed = db.session.scalars(select(Backup).where(Backup.origin == "scheduled", Backup.status == "failed")
                                .order_by(Backup.created_at.desc()).limit(1)).first()
    if failed is None:
        return None
    later = db.session.scalar(select(Backup.id).where(
        Backup.origin == "scheduled", Backup.status == "done", Backup.scope == failed.scope,
        Backup.created_at > failed.created_at,
        Backup.user_id.is_(None) if failed.user_id is None else Backup.user_id == failed.user_id).limit(1))
    if later is not None:
        return None
    return {"id": failed.id, "scope": failed.scope, "at": failed.created_at, "error": failed.error}


def settings() -> dict:
    return current_app.config["SHOEBOX"]["backups"]


def forget_account(user: User) -> None:
    """Delete a person's backup archives before their account is purged (their rows go with the account)."""
    store = making.backup_store()
    for key in db.session.scalars(select(Backup.storage_key).where(Backup.user_id == user.id)):
        if key:
            store.delete(key)
