"""The backup jobs: make one, make a scheduled one (then apply retention), restore one, and the weekly
re-read of the latest backup of each scope. Workers run these (webapp.jobs)."""

from __future__ import annotations

import logging

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import DataError, IntegrityError

from .. import audit, jobs, mail
from ..extensions import db
from ..models import Backup, User, utcnow
from ..storage import StorageError
from . import archive, making, restoring, service

log = logging.getLogger(__name__)


@jobs.handler("backup", title=_l("Backup"), max_attempts=3)
def run_backup(context) -> dict:
    backup = db.session.get(Backup, context.payload.get("backup_id"))
    if backup is None:
        raise jobs.Permanent("The backup was deleted before it was made.")
    return _make(backup, context)


def _make(backup: Backup, context) -> dict:
    backup.status, backup.started_at, backup.error = "running", backup.started_at or utcnow(), ""
    db.session.commit()
    try:
        backup = making.make(backup, context)
    except (jobs.Cancelled, jobs.LeaseLost):
        _failed(backup.id, "Cancelled." if context.cancelled else "")
        raise
    except Exception as error:
        _failed(backup.id, _sentence(error))
        if isinstance(error, archive.ArchiveError):
            raise jobs.Permanent(str(error)) from error
        raise
    audit.record("backup_made", backup.created_by, target=f"backup:{backup.id}", scope=backup.scope,
                 size=backup.size, origin=backup.origin)
    db.session.commit()
    return {"backup_id": backup.id, "size": backup.size}


def _failed(backup_id: str, error: str) -> None:
    db.session.rollback()
    backup = db.session.get(Backup, backup_id)
    if backup is not None and error:
        backup.status, backup.error, backup.finished_at = "failed", error, utcnow()
        audit.record("backup_failed", backup.created_by, target=f"backup:{backup.id}", scope=backup.scope,
                     error=error[:300])
        db.session.commit()


def _sentence(error: Exception) -> str:
    if isinstance(error, (archive.ArchiveError, StorageError)):
        return str(error)
    return f"{type(error).__name__}: {error}"[:2000]


@jobs.handler("scheduled_backup", title=_l("Scheduled backup"), max_attempts=1)
def run_scheduled_backup(context) -> dict:
    scope, user_id = context.payload.get("scope"), context.payload.get("user_id")
    if scope == "account" and db.session.get(User, user_id) is None:
        return {"skipped": "the account is gone"}
    existing = db.session.scalars(select(Backup).where(Backup.job_id == context.job_id)).first()
    backup = existing or service._new_backup(scope, user_id if scope == "account" else None, None, "scheduled")
    backup.job_id = context.job_id
    db.session.commit()
    try:
        result = _make(backup, context)
    except Exception as error:
        if not isinstance(error, (jobs.Cancelled, jobs.LeaseLost)):
            _tell_admins(backup.id, _sentence(error))
        raise
    service.apply_retention(scope, user_id if scope == "account" else None)
    return result


def _tell_admins(backup_id: str, error: str) -> None:
    """Email every admin that a scheduled backup failed (the admin pages show a banner too)."""
    db.session.rollback()
    backup = db.session.get(Backup, backup_id)
    owner = db.session.get(User, backup.user_id) if backup and backup.user_id else None
    for admin in db.session.scalars(select(User).where(User.role == "admin", User.is_blocked.is_(False))):
        try:
            mail.send(admin.email, _l("A scheduled backup failed"), "backup_failed", locale=admin.locale,
                      user=admin, backup=backup, owner=owner, error=error)
        except Exception:
            log.exception("Could not email %s about the failed backup.", admin.email)


@jobs.handler("restore", title=_l("Restore"), max_attempts=2)
def run_restore(context) -> dict:
    backup = db.session.get(Backup, context.payload.get("backup_id"))
    if backup is None:
        raise jobs.Permanent("The backup was deleted before it was restored.")
    user = db.session.get(User, context.payload.get("user_id")) if context.payload.get("user_id") else None
    if backup.scope == "account" and user is None:
        raise jobs.Permanent("The account to restore into is gone.")
    passphrase = current_app.config["SHOEBOX"]["backups"]["passphrase"]
    total = max(backup.size, 1)
    done = [0]

    def progress(size: int) -> None:
        done[0] += size
        context.progress(min(done[0] / total, 0.99), bytes_done=done[0], bytes_total=total)

    try:
        from .. import scratch

        with scratch.workspace(current_app.config["SHOEBOX"]["data_dir"]) as work, \
                making.backup_store().open(backup.storage_key) as stream, \
                making.opened(stream, passphrase, work) as reader:
            db.session.commit()
            if backup.scope == "account":
                added = restoring.restore_account(reader, user, progress, again=context.attempt > 1)
            else:
                added = restoring.restore_instance(reader, progress, again=context.attempt > 1)
    except (archive.ArchiveError, restoring.RestoreRefused) as error:
        raise jobs.Permanent(str(error)) from error
    except (IntegrityError, DataError) as error:  # a row the archive's manifest vouched for, but this database refuses
        raise jobs.Permanent(f"The archive is refused: a row in it does not fit this database "
                             f"({type(error.orig).__name__}).") from error
    if backup.origin == "uploaded" and backup.scope == "account" and db.session.get(Backup, backup.id):
        db.session.get(Backup, backup.id).verified_at = utcnow()
        db.session.commit()
    return {"added": added}


def verify_latest() -> None:
    """Weekly: read back the latest finished backup of each account and of the instance, every entry."""
    latest = select(Backup.scope, Backup.user_id, func.max(Backup.created_at)).where(
        Backup.status == "done", Backup.origin != "uploaded").group_by(Backup.scope, Backup.user_id)
    passphrase = current_app.config["SHOEBOX"]["backups"]["passphrase"]
    from .. import scratch

    for scope, user_id, created in db.session.execute(latest).all():
        owner = Backup.user_id.is_(None) if user_id is None else Backup.user_id == user_id
        backup = db.session.scalars(select(Backup).where(Backup.scope == scope, owner, Backup.status == "done",
                                                         Backup.created_at == created)).first()
        try:
            with scratch.workspace(current_app.config["SHOEBOX"]["data_dir"]) as work, \
                    making.backup_store().open(backup.storage_key) as stream, \
                    making.opened(stream, passphrase, work) as reader:
                reader.verify()
            backup.verified_at = utcnow()
        except (archive.ArchiveError, StorageError) as error:
            backup.status, backup.error = "failed", f"Reading it back found a problem: {error}"
            db.session.commit()
            log.error("Backup %s failed its weekly read-back: %s", backup.id, error)
            _tell_admins(backup.id, backup.error)
            continue
        db.session.commit()
