"""`flask` commands for operators: create-admin (more arrive with backups and integrity checks)."""

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
    """List blobs no row points at (orphans) and rows whose blob is missing."""
    from datetime import timedelta

    from .media import integrity

    report = integrity.check(remove_orphans=remove_orphans, grace=timedelta(hours=grace_hours))
    for key in report.orphans:
        click.echo(f"orphan   {key}" + ("  (removed)" if key in report.removed else ""))
    for row in report.missing:
        click.echo(f"missing  {row}")
    click.echo(f"{len(report.orphans)} orphan blobs ({len(report.removed)} removed), "
               f"{len(report.missing)} rows with missing blobs.")
    if report.missing:
        raise SystemExit(1)
