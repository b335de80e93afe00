"""Shared test fixtures: an app per test on SQLite (and PostgreSQL when TEST_DATABASE_URL is set).

Environment:
  TEST_DATABASE_URL   run every database test a second time on this PostgreSQL database;
                      if it is set but unreachable, the run fails instead of skipping.
  REQUIRE_BROWSER=1   browser tests fail (rather than skip) when Chromium is missing.
"""

from __future__ import annotations

import io
import os
import re
import struct
import uuid
import zlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import ExifTags, Image

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
    from webapp import mail

    mail.wait_for_delivery()  # work a request left for afterwards must finish before its database goes
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


# --- Redis -----------------------------------------------------------------------------------

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")


@pytest.fixture
def redis_url():
    """A Redis URL for tests that need one; skips without TEST_REDIS_URL, fails if it is dead."""
    if not TEST_REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set (CI sets it); Redis-backed tests skipped")
    import redis

    try:
        redis.Redis.from_url(TEST_REDIS_URL).ping()
    except redis.RedisError as exc:
        pytest.fail(f"TEST_REDIS_URL is set but Redis cannot be reached: {exc}")
    yield TEST_REDIS_URL
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()


# --- a real server and a real browser --------------------------------------------------------

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    import shutil

    return next((p for p in (shutil.which(c) for c in CHROMIUM_CANDIDATES) if p), None)


@pytest.fixture
def live_server(make_app):
    """Start the app for real in waitress on a free loopback port; `live_server.url` is where it answers."""
    import socket
    import threading

    from waitress.server import create_server

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = make_app(server={"base_url": f"http://127.0.0.1:{port}"})
    server = create_server(app, host="127.0.0.1", port=port, threads=4, ident="Shoebox-test")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{port}"
    server.app = app
    yield server
    server.close()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium from the system (Debian's package), driven by Playwright."""
    path = chromium_path()
    if path is None:
        message = "Chromium is not installed (apt-get install chromium); browser tests need it"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message + " and REQUIRE_BROWSER=1 is set", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


class PageProblems(list):
    """Console errors, uncaught exceptions and failed requests seen by a page."""


@pytest.fixture
def page_for(browser):
    """open(width, height, color_scheme) -> a fresh page whose JavaScript errors fail the test."""
    contexts, problems = [], PageProblems()

    def open_page(width=1280, height=860, color_scheme="light", **options):
        context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=color_scheme,
                                      **options)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: _console_problem(problems, m))
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("response", lambda r: _subresource_problem(problems, r))
        # An aborted request is one the page itself cancelled by moving on; that is no fault.
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}")
                if r.resource_type != "document" and "ERR_ABORTED" not in (r.failure or "") else None)
        page.set_default_timeout(10_000)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not problems, f"the browser reported problems: {problems}"


def _console_problem(problems, message):
    # A page that answers 404 on purpose also logs "Failed to load resource"; failed
    # sub-resources are caught by _subresource_problem instead.
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        problems.append(f"console error at {message.location.get('url', '?')}: {message.text}")


def _subresource_problem(problems, response):
    # Documents and htmx requests may answer 4xx on purpose; scripts, styles and images may not.
    if response.status >= 400 and response.request.resource_type not in {"document", "fetch", "xhr"}:
        problems.append(f"{response.status} for {response.request.resource_type} {response.url}")


SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


PHONE = {"width": 390, "height": 844, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


def logged_in_page(page_for, live_server, **options):
    from webapp.auth import service

    with live_server.app.app_context():
        service.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True)
    page = page_for(**options)
    page.goto(live_server.url + "/login")
    page.fill("#identifier", "kim")
    page.fill("#password", STRONG_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    return page


def wait_for_images(page, seconds=15):
    """Until every gallery thumbnail has loaded. (Polled with evaluate: wait_for_function needs eval,
    which the page's CSP rightly forbids.)"""
    import time

    deadline = time.monotonic() + seconds
    script = "Array.from(document.querySelectorAll('.tile-image')).every(i => i.complete && i.naturalWidth > 0)"
    while not page.evaluate(script):
        assert time.monotonic() < deadline, "thumbnails did not load"
        page.wait_for_timeout(100)


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/screenshots/ for people to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# --- whole Shoebox processes, as several instances would run ----------------------------------

def spawn_shoebox(tmp_path: Path, preexec_fn=None, **env):
    """Run `python -m webapp serve` on a free port with a data dir in tmp_path; returns (process, url).

    The process is not waited for: call wait_until_healthy(process, url).
    """
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "empty.toml"
    config.touch()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SHOEBOX_")}
    environment.update({"SHOEBOX_CONFIG": str(config), "SHOEBOX_DATA_DIR": str(tmp_path / "data"),
                        "SHOEBOX_SCHEDULER__ENABLED": "false", "SHOEBOX_LOGGING__LEVEL": "warning",
                        "SHOEBOX_SERVER__PORT": str(port), "SHOEBOX_SERVER__HOST": "127.0.0.1", **env})
    process = subprocess.Popen([sys.executable, "-m", "webapp", "serve"], cwd=ROOT, env=environment, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=preexec_fn)
    return process, f"http://127.0.0.1:{port}"


def wait_until_healthy(process, url: str, seconds: float = 30) -> None:
    """Poll /health until it answers; fail with the server's output if it dies or never answers."""
    import time
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/health", timeout=1).read()
            return
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"Shoebox did not start: {process.stdout.read()}")


