"""Scripts written for the image-host APIs Shoebox was specified from work unchanged (README: Compatible calls).

Each test makes the request the way such a script does (their documents' example requests) and checks the
answer has the shape those documents promise, and that the URLs in it work.
"""

from __future__ import annotations

import pytest
import requests

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.media import decode, make_jpeg, media_count, multipart


def _key(client, token: str) -> str:
    answer = client.post("/api/v1/api-keys", headers={"Authorization": f"Bearer {token}"}, json={"name": "script"})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["key"]


def _token(client, identifier="kim") -> str:
    return client.post("/api/v1/auth/login", json={"identifier": identifier, "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]


# --- health and accounts -----------------------------------------------------------------------

def test_health_answers_as_the_reference_documents_say(client):
    answer = client.get("/health")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    body = answer.get_json()
    assert body["status"] == "OK" and body["message"] == "Server is running"


def test_register_takes_first_and_last_names_and_keeps_them(client, make_user):
    make_user(email="admin@example.com", username="admin", role="admin")  # not the first account
    answer = client.post("/api/v1/auth/register", json={
        "first_name": "John", "last_name": "Doe", "username": "johndoe", "email": "john@example.com",
        "password": STRONG_PASSWORD})
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["success"] is True and body["token"] == body["access_token"]
    assert body["user"]["first_name"] == "John" and body["user"]["last_name"] == "Doe"
    account = client.get("/api/v1/account", headers={"Authorization": f"Bearer {body['token']}"}).get_json()
    assert (account["username"], account["first_name"], account["last_name"]) == ("johndoe", "John", "Doe")
    assert account["display_name"] == "John Doe"


def test_register_refuses_an_overlong_name_naming_the_field(client, make_user):
    make_user(email="admin@example.com", username="admin", role="admin")
    answer = client.post("/api/v1/auth/register", json={
        "first_name": "J" * 81, "username": "johndoe", "email": "john@example.com", "password": STRONG_PASSWORD})
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == "first_name"
    assert client.post("/api/v1/auth/login", json={"email": "john@example.com", "password": STRONG_PASSWORD}) \
        .status_code == 401  # nothing was created


def test_login_takes_email_as_well_as_identifier(client, make_user):
    make_user(email="kim@example.com", username="kim")
    by_email = client.post("/api/v1/auth/login", json={"email": "kim@example.com", "password": STRONG_PASSWORD})
    assert by_email.status_code == 200 and by_email.get_json()["access_token"]
    wrong = client.post("/api/v1/auth/login", json={"email": "kim@example.com", "password": "not it at all"})
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "invalid_credentials"
    neither = client.post("/api/v1/auth/login", json={"password": STRONG_PASSWORD})
    assert neither.status_code == 400 and neither.get_json()["error"]["field"] == "identifier"


def test_put_account_changes_what_was_sent_like_patch(client, make_user):
    make_user(email="kim@example.com", username="kim")
    token = _token(client)
    answer = client.put("/api/v1/account", headers={"Authorization": f"Bearer {token}"},
                        json={"first_name": "Kim", "last_name": "Lee", "display_name": "Kim L."})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert (body["first_name"], body["last_name"], body["display_name"]) == ("Kim", "Lee", "Kim L.")
    refused = client.put("/api/v1/account", headers={"Authorization": f"Bearer {token}"}, json={"role": "admin"})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "field_not_allowed"


# --- document 001: POST /upload and GET /upload/quota with X-API-Key -------------------------

def test_upload_with_an_api_key_answers_in_the_reference_shape(client, make_user):
    make_user(email="kim@example.com", username="kim")
    key = _key(client, _token(client))
    body, content_type = multipart({"file": (make_jpeg((640, 480)), "holiday.jpg")})
    answer = client.post("/upload", headers={"X-API-Key": key}, data=body, content_type=content_type)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    result = answer.get_json()
    assert result["success"] is True
    image = result["image"]
    assert image["filename"] == "holiday.jpg" and image["id"]
    assert image["metadata"] == {"width": 640, "height": 480, "size": image["size"], "format": "jpeg",
                                 "taken_at": None, "camera": None}
    for name in ("url", "thumbnail", "view_url"):
        path = image[name].removeprefix("http://shoebox.test")
        served = client.get(path, headers={"X-API-Key": key})
        assert served.status_code == 200, (name, served.status_code)
    assert decode(client.get(image["url"].removeprefix("http://shoebox.test"), headers={"X-API-Key": key})
                  .data).size == (640, 480)


def test_upload_quota_counts_what_was_uploaded(client, make_user):
    make_user(email="kim@example.com", username="kim")
    key = _key(client, _token(client))
    before = client.get("/upload/quota", headers={"X-API-Key": key})
    assert before.status_code == 200 and before.get_json()["success"] is True
    body, content_type = multipart({"file": (make_jpeg(), "a.jpg")})
    client.post("/upload", headers={"X-API-Key": key}, data=body, content_type=content_type)
    quota = client.get("/upload/quota", headers={"X-API-Key": key}).get_json()["quota"]
    assert quota["used_today"] == before.get_json()["quota"]["used_today"] + 1
    assert quota["storage_used"] > 0 and quota["resets_at"]
    if quota["daily_limit"]:
        assert quota["remaining_today"] == quota["daily_limit"] - quota["used_today"]


def test_upload_with_a_wrong_key_is_refused_as_json_and_stores_nothing(client, make_user, app):
    make_user(email="kim@example.com", username="kim")
    body, content_type = multipart({"file": (make_jpeg(), "a.jpg")})
    answer = client.post("/upload", headers={"X-API-Key": "sbx_not_a_key"}, data=body, content_type=content_type)
    assert answer.status_code == 401 and answer.get_json()["error"]["code"]
    assert media_count(app) == 0


def test_upload_of_something_that_is_not_an_image_names_the_problem(client, make_user, app):
    make_user(email="kim@example.com", username="kim")
    key = _key(client, _token(client))
    body, content_type = multipart({"file": (b"#!/bin/sh\necho hi\n", "photo.jpg")})
    answer = client.post("/upload", headers={"X-API-Key": key}, data=body, content_type=content_type)
    assert answer.status_code == 415 and answer.get_json()["error"]["message"]
    assert media_count(app) == 0


def test_the_upload_page_still_needs_a_session_and_its_csrf_token(client, make_user, auth, app):
    make_user(email="kim@example.com", username="kim")
    body, content_type = multipart({"file": (make_jpeg(), "a.jpg")})
    anonymous = client.post("/upload", data=body, content_type=content_type)
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["Location"] and media_count(app) == 0
    auth.login("kim")
    forged = client.post("/upload", data=body, content_type=content_type)  # no CSRF token: another site's form
    assert forged.status_code == 400 and media_count(app) == 0


def test_a_real_http_client_uploads_as_the_reference_example_does(live_server, make_user):
    with live_server.app.app_context():
        make_user(email="kim@example.com", username="kim")
    session = requests.Session()
    token = session.post(f"{live_server.url}/api/v1/auth/login",
                         json={"email": "kim@example.com", "password": STRONG_PASSWORD}).json()["access_token"]
    key = session.post(f"{live_server.url}/api/v1/api-keys", headers={"Authorization": f"Bearer {token}"},
                       json={"key_name": "uploader"}).json()["key"]
    # curl -X POST -H "X-API-Key: ..." -F "file=@photo.jpg" http://host/upload
    answer = requests.post(f"{live_server.url}/upload", headers={"X-API-Key": key},
                           files={"file": ("photo.jpg", make_jpeg((300, 200)), "image/jpeg")})
    assert answer.status_code == 201, answer.text
    image = answer.json()["image"]
    assert image["url"].startswith(live_server.url) and image["metadata"]["width"] == 300
    assert requests.get(image["thumbnail"], headers={"X-API-Key": key}).status_code == 200


# --- document 000: /api/images with a bearer token -------------------------------------------

def test_api_images_upload_list_read_and_delete(client, make_user, app):
    make_user(email="kim@example.com", username="kim")
    bearer = {"Authorization": f"Bearer {_token(client)}"}
    body, content_type = multipart({"image": (make_jpeg((200, 100)), "cat.jpg")})
    stored = client.post("/api/images", headers=bearer, data=body, content_type=content_type)
    assert stored.status_code == 201, stored.get_json()
    image = stored.get_json()["image"]
    assert stored.get_json()["success"] is True and image["filename"] == "cat.jpg"
    listed = client.get("/api/images", headers=bearer).get_json()
    assert listed["success"] is True and [i["id"] for i in listed["images"]] == [image["id"]]
    assert listed["count"] == 1 and listed["next_cursor"] is None
    one = client.get(f"/api/images/{image['id']}", headers=bearer).get_json()["image"]
    assert (one["width"], one["height"], one["dimensions"]) == (200, 100, "200x100")
    deleted = client.delete(f"/api/images/{image['id']}", headers=bearer)
    assert deleted.status_code == 200 and deleted.get_json()["success"] is True
    gone = client.get(f"/api/images/{image['id']}", headers=bearer)
    assert gone.status_code == 404 and gone.get_json()["error"]["code"]
    assert media_count(app) == 0


def test_api_images_of_someone_else_cannot_be_deleted(client, make_user, app):
    make_user(email="kim@example.com", username="kim")
    make_user(email="lee@example.com", username="lee")
    kim = {"Authorization": f"Bearer {_token(client, 'kim')}"}
    lee = {"Authorization": f"Bearer {_token(client, 'lee')}"}
    body, content_type = multipart({"image": (make_jpeg(), "mine.jpg")})
    image = client.post("/api/images", headers=kim, data=body, content_type=content_type).get_json()["image"]
    assert client.delete(f"/api/images/{image['id']}", headers=lee).status_code == 404
    assert client.get(f"/api/images/{image['id']}", headers=lee).status_code == 404  # private
    assert media_count(app) == 1


def test_api_images_without_credentials_is_a_json_401(client):
    answer = client.get("/api/images")
    assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "unauthorized"


# --- document 001: /info/<id> ---------------------------------------------------------------

def test_info_gives_dimensions_and_upload_time_of_a_public_image(client, kim):
    image = kim.upload(make_jpeg((320, 240)), is_public="true").get_json()
    info = client.get(f"/info/{image['id']}")
    assert info.status_code == 200
    body = info.get_json()
    assert body["dimensions"] == "320x240" and body["uploaded_at"] == image["created_at"]
    private = kim.upload(make_jpeg()).get_json()
    assert client.get(f"/info/{private['id']}").status_code == 404


# --- everything under /api/ answers JSON -------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/nothing", "/api/v2/images", "/api/images/x/y", "/api/v1/nothing-here"])
def test_unknown_api_paths_answer_json(client, path):
    answer = client.get(path, headers={"Accept": "text/html"})
    assert answer.status_code == 404 and answer.mimetype == "application/json"
    assert answer.get_json()["error"]["code"] == "not_found"


def test_wrong_method_under_api_answers_json(client):
    answer = client.put("/api/images", headers={"Accept": "text/html"})
    assert answer.status_code == 405 and answer.get_json()["error"]["code"] == "method_not_allowed"


# --- an upload-only key, as ShareX and screenshot scripts hold -------------------------------

def test_an_upload_only_key_may_upload_and_read_its_quota_there_and_nothing_else(client, make_user, app):
    make_user(email="kim@example.com", username="kim")
    answer = client.post("/api/v1/api-keys", headers={"Authorization": f"Bearer {_token(client)}"},
                         json={"key_name": "screenshots", "scope": "upload"})
    key = {"X-API-Key": answer.get_json()["key"]}
    body, content_type = multipart({"file": (make_jpeg(), "shot.jpg")})
    assert client.post("/upload", headers=key, data=body, content_type=content_type).status_code == 201
    body, content_type = multipart({"image": (make_jpeg(), "shot.jpg")})
    stored = client.post("/api/images", headers=key, data=body, content_type=content_type)
    assert stored.status_code == 201
    assert client.get("/upload/quota", headers=key).get_json()["quota"]["used_today"] == 2
    for method, path in (("GET", "/api/images"), ("GET", f"/api/images/{stored.get_json()['image']['id']}"),
                         ("DELETE", f"/api/images/{stored.get_json()['image']['id']}")):
        refused = client.open(path, method=method, headers=key)
        assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "insufficient_scope", path
    assert media_count(app) == 2


def test_an_upload_answers_with_a_deletion_link_that_asks_before_it_deletes(client, make_user, app):
    make_user(email="kim@example.com", username="kim")
    key = {"X-API-Key": _key(client, _token(client))}
    body, content_type = multipart({"file": (make_jpeg(), "oops.jpg")})
    image = client.post("/upload", headers=key, data=body, content_type=content_type).get_json()["image"]
    link = image["deletion_url"].removeprefix("http://shoebox.test")
    assert client.get(link).status_code == 200 and media_count(app) == 1  # a page that asks
    assert client.post(link).status_code in (200, 303) and media_count(app) == 0


# --- behind a reverse proxy with its own Basic sign-in -----------------------------------------

def test_a_key_works_behind_a_proxy_that_adds_its_own_basic_authorization(client, make_user, app):
    make_user(email="kim@example.com", username="kim")
    key = _key(client, _token(client))
    proxy = {"Authorization": "Basic a2ltOnByb3h5LXBhc3N3b3Jk"}
    body, content_type = multipart({"file": (make_jpeg(), "a.jpg")})
    stored = client.post("/upload", headers={**proxy, "X-API-Key": key}, data=body, content_type=content_type)
    assert stored.status_code == 201, stored.get_json()
    assert client.get("/api/v1/account", headers={**proxy, "X-API-Key": key}).status_code == 200
    both = client.get("/api/v1/account", headers={"Authorization": f"Bearer {_token(client)}", "X-API-Key": key})
    assert both.status_code == 401  # two credentials of Shoebox's own: ambiguous, refused


def test_a_visitor_behind_a_basic_auth_proxy_sees_public_photos(client, kim):
    image = kim.upload(make_jpeg(), is_public="true").get_json()
    proxy = {"Authorization": "Basic a2ltOnByb3h5LXBhc3N3b3Jk"}
    assert client.get(f"/i/{image['id']}", headers=proxy).status_code == 200
    assert client.get(f"/info/{image['id']}", headers=proxy).status_code == 200


@pytest.mark.parametrize("field", ["first_name", "last_name", "display_name"])
def test_a_name_that_turns_text_around_is_refused(client, make_user, field):
    make_user(email="kim@example.com", username="kim")
    token = _token(client)
    answer = client.put("/api/v1/account", headers={"Authorization": f"Bearer {token}"},
                        json={field: "Kim\u202eemos"})
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == field
    arabic = client.put("/api/v1/account", headers={"Authorization": f"Bearer {token}"}, json={field: "كريم"})
    assert arabic.status_code == 200 and arabic.get_json()[field] == "كريم"


def test_a_video_uploaded_through_a_compatible_call_has_its_poster_as_thumbnail(client, make_user):
    from tests.fixtures.media import make_video

    make_user(email="kim@example.com", username="kim")
    key = {"X-API-Key": _key(client, _token(client))}
    body, content_type = multipart({"file": (make_video(), "clip.mp4")})
    image = client.post("/upload", headers=key, data=body, content_type=content_type).get_json()["image"]
    assert image["metadata"]["format"] == "mp4" and image["thumbnail"]
    assert client.get(image["thumbnail"].removeprefix("http://shoebox.test"), headers=key).status_code == 200
