"""`flask` commands for operators: create-admin, and check (integrity of counters, blobs and scratch)."""

from __future__ import annotations

import click
from flask import Flask
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
        user = service.create_user(email, username, password, role="admin", verified=True)
    except ShoeboxError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Admin account {user.username} <{user.email}> created.")


def init_app(app: Flask) -> None:
    """Register the commands on `flask`."""
    app.cli.add_command(create_admin)
    app.cli.add_command(check_integrity)


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
