"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from webapp.extensions import db

# What is checked here is the migrations themselves: no app starts from the tests' migrated template.
pytestmark = pytest.mark.migrate_from_scratch


def schema_drift(app) -> list:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def test_migrated_schema_matches_the_models(app):
    assert schema_drift(app) == []


def test_migrations_go_down_to_nothing_and_up_again(app):
    with app.app_context():
        downgrade(revision="base")
        assert set(db.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
    assert schema_drift(app) == []


def test_starting_twice_applies_nothing_new_and_keeps_seeds(make_app):
    from webapp.models import Plan

    make_app()
    second = make_app()
    with second.app_context():
        assert sorted(db.session.scalars(db.select(Plan.name))) == ["free", "pro", "unlimited"]


def test_flask_db_upgrade_works_from_the_command_line(make_app):
    app = make_app(database={"auto_migrate": False})
    with app.app_context():
        assert "users" not in db.inspect(db.engine).get_table_names()
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert "users" in db.inspect(db.engine).get_table_names()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(make_app, database_url):
    if not database_url.startswith("sqlite"):
        import pytest

        pytest.skip("SQLite pragmas")
    app = make_app()
    with app.app_context():
        assert db.session.execute(db.text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(db.text("PRAGMA foreign_keys")).scalar() == 1


def test_upgrading_a_populated_database_keeps_its_accounts(app):
    """0001 -> head on a database that already has rows (NOT NULL columns need server defaults)."""
    with app.app_context():
        downgrade(revision="0001_foundation")
        db.session.execute(db.text(
            "INSERT INTO users (email, username, display_name, password_hash, role, is_verified, is_blocked, "
            "storage_used, session_epoch, created_at) VALUES ('old@example.com', 'old', '', 'x', 'user', "
            ":yes, :no, 0, 0, :now)"), {"yes": True, "no": False, "now": datetime(2026, 1, 1)})
        db.session.commit()
        upgrade()
        row = db.session.execute(db.text("SELECT username, totp_last_step FROM users")).one()
    assert tuple(row) == ("old", 0)


def test_slow_migrations_keep_their_lock_on_a_server_that_ends_idle_transactions(make_app, database_url, monkeypatch):
    import time

    import flask_migrate

    url = sa.make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("the migration lock is a PostgreSQL advisory lock only there")
    impatient = url.update_query_dict({"options": url.query["options"] + " -cidle_in_transaction_session_timeout=200"})
    real_upgrade = flask_migrate.upgrade
    monkeypatch.setattr(flask_migrate, "upgrade", lambda *a, **k: (time.sleep(0.5), real_upgrade(*a, **k)))
    app = make_app(database={"url": impatient.render_as_string(hide_password=False)})
    with app.app_context():
        assert "media" in sa.inspect(db.engine).get_table_names()
