"""Share links through the JSON API, proved by what a recipient without an account then gets at /s/<token>."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD, csrf_token_from
from tests.fixtures.media import make_jpeg, multipart

SECRET = "walrus-umbrella-1987"


@pytest.fixture
def photos(kim):
    """Three photos of kim's."""
    return [kim.upload(make_jpeg(colour=(70 * n, 90, 90)), name=f"p{n}.jpg").get_json()["id"] for n in range(3)]


@pytest.fixture
def album(kim, photos):
    """An album of kim's holding the first two photos; returns its id."""
    album_id = kim.test_client.post("/api/v1/albums", headers=kim.headers, json={"title": "Garden"}).get_json()["id"]
    kim.test_client.post(f"/api/v1/albums/{album_id}/images", headers=kim.headers, json={"image_ids": photos[:2]})
    return album_id


@pytest.fixture
def lee(app, make_user):
    """Another account with an API token, a photo and an album."""
    make_user(username="lee")
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": "lee", "password": STRONG_PASSWORD}).get_json()

    class Lee:
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        test_client = client
    body, content_type = multipart({"file": (make_jpeg(colour=(1, 2, 3)), "lee.jpg")})
    Lee.photo = client.post("/api/v1/images", headers=Lee.headers, data=body, content_type=content_type) \
        .get_json()["id"]
    Lee.album = client.post("/api/v1/albums", headers=Lee.headers, json={"title": "Lee's"}).get_json()["id"]
    return Lee()


@pytest.fixture
def recipient(app):
    """Someone without an account, with a browser of their own."""
    return app.test_client()


def share(kim, **body):
    return kim.test_client.post("/api/v1/shares", headers=kim.headers, json=body)


