"""Attacks on the doors issue 16 opened for keys: the upload page's client POST, key scopes outside /api/v1,
and a key or token sent next to a browser session.

Every credential a request presents must be valid and must be the one that decides: a browser session never
stands in for a bogus Authorization or X-API-Key header, which would make the page's CSRF-exempt client door
an upload without a CSRF token.
"""

from __future__ import annotations

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.media import make_jpeg, media_count, multipart


@pytest.fixture
def kim_keys(client, make_user):
    """kim's token and one key of each scope."""
    make_user(email="kim@example.com", username="kim")
    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    keys = {}
    for scope in ("upload", "read", "full"):
        answer = client.post("/api/v1/api-keys", headers=bearer, json={"name": scope, "scope": scope})
        assert answer.status_code == 201, answer.get_json()
        keys[scope] = answer.get_json()["key"]
    return {"bearer": bearer, **keys}


def _photo():
    return multipart({"file": (make_jpeg(), "shot.jpg")})


@pytest.mark.parametrize("headers", [
    {"Authorization": "Bearer not-a-token"},
    {"X-API-Key": ""},
    {"X-API-Key": "sbx_forged"},
], ids=["bogus-bearer", "empty-key", "forged-key"])
def test_a_signed_in_browser_cannot_upload_without_csrf_by_adding_a_bogus_credential(client, kim_keys, auth, app,
                                                                                     headers):
    auth.login("kim")
    body, content_type = _photo()
    answer = client.post("/upload", headers=headers, data=body, content_type=content_type)
    assert answer.status_code == 401, answer.get_data(as_text=True)
    assert answer.get_json()["error"]["code"] in {"unauthorized", "token_invalid", "api_key_invalid"}
    assert media_count(app) == 0


@pytest.mark.parametrize("authorization", ["Basic a2ltOmNvcnJlY3QgaG9yc2U=", "", "Token abc"])
def test_another_authorization_leaves_a_browsers_post_to_the_page_and_its_csrf_check(client, kim_keys, auth, app,
                                                                                    authorization):
    """A reverse proxy's Basic sign-in makes the browser send Authorization with every request."""
    auth.login("kim")
    body, content_type = _photo()
    forged = client.post("/upload", headers={"Authorization": authorization}, data=body, content_type=content_type)
    assert forged.status_code == 400 and media_count(app) == 0
    token = auth.csrf("/upload")
    page = client.post("/upload", headers={"Authorization": authorization, "X-CSRFToken": token}, data=body,
                       content_type=content_type)
    assert page.status_code == 201 and "success" not in page.get_json() and media_count(app) == 1


@pytest.mark.parametrize("authorization", ["Basic a2ltOmNvcnJlY3QgaG9yc2U=", ""])
def test_another_authorization_without_a_session_is_an_anonymous_browser(client, kim_keys, app, authorization):
    """Not a key nor a bearer token: a reverse proxy's own sign-in, which a visitor's browser repeats. The
    upload page sends such a visitor to log in, and nothing is stored."""
    body, content_type = _photo()
    answer = client.post("/upload", headers={"Authorization": authorization}, data=body, content_type=content_type)
    assert answer.status_code == 303 and "/login" in answer.headers["Location"]
    assert media_count(app) == 0


def test_a_session_does_not_lift_a_read_keys_scope_at_the_upload_page(client, kim_keys, auth, app):
    auth.login("kim")
    body, content_type = _photo()
    answer = client.post("/upload", headers={"X-API-Key": kim_keys["read"]}, data=body, content_type=content_type)
    assert answer.status_code == 403 and answer.get_json()["error"]["code"] == "insufficient_scope"
    assert media_count(app) == 0


def test_a_valid_key_next_to_a_session_uploads_as_the_key_says(client, kim_keys, auth, app):
    auth.login("kim")
    body, content_type = _photo()
    answer = client.post("/upload", headers={"X-API-Key": kim_keys["upload"]}, data=body, content_type=content_type)
    assert answer.status_code == 201 and answer.get_json()["success"] is True
    assert media_count(app) == 1


@pytest.mark.parametrize("override", ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"])
def test_method_override_headers_do_not_turn_a_read_keys_get_into_a_delete(client, kim_keys, app, override):
    body, content_type = _photo()
    uploaded = client.post("/upload", headers={"X-API-Key": kim_keys["upload"]}, data=body, content_type=content_type)
    media_id = uploaded.get_json()["image"]["id"]
    for path in (f"/api/v1/images/{media_id}", f"/api/images/{media_id}"):
        answer = client.get(path, headers={"X-API-Key": kim_keys["read"], override: "DELETE"})
        assert answer.status_code == 200
        answer = client.post(path, headers={"X-API-Key": kim_keys["read"], override: "GET"})
        assert answer.status_code in (403, 405)
    assert media_count(app) == 1


def test_an_upload_key_sees_no_photo_anywhere_outside_the_api(client, kim_keys, app):
    body, content_type = _photo()
    uploaded = client.post("/upload", headers={"X-API-Key": kim_keys["upload"]}, data=body, content_type=content_type)
    media_id = uploaded.get_json()["image"]["id"]
    key = {"X-API-Key": kim_keys["upload"]}
    for path in (f"/i/{media_id}", f"/i/{media_id}?size=thumb", f"/i/{media_id}?download=1", f"/info/{media_id}",
                 f"/embed/{media_id}", f"/api/images/{media_id}", "/api/images", "/api/v1/images"):
        for method in ("GET", "HEAD"):
            answer = client.open(path, method=method, headers=key)
            assert answer.status_code == 403, (method, path, answer.status_code)
    # and the key with a session cookie beside it is still only the key
    assert client.get(f"/api/v1/images/{media_id}", headers=key).status_code == 403


def test_a_read_key_cannot_mint_keys_change_the_account_or_start_jobs(client, kim_keys, app):
    key = {"X-API-Key": kim_keys["read"]}
    assert client.post("/api/v1/api-keys", headers=key, json={"name": "more", "scope": "full"}).status_code == 403
    assert client.put("/api/v1/account", headers=key, json={"display_name": "x"}).status_code == 403
    assert client.post("/api/v1/backups", headers=key, json={"scope": "account"}).status_code == 403
    assert client.post("/api/v1/auth/logout", headers=key, json={}).status_code == 403
    listed = client.get("/api/v1/api-keys", headers=key).get_json()
    assert all(kim_keys[scope] not in str(listed) for scope in ("upload", "read", "full"))


def test_options_answers_without_running_the_view_and_without_creating_anything(client, kim_keys, app):
    answer = client.options("/api/images", headers={"X-API-Key": kim_keys["upload"]})
    assert answer.status_code in (200, 204) and media_count(app) == 0
    answer = client.options("/upload", headers={"X-API-Key": kim_keys["read"]})
    assert answer.status_code in (200, 204) and media_count(app) == 0
