"""The test session: plugins with the fixtures (tests/fixtures/), the report header and the checks
made before any test runs.

Environment:
  TEST_DATABASE_URL   run every database test a second time on this PostgreSQL database;
                      if it is set but unreachable, the run fails instead of skipping.
  TEST_REDIS_URL      run the Redis-backed tests on this Redis database (flushed after each).
  REQUIRE_BROWSER=1   browser tests fail (rather than skip) when Chromium is missing.
"""

from __future__ import annotations

import os
import re

import pytest
import sqlalchemy as sa

# Before the imports below: a module imported first is never rewritten, and pytest warns (an error here).
pytest.register_assert_rewrite("tests.fixtures")

from tests.fixtures.database import TEST_DATABASE_URL, postgres_url  # noqa: E402
from tests.fixtures.media import CORPUS  # noqa: E402

# The developer's own Shoebox settings must not leak into the tests.
for _name in [n for n in os.environ if n.startswith("SHOEBOX_")]:
    del os.environ[_name]

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.accounts",
    "tests.fixtures.browser",
    "tests.fixtures.jobs",
    "tests.fixtures.processes",
    "tests.fixtures.services",
    "tests.fixtures.s3server",
    "tests.fixtures.smtpserver",
]


def pytest_report_header(config):
    databases = "sqlite" + (f", postgresql ({_hide_password(TEST_DATABASE_URL)})" if TEST_DATABASE_URL else "")
    corpus = str(CORPUS) if CORPUS.is_dir() else "missing (corpus tests skip)"
    return [f"shoebox databases: {databases}", f"shoebox corpus: {corpus}"]


def pytest_collection_modifyitems(config, items):
    """Browser tests run once, on SQLite: they check pages and scripts, and every route they drive is
    tested on PostgreSQL too at the HTTP level. Running them twice would double the slowest part."""
    twice = [item for item in items if item.get_closest_marker("browser") and
             getattr(item, "callspec", None) and item.callspec.params.get("database_url") == "postgresql"]
    if twice:
        config.hook.pytest_deselected(items=twice)
        items[:] = [item for item in items if item not in twice]


def pytest_sessionstart(session):
    if TEST_DATABASE_URL:
        try:
            engine = sa.create_engine(postgres_url(TEST_DATABASE_URL))
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            engine.dispose()
        except Exception as exc:  # a set but dead database must fail the run, not skip it
            pytest.exit(f"TEST_DATABASE_URL is set but PostgreSQL cannot be reached: {exc}", returncode=3)


def _hide_password(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]+@", r"://\1:***@", url)
