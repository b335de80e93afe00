"""`flask` commands for operators: create-admin, check (integrity of counters, blobs and scratch), and backup,
verify and restore (archives, for scripts and cron)."""

from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from .errors import ShoeboxError


@click.command("create-admin")
@with_appcontext
@click.option("--email", prompt=True, help="the admin's email address")
@click.option("--username", prompt=True, help="the admin's username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="the password (prompted for when left out)")
def create_admin(email: str, username: str, password: str) -> None:
    """Create an admin account (the first one, or another)."""
    from flask import current_app

    from . import database
    from .auth import service

    database.upgrade(current_app)
    try:
        user = service.create_user(email, username, password, role="admin", verified=True,
                                   first_admin=not service.has_users())
    except ShoeboxError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Admin account {user.username} <{user.email}> created.")


def init_app(app: Flask) -> None:
    """Register the commands on `flask`."""
    app.cli.add_command(create_admin)
    app.cli.add_command(check_integrity)
    app.cli.add_command(make_backup)
    app.cli.add_command(verify_archive)
    app.cli.add_command(restore_instance)


@click.command("check")
@click.option("--remove-orphans", is_flag=True, help="delete orphan blobs older than the grace period")
@click.option("--grace-hours", type=float, default=6.0, show_default=True,
              help="only orphans older than this are removed")
@with_appcontext
def check_integrity(remove_orphans: bool, grace_hours: float) -> None:
    """Put counters right, remove scratch files of stopped processes, list orphan and missing blobs."""
    from datetime import timedelta

    from flask import current_app

    from . import scratch
    from .media import integrity

    for name in scratch.sweep(current_app.config["SHOEBOX"]["data_dir"]):
        click.echo(f"scratch  tmp/{name}  (removed: its process has stopped)")
    report = integrity.check(remove_orphans=remove_orphans, grace=timedelta(hours=grace_hours))
    for drift in report.repaired:
        click.echo(f"counter  {drift.username}: storage {drift.storage_counted} -> {drift.storage_actual} bytes, "
                   f"photos {drift.photos_counted} -> {drift.photos_actual}  (repaired)")
    for key in report.orphans:
        click.echo(f"orphan   {key}" + ("  (removed)" if key in report.removed else ""))
    for row in report.missing:
        click.echo(f"missing  {row}")
    click.echo(f"{len(report.repaired)} users' counters repaired, {len(report.orphans)} orphan blobs "
               f"({len(report.removed)} removed), {len(report.missing)} rows with missing blobs.")
    if report.missing:
        raise SystemExit(1)


# --- backups -------------------------------------------------------------------------------------

ARCHIVE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("backup")
@click.option("--scope", type=click.Choice(["account", "instance"]), default="account", show_default=True,
              help="one account (name it with --user) or the whole instance")
@click.option("--user", "username", help="the account to back up; for --scope instance, the admin who makes it "
                                         "(the first admin when left out)")
@click.option("--out", type=click.Path(path_type=Path), help="also copy the archive here (a file, or a folder)")
@with_appcontext
def make_backup(scope: str, username: str | None, out: Path | None) -> None:
    """Make a backup now, read it back in full, and say where it is."""
    from .backups import service
    from .extensions import db
    from .models import Backup

    try:
        backup_id = service.start_backup(_backup_actor(scope, username), scope).id
    except ShoeboxError as error:
        raise click.ClickException(error.message) from None
    _work_until("backup", lambda: db.session.get(Backup, backup_id, populate_existing=True).status
                not in ("pending", "running"))
    backup = db.session.get(Backup, backup_id)
    if backup.status != "done":
        raise click.ClickException(backup.error or "The backup failed.")
    _describe_backup(backup)
    if out is not None:
        click.echo(f"copied    {_copy_archive(backup, out)}")


def _work_until(name: str, finished) -> None:
    """Run the queued `name` jobs in this process until `finished()` says so (when a server's worker took
    the job, or it waits for its next try, this waits for it)."""
    from . import jobs

    app = current_app._get_current_object()  # the lease keeper's thread has no app context of its own
    jobs.work_until_idle(app, names=[name])
    while not finished():
        time.sleep(1)
        jobs.work_until_idle(app, names=[name])


def _backup_actor(scope: str, username: str | None):
    """Who makes the backup: the named account; for the instance, a named admin or else the first admin."""
    from sqlalchemy import select

    from .auth.service import find_by_identifier
    from .extensions import db
    from .models import User

    if username:
        user = find_by_identifier(username)
        if user is None:
            raise click.ClickException(f"There is no account called {username}.")
        if scope == "instance" and not user.is_admin:
            raise click.ClickException(f"{user.username} is not an admin; an instance backup is made by an admin.")
        return user
    if scope == "account":
        raise click.ClickException("Name the account to back up with --user USERNAME (or use --scope instance).")
    admin = db.session.scalars(select(User).where(User.role == "admin").order_by(User.id).limit(1)).first()
    if admin is None:
        raise click.ClickException("This instance has no admin yet; create one with flask create-admin.")
    return admin


def _describe_backup(backup) -> None:
    from .backups import making
    from .i18n import human_size

    store = making.backup_store()
    where = store.local_path(backup.storage_key) or \
        f"{current_app.config['SHOEBOX']['backups']['target'].rstrip('/')}/{backup.storage_key}"
    click.echo(f"Backup {backup.id} of {'the instance' if backup.scope == 'instance' else 'the account'}: "
               f"written, read back in full and verified{' (encrypted)' if backup.encrypted else ''}.")
    click.echo(f"size      {human_size(backup.size)} ({backup.size} bytes)")
    click.echo(f"sha256    {backup.sha256}")
    click.echo(f"stored    {where}")


def _copy_archive(backup, out: Path) -> Path:
    """Copy the finished archive to `out` (into it, under its download name, when it is a folder)."""
    from .backups import making, service

    target = out / service.download_name(backup) if out.is_dir() else out
    partial = target.with_name(target.name + ".part")  # a cut copy never has the archive's name
    try:
        with making.backup_store().open(backup.storage_key) as source, open(partial, "wb") as copy:
            shutil.copyfileobj(source, copy, 1 << 20)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target


@contextmanager
def _opened_archive(path: Path):
    """A reader over the local archive at `path`, decrypted with backups.passphrase if need be."""
    from . import scratch
    from .backups import making

    settings = current_app.config["SHOEBOX"]
    with scratch.workspace(settings["data_dir"]) as work, open(path, "rb") as stream, \
            making.opened(stream, settings["backups"]["passphrase"], work) as reader:
        yield reader


@click.command("verify")
@click.argument("archive", type=ARCHIVE)
@with_appcontext
def verify_archive(archive: Path) -> None:
    """Read a backup archive in full and check every entry against its manifest; exit 1 if any is wrong."""
    from .backups.archive import ArchiveError

    try:
        with _opened_archive(archive) as reader:
            counts = reader.verify()
            scope, created, entries = reader.scope, reader.manifest.get("created"), len(reader.entries)
    except ArchiveError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{archive}: a backup of {'the instance' if scope == 'instance' else 'one account'}, made {created}.")
    for table, count in sorted(counts.items()):
        click.echo(f"{table:<20} {count:>9} rows")
    click.echo(f"All {entries} entries match their size and SHA-256.")


@click.command("restore")
@click.argument("archive", type=ARCHIVE)
@with_appcontext
def restore_instance(archive: Path) -> None:
    """Restore an instance backup into this instance, which must be empty (a new database and data folder)."""
    from . import database
    from .backups import service
    from .backups.archive import ArchiveError
    from .extensions import db
    from .jobs.queue import FINISHED
    from .models import Job

    database.upgrade(current_app)
    try:
        service.check_instance_empty()
        with _opened_archive(archive) as reader:  # every entry and the passphrase, before anything changes
            reader.verify()
        with open(archive, "rb") as stream:
            backup = service.receive_archive(None, "instance", stream, setup=True)
        job_id = service.start_restore(None, backup, setup=True).id
    except ArchiveError as error:
        raise click.ClickException(str(error)) from None
    except ShoeboxError as error:
        raise click.ClickException(error.message) from None
    _work_until("restore", lambda: db.session.get(Job, job_id, populate_existing=True).state in FINISHED)
    job = db.session.get(Job, job_id)
    if job.state != "done":
        raise click.ClickException(job.error or f"The restore ended {job.state}.")
    for table, count in sorted((job.result or {}).get("added", {}).items()):
        click.echo(f"{table:<20} {count:>9} rows")
    click.echo(f"Restored from {archive}; every file matched its checksum.")
