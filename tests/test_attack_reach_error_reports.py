"""Attack: what the sentry-sdk Flask integration adds to a report on its own (request headers, environment,
transaction names, breadcrumbs, the user) must carry no secret and, unless `errors.send_default_pii` is on,
no address: the proxy headers that name the client, the Referer of a share page or a deletion link, a token."""

from __future__ import annotations

import json
import secrets

import pytest

from tests import test_error_reports
from tests.fixtures.accounts import STRONG_PASSWORD

# The fake Sentry service and an app that reports to it, as test_error_reports.py makes them.
sentry_server = test_error_reports.sentry_server
reporting_app = test_error_reports.reporting_app

SHARE_TOKEN = "Hq2vNxR8tY4uW6zA1bC3dE5fG7"
DELETE_SECRET = "kP9mQ2wE4rT6yU8iO0pA1sD3fG5hJ7kL9zX2cV4bN6m"


@pytest.fixture(autouse=True)
def no_reporting_client_afterwards():
    """sentry_server's teardown leaves an active client without a DSN (sentry_sdk.init()); the tests after
    these (test_error_reports.py's "off without a DSN" among them) expect none at all."""
    yield
    import sentry_sdk

    sentry_sdk.get_global_scope().set_client(None)


def _crash_with_everything(app, **headers):
    client = app.test_client()
    return client.post(f"/test-crash/{SHARE_TOKEN}", headers={
        "X-Forwarded-For": "203.0.113.77, 198.51.100.9", "X-Real-IP": "203.0.113.77",
        "Forwarded": "for=203.0.113.77;proto=https", "CF-Connecting-IP": "203.0.113.77",
        "True-Client-IP": "203.0.113.77",
        "Referer": f"http://shoebox.test/delete/{DELETE_SECRET}?from=chat",
        "Accept": "application/json", **headers})


def test_a_report_names_no_client_address_unless_configured(reporting_app, sentry_server):
    app = reporting_app()
    assert _crash_with_everything(app).status_code == 500
    [event] = sentry_server.events()
    text = json.dumps(event)
    assert "203.0.113.77" not in text and "198.51.100.9" not in text
    assert "127.0.0.1" not in json.dumps(event.get("request", {}))
    assert set(event.get("user") or {}) <= {"id"}


def test_the_forwarded_address_goes_when_configured(reporting_app, sentry_server):
    app = reporting_app(send_default_pii=True)
    assert _crash_with_everything(app).status_code == 500
    [event] = sentry_server.events()
    assert event["request"]["headers"]["X-Forwarded-For"] == "203.0.113.77, 198.51.100.9"
    assert event["request"]["headers"]["Referer"] == "http://shoebox.test/delete/[secret]"


def test_a_report_carries_no_secret_from_the_referer_or_a_token(reporting_app, sentry_server, make_user):
    app = reporting_app()
    make_user(email="kim@example.com", username="kim")
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    answer = client.get("/api/v1/test-crash", headers={
        "Authorization": f"Bearer {token}", "Referer": f"http://shoebox.test/s/{SHARE_TOKEN}/p/1",
        "X-CSRFToken": "csrf-value-not-for-reports"})
    assert answer.status_code == 500
    assert _crash_with_everything(app).status_code == 500
    events = sentry_server.events()
    assert len(events) >= 1
    text = json.dumps(events)
    for secret in (SHARE_TOKEN, DELETE_SECRET, token, "csrf-value-not-for-reports", "from=chat"):
        assert secret not in text, secret


def test_the_transaction_and_slow_report_name_the_route_not_the_secret(reporting_app, sentry_server):
    app = reporting_app(slow_request_ms=1, traces_sample_rate=1.0)
    client = app.test_client()
    client.get(f"/delete/{DELETE_SECRET}", headers={"Referer": f"http://shoebox.test/s/{SHARE_TOKEN}"})
    client.post(f"/test-crash/{SHARE_TOKEN}", headers={"Accept": "application/json"})
    import sentry_sdk

    sentry_sdk.flush(timeout=10)
    sentry_server.events()
    with sentry_server.lock:
        everything = json.dumps([payload for _header, payload in sentry_server.items])
    assert sentry_server.items
    for secret in (SHARE_TOKEN, DELETE_SECRET):
        assert secret not in everything, secret


def test_breadcrumbs_of_outgoing_requests_carry_no_query_or_secret_path(reporting_app, sentry_server):
    """An upload from a URL fetches what the user pasted, a signed link say; a crash after it sends the
    request's breadcrumbs along."""
    import http.client
    from urllib.parse import urlsplit

    app = reporting_app()
    port = urlsplit(sentry_server.dsn).port
    signature = secrets.token_hex(16)  # made here: the source lines of the stack trace hold the code, not this

    def fetch_then_crash():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", f"/photos/{SHARE_TOKEN}/a.jpg?X-Amz-Signature={signature}")
        connection.getresponse().read()
        connection.close()
        raise RuntimeError("the photo was made of cheese")

    app.add_url_rule("/test-fetch-crash", view_func=fetch_then_crash)
    assert app.test_client().get("/test-fetch-crash").status_code == 500
    [event] = [e for e in sentry_server.events() if "cheese" in json.dumps(e.get("exception", {}))]
    text = json.dumps(event)
    assert "127.0.0.1" in json.dumps(event.get("breadcrumbs", {}))  # the breadcrumb is there, cleaned
    for secret in (SHARE_TOKEN, signature):
        assert secret not in text, secret
