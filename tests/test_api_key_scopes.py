"""API key scopes: an "upload" key uploads and reads its quota, nothing else; a "read" key only reads; "full"
does everything. Checked at every operation of the OpenAPI document, so a new endpoint cannot slip through,
and at the doors outside /api/v1 that take a key. Keys also carry a default for whether uploads are public."""

from __future__ import annotations

import re

import pytest

from tests.fixtures.media import make_jpeg, media_count, multipart

# What an upload-only key may call: uploading and reading its upload quota, in the API and in the calls
# compatible with the reference APIs.
UPLOAD_KEY_OPERATIONS = {("POST", "/api/v1/images"), ("GET", "/api/v1/quota"), ("POST", "/upload"),
                         ("POST", "/api/images"), ("GET", "/upload/quota")}


@pytest.fixture
def owner(app, make_user):
    """kim on the unlimited plan (so that hundreds of calls meet no hourly limit), and a bearer token."""
    from webapp.extensions import db
    from webapp.models import Plan, User

    user_id = make_user(username="kim", email="kim@example.com")
    with app.app_context():
        db.session.get(User, user_id).plan_id = db.session.scalar(db.select(Plan.id).where(Plan.name == "unlimited"))
        db.session.commit()
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": "correct horse battery staple"}) \
        .get_json()["access_token"]
    return {"id": user_id, "bearer": {"Authorization": f"Bearer {token}"}, "client": client}


