"""`flask storage status`, `flask storage move --to NAME_OR_URL [--dry-run]` and `flask storage cleanup`.

The move runs in the foreground: this process claims the job and works it, printing its progress. When
an earlier run was killed, the job is taken over (its lease was held by a process that is gone) and
continues from its cursor.
"""

from __future__ import annotations

import os
import socket
import threading

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import update

from ..errors import ShoeboxError
from ..extensions import db
from ..models import Job, utcnow
from . import location, service

_HOST = socket.gethostname()


@click.group("storage")
def storage() -> None:
    """Where the files are kept, and moving them to another store."""


@storage.command("status")
@with_appcontext
def status() -> None:
    """Say which store holds the files, and how a move is going."""
    state = service.current()
    used = service.usage()
    for choice in service.configured():
        click.echo(f"{'*' if choice.active else ' '} {choice.name:<16} {choice.url}")
    click.echo(f"files: {used.objects} ({used.bytes} bytes) in {state.active}")
    if state.moving_to:
        click.echo(f"moving to {state.moving_to}: new files go there; " + _job_line(state.job_id))
    if state.previous:
        click.echo(f"old copies are still in {state.previous}")


def _job_line(job_id: int | None) -> str:
    job = db.session.get(Job, job_id) if job_id else None
    if job is None:
        return "no job is running (run `flask storage move` again to continue)."
    detail = job.detail or {}
    line = f"job {job.id} {job.state}, {detail.get('items', 0)}/{detail.get('items_total', '?')} files"
    return line + (f": {job.error}" if job.error else "")


@storage.command("move")
@click.option("--to", "target", required=True, help="the name of a configured store, or its url")
@click.option("--dry-run", is_flag=True, help="only check the target and say how much would be copied")
@with_appcontext
def move(target: str, dry_run: bool) -> None:
    """Move every file to another configured store; the site keeps working meanwhile."""
    try:
        name = service.store_named(target)
        job_id = _running_move(name)
        if job_id is None:
            plan = service.plan_move(name)
            click.echo(f"{plan.objects} files, {plan.bytes} bytes to copy to {plan.target}; about "
                       f"{plan.seconds_estimate} s" + (f"; {plan.free_bytes} bytes free there."
                                                       if plan.free_bytes is not None else "."))
            if dry_run:
                return
            job_id = service.start_move(None, name).id
        elif dry_run:
            click.echo(f"A move to {name} is under way already (job {job_id}).")
            return
    except ShoeboxError as error:
        raise click.ClickException(error.message) from None
    _work(job_id)
    job = db.session.get(Job, job_id, populate_existing=True)
    if job.state == "queued":
        raise click.ClickException(f"{job.error} Run the command again to continue where it stopped.")
    if job.state != "done":
        raise click.ClickException(job.error or f"The move ended {job.state}.")
    result = job.result or {}
    click.echo(f"Moved {result.get('objects', 0)} files to {name}; the old copies are still in "
               f"{result.get('source')} (remove them with `flask storage cleanup` or on Admin → Storage).")


def _running_move(name: str) -> int | None:
    """The id of the move to `name` that is queued or running; a run whose process died is freed for us."""
    state = location.current()
    if state.moving_to != name and not (state.active == name and location.read_row().get("phase") == "sweep"):
        return None
    job = db.session.get(Job, state.job_id) if state.job_id else None
    if job is None or job.state not in ("queued", "running"):
        return None
    if job.state == "running" and _dead(job.lease_owner or ""):
        db.session.execute(update(Job).where(Job.id == job.id, Job.lease_owner == job.lease_owner)
                           .values(lease_expires_at=job.started_at))
        click.echo(f"Taking over job {job.id} from a process that stopped.")
    elif job.state == "queued":  # waiting to be tried again after a failure: now
        db.session.execute(update(Job).where(Job.id == job.id, Job.state == "queued").values(run_after=utcnow()))
    db.session.commit()
    return job.id


def _dead(owner: str) -> bool:
    """Whether the lease owner is a `flask storage move` on this machine whose process is gone."""
    parts = owner.split(":")
    if len(parts) < 3 or parts[0] != _HOST or parts[2] != "cli" or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@storage.command("cleanup")
@with_appcontext
def cleanup() -> None:
    """Remove the old copies a finished move left, once every file is on the active store."""
    try:
        job_id = service.start_cleanup(None).id
    except ShoeboxError as error:
        raise click.ClickException(error.message) from None
    _work(job_id, "storage_cleanup")
    job = db.session.get(Job, job_id, populate_existing=True)
    if job.state != "done":
        raise click.ClickException(job.error or f"The clean-up ended {job.state}.")
    click.echo(f"Removed {job.result['removed']} old copies from {job.result['store']}.")


def _work(job_id: int, name: str = "storage_move") -> None:
    """Work the move in a thread of this process (the job's lease is ours), printing its progress; follow it
    instead when another instance's worker has it."""
    from .. import jobs

    app = current_app._get_current_object()
    owner = f"{_HOST}:{os.getpid()}:cli"
    worker = threading.Thread(target=jobs.run_one, args=(app, owner, [name]), daemon=True)
    worker.start()
    shown = ""
    while True:
        worker.join(1.0)
        job = db.session.get(Job, job_id, populate_existing=True)
        detail = job.detail or {}
        line = (f"{detail.get('items', 0)}/{detail.get('items_total', '?')} files, "
                f"{detail.get('bytes', 0)}/{detail.get('bytes_total', '?')} bytes  {detail.get('message', '')}")
        if line != shown:
            click.echo(line.rstrip())
            shown = line
        following = job.state == "running" and job.lease_owner not in (None, owner)
        db.session.commit()
        if not worker.is_alive() and not following:
            return
