"""GET /api/v1/admin/audit: the viewer's filters as query parameters, keyset pages of JSON, or the whole filter
streamed as CSV or JSON Lines when the Accept header or `format` asks; 404 without view_audit."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.test_audit_log import add_event

URL = "/api/v1/admin/audit"


@pytest.fixture(autouse=True)
def quick_passwords(monkeypatch):
    """Logins hash with a cheap argon2 (what a hash costs is not what these tests are about)."""
    from argon2 import PasswordHasher

    from webapp.auth import service

    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    dummy = hasher.hash("not a real password")
    monkeypatch.setattr(service, "_hasher", hasher)
    monkeypatch.setattr(service, "_dummy_hash", lambda: dummy)


def bearer(client, username):
    token = client.post("/api/v1/auth/login", json={"identifier": username, "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def setup(app, client, make_user):
    """root (admin) and kim (member) with their tokens, and 12 events of kim's; returns (ids, root, kim)."""
    root_id, kim_id = make_user(username="root", role="admin"), make_user(username="kim")
    ids = [add_event(app, "media_uploaded", kim_id, target=f"media:m{n}", ip="192.0.2.4", size=n)
           for n in range(12)]
    return {"ids": ids, "root": bearer(client, "root"), "kim": bearer(client, "kim"), "kim_id": kim_id}


def test_pages_of_json_newest_first_without_overlap(client, setup):
    seen, cursor = [], None
    while True:
        query = {"actor": "kim", "action": "media_uploaded", "limit": 5, **({"cursor": cursor} if cursor else {})}
        body = client.get(URL, query_string=query, headers=setup["root"]).get_json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(setup["ids"], reverse=True)
    first = client.get(URL, query_string={"actor": "kim", "action": "media_*", "limit": 1}, headers=setup["root"]).get_json()["items"][0]
    assert first["action"] == "media_uploaded" and first["label"] == "Photo or file uploaded"
    assert first["actor"] == "kim" and first["actor_id"] == setup["kim_id"] and first["target"] == "media:m11"
    assert first["address"] == "192.0.2.4" and first["details"] == {"size": 11}


def test_filters_are_query_parameters(client, setup):
    body = client.get(URL, query_string={"target": "media:m3"}, headers=setup["root"]).get_json()
    assert [item["target"] for item in body["items"]] == ["media:m3"]
    body = client.get(URL, query_string={"action": "login"}, headers=setup["root"]).get_json()
    assert {item["actor"] for item in body["items"]} == {"root", "kim"}


@pytest.mark.parametrize("query, field", [
    ({"from": "not a date"}, "from"), ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"),
    ({"cursor": "abc"}, "cursor"), ({"actor": "nobody"}, "actor"), ({"from": "2025-02-02", "to": "2025-02-01"}, "to"),
])
def test_a_bad_parameter_is_named(client, setup, query, field):
    response = client.get(URL, query_string=query, headers=setup["root"])
    assert response.status_code == 400 and response.get_json()["error"]["field"] == field


@pytest.mark.parametrize("how", [{"headers": {"Accept": "text/csv"}}, {"query_string": {"format": "csv"}}])
def test_csv_is_streamed_when_asked_for(client, setup, how):
    response = client.get(URL, headers={**setup["root"], **how.get("headers", {})},
                          query_string={"actor": "kim", "action": "media_uploaded", **how.get("query_string", {})})
    assert response.status_code == 200 and response.is_streamed and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="shoebox-audit-')
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [int(row["id"]) for row in rows] == sorted(setup["ids"], reverse=True)


@pytest.mark.parametrize("how", [{"headers": {"Accept": "application/x-ndjson"}}, {"query_string": {"format": "jsonl"}}])
def test_json_lines_when_asked_for(client, setup, how):
    response = client.get(URL, headers={**setup["root"], **how.get("headers", {})},
                          query_string={"target": "media:", **how.get("query_string", {})})
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [line["id"] for line in lines] == sorted(setup["ids"], reverse=True)


def test_a_bad_filter_in_an_export_is_a_400_before_anything_streams(client, setup):
    response = client.get(URL, query_string={"format": "csv", "to": "soon"}, headers=setup["root"])
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "to"


@pytest.mark.parametrize("extra", [{}, {"format": "csv"}, {"format": "jsonl"}])
def test_members_and_strangers_get_nothing(client, setup, extra):
    assert client.get(URL, query_string=extra, headers=setup["kim"]).status_code == 404
    assert client.get(URL, query_string=extra).status_code == 401


def test_a_group_with_view_audit_may_read_it(app, client, setup, make_user):
    from webapp.extensions import db
    from webapp.models import Group, GroupPermission, UserGroup

    lee = make_user(username="lee")
    with app.app_context():
        group = Group(name="Auditors", description="")
        db.session.add(group)
        db.session.flush()
        db.session.add_all([GroupPermission(group_id=group.id, permission="view_audit"),
                            UserGroup(user_id=lee, group_id=group.id)])
        db.session.commit()
    headers = bearer(client, "lee")
    assert client.get(URL, headers=headers).status_code == 200
    assert client.get(URL, headers={**headers, "Accept": "text/csv"}).status_code == 200
    assert client.get("/api/v1/admin/users", headers=headers).status_code == 404


def test_the_document_describes_the_query_and_the_csv_answer(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"][URL]["get"]
    assert operation["tags"] == ["admin"] and set(document["paths"][URL]) == {"get"}
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"actor", "action", "target", "from", "to", "address", "cursor", "limit", "format"} <= names
    content = operation["responses"]["200"]["content"]
    assert {"application/json", "text/csv", "application/x-ndjson"} <= set(content)
    assert "404" in operation["responses"]
