"""Albums through the API and the browser: ownership, idempotent adds, order, covers, uploads into an album."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD, csrf_token_from
from tests.fixtures.media import make_jpeg, media_count, multipart


@pytest.fixture
def album(kim):
    """An album of kim's with three photos in it; returns (album id, photo ids in album order)."""
    ids = [kim.upload(make_jpeg(colour=(60 * n, 90, 90)), name=f"p{n}.jpg").get_json()["id"] for n in range(3)]
    created = kim.test_client.post("/api/v1/albums", headers=kim.headers, json={"title": "Holiday"})
    assert created.status_code == 201
    album_id = created.get_json()["id"]
    added = kim.test_client.post(f"/api/v1/albums/{album_id}/images", headers=kim.headers, json={"image_ids": ids})
    assert added.get_json()["added"] == 3
    return album_id, ids


@pytest.fixture
def lee(app, make_user):
    """Another account, lee, with an API token."""
    make_user(username="lee")
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": "lee", "password": STRONG_PASSWORD}).get_json()

    class Lee:
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        test_client = client
    return Lee()


def in_album(kim, album_id) -> list[str]:
    return [item["id"] for item in kim.get(f"/api/v1/images?album={album_id}").get_json()["items"]]


def test_album_json_counts_photos_and_names_its_cover(kim, album):
    album_id, ids = album
    body = kim.get(f"/api/v1/albums/{album_id}").get_json()
    assert body["title"] == "Holiday" and body["image_count"] == 3 and body["cover_image_id"] == ids[0]
    assert body["cover_url"].endswith(f"/i/{ids[0]}?size=thumb") and body["page_url"].startswith("http")
    assert [a["id"] for a in kim.get("/api/v1/albums").get_json()["items"]] == [album_id]


def test_adding_a_photo_twice_is_idempotent(kim, album):
    album_id, ids = album
    again = kim.test_client.post(f"/api/v1/albums/{album_id}/images", headers=kim.headers,
                                 json={"image_ids": [ids[1], ids[1]]})
    assert again.status_code == 200 and again.get_json()["added"] == 0
    assert in_album(kim, album_id) == ids


def test_a_photo_may_be_in_many_albums_and_deleting_an_album_keeps_it(kim, album):
    album_id, ids = album
    other = kim.test_client.post("/api/v1/albums", headers=kim.headers, json={"title": "Best"}).get_json()["id"]
    kim.test_client.post(f"/api/v1/albums/{other}/images", headers=kim.headers, json={"image_ids": [ids[0]]})
    assert kim.delete(f"/api/v1/albums/{album_id}").status_code == 204
    assert kim.get(f"/api/v1/images/{ids[0]}").status_code == 200 and in_album(kim, other) == [ids[0]]


def test_deleting_an_album_twice_says_there_is_no_such_album(kim, album):
    album_id, _ = album
    assert kim.delete(f"/api/v1/albums/{album_id}").status_code == 204
    second = kim.delete(f"/api/v1/albums/{album_id}")
    assert second.status_code == 404 and second.get_json()["error"]["message"] == "There is no such album."


def test_someone_elses_album_is_404_on_every_route(app, kim, album, lee):
    album_id, ids = album
    client, headers = lee.test_client, lee.headers
    assert client.get(f"/api/v1/albums/{album_id}", headers=headers).status_code == 404
    assert client.patch(f"/api/v1/albums/{album_id}", headers=headers, json={"title": "Mine"}).status_code == 404
    assert client.delete(f"/api/v1/albums/{album_id}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/images?album={album_id}", headers=headers).status_code == 404
    assert client.post(f"/api/v1/albums/{album_id}/images", headers=headers,
                       json={"image_ids": ids}).status_code == 404
    assert client.delete(f"/api/v1/albums/{album_id}/images/{ids[0]}", headers=headers).status_code == 404
    browser = app.test_client()
    token = csrf_token_from(browser.get("/login").get_data(as_text=True))
    browser.post("/login", data={"identifier": "lee", "password": STRONG_PASSWORD, "csrf_token": token})
    for path in (f"/albums/{album_id}", f"/albums/{album_id}?cursor=x", f"/albums/{album_id}/download",
                 f"/albums/{album_id}/edit", f"/?album={album_id}"):
        assert browser.get(path, headers={"HX-Request": "true"}).status_code == 404, path
    assert kim.get(f"/api/v1/albums/{album_id}").get_json()["title"] == "Holiday"


