"""Database start-up: SQLite pragmas, migrations applied under a lock, seed rows."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

import click
from filelock import FileLock
from flask import Flask
from sqlalchemy import event, text

from .extensions import db

log = logging.getLogger(__name__)

# Any fixed number: every instance of Shoebox on one PostgreSQL database uses the same one.
MIGRATION_LOCK_ID = 0x5B0C_0001


def prepare(app: Flask) -> None:
    """Set connection pragmas, apply pending migrations if configured, seed default rows."""
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
            db.engine.dispose()  # connections opened before the listener lack the pragmas
        # `flask db ...` must manage the schema itself; other commands call upgrade() when they need it.
        in_cli = click.get_current_context(silent=True) is not None
        if app.config["SHOEBOX"]["database"]["auto_migrate"] and not in_cli:
            upgrade(app)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def upgrade(app: Flask) -> None:
    """Apply pending Alembic migrations and seed rows; instances starting at once take turns."""
    from flask_migrate import upgrade as alembic_upgrade

    with _migration_lock(app):
        alembic_upgrade()
        seed()


@contextmanager
def _migration_lock(app: Flask):
    if db.engine.dialect.name != "postgresql":
        with FileLock(str(Path(app.config["SHOEBOX"]["data_dir"]) / ".migrate.lock")):
            yield
        return
    with db.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        # The lock is the session's, not the transaction's: end the transaction, or a server with
        # idle_in_transaction_session_timeout ends this session while the migrations run.
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            conn.commit()


def seed() -> None:
    """Insert the seeded plans into an instance that has none, and the permissions and built-in groups
    that are missing (admins may edit, retire or delete any of them afterwards)."""
    from .auth import permissions
    from .models import Plan
    from .quota import SEEDED_PLANS

    if db.session.scalar(db.select(Plan.id).limit(1)) is None:
        db.session.add_all(Plan(name=name, **limits) for name, limits in SEEDED_PLANS.items())
    permissions.seed()
    db.session.commit()
