"""Alembic environment: runs inside the Flask app, against the app's own engine."""

import logging

from alembic import context
from flask import current_app

log = logging.getLogger("alembic.env")
config = context.config
db = current_app.extensions["migrate"].db


def _skip_empty_autogenerate(context_, revision, directives):
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        log.info("No changes in schema detected.")


def _render_item(type_, obj, autogen_context):
    # Migrations must not import the app: UTCDateTime is a plain DateTime in the database.
    if type_ == "type" and type(obj).__name__ == "UTCDateTime":
        return "sa.DateTime()"
    return False


def run_migrations_offline():
    """Write SQL instead of running it (`flask db upgrade --sql`)."""
    context.configure(url=db.engine.url.render_as_string(hide_password=False),
                      target_metadata=db.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    options = dict(current_app.extensions["migrate"].configure_args)
    options.setdefault("process_revision_directives", _skip_empty_autogenerate)
    options.setdefault("compare_type", True)
    options.setdefault("render_item", _render_item)
    # Batch mode lets ALTER TABLE work on SQLite by copying the table.
    options.setdefault("render_as_batch", True)
    with db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=db.metadata, **options)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