def test_someone_elses_photo_cannot_be_added(kim, album, lee):
    album_id, ids = album
    body, content_type = multipart({"file": (make_jpeg(), "lee.jpg")})
    lees = lee.test_client.post("/api/v1/images", data=body, content_type=content_type,
                                headers=lee.headers).get_json()["id"]
    response = kim.test_client.post(f"/api/v1/albums/{album_id}/images", headers=kim.headers,
                                    json={"image_ids": [lees, ids[0]]})
    assert response.status_code == 404 and in_album(kim, album_id) == ids


@pytest.mark.parametrize("body, code", [
    ({}, "missing_field"), ({"title": "   "}, "missing_field"), ({"title": "x" * 201}, "title_too_long"),
    ({"title": "ok", "colour": "red"}, "unknown_field"), ({"title": 7}, "missing_field"),
    ({"title": "ok", "description": "x" * 5001}, "description_too_long"),
])
def test_bad_album_fields_answer_400_with_a_sentence(kim, body, code):
    response = kim.test_client.post("/api/v1/albums", headers=kim.headers, json=body)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == code


def test_bad_image_lists_answer_400(kim, album):
    album_id, _ = album
    for body in ({}, {"image_ids": []}, {"image_ids": "abc"}, {"image_ids": [1, 2]}):
        response = kim.test_client.post(f"/api/v1/albums/{album_id}/images", headers=kim.headers, json=body)
        assert response.status_code == 400, body


def test_removing_the_cover_picks_the_next_photo(kim, album):
    album_id, ids = album
    assert kim.delete(f"/api/v1/albums/{album_id}/images/{ids[0]}").status_code == 204
    assert kim.get(f"/api/v1/albums/{album_id}").get_json()["cover_image_id"] == ids[1]
    again = kim.delete(f"/api/v1/albums/{album_id}/images/{ids[0]}")
    assert again.status_code == 404 and again.get_json()["error"]["code"] == "image_not_in_album"


def test_cover_must_be_in_the_album(kim, album):
    album_id, ids = album
    outside = kim.upload(make_jpeg()).get_json()["id"]
    response = kim.test_client.patch(f"/api/v1/albums/{album_id}", headers=kim.headers,
                                     json={"cover_image_id": outside})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "cover_not_in_album"
    ok = kim.test_client.patch(f"/api/v1/albums/{album_id}", headers=kim.headers,
                               json={"cover_image_id": ids[2], "title": "Summer"})
    assert ok.get_json()["cover_image_id"] == ids[2] and ok.get_json()["title"] == "Summer"


def test_deleting_a_photo_takes_it_out_of_its_albums_and_off_the_cover(kim, album):
    album_id, ids = album
    assert kim.delete(f"/api/v1/images/{ids[0]}").status_code == 204
    body = kim.get(f"/api/v1/albums/{album_id}").get_json()
    assert body["image_count"] == 2 and body["cover_image_id"] is None and in_album(kim, album_id) == ids[1:]


def test_uploading_into_an_album(kim, album):
    album_id, ids = album
    new = kim.upload(make_jpeg(), album_id=album_id).get_json()["id"]
    assert in_album(kim, album_id) == ids + [new]


def test_uploading_into_someone_elses_album_stores_nothing(app, kim, album, lee):
    album_id, _ = album
    before = media_count(app)
    body, content_type = multipart({"file": (make_jpeg(), "x.jpg"), "album_id": album_id})
    response = lee.test_client.post("/api/v1/images", data=body, content_type=content_type, headers=lee.headers)
    assert response.status_code == 404 and media_count(app) == before


# --- order ------------------------------------------------------------------------------------------------

def browser_login(app):
    client = app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"identifier": "kim", "password": STRONG_PASSWORD, "csrf_token": token})
    client.csrf = csrf_token_from(client.get("/").get_data(as_text=True))
    return client