@pytest.fixture
def start_instance(tmp_path):
    """start(**env) -> base URL of a Shoebox server process (sharing this test's data dir), stopped after."""
    import subprocess

    processes = []

    def start(**env):
        process, url = spawn_shoebox(tmp_path, **env)
        processes.append(process)
        wait_until_healthy(process, url)
        return url

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        process.stdout.close()


def multipart(fields: dict) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type. (Werkzeug's test client spills bodies over
    500 KB to a temporary file that it never closes; building the body here avoids that.)"""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        if isinstance(value, tuple):
            data, filename = value
            header = f'Content-Disposition: form-data; name="{name}"; filename="{_quote(filename)}"\r\n' \
                     "Content-Type: application/octet-stream\r\n\r\n"
        else:
            data, header = str(value).encode(), f'Content-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(f"--{boundary}\r\n".encode() + header.encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _quote(filename: str) -> str:
    return filename.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "%0D").replace("\n", "%0A")


# --- photos through the API --------------------------------------------------------------------

def make_jpeg(size=(64, 48), colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def kim(app, make_user):
    """A logged-in API client for the user kim: kim.upload(...), kim.get(...)."""
    user_id = make_user(email="kim@example.com", username="kim")
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]

    class Kim:
        """The API client as kim (kim.test_client is the Flask test client itself)."""
        id = user_id
        headers = {"Authorization": f"Bearer {token}"}
        test_client = client

        def upload(self, data: bytes, name="photo.jpg", field="file", **form):
            body, content_type = multipart({field: (data, name), **form})
            return client.post("/api/v1/images", headers=self.headers, data=body, content_type=content_type)

        def upload_json(self, body):
            return client.post("/api/v1/images", headers=self.headers, json=body)

        def get(self, path, **kwargs):
            return client.get(path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

        def delete(self, path):
            return client.delete(path, headers=self.headers)
    return Kim()


def stored_keys(app) -> list[str]:
    from webapp.extensions import blob_store

    with app.app_context():
        return list(blob_store().keys())


def media_count(app) -> int:
    from webapp.extensions import db
    from webapp.models import Media

    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(Media))


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- images that are large once decoded --------------------------------------------------------

def make_flat_png(width: int, height: int, *, rows: int | None = None) -> bytes:
    """An RGB PNG of one colour, compressed row by row: many pixels, few bytes, little memory here.

    `rows` writes only that many rows of pixels (0: the header alone, a truncated file).
    """
    compressor, row = zlib.compressobj(), b"\x00" + bytes((40, 90, 160)) * width
    pixels = b"".join(compressor.compress(row) for _ in range(height if rows is None else rows))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", pixels + compressor.flush()) \
        + _png_chunk(b"IEND", b"")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def make_sparse_webp(canvas: tuple[int, int], frames: int, *, orientation: int = 1, duration: int = 40) -> bytes:
    """An animated WebP whose frames are 8x8 patches on a large canvas, as an attacker builds one:
    a few bytes a frame in the file, a whole canvas a frame once decoded."""
    patch = io.BytesIO()
    Image.new("RGB", (8, 8), (250, 250, 250)).save(patch, "WEBP", lossless=True)
    vp8l = patch.getvalue()[12:]  # the one VP8L chunk after the RIFF header
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    width, height = canvas
    flags = 0x02 | 0x08  # animation, EXIF
    body = _webp_chunk(b"VP8X", bytes([flags, 0, 0, 0]) + _u24(width - 1) + _u24(height - 1))
    body += _webp_chunk(b"ANIM", bytes([160, 90, 40, 255]) + (0).to_bytes(2, "little"))  # background, loop
    for n in range(frames):
        x, y = (2 * n) % (width - 8), (6 * n) % (height - 8)
        body += _webp_chunk(b"ANMF", _u24(x // 2) + _u24(y // 2) + _u24(7) + _u24(7) + _u24(duration) + b"\x00" + vp8l)
    body += _webp_chunk(b"EXIF", exif.tobytes())
    return b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WEBP" + body


def _u24(value: int) -> bytes:
    return value.to_bytes(3, "little")


def _webp_chunk(kind: bytes, data: bytes) -> bytes:
    return kind + len(data).to_bytes(4, "little") + data + b"\x00" * (len(data) % 2)