def made(kim, **body) -> dict:
    response = share(kim, **body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def change(kim, share_id, **body):
    return kim.test_client.patch(f"/api/v1/shares/{share_id}", headers=kim.headers, json=body)


def changed(kim, share_id, **body) -> dict:
    response = change(kim, share_id, **body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def path_of(link: dict) -> str:
    return "/s/" + link["url"].rsplit("/s/", 1)[1]


def error_of(response, status=400) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    return response.get_json()["error"]


def open_with_password(recipient, link, password):
    gate = recipient.get(path_of(link))
    assert gate.status_code == 401
    return recipient.post(path_of(link), data={"password": password,
                                               "csrf_token": csrf_token_from(gate.get_data(as_text=True))})


def links_of(kim) -> list[dict]:
    return kim.get("/api/v1/shares?limit=200").get_json()["items"]


# --- making links ------------------------------------------------------------------------------

def test_a_photo_link_shows_that_photo_to_someone_without_an_account(kim, photos, recipient):
    link = made(kim, image_id=photos[0])
    assert link["target"] == {"type": "photo", "id": photos[0]}
    assert link["url"] == f"http://shoebox.test/s/{link['token']}"
    assert link["qr_url"] == f"http://shoebox.test/shares/{link['id']}/qr.svg"
    assert (link["status"], link["views"], link["downloads"], link["has_password"]) == ("active", 0, 0, False)
    assert (link["allow_download"], link["show_metadata"], link["allow_upload"]) == (True, False, False)
    assert link["expires_at"] is None and link["max_views"] is None and link["last_viewed_at"] is None
    assert recipient.get(path_of(link)).status_code == 200
    assert recipient.get(f"{path_of(link)}/p/{photos[0]}/large").status_code == 200
    assert recipient.get(f"{path_of(link)}/p/{photos[1]}/large").status_code == 404
    assert kim.get(f"/api/v1/shares/{link['id']}").get_json()["views"] == 1


def test_an_album_link_shows_the_albums_photos_and_nothing_else(kim, photos, album, recipient):
    link = made(kim, album_id=album)
    assert link["target"] == {"type": "album", "id": album}
    assert recipient.get(path_of(link)).status_code == 200
    assert recipient.get(f"{path_of(link)}/p/{photos[1]}/thumb").status_code == 200
    assert recipient.get(f"{path_of(link)}/p/{photos[2]}/thumb").status_code == 404


def test_a_selection_link_keeps_the_order_it_was_given(kim, photos, recipient):
    link = made(kim, image_ids=[photos[2], photos[0]])
    assert link["target"] == {"type": "selection", "ids": [photos[2], photos[0]]}
    assert recipient.get(path_of(link)).status_code == 200
    assert recipient.get(f"{path_of(link)}/p/{photos[2]}.json").get_json()["id"] == photos[2]
    assert recipient.get(f"{path_of(link)}/p/{photos[1]}.json").status_code == 404


def test_several_links_to_one_photo_each_have_their_own_token(kim, photos):
    first, second = made(kim, image_id=photos[0], label="Family"), made(kim, image_id=photos[0], label="Forum")
    assert first["token"] != second["token"] and first["id"] != second["id"]
    assert {link["label"] for link in links_of(kim)} == {"Family", "Forum"}


def test_every_option_is_kept_and_shown(kim, album):
    before = datetime.now(timezone.utc)
    link = made(kim, album_id=album, expires_in=3600, password=SECRET, max_views=5, max_downloads=2,
                allow_download=False, show_metadata=True, allow_upload=True, upload_max_files=3,
                upload_max_bytes=10_000_000, note="Our garden in May", label="Family")
    expires = datetime.fromisoformat(link["expires_at"])
    assert before + timedelta(seconds=3590) < expires < before + timedelta(seconds=3610)
    assert {key: link[key] for key in ("has_password", "max_views", "max_downloads", "allow_download",
                                       "show_metadata", "allow_upload", "upload_max_files", "upload_max_bytes",
                                       "note", "label")} == {
        "has_password": True, "max_views": 5, "max_downloads": 2, "allow_download": False, "show_metadata": True,
        "allow_upload": True, "upload_max_files": 3, "upload_max_bytes": 10_000_000, "note": "Our garden in May",
        "label": "Family"}
    assert kim.get(f"/api/v1/shares/{link['id']}").get_json() == link


def test_expires_at_with_an_offset_is_that_moment(kim, photos):
    moment = (datetime.now(timezone(timedelta(hours=2))) + timedelta(days=2)).replace(microsecond=0)
    link = made(kim, image_id=photos[0], expires_at=moment.isoformat())
    assert datetime.fromisoformat(link["expires_at"]) == moment


def test_the_options_reach_the_recipient(kim, album, photos, recipient):
    link = made(kim, album_id=album, password=SECRET, allow_download=False, note="Our garden in May")
    assert recipient.get(f"{path_of(link)}/p/{photos[0]}/large").status_code == 401
    assert open_with_password(recipient, link, "not it").status_code == 401
    assert open_with_password(recipient, link, SECRET).status_code == 303
    page = recipient.get(path_of(link))
    assert page.status_code == 200 and "Our garden in May" in page.get_data(as_text=True)
    assert recipient.get(f"{path_of(link)}/p/{photos[0]}/large").status_code == 200
    assert recipient.get(f"{path_of(link)}/p/{photos[0]}/original").status_code == 403


def test_the_password_is_never_returned(kim, photos):
    link = made(kim, image_id=photos[0], password=SECRET)
    answers = [share(kim, image_id=photos[1], password=SECRET), kim.get(f"/api/v1/shares/{link['id']}"),
               kim.get("/api/v1/shares"), change(kim, link["id"], password=SECRET + "!")]
    for answer in answers:
        assert answer.status_code in (200, 201)
        assert SECRET not in answer.get_data(as_text=True) and '"password"' not in answer.get_data(as_text=True)
    assert link["has_password"] is True


# --- what is refused ---------------------------------------------------------------------------

def future(days=1, hours_offset=0) -> str:
    zone = timezone(timedelta(hours=hours_offset))
    return (datetime.now(zone) + timedelta(days=days)).replace(microsecond=0).isoformat()


@pytest.mark.parametrize("body, field, code", [
    ({"expires_in": 0}, "expires_in", "invalid_field"),
    ({"expires_in": -5}, "expires_in", "invalid_field"),
    ({"expires_in": 3600, "expires_at": "2099-01-01T00:00:00Z"}, "expires_at", "conflicting_expiry"),
    ({"expires_at": "2020-01-01T00:00:00+00:00"}, "expires_at", "expiry_in_past"),
    ({"expires_at": "2030-01-01T00:00:00"}, "expires_at", "invalid_expiry"),
    ({"expires_at": "next tuesday"}, "expires_at", "invalid_expiry"),
    ({"expires_in": 11 * 365 * 86400}, "expires_in", "invalid_field"),
    ({"max_views": 0}, "max_views", "invalid_field"),
    ({"max_downloads": "3"}, "max_downloads", "invalid_field"),
    ({"allow_download": "yes"}, "allow_download", "invalid_field"),
    ({"label": "x" * 81}, "label", "label_too_long"),
    ({"note": "x" * 2001}, "note", "note_too_long"),
    ({"allow_upload": True}, "allow_upload", "upload_needs_album"),
    ({"colour": "red"}, "colour", "unknown_field"),
])
def test_a_bad_option_is_refused_by_its_field(kim, photos, body, field, code):
    error = error_of(share(kim, image_id=photos[0], **body))
    assert (error["field"], error["code"]) == (field, code), error
    assert links_of(kim) == []


def test_an_expiry_far_ahead_is_refused(kim, photos):
    error = error_of(share(kim, image_id=photos[0], expires_at=future(days=3660)))
    assert (error["field"], error["code"]) == ("expires_at", "expiry_too_far")


@pytest.mark.parametrize("targets, field", [
    (lambda p, a: {"image_id": p[0], "album_id": a}, "album_id"),
    (lambda p, a: {"album_id": a, "image_ids": p[:2]}, "image_ids"),
    (lambda p, a: {}, "image_id"),
    (lambda p, a: {"image_ids": []}, "image_ids"),
    (lambda p, a: {"image_ids": p[:1] * 1001}, "image_ids"),
])
def test_a_link_shows_exactly_one_thing(kim, photos, album, targets, field):
    error = error_of(share(kim, **targets(photos, album)))
    assert error["field"] == field
    assert links_of(kim) == []


def test_uploads_are_for_album_links_only(kim, photos, album):
    assert error_of(share(kim, image_ids=photos, allow_upload=True))["field"] == "allow_upload"
    assert made(kim, album_id=album, allow_upload=True)["allow_upload"] is True


@pytest.mark.parametrize("target", [
    lambda lee, photos: {"image_id": lee.photo},
    lambda lee, photos: {"album_id": lee.album},
    lambda lee, photos: {"image_ids": [photos[0], lee.photo]},
    lambda lee, photos: {"image_id": "nosuchphoto"},
])
def test_someone_elses_photo_or_album_cannot_be_shared(kim, photos, lee, target):
    assert error_of(share(kim, **target(lee, photos)), 404)["code"] in ("not_found", "image_not_found",
                                                                       "album_not_found")
    assert links_of(kim) == []


def test_a_refusal_is_in_the_callers_language(kim, photos):
    response = kim.test_client.post("/api/v1/shares", headers={**kim.headers, "Accept-Language": "de"},
                                    json={"image_id": photos[0], "expires_in": 60, "expires_at": future()})
    assert error_of(response)["message"] == "Senden Sie expires_in oder expires_at, nicht beides."


def test_creating_a_link_needs_credentials(client, photos):
    assert error_of(client.post("/api/v1/shares", json={"image_id": photos[0]}), 401)["code"] == "unauthorized"


def test_an_api_key_can_make_links(kim, photos):
    key = kim.test_client.post("/api/v1/api-keys", headers=kim.headers, json={"name": "script"}).get_json()["key"]
    response = kim.test_client.post("/api/v1/shares", headers={"X-API-Key": key}, json={"image_id": photos[0]})
    assert response.status_code == 201 and len(links_of(kim)) == 1


# --- changing links ----------------------------------------------------------------------------

@pytest.mark.parametrize("body, shown", [
    ({"label": "Forum"}, {"label": "Forum"}),
    ({"note": "Look at the roses"}, {"note": "Look at the roses"}),
    ({"max_views": 9}, {"max_views": 9}),
    ({"max_downloads": 4}, {"max_downloads": 4}),
    ({"allow_download": False}, {"allow_download": False}),
    ({"show_metadata": True}, {"show_metadata": True}),
    ({"allow_upload": True, "upload_max_files": 2, "upload_max_bytes": 5000},
     {"allow_upload": True, "upload_max_files": 2, "upload_max_bytes": 5000}),
    ({"password": SECRET}, {"has_password": True}),
    ({"expires_at": None}, {"expires_at": None}),
])
def test_each_setting_can_be_changed_and_the_rest_stay(kim, album, body, shown):
    link = made(kim, album_id=album, label="Family", note="Hello", max_views=50, max_downloads=7,
                expires_in=86400)
    now = changed(kim, link["id"], **body)
    assert {key: now[key] for key in shown} == shown
    untouched = {key: value for key, value in link.items() if key not in shown and key not in body}
    assert {key: now[key] for key in untouched} == untouched


def test_expires_in_moves_the_expiry(kim, photos):
    link = made(kim, image_id=photos[0])
    before = datetime.now(timezone.utc)
    expires = datetime.fromisoformat(changed(kim, link["id"], expires_in=60)["expires_at"])
    assert before + timedelta(seconds=55) < expires < before + timedelta(seconds=65)
    assert changed(kim, link["id"], expires_at=future(days=3, hours_offset=-5))["status"] == "active"


def test_a_changed_limit_is_null_to_remove_it(kim, photos):
    link = made(kim, image_id=photos[0], max_views=3, max_downloads=3)
    now = changed(kim, link["id"], max_views=None, max_downloads=None)
    assert (now["max_views"], now["max_downloads"]) == (None, None)


@pytest.mark.parametrize("removed", ["", None])
def test_an_empty_password_removes_it(kim, photos, recipient, removed):
    link = made(kim, image_id=photos[0], password=SECRET)
    assert recipient.get(path_of(link)).status_code == 401
    assert changed(kim, link["id"], password=removed)["has_password"] is False
    assert recipient.get(path_of(link)).status_code == 200


def test_a_new_password_locks_out_who_gave_the_old_one(kim, photos, recipient):
    link = made(kim, image_id=photos[0], password=SECRET)
    open_with_password(recipient, link, SECRET)
    assert recipient.get(f"{path_of(link)}/p/{photos[0]}/large").status_code == 200
    changed(kim, link["id"], password="a different one")
    assert recipient.get(f"{path_of(link)}/p/{photos[0]}/large").status_code == 401


def test_a_view_limit_set_later_applies_to_the_next_recipient(kim, photos, recipient, app):
    link = made(kim, image_id=photos[0])
    changed(kim, link["id"], max_views=1)
    gate = recipient.get(path_of(link))
    assert gate.status_code == 200 and "csrf_token" in gate.get_data(as_text=True)  # the Open button
    opened = recipient.post(path_of(link), data={"csrf_token": csrf_token_from(gate.get_data(as_text=True))})
    assert opened.status_code == 303
    assert kim.get(f"/api/v1/shares/{link['id']}").get_json()["status"] == "used_up"
    assert app.test_client().get(path_of(link)).status_code == 410


def test_a_download_limit_set_later_is_counted(kim, photos, recipient):
    link = made(kim, image_id=photos[0])
    changed(kim, link["id"], max_downloads=1)
    assert recipient.get(f"{path_of(link)}/p/{photos[0]}/original").status_code == 200
    assert recipient.get(f"{path_of(link)}/p/{photos[0]}/original").status_code == 410
    assert kim.get(f"/api/v1/shares/{link['id']}").get_json()["downloads"] == 1


def test_showing_metadata_later_shows_the_camera_facts(kim, photos, recipient):
    link = made(kim, image_id=photos[0])
    assert "camera" not in recipient.get(f"{path_of(link)}/p/{photos[0]}.json").get_json()
    changed(kim, link["id"], show_metadata=True)
    assert "camera" in recipient.get(f"{path_of(link)}/p/{photos[0]}.json").get_json()


def test_guest_uploads_turned_on_later_take_files_up_to_the_cap_and_stop_when_turned_off(kim, album, recipient):
    link = made(kim, album_id=album)
    changed(kim, link["id"], allow_upload=True, upload_max_files=2)
    page = recipient.get(path_of(link))
    headers = {"X-CSRFToken": csrf_token_from(page.get_data(as_text=True))}

    def upload():
        body, content_type = multipart({"file": (make_jpeg(colour=(9, 9, 9)), "guest.jpg"), "name": "Ana"})
        return recipient.post(f"{path_of(link)}/upload", data=body, content_type=content_type, headers=headers)

    assert upload().status_code == 201
    changed(kim, link["id"], upload_max_files=1)
    assert upload().status_code == 403
    changed(kim, link["id"], allow_upload=False, upload_max_files=None)
    assert upload().status_code == 403
    assert kim.get(f"/api/v1/albums/{album}").get_json()["image_count"] == 3


def test_uploads_cannot_be_turned_on_for_a_photo_link(kim, photos):
    link = made(kim, image_id=photos[0])
    error = error_of(change(kim, link["id"], allow_upload=True))
    assert (error["field"], error["code"]) == ("allow_upload", "upload_needs_album")
    assert kim.get(f"/api/v1/shares/{link['id']}").get_json()["allow_upload"] is False


@pytest.mark.parametrize("body, field", [
    ({"expires_in": 0}, "expires_in"), ({"expires_in": 60, "expires_at": None}, "expires_at"),
    ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"), ({"revoked": "yes"}, "revoked"),
    ({"image_id": "x"}, "image_id"), ({"max_views": 0}, "max_views"),
])
def test_a_bad_change_is_refused_by_its_field_and_changes_nothing(kim, photos, body, field):
    link = made(kim, image_id=photos[0], max_views=3)
    assert error_of(change(kim, link["id"], **body))["field"] == field
    assert kim.get(f"/api/v1/shares/{link['id']}").get_json() == link


# --- revoking and deleting ---------------------------------------------------------------------

def test_a_revoked_link_answers_410_from_the_next_request_on(kim, photos, recipient):
    link = made(kim, image_id=photos[0])
    assert recipient.get(path_of(link)).status_code == 200
    assert changed(kim, link["id"], revoked=True)["status"] == "revoked"
    page = recipient.get(path_of(link))
    assert page.status_code == 410 and page.headers["Cache-Control"].startswith("private, no-")
    assert recipient.get(f"{path_of(link)}/p/{photos[0]}/large").status_code == 410


def test_a_revoked_link_can_be_restored(kim, photos, recipient):
    link = made(kim, image_id=photos[0])
    changed(kim, link["id"], revoked=True)
    assert changed(kim, link["id"], revoked=False)["status"] == "active"
    assert recipient.get(path_of(link)).status_code == 200


def test_an_expired_link_says_expired(kim, photos, recipient, app):
    from webapp.extensions import db
    from webapp.models import ShareLink

    link = made(kim, image_id=photos[0], expires_in=60)
    with app.app_context():  # an hour passes
        row = db.session.get(ShareLink, link["id"])
        row.expires_at = datetime.now(timezone.utc) - timedelta(seconds=1)
        db.session.commit()
    assert kim.get(f"/api/v1/shares/{link['id']}").get_json()["status"] == "expired"
    assert recipient.get(path_of(link)).status_code == 410


def test_a_deleted_link_is_404_at_its_url(kim, photos, recipient):
    link = made(kim, image_id=photos[0])
    assert recipient.get(path_of(link)).status_code == 200
    assert kim.delete(f"/api/v1/shares/{link['id']}").status_code == 204
    assert recipient.get(path_of(link)).status_code == 404
    assert kim.get(f"/api/v1/shares/{link['id']}").status_code == 404
    assert kim.delete(f"/api/v1/shares/{link['id']}").status_code == 404
    assert kim.get(f"/api/v1/images/{photos[0]}").status_code == 200  # the photo stays


def test_deleting_the_photo_deletes_its_links(kim, photos):
    link = made(kim, image_id=photos[0])
    kim.delete(f"/api/v1/images/{photos[0]}")
    assert kim.get(f"/api/v1/shares/{link['id']}").status_code == 404


# --- lists and other people's links ------------------------------------------------------------

def test_the_list_comes_a_page_at_a_time_newest_first(kim, photos):
    ids = [made(kim, image_id=photos[n % 3], label=f"link {n}")["id"] for n in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        page = kim.get("/api/v1/shares", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})})
        body = page.get_json()
        seen += [link["id"] for link in body["items"]]
        pages, cursor = pages + 1, body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == ids[::-1]