def test_drag_and_drop_order_is_kept(app, kim, album):
    album_id, ids = album
    browser = browser_login(app)
    move = browser.post(f"/albums/{album_id}/order", data={"media_id": ids[2], "after": ""},
                        headers={"X-CSRFToken": browser.csrf})
    assert move.status_code == 204 and in_album(kim, album_id) == [ids[2], ids[0], ids[1]]
    browser.post(f"/albums/{album_id}/order", data={"media_id": ids[2], "after": ids[1]},
                 headers={"X-CSRFToken": browser.csrf})
    assert in_album(kim, album_id) == ids


def test_moving_between_neighbours_without_a_gap_renumbers_once(app, kim, album):
    from sqlalchemy import update

    from webapp.albums import service
    from webapp.extensions import db
    from webapp.models import AlbumItem, Album

    album_id, ids = album
    with app.app_context():
        for position, media_id in enumerate(ids):  # positions 0, 1, 2: no room between any two
            db.session.execute(update(AlbumItem).where(AlbumItem.media_id == media_id).values(position=position))
        db.session.commit()
        service.move_photo(db.session.get(Album, album_id), ids[2], ids[0])
    assert in_album(kim, album_id) == [ids[0], ids[2], ids[1]]


def test_album_zip_is_in_album_order(app, kim, album):
    album_id, ids = album
    browser = browser_login(app)
    browser.post(f"/albums/{album_id}/order", data={"media_id": ids[1], "after": ""},
                 headers={"X-CSRFToken": browser.csrf})
    response = browser.get(f"/albums/{album_id}/download")
    assert zipfile.ZipFile(io.BytesIO(response.data)).namelist() == ["p1.jpg", "p0.jpg", "p2.jpg"]
    assert response.headers["Content-Disposition"].startswith('attachment; filename="Holiday.zip"')


def test_album_pages_scroll_in_album_order(app, kim, album):
    album_id, ids = album
    browser = browser_login(app)
    first = browser.get(f"/albums/{album_id}?limit=2").get_data(as_text=True)
    assert first.index(ids[0]) < first.index(ids[1]) and f"/albums/{album_id}?cursor=" in first
    assert 'data-reorder="/albums/' in first


def test_creating_an_album_from_a_selection(app, kim, album):
    _, ids = album
    browser = browser_login(app)
    response = browser.post("/albums", data={"title": "From selection", "ids": ids[:2], "csrf_token": browser.csrf})
    assert response.status_code == 303
    new_id = response.headers["Location"].rsplit("/", 1)[1]
    assert in_album(kim, new_id) == ids[:2]


def test_album_page_makes_a_cover_and_takes_photos_out(app, kim, album):
    album_id, ids = album
    browser = browser_login(app)
    headers = {"HX-Request": "true", "X-CSRFToken": browser.csrf}
    cover = browser.post(f"/albums/{album_id}", data={"cover": ids[2]}, headers=headers)
    assert cover.status_code == 200 and 'id="album-head"' in cover.get_data(as_text=True)
    assert kim.get(f"/api/v1/albums/{album_id}").get_json()["cover_image_id"] == ids[2]
    removed = browser.post(f"/albums/{album_id}/remove", data={"ids": ids[:2]}, headers=headers)
    assert removed.status_code == 200 and '"action": "remove"' in removed.headers["HX-Trigger"]
    assert in_album(kim, album_id) == [ids[2]] and kim.get(f"/api/v1/images/{ids[0]}").status_code == 200


def test_renaming_an_album_in_place_and_a_blank_name_is_refused(app, kim, album):
    album_id, _ = album
    browser = browser_login(app)
    headers = {"HX-Request": "true", "X-CSRFToken": browser.csrf}
    form = browser.get(f"/albums/{album_id}/edit", headers=headers).get_data(as_text=True)
    assert 'name="title"' in form and "<html" not in form
    assert browser.get(f"/albums/{album_id}/edit").status_code == 200  # the whole page, without htmx
    renamed = browser.post(f"/albums/{album_id}", data={"title": "Autumn", "description": "Leaves"}, headers=headers)
    assert "Autumn" in renamed.get_data(as_text=True)
    blank = browser.post(f"/albums/{album_id}", data={"title": " "}, headers={**headers, "Accept": "application/json"})
    assert blank.status_code == 400 and blank.get_json()["error"]["code"] == "title_required"
    assert kim.get(f"/api/v1/albums/{album_id}").get_json()["title"] == "Autumn"
