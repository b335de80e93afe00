"""The API refuses what its document rules out, with a 400 whose sentence names the field
(each case here was found by the schemathesis run in test_openapi.py)."""

from __future__ import annotations

import pytest

from tests.fixtures.media import make_jpeg

LONG_EMAIL = "a" * 245 + "@example.com"  # 257 characters; the document allows 254


def error_of(response) -> dict:
    assert response.status_code == 400, (response.status_code, response.get_data(as_text=True))
    return response.get_json()["error"]


@pytest.mark.parametrize("query, code", [
    ("limit=", "invalid_limit"), ("sort=", "invalid_sort"), ("order=", "invalid_order"), ("from=", "invalid_date"),
    ("to=", "invalid_date"), ("type=", "invalid_type"), ("visibility=", "invalid_visibility"),
])
def test_an_empty_list_parameter_is_refused_by_name(kim, query, code):
    error = error_of(kim.get(f"/api/v1/images?{query}"))
    name = query.removesuffix("=")
    assert error["code"] == code and error["field"] == name and error["message"].startswith(f"{name} is empty")


def test_a_search_over_100_characters_is_refused(kim):
    assert kim.get("/api/v1/images?q=" + "x" * 100).status_code == 200
    error = error_of(kim.get("/api/v1/images?q=" + "x" * 101))
    assert error["code"] == "invalid_query" and error["message"].startswith("q has at most 100")


def test_the_gallery_page_still_reads_empty_filters_as_not_chosen(auth, make_user, client):
    make_user()
    auth.login()
    assert client.get("/?q=&from=&to=&type=&visibility=&sort=&order=").status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/auth/forgot-password", "/api/v1/auth/resend-verification"])
def test_an_email_longer_than_254_characters_is_refused(client, path):
    error = error_of(client.post(path, json={"email": LONG_EMAIL}))
    assert error["code"] == "too_long" and error["field"] == "email"
    assert error["message"].startswith("email has at most 254")
    assert client.post(path, json={"email": "kim@example.com"}).status_code == 202


def test_reset_password_refuses_a_short_password_whatever_the_token(client):
    error = error_of(client.post("/api/v1/auth/reset-password", json={"token": "unknown", "password": "short"}))
    assert error["code"] == "weak_password" and "10 characters" in error["message"]
    assert client.post("/api/v1/auth/reset-password",
                       json={"token": "unknown", "password": "a much longer passphrase"}).status_code == 410


@pytest.mark.parametrize("body, code", [
    (b"\x00", "invalid_json"), (b"[]", "invalid_json"), (b'"token"', "invalid_json"),
    (b'{"refresh_token": 5}', "invalid_field"), (b'{"refresh_token": null}', "invalid_field"),
])
def test_logout_refuses_a_body_that_is_not_the_documented_object(kim, body, code):
    response = kim.test_client.post("/api/v1/auth/logout", headers=kim.headers, data=body,
                                    content_type="application/json")
    assert error_of(response)["code"] == code
    assert kim.get("/api/v1/account").status_code == 200  # nothing was logged out


@pytest.mark.parametrize("field", ["username", "invite"])
def test_signup_fields_must_be_text(client, make_user, field):
    make_user(username="admin", role="admin")
    body = {"email": "new@example.com", "password": "correct horse battery staple", field: 6.0}
    error = error_of(client.post("/api/v1/auth/signup", json=body))
    assert error["code"] == "invalid_field" and field in error["message"]


@pytest.mark.parametrize("body", [{"password": {"a": 1}}, {"email": ["kim@example.org"], "password": "x"}])
def test_account_email_and_password_must_be_text(kim, body):
    response = kim.test_client.patch("/api/v1/account", headers=kim.headers, json=body)
    assert error_of(response)["code"] == "invalid_field"


def test_a_photo_title_over_200_characters_is_refused_not_cut_short(kim):
    photo = kim.upload(make_jpeg()).get_json()
    response = kim.test_client.patch(f"/api/v1/images/{photo['id']}", headers=kim.headers, json={"title": "t" * 201})
    error = error_of(response)
    assert error["code"] == "too_long" and error["field"] == "title"
    assert error["message"].startswith("title has at most 200")
    assert kim.get(f"/api/v1/images/{photo['id']}").get_json()["title"] == photo["title"]


def test_an_upload_titled_over_200_characters_is_refused(kim):
    error = error_of(kim.upload(make_jpeg(), title="t" * 201))
    assert error["code"] == "too_long" and "title" in error["message"]
    assert kim.get("/api/v1/images").get_json()["items"] == []


def test_text_with_a_nul_character_is_refused_not_a_server_error(kim):
    responses = [
        kim.test_client.post("/api/v1/api-keys", headers=kim.headers, json={"name": "\x00"}),
        kim.test_client.post("/api/v1/albums", headers=kim.headers, json={"title": "Holidays", "description": "a\x00"}),
        kim.get("/api/v1/images?q=%00"),
        kim.upload(make_jpeg(), title="photo\x00"),
    ]
    for response in responses:
        error = error_of(response)
        assert error["code"] == "nul_character" and "NUL" in error["message"]
    assert kim.get("/api/v1/albums").get_json()["items"] == []
