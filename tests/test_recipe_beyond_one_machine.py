"""The README's "Beyond one machine" recipe, step by step with the real commands: an instance on SQLite and
local disk is backed up, restored into an empty PostgreSQL database, and its files moved to S3 with
`flask storage move`; every row and every file arrives, and `flask check` finds nothing wrong."""

from __future__ import annotations

import hashlib

import pytest

from tests.fixtures.database import TEST_DATABASE_URL
from tests.fixtures.s3server import ACCESS_KEY, REGION, SECRET_KEY
from tests.test_backup_cli import _drop_schema, _new_schema, backed_up, flask, originals, populated, rows  # noqa: F401

pytestmark = [pytest.mark.s3, pytest.mark.slow]


@pytest.fixture
def on_local_disk(tmp_path):
    """Overrides for the app the `populated` fixture builds: files on local disk, as a first install has."""
    return {"storage": {"url": (tmp_path / "files").as_uri()}}


@pytest.fixture
def app(make_app, on_local_disk):  # the `populated` fixture builds on this app
    return make_app(**on_local_disk)


def test_sqlite_and_local_disk_become_postgresql_and_s3_with_every_row_and_file(
        populated, make_app, database_url, tmp_path, moto_server, s3_bucket):
    if not (TEST_DATABASE_URL and database_url.startswith("sqlite")):
        pytest.skip("needs TEST_DATABASE_URL, and runs from the SQLite variant")
    # 1. an instance backup on the old machine
    archive = tmp_path / "shoebox.zip"
    backed_up(populated, archive)
    before_rows, before_files = rows(populated), originals(populated)

    # 2. the new instance: PostgreSQL, its own data folder, local disk for now, and S3 configured as [stores.s3]
    schema = "test_recipe_" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:10]
    s3_store = {"url": f"s3://{s3_bucket}/files", "endpoint_url": moto_server, "key": ACCESS_KEY,
                "secret": SECRET_KEY, "region": REGION}
    try:
        fresh = make_app(data_dir=str(tmp_path / "new"), database={"url": _new_schema(schema)},
                         storage={"url": (tmp_path / "new-files").as_uri()}, stores={"s3": s3_store})
        restored = flask(fresh, "restore", str(archive))
        assert restored.exit_code == 0, restored.output
        assert rows(fresh) == before_rows and originals(fresh) == before_files

        # 3. the files move to S3; the site would keep working meanwhile
        dry = flask(fresh, "storage", "move", "--to", "s3", "--dry-run")
        assert dry.exit_code == 0, dry.output
        assert f"{len(before_files)} files" in dry.output
        moved = flask(fresh, "storage", "move", "--to", "s3")
        assert moved.exit_code == 0, moved.output
        assert f"Moved {len(before_files)} files to s3" in moved.output

        status = flask(fresh, "storage", "status")
        assert "* s3" in status.output, status.output
        assert originals(fresh) == before_files  # now read from S3
        with fresh.app_context():
            from webapp.extensions import blob_store

            assert blob_store().local_path(next(iter(before_files))) is None  # not served from disk any more
        checked = flask(fresh, "check")
        assert checked.exit_code == 0, checked.output
        after = rows(fresh)  # unchanged, but for the setting that says where the files are and the move's audit
        assert {name: table for name, table in after.items() if name not in ("settings", "audit_events")} == \
            {name: table for name, table in before_rows.items() if name not in ("settings", "audit_events")}
        assert after["audit_events"][:len(before_rows["audit_events"])] == before_rows["audit_events"]
        assert [row["key"] for row in after["settings"]] == \
            sorted([row["key"] for row in before_rows["settings"]] + ["storage_location"])
    finally:
        from webapp.extensions import db

        for made in (locals().get("fresh"),):
            if made is not None:
                with made.app_context():
                    db.session.remove()
                    db.engine.dispose()
        _drop_schema(schema)
