"""`flask storage move` for scripts: the dry run, a foreground move, and a move killed with SIGKILL in the
middle and started again, which continues and ends with every file once on the new store."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.fixtures import ROOT
from tests.fixtures.s3server import ACCESS_KEY, REGION, SECRET_KEY
from tests.test_storage_move import bucket_table, folder_table, seed_files

pytestmark = pytest.mark.s3


@pytest.fixture(autouse=True)
def short_grace(monkeypatch):
    """Moves run in this process (the killed one aside): no other instance needs time to read the switch."""
    from webapp.stores import moving

    monkeypatch.setattr(moving, "GRACE_SECONDS", 0.1)


def test_dry_run_says_what_would_be_copied_and_copies_nothing(make_app, tmp_path, moto_server, s3, s3_bucket):
    app = make_app(storage=folder_table(tmp_path / "a"), stores={"b2": bucket_table(moto_server, s3_bucket)})
    files = seed_files(app, count=3)
    result = app.test_cli_runner().invoke(args=["storage", "move", "--to", "b2", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{len(files)} files, {sum(map(len, files.values()))} bytes to copy to b2; about ")
    assert "Contents" not in s3.list_objects_v2(Bucket=s3_bucket)


def test_an_unconfigured_url_is_refused_with_what_to_add(make_app, tmp_path):
    app = make_app(storage=folder_table(tmp_path / "a"))
    result = app.test_cli_runner().invoke(args=["storage", "move", "--to", "s3://elsewhere/files"])
    assert result.exit_code == 1
    assert "add a [stores.<name>] table with its url and credentials to the configuration of every instance" \
        in result.output


def test_a_foreground_move_prints_progress_and_says_where_the_old_copies_are(make_app, tmp_path, moto_server,
                                                                             s3_bucket):
    app = make_app(storage=folder_table(tmp_path / "a"), stores={"b2": bucket_table(moto_server, s3_bucket)})
    files = seed_files(app, count=3)
    result = app.test_cli_runner().invoke(args=["storage", "move", "--to", "b2"])
    assert result.exit_code == 0, result.output
    assert f"Moved {len(files)} files to b2; the old copies are still in storage" in result.output
    status = app.test_cli_runner().invoke(args=["storage", "status"])
    assert "* b2" in status.output and "old copies are still in storage" in status.output
    cleaned = app.test_cli_runner().invoke(args=["storage", "cleanup"])
    assert cleaned.exit_code == 0, cleaned.output
    assert f"Removed {len(files)} old copies from storage." in cleaned.output
    assert [p.name for p in (tmp_path / "a").rglob("*") if p.is_file()] == ["shoebox-site.json"]
    again = app.test_cli_runner().invoke(args=["storage", "cleanup"])
    assert again.exit_code == 1 and "There are no old copies to remove." in again.output


def cli_environment(tmp_path, database_url: str, moto_server: str, bucket: str) -> dict:
    config = tmp_path / "empty.toml"
    config.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOEBOX_")}
    env.update({"SHOEBOX_CONFIG": str(config), "SHOEBOX_DATA_DIR": str(tmp_path / "data"),
                "SHOEBOX_DATABASE__URL": database_url, "SHOEBOX_STORAGE__URL": (tmp_path / "a").as_uri(),
                "SHOEBOX_STORES__B2__URL": f"s3://{bucket}/files", "SHOEBOX_STORES__B2__ENDPOINT_URL": moto_server,
                "SHOEBOX_STORES__B2__KEY": ACCESS_KEY, "SHOEBOX_STORES__B2__SECRET": SECRET_KEY,
                "SHOEBOX_STORES__B2__REGION": REGION, "SHOEBOX_SCHEDULER__ENABLED": "false",
                "SHOEBOX_JOBS__WORKERS": "0", "SHOEBOX_LOGGING__LEVEL": "warning"})
    return env


def flask(env, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "webapp", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_a_move_killed_in_the_middle_continues_when_started_again(make_app, tmp_path, database_url, moto_server, s3,
                                                                  s3_bucket):
    from webapp.extensions import blob_store
    from webapp.stores import location

    app = make_app(storage=folder_table(tmp_path / "a"), stores={"b2": bucket_table(moto_server, s3_bucket)})
    files = seed_files(app, count=150, size=24_000)
    env = cli_environment(tmp_path, database_url, moto_server, s3_bucket)
    first = flask(env, "storage", "move", "--to", "b2")
    deadline = time.monotonic() + 60
    with app.app_context():
        while not location.read_row().get("cursor") and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        cursor = location.read_row().get("cursor")
    first.send_signal(signal.SIGKILL)
    output = first.communicate()[0]
    assert first.returncode == -signal.SIGKILL, output
    assert cursor and cursor < max(files), "the move was not caught in the middle"
    with app.app_context():
        assert location.current().moving_to == "b2"

    second = flask(env, "storage", "move", "--to", "b2")
    output = second.communicate(timeout=300)[0]
    assert second.returncode == 0, output
    assert "Taking over job" in output and "Moved " in output

    with app.app_context():
        assert location.current().active == "b2" and location.current().moving_to is None
        target = blob_store().named("b2")
        for key, data in files.items():
            with target.open(key) as stream:
                assert hashlib.sha256(stream.read()).hexdigest() == hashlib.sha256(data).hexdigest(), key
    listed = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket)
              for item in page.get("Contents", [])]
    assert sorted(listed) == sorted([f"files/{key}" for key in files] + ["files/shoebox-site.json"])  # none doubled
    assert not s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")
    check = flask(env, "check")
    output = check.communicate(timeout=120)[0]
    assert check.returncode == 0, output
    assert output.strip().endswith("0 users' counters repaired, 0 orphan blobs (0 removed), 0 rows with missing blobs.")