def new_key(owner, **body) -> str:
    response = owner["client"].post("/api/v1/api-keys", headers=owner["bearer"], json={"name": "k", **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["key"]


def upload(client, key, data=None, **form):
    body, content_type = multipart({"file": (data or make_jpeg(), "shot.jpg"), **form})
    return client.post("/api/v1/images", headers={"X-API-Key": key}, data=body, content_type=content_type)


def operations(client) -> list[tuple[str, str, str]]:
    """(operation id, method, path with every parameter filled) of each operation that needs credentials."""
    document = client.get("/api/v1/openapi.json").get_json()
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"} and operation.get("security") != []:
                found.append((operation["operationId"], method.upper(), re.sub(r"\{[^}]+\}", "1", path)))
    return found


def refused_for_scope(response) -> bool:
    return response.status_code == 403 and response.get_json()["error"]["code"] == "insufficient_scope"


def test_an_upload_key_is_refused_at_every_operation_but_upload_and_quota(app, owner):
    client, key = owner["client"], new_key(owner, scope="upload")
    checked = operations(client)
    assert len(checked) > 40 and {(m, p) for _op, m, p in checked} >= {("POST", "/api/v1/images"),
                                                                       ("GET", "/api/v1/quota")}
    wrong = []
    for operation_id, method, path in checked:
        response = client.open(path, method=method, headers={"X-API-Key": key})
        if refused_for_scope(response) == ((method, path) in UPLOAD_KEY_OPERATIONS):
            wrong.append((operation_id, method, path, response.status_code))
    assert not wrong, f"the upload key's scope was not kept at: {wrong}"
    message = client.get("/api/v1/images", headers={"X-API-Key": key}).get_json()["error"]["message"]
    assert message == "This API key may only upload photos and files and read its upload quota."


def test_a_read_key_is_refused_at_every_operation_that_is_not_a_get(app, owner):
    client, key = owner["client"], new_key(owner, scope="read")
    wrong = []
    checked = operations(client)
    assert {m for _o, m, _p in checked} >= {"GET", "POST", "PATCH", "DELETE", "PUT"}
    for operation_id, method, path in checked:
        response = client.open(path, method=method, headers={"X-API-Key": key})
        if refused_for_scope(response) == (method == "GET"):
            wrong.append((operation_id, method, path, response.status_code))
    assert not wrong, f"the read key's scope was not kept at: {wrong}"


def test_a_full_key_is_refused_for_its_scope_nowhere(app, owner):
    client, key = owner["client"], new_key(owner)
    refused = [(op, m, p) for op, m, p in operations(client)
               if refused_for_scope(client.open(p, method=m, headers={"X-API-Key": key}))]
    assert not refused


def test_an_upload_key_uploads_but_cannot_list_read_change_or_delete(app, owner):
    client, key = owner["client"], new_key(owner, scope="upload")
    created = upload(client, key)
    assert created.status_code == 201
    photo = created.get_json()["id"]
    as_key = {"X-API-Key": key}
    assert refused_for_scope(client.get("/api/v1/images", headers=as_key))
    assert refused_for_scope(client.get(f"/api/v1/images/{photo}", headers=as_key))
    assert refused_for_scope(client.patch(f"/api/v1/images/{photo}", headers=as_key, json={"title": "mine now"}))
    assert refused_for_scope(client.delete(f"/api/v1/images/{photo}", headers=as_key))
    assert refused_for_scope(client.patch("/api/v1/account", headers=as_key, json={"display_name": "Evil"}))
    assert refused_for_scope(client.post("/api/v1/api-keys", headers=as_key, json={"name": "more"}))
    assert refused_for_scope(client.get("/api/v1/api-keys", headers=as_key))
    # The doors outside /api/v1 that take a key keep the scope too: the private original is not for it.
    assert refused_for_scope(client.get(f"/i/{photo}", headers={**as_key, "Accept": "application/json"}))
    assert client.get("/api/v1/quota", headers=as_key).status_code == 200
    # Nothing it asked for happened.
    listed = client.get("/api/v1/images", headers=owner["bearer"]).get_json()["items"]
    assert [(p["id"], p["title"]) for p in listed] == [(photo, "")]
    assert client.get("/api/v1/account", headers=owner["bearer"]).get_json()["display_name"] != "Evil"
    assert len(client.get("/api/v1/api-keys", headers=owner["bearer"]).get_json()["items"]) == 1


def test_a_read_key_reads_but_cannot_upload_or_delete(app, owner):
    client = owner["client"]
    photo = upload(client, new_key(owner)).get_json()["id"]
    key = new_key(owner, scope="read")
    assert client.get(f"/api/v1/images/{photo}", headers={"X-API-Key": key}).status_code == 200
    assert client.get("/api/v1/images", headers={"X-API-Key": key}).get_json()["items"][0]["id"] == photo
    assert client.head(f"/api/v1/images/{photo}", headers={"X-API-Key": key}).status_code == 200
    refused = upload(client, key)
    assert refused_for_scope(refused)
    assert refused.get_json()["error"]["message"].startswith("This API key may only read")
    assert refused_for_scope(client.delete(f"/api/v1/images/{photo}", headers={"X-API-Key": key}))
    assert media_count(app) == 1


def test_keys_are_made_with_a_scope_and_key_name_and_listed_with_them(app, owner):
    client = owner["client"]
    made = client.post("/api/v1/api-keys", headers=owner["bearer"],
                       json={"key_name": "ShareX", "scope": "upload", "uploads_public": True})
    assert made.status_code == 201
    body = made.get_json()
    assert (body["name"], body["scope"], body["uploads_public"]) == ("ShareX", "upload", True)
    plain = client.post("/api/v1/api-keys", headers=owner["bearer"], json={"name": "script"}).get_json()
    assert (plain["scope"], plain["uploads_public"]) == ("full", None)
    listed = client.get("/api/v1/api-keys", headers=owner["bearer"]).get_json()["items"]
    assert [(k["name"], k["scope"], k["uploads_public"]) for k in listed] == [("script", "full", None),
                                                                             ("ShareX", "upload", True)]


@pytest.mark.parametrize("body, field, sentence", [
    ({"name": "k", "scope": "admin"}, "scope", "scope must be one of"),
    ({"name": "k", "scope": 1}, "scope", "scope must be one of"),
    ({"name": "k", "uploads_public": "yes"}, "uploads_public", "uploads_public must be true or false"),
    ({}, "name", "Name the key with name (or key_name), once."),
    ({"name": "a", "key_name": "b"}, "name", "Name the key with name (or key_name), once."),
    ({"key_name": ""}, "key_name", "The field key_name is required."),
])
def test_a_bad_key_request_names_its_field_and_makes_nothing(app, owner, body, field, sentence):
    client = owner["client"]
    response = client.post("/api/v1/api-keys", headers=owner["bearer"], json=body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == field and error["message"].startswith(sentence)
    assert client.get("/api/v1/api-keys", headers=owner["bearer"]).get_json()["items"] == []


def visible_to_strangers(app, photo_id: str) -> bool:
    return app.test_client().get(f"/i/{photo_id}").status_code == 200


@pytest.mark.parametrize("account, key_default, sent, public", [
    (False, None, None, False), (True, None, None, True),      # the key follows the account
    (False, True, None, True), (True, False, None, False),     # the key's own default wins over the account's
    (False, True, "false", False), (True, False, "true", True),  # and the upload's own word over both
])
def test_uploads_through_a_key_are_public_as_the_request_then_the_key_then_the_account_says(
        app, owner, account, key_default, sent, public):
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        db.session.get(User, owner["id"]).uploads_public = account
        db.session.commit()
    key = new_key(owner, scope="upload", **({} if key_default is None else {"uploads_public": key_default}))
    created = upload(owner["client"], key, **({} if sent is None else {"is_public": sent}))
    assert created.get_json()["is_public"] is public
    assert visible_to_strangers(app, created.get_json()["id"]) is public


def test_the_settings_page_makes_scoped_keys_and_lists_their_access(app, owner, auth):
    from tests.fixtures.accounts import csrf_token_from

    client = owner["client"]
    auth._client = client
    auth.login("kim")
    token = csrf_token_from(client.get("/settings/").get_data(as_text=True))
    page = client.post("/settings/api-keys", data={"csrf_token": token, "key-name": "Phone", "key-scope": "read",
                                                   "key-uploads_public": "private"})
    assert page.status_code == 200
    raw = re.search(r'id="new-api-key"[^>]*>(sbx_[^<]+)<', page.get_data(as_text=True)).group(1)
    assert "Read only" in page.get_data(as_text=True)
    assert refused_for_scope(upload(client, raw))
    listed = client.get("/api/v1/api-keys", headers=owner["bearer"]).get_json()["items"]
    assert [(k["name"], k["scope"], k["uploads_public"]) for k in listed] == [("Phone", "read", False)]
    bad = client.post("/settings/api-keys", data={"csrf_token": token, "key-name": "X", "key-scope": "root"})
    assert "Not a valid choice" in bad.get_data(as_text=True)
    assert len(client.get("/api/v1/api-keys", headers=owner["bearer"]).get_json()["items"]) == 1


def test_the_document_gives_every_operation_that_needs_credentials_its_403_and_keys_their_scope(client):
    document = client.get("/api/v1/openapi.json").get_json()
    without = [op["operationId"] for item in document["paths"].values() for method, op in item.items()
               if method in {"get", "post", "put", "patch", "delete"} and op.get("security") != []
               and "403" not in op["responses"]]
    assert not without
    schemas = document["components"]["schemas"]
    assert schemas["ApiKey"]["properties"]["scope"]["enum"] == ["upload", "read", "full"]
    assert set(schemas["NewApiKey"]["properties"]) == {"name", "key_name", "rate_limit_per_hour", "scope",
                                                       "uploads_public"}
    assert "deletion_url" in schemas["UploadedImage"]["required"]
    assert "insufficient_scope" in document["components"]["securitySchemes"]["apiKey"]["description"]


def test_the_photos_setting_makes_new_uploads_public_and_is_audited(app, owner, auth):
    from tests.fixtures.accounts import csrf_token_from
    from webapp.extensions import db
    from webapp.models import AuditEvent

    client = owner["client"]
    auth._client = client
    auth.login("kim")
    token = csrf_token_from(client.get("/settings/").get_data(as_text=True))
    assert client.post("/settings/photos", data={"csrf_token": token, "photos-uploads_public": "y"}).status_code == 303
    body, content_type = multipart({"file": (make_jpeg(), "a.jpg")})
    made = client.post("/api/v1/images", headers=owner["bearer"], data=body, content_type=content_type).get_json()
    assert made["is_public"] is True and visible_to_strangers(app, made["id"])
    box = re.search(r'<input[^>]*id="photos-uploads_public"[^>]*>', client.get("/settings/").get_data(as_text=True))
    assert re.search(r"\bchecked\b", box.group(0))  # the page shows the setting as it now is
    client.post("/settings/photos", data={"csrf_token": token})  # unticked: private again
    body, content_type = multipart({"file": (make_jpeg(), "b.jpg")})
    made = client.post("/api/v1/images", headers=owner["bearer"], data=body, content_type=content_type).get_json()
    assert made["is_public"] is False
    with app.app_context():
        changes = db.session.scalars(db.select(AuditEvent.details).where(AuditEvent.action == "uploads_public_changed")
                                     .order_by(AuditEvent.id)).all()
    assert changes == [{"uploads_public": True}, {"uploads_public": False}]