@pytest.mark.parametrize("query, field", [("cursor=nonsense", "cursor"), ("limit=0", "limit"),
                                          ("limit=201", "limit"), ("limit=", "limit")])
def test_a_bad_page_request_names_its_parameter(kim, query, field):
    assert error_of(kim.get(f"/api/v1/shares?{query}"))["field"] == field


def test_someone_elses_link_is_404_on_every_route(kim, photos, lee, recipient):
    link = made(kim, image_id=photos[0], note="Hello")
    path, client, headers = f"/api/v1/shares/{link['id']}", lee.test_client, lee.headers
    assert error_of(client.get(path, headers=headers), 404)["code"] == "share_not_found"
    assert client.patch(path, headers=headers, json={"revoked": True}).status_code == 404
    assert client.patch(path, headers=headers, json={"note": "Mine"}).status_code == 404
    assert client.delete(path, headers=headers).status_code == 404
    assert client.get("/api/v1/shares", headers=headers).get_json()["items"] == []
    assert kim.get(path).get_json() == link
    assert recipient.get(path_of(link)).status_code == 200


def test_the_document_describes_the_share_operations(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert set(document["paths"]["/api/v1/shares"]) >= {"get", "post"}
    assert set(document["paths"]["/api/v1/shares/{share_id}"]) >= {"get", "patch", "delete"}
    new_share = document["components"]["schemas"]["NewShare"]
    assert [branch["required"] for branch in new_share["oneOf"]] == [["image_id"], ["album_id"], ["image_ids"]]
    assert new_share["properties"]["password"]["writeOnly"] is True
    assert "password" not in document["components"]["schemas"]["Share"]["properties"]
    assert document["components"]["schemas"]["Share"]["properties"]["status"]["enum"] == [
        "active", "expired", "used_up", "revoked"]
