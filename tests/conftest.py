"""Shared test fixtures: an app per test on SQLite (and PostgreSQL when TEST_DATABASE_URL is set).

Environment:
  TEST_DATABASE_URL   run every database test a second time on this PostgreSQL database;
                      if it is set but unreachable, the run fails instead of skipping.
  REQUIRE_BROWSER=1   browser tests fail (rather than skip) when Chromium is missing.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
STRONG_PASSWORD = "correct horse battery staple"

# The developer's own Shoebox settings must not leak into the tests.
for _name in [n for n in os.environ if n.startswith("SHOEBOX_")]:
    del os.environ[_name]


def pytest_report_header(config):
    databases = "sqlite" + (f", postgresql ({_hide_password(TEST_DATABASE_URL)})" if TEST_DATABASE_URL else "")
    corpus = str(CORPUS) if CORPUS.is_dir() else "missing (corpus tests skip)"
    return [f"shoebox databases: {databases}", f"shoebox corpus: {corpus}"]


def pytest_sessionstart(session):
    if TEST_DATABASE_URL:
        try:
            engine = sa.create_engine(_postgres_url(TEST_DATABASE_URL))
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            engine.dispose()
        except Exception as exc:  # a set but dead database must fail the run, not skip it
            pytest.exit(f"TEST_DATABASE_URL is set but PostgreSQL cannot be reached: {exc}", returncode=3)


def _hide_password(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]+@", r"://\1:***@", url)


def _postgres_url(url: str) -> str:
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", url)


DATABASES = ["sqlite"] + (["postgresql"] if TEST_DATABASE_URL else [])


@pytest.fixture(params=DATABASES)
def database_url(request, tmp_path):
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema dropped after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shoebox.db'}"
        return
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(_postgres_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    base = sa.make_url(_postgres_url(TEST_DATABASE_URL))
    yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def app_settings(tmp_path: Path, database_url: str, **extra) -> dict:
    """Settings for an isolated test app: its own data dir, database and in-memory store."""
    settings = {
        "SHOEBOX_CONFIG_FILE": None,
        "TESTING": True,
        "data_dir": str(tmp_path / "data"),
        "database": {"url": database_url},
        "storage": {"url": f"memory://test-{uuid.uuid4().hex}"},
        "scheduler": {"enabled": False},
        "limits": {"storage_url": "memory://"},
        "server": {"base_url": "http://shoebox.test"},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            settings[key] = {**settings[key], **value}
        else:
            settings[key] = value
    return settings


@pytest.fixture
def make_app(tmp_path, database_url):
    """Build apps on this test's database; each extra keyword overrides a setting."""
    from webapp import create_app
    from webapp.extensions import db

    apps = []

    def factory(**extra):
        app = create_app(app_settings(tmp_path, database_url, **extra))
        apps.append(app)
        return app

    yield factory
    for app in apps:
        scheduler = app.extensions.get("shoebox_scheduler")
        if scheduler is not None:
            scheduler.shutdown()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        _clear_memory_store(app.config["SHOEBOX"]["storage"]["url"])


def _clear_memory_store(url: str) -> None:
    if url.startswith("memory://"):
        import fsspec

        fs = fsspec.filesystem("memory")
        root = "/" + url.removeprefix("memory://").strip("/")
        if fs.exists(root):
            fs.rm(root, recursive=True)


@pytest.fixture
def app(make_app):
    """The app under test, with an empty database."""
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app):
    """Create an account: make_user(email=..., username=..., password=..., role=...)."""
    from webapp.auth import service

    counter = iter(range(1, 10_000))

    def factory(email=None, username=None, password=STRONG_PASSWORD, role="user", verified=True):
        n = next(counter)
        with app.app_context():
            user = service.create_user(email or f"user{n}@example.com", username or f"user{n}", password,
                                       role=role, verified=verified)
            return user.id
    return factory


def csrf_token_from(html: str) -> str:
    """The CSRF token embedded in a page (form field or the body's hx-headers)."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(r'X-CSRFToken&#34;: &#34;([^&]+)&', html) \
        or re.search(r'"X-CSRFToken": "([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class AuthActions:
    """Log in and out through the real forms, CSRF and all."""

    def __init__(self, client):
        self._client = client

    def csrf(self, path="/login"):
        return csrf_token_from(self._client.get(path).get_data(as_text=True))

    def login(self, identifier="user1", password=STRONG_PASSWORD):
        token = self.csrf("/login")
        return self._client.post("/login", data={"identifier": identifier, "password": password, "csrf_token": token})

    def logout(self):
        token = self.csrf("/")
        return self._client.post("/logout", data={"csrf_token": token})


@pytest.fixture
def auth(client):
    return AuthActions(client)


def corpus_file(*parts: str) -> Path:
    """A file from ../shared/corpus, or a skip that says the corpus is missing."""
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"test corpus not found at {CORPUS} (it lives beside the project as shared/corpus)")
    return path
