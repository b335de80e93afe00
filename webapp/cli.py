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
