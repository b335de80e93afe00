"""Errors and slow requests reach a Sentry-compatible service, with request ids and user ids and nothing private.

The service is a local HTTP server that receives the SDK's envelopes over the real protocol.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD


class Envelopes:
    """What the fake service received: each envelope's items as (item header, payload)."""

    def __init__(self):
        self.items: list[tuple[dict, dict]] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()

    def events(self, timeout=10.0) -> list[dict]:
        import sentry_sdk

        sentry_sdk.flush(timeout=timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [payload for header, payload in self.items if header.get("type") == "event"]
            if found:
                return found
            time.sleep(0.05)
        return []


def _decode(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        import brotli  # noqa: PLC0415 (only when the SDK chose it)

        return brotli.decompress(body)
    return body


@pytest.fixture
def sentry_server():
    received = Envelopes()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = _decode(self.rfile.read(int(self.headers["Content-Length"])),
                           self.headers.get("Content-Encoding", ""))
            lines = body.split(b"\n")
            with received.lock:
                received.paths.append(self.path)
                # An envelope: its header line, then per item a header line and a payload line.
                for header, payload in zip(lines[1::2], lines[2::2]):
                    if header.strip():
                        received.items.append((json.loads(header), json.loads(payload) if payload else {}))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    received.dsn = f"http://publickey@127.0.0.1:{server.server_address[1]}/42"
    yield received
    import sentry_sdk

    sentry_sdk.get_client().close(timeout=2)
    sentry_sdk.get_global_scope().set_client(None)  # no client at all again, for the tests after this one
    server.shutdown()
    server.server_close()


@pytest.fixture
def reporting_app(make_app, sentry_server, make_user):
    from webapp.extensions import csrf

    def build(**errors):
        app = make_app(errors={"sentry_dsn": sentry_server.dsn, **errors})
        make_user(email="owner@example.com", username="owner", role="admin")  # past the first-run setup

        def crash():
            raise RuntimeError("the disk is made of cheese")

        def crash_signed_in():
            from webapp.api.auth import authenticate_request

            authenticate_request()
            raise RuntimeError("the disk is made of cheese")

        def slow():
            time.sleep(0.08)
            return "done"

        app.add_url_rule("/test-crash/<secret>", view_func=csrf.exempt(crash), methods=["GET", "POST"])
        app.add_url_rule("/api/v1/test-crash", view_func=crash_signed_in)
        app.add_url_rule("/test-slow", view_func=slow)
        return app
    return build


def test_reports_are_off_without_a_dsn(app, client):
    import sentry_sdk

    assert "error_reports" not in app.extensions
    assert not sentry_sdk.get_client().is_active()
    assert client.get("/health").status_code == 200


def test_an_error_is_reported_with_request_id_user_id_and_release(reporting_app, sentry_server, make_user):
    from webapp import __version__

    app = reporting_app()
    client = app.test_client()
    user_id = make_user(email="kim@example.com", username="kim")
    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    answer = client.get("/api/v1/test-crash", headers={"Authorization": f"Bearer {token}",
                                                        "X-Request-ID": "trace-4242"})
    assert answer.status_code == 500 and answer.get_json()["error"]["code"] == "internal_error"
    [event] = sentry_server.events()
    assert sentry_server.paths[0] == "/api/42/envelope/"
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["exception"]["values"][-1]["value"] == "the disk is made of cheese"
    assert event["tags"]["request_id"] == "trace-4242"
    assert event["user"] == {"id": str(user_id)}
    assert event["release"] == f"shoebox@{__version__}"
    text = json.dumps(event)
    assert "kim@example.com" not in text and token not in text and "127.0.0.1" not in text.replace(
        sentry_server.dsn, "")


def test_a_report_carries_no_body_no_cookie_no_key_and_no_secret_in_the_url(reporting_app, sentry_server):
    app = reporting_app()
    client = app.test_client()
    secret = "Zq8v3XyA1bC9dE7fG5hJ2kL4"
    client.set_cookie("session", "a-session-cookie-value")
    answer = client.post(f"/test-crash/{secret}?token=also-a-secret-value",
                         data={"password": "hunter2-is-not-it", "note": "private words"},
                         headers={"X-API-Key": "sbx_not_for_sentry_eyes", "Accept": "application/json"})
    assert answer.status_code == 500
    [event] = sentry_server.events()
    text = json.dumps(event)
    for private in (secret, "also-a-secret-value", "hunter2-is-not-it", "private words", "a-session-cookie-value",
                    "sbx_not_for_sentry_eyes"):
        assert private not in text, private
    assert event["request"]["url"].endswith("/test-crash/[secret]")
    assert event["request"]["method"] == "POST"


def test_emails_and_addresses_go_only_when_configured(reporting_app, sentry_server, make_user, auth):
    app = reporting_app(send_default_pii=True)
    client = app.test_client()
    make_user(email="kim@example.com", username="kim")
    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    client.get("/api/v1/test-crash", headers={"Authorization": f"Bearer {token}"})
    [event] = sentry_server.events()
    assert event["user"]["email"] == "kim@example.com" and event["user"]["ip_address"] == "127.0.0.1"


def test_a_slow_request_is_reported_as_a_warning_by_its_route(reporting_app, sentry_server):
    app = reporting_app(slow_request_ms=50)
    client = app.test_client()
    assert client.get("/test-slow").status_code == 200
    assert client.get("/health").status_code == 200  # quick: not reported
    [event] = sentry_server.events()
    assert event["level"] == "warning"
    assert event["message"].startswith("Slow request: GET /test-slow took ")
    assert event["extra"]["duration_ms"] >= 50 and event["tags"]["request_id"]


def test_refusals_are_not_errors(reporting_app, sentry_server):
    app = reporting_app()
    client = app.test_client()
    assert client.get("/api/v1/images").status_code == 401
    assert client.get("/no-such-page").status_code == 404
    assert sentry_server.events(timeout=1.5) == []


def test_a_bad_sample_rate_stops_start_up_naming_the_key(make_app):
    from webapp.config import ConfigError

    with pytest.raises(ConfigError, match="errors.traces_sample_rate"):
        make_app(errors={"traces_sample_rate": 2})
