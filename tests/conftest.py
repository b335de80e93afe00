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
    "tests.fixtures.instances",
    "tests.fixtures.accounts",
    "tests.fixtures.browser",
    "tests.fixtures.jobs",
    "tests.fixtures.oidc_provider",
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


def pytest_configure(config):
    config.addinivalue_line("markers", "full_cost_passwords: hash passwords at the production Argon2 cost")


@pytest.fixture(autouse=True)
def quick_password_hashing(request, monkeypatch):
    """Argon2id at its lowest cost: at full cost (64 MiB, three passes) each account made and each sign-in
    takes 0.3-0.7 s on the shared test machine, minutes over the suite. Hashes are still Argon2id, made and checked
    by the same code; only the cost parameters differ. Mark a test full_cost_passwords to keep them."""
    if request.node.get_closest_marker("full_cost_passwords"):
        return
    from argon2 import PasswordHasher

    from webapp.auth import service as accounts
    from webapp.shares import service as shares

    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    dummy = hasher.hash("not a real password, only for equal timing")
    monkeypatch.setattr(accounts, "_hasher", hasher)
    monkeypatch.setattr(accounts, "_dummy_hash", lambda: dummy)
    monkeypatch.setattr(shares, "_hasher", hasher)


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
