"""The library: keyset pages in every order, search and filters, albums, selections and the photo page."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timedelta, timezone

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD, csrf_token_from
from tests.fixtures.media import make_jpeg


@pytest.fixture
def photos(app, kim):
    """Seven photos of kim's with distinct names, sizes and dates taken; returns their ids, oldest upload first."""
    from webapp.extensions import db
    from webapp.models import Media

    ids = []
    for n, name in enumerate(["delta.jpg", "alpha.jpg", "golf.jpg", "charlie.jpg", "echo.jpg", "bravo.jpg",
                              "foxtrot.jpg"]):
        ids.append(kim.upload(make_jpeg(size=(40 + 10 * n, 30)), name=name).get_json()["id"])
    with app.app_context():  # taken on days that run against the upload order
        for n, media_id in enumerate(ids):
            media = db.session.get(Media, media_id)
            media.captured_at = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(days=10 - n)
            media.created_at = datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(hours=n)
        db.session.commit()
    return ids


@pytest.fixture
def browser_kim(app, kim):
    """kim logged in through the real login form (a browser session, CSRF and all)."""
    client = app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"identifier": "kim", "password": STRONG_PASSWORD, "csrf_token": token})
    client.csrf = csrf_token_from(client.get("/").get_data(as_text=True))
    return client


def walk(kim, query: str, limit=2) -> list[str]:
    """Every id the API lists for `query`, following next_cursor to the end."""
    seen, cursor = [], None
    for _ in range(50):
        response = kim.get(f"/api/v1/images?limit={limit}&{query}" + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the cursor never ran out")


def names(kim, ids) -> list[str]:
    return [kim.get(f"/api/v1/images/{i}").get_json()["original_name"][:-4] for i in ids]


@pytest.mark.parametrize("query, expected", [
    ("", ["foxtrot", "bravo", "echo", "charlie", "golf", "alpha", "delta"]),
    ("sort=uploaded&order=asc", ["delta", "alpha", "golf", "charlie", "echo", "bravo", "foxtrot"]),
    ("sort=taken", ["delta", "alpha", "golf", "charlie", "echo", "bravo", "foxtrot"]),
    ("sort=name", ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"]),
    ("sort=name&order=desc", ["golf", "foxtrot", "echo", "delta", "charlie", "bravo", "alpha"]),
])
def test_pages_follow_each_order_to_the_end_without_repeats(kim, photos, query, expected):
    assert names(kim, walk(kim, query)) == expected


def test_size_order_pages_through_ties_by_id(kim, photos):
    listed = walk(kim, "sort=size&order=asc", limit=3)
    assert sorted(listed) == sorted(photos) and len(set(listed)) == 7
    sizes = [kim.get(f"/api/v1/images/{i}").get_json()["size"] for i in listed]
    assert sizes == sorted(sizes)


def test_search_matches_title_name_and_camera_and_treats_wildcards_as_text(app, kim, photos):
    kim.test_client.patch(f"/api/v1/images/{photos[0]}", headers=kim.headers, json={"title": "Beach 100%"})
    assert names(kim, walk(kim, "q=ALPHA")) == ["alpha"]
    assert names(kim, walk(kim, "q=beach")) == ["delta"]
    assert names(kim, walk(kim, "q=100%25")) == ["delta"]
    assert walk(kim, "q=%25") == [photos[0]]  # a literal percent sign, not "anything"
    assert walk(kim, "q=_") == []


def test_filters_by_visibility_and_date_taken(kim, photos):
    kim.test_client.patch(f"/api/v1/images/{photos[1]}", headers=kim.headers, json={"is_public": True})
    assert walk(kim, "visibility=public") == [photos[1]]
    assert len(walk(kim, "visibility=private")) == 6
    # Taken 2024-01-11 minus n days: from the 7th to the 9th holds n = 2, 3, 4.
    assert sorted(walk(kim, "from=2024-01-07&to=2024-01-09")) == sorted(photos[2:5])
    assert walk(kim, "type=file") == [] and len(walk(kim, "type=photo")) == 7


@pytest.mark.parametrize("query, code", [
    ("limit=0", "invalid_limit"), ("limit=201", "invalid_limit"), ("limit=ten", "invalid_limit"),
    ("cursor=not-a-cursor", "invalid_cursor"), ("sort=colour", "invalid_sort"), ("sort=album", "invalid_sort"),
    ("order=sideways", "invalid_order"), ("from=yesterday", "invalid_date"), ("type=hologram", "invalid_type"),
    ("visibility=secret", "invalid_visibility"),
])
def test_bad_list_parameters_answer_400_with_a_sentence(kim, query, code):
    response = kim.get(f"/api/v1/images?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"].endswith(".")


def test_a_cursor_from_another_order_is_refused(kim, photos):
    cursor = kim.get("/api/v1/images?limit=2&sort=name").get_json()["next_cursor"]
    response = kim.get(f"/api/v1/images?limit=2&sort=size&cursor={cursor}")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_cursor"


def test_list_queries_use_the_sort_indexes(app, kim, photos):
    from sqlalchemy import text

    from webapp.extensions import db
    from webapp.media import library
    from webapp.models import User

    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("EXPLAIN QUERY PLAN is SQLite's; PostgreSQL plans are reported by scripts/bench")
        owner = db.session.get(User, kim.id)
        for sort, index in [("uploaded", "ix_media_user_created"), ("taken", "ix_media_user_captured"),
                            ("name", "ix_media_user_name"), ("size", "ix_media_user_size")]:
            view = library.View(sort=sort, order=library.SORTS[sort][1], limit=2)
            cursor = library.page(owner, view).next_cursor
            for shown in (view, library.View(sort=sort, order=view.order, limit=2, cursor=cursor)):
                query = library._ordered(library._filtered(owner, shown), shown)
                if shown.cursor:
                    query = query.where(library._after(shown, library._decode(shown, shown.cursor)))
                compiled = query.limit(3).compile(db.engine, compile_kwargs={"literal_binds": True})
                plan = " ".join(str(row[-1]) for row in db.session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
                assert index in plan and "TEMP B-TREE" not in plan, (sort, plan)


# --- the gallery in the browser -----------------------------------------------------------------

def test_gallery_pages_are_whole_pages_or_fragments_as_asked(browser_kim, photos):
    page = browser_kim.get("/?limit=3")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html and html.count('class="tile') >= 3
    assert "HX-Request" in page.headers["Vary"]
    more = browser_kim.get("/?limit=3&cursor=" + _cursor_in(html), headers={"HX-Request": "true"})
    fragment = more.get_data(as_text=True)
    assert "<html" not in fragment and fragment.count('<li class="tile') == 3 and "grid-more" in fragment
    search = browser_kim.get("/?q=golf", headers={"HX-Request": "true", "HX-Target": "library-results"})
    assert 'id="library-results"' in search.get_data(as_text=True) and "golf" in search.get_data(as_text=True)


def _cursor_in(html: str) -> str:
    import re

    return re.search(r"cursor=([A-Za-z0-9_-]+)", html).group(1)


def test_gallery_without_javascript_links_to_the_next_page(browser_kim, photos):
    html = browser_kim.get("/?limit=4").get_data(as_text=True)
    assert 'href="/?cursor=' in html and "More photos" in html


def test_bad_gallery_parameters_answer_a_page_that_says_so(browser_kim):
    response = browser_kim.get("/?sort=colour")
    assert response.status_code == 400 and "sort must be one of" in response.get_data(as_text=True)


def test_titles_with_html_are_text_everywhere(app, browser_kim, kim, photos):
    evil = '<img src=x onerror=alert(1)>'
    kim.test_client.patch(f"/api/v1/images/{photos[0]}", headers=kim.headers, json={"title": evil, "description": evil})
    album = kim.test_client.post("/api/v1/albums", headers=kim.headers, json={"title": evil, "description": evil})
    album_id = album.get_json()["id"]
    kim.test_client.post(f"/api/v1/albums/{album_id}/images", headers=kim.headers, json={"image_ids": [photos[0]]})
    for path in ("/", f"/photos/{photos[0]}", "/albums", f"/albums/{album_id}"):
        html = browser_kim.get(path).get_data(as_text=True)
        assert evil not in html and "&lt;img src=x onerror=alert(1)&gt;" in html, path
    assert kim.get(f"/api/v1/albums/{album_id}").get_json()["title"] == evil


def test_photo_page_walks_the_current_order(browser_kim, photos):
    html = browser_kim.get(f"/photos/{photos[3]}?sort=name").get_data(as_text=True)  # charlie
    assert f'rel="prev" href="/photos/{photos[5]}?sort=name"' in html  # bravo
    assert f'rel="next" href="/photos/{photos[0]}?sort=name"' in html  # delta
    first = browser_kim.get(f"/photos/{photos[6]}").get_data(as_text=True)  # newest upload: nothing before it
    assert 'rel="prev"' not in first and 'rel="next"' in first


def test_photo_page_edits_in_place_and_toggles_visibility(browser_kim, kim, photos):
    headers = {"HX-Request": "true", "X-CSRFToken": browser_kim.csrf}
    response = browser_kim.post(f"/photos/{photos[0]}", data={"title": "Sunset", "description": "At the pier"},
                                headers=headers)
    assert response.status_code == 200 and 'id="photo-text"' in response.get_data(as_text=True)
    assert kim.get(f"/api/v1/images/{photos[0]}").get_json()["title"] == "Sunset"
    response = browser_kim.post(f"/photos/{photos[0]}/visibility", data={"public": "1"}, headers=headers)
    assert "Make private" in response.get_data(as_text=True)
    assert kim.get(f"/api/v1/images/{photos[0]}").get_json()["is_public"] is True


def test_only_the_owner_sees_a_photo_page(app, make_user, browser_kim, photos):
    make_user(username="lee")
    lee = app.test_client()
    token = csrf_token_from(lee.get("/login").get_data(as_text=True))
    lee.post("/login", data={"identifier": "lee", "password": STRONG_PASSWORD, "csrf_token": token})
    lee_token = csrf_token_from(lee.get("/").get_data(as_text=True))
    assert lee.get(f"/photos/{photos[0]}").status_code == 404
    assert lee.post(f"/photos/{photos[0]}/delete", data={"csrf_token": lee_token}).status_code == 404
    assert lee.post("/library/selection", data={"csrf_token": lee_token, "ids": photos[0],
                                                "action": "public"}).status_code == 404
    assert lee.post("/library/download", data={"csrf_token": lee_token, "ids": photos[0]}).status_code == 404
    assert app.test_client().get(f"/photos/{photos[0]}").status_code == 302  # to the login page


def test_forms_without_a_csrf_token_are_refused(browser_kim, photos):
    assert browser_kim.post("/library/selection", data={"ids": photos[0], "action": "delete"}).status_code == 400
    assert browser_kim.get(f"/photos/{photos[0]}").status_code == 200


# --- acting on a selection --------------------------------------------------------------------------

def test_selection_made_public_tells_the_page_which_tiles(browser_kim, kim, photos):
    response = browser_kim.post("/library/selection", data={"ids": photos[:3], "action": "public"},
                                headers={"HX-Request": "true", "X-CSRFToken": browser_kim.csrf})
    assert response.status_code == 200 and "3 photos are now public." in response.get_data(as_text=True)
    assert '"ids": ["%s", "%s", "%s"]' % tuple(photos[:3]) in response.headers["HX-Trigger"]
    assert sorted(walk(kim, "visibility=public")) == sorted(photos[:3])


def test_selection_with_someone_elses_photo_changes_nothing(app, browser_kim, kim, make_user, photos):
    from tests.fixtures.media import multipart

    make_user(username="lee")
    lee = app.test_client()
    token = lee.post("/api/v1/auth/login", json={"identifier": "lee", "password": STRONG_PASSWORD}).get_json()
    body, content_type = multipart({"file": (make_jpeg(), "lee.jpg")})
    lees = lee.post("/api/v1/images", data=body, content_type=content_type,
                    headers={"Authorization": f"Bearer {token['access_token']}"}).get_json()["id"]
    response = browser_kim.post("/library/selection", data={"ids": [photos[0], lees], "action": "delete",
                                                            "csrf_token": browser_kim.csrf})
    assert response.status_code == 404
    assert len(walk(kim, "")) == 7


def test_deleting_a_selection_removes_the_photos(browser_kim, kim, photos):
    response = browser_kim.post("/library/selection", data={"ids": photos[:2], "action": "delete",
                                                            "csrf_token": browser_kim.csrf})
    assert response.status_code == 303
    assert sorted(walk(kim, "")) == sorted(photos[2:])


def test_zip_of_a_selection_streams_every_photo_with_unique_names(browser_kim, kim):
    ids = [kim.upload(make_jpeg(colour=(n, 0, 0)), name="same.jpg").get_json()["id"] for n in range(3)]
    response = browser_kim.post("/library/download", data={"ids": ids, "csrf_token": browser_kim.csrf})
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert archive.namelist() == ["same.jpg", "same (2).jpg", "same (3).jpg"]
    assert archive.read("same.jpg") == kim.get(f"/i/{ids[0]}").data


def test_an_empty_selection_is_a_clear_400(browser_kim):
    response = browser_kim.post("/library/selection", data={"action": "public", "csrf_token": browser_kim.csrf},
                                headers={"Accept": "application/json"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "no_images"


def test_cursors_hold_whatever_time_zone_the_database_session_has(app, kim, photos):
    from sqlalchemy import text

    from webapp.extensions import db
    from webapp.media import library
    from webapp.models import User

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has no session time zone")
        owner = db.session.get(User, kim.id)
        for zone in ("Asia/Tokyo", "America/New_York"):
            db.session.execute(text(f"SET TIME ZONE '{zone}'"))
            for sort in ("uploaded", "taken"):
                seen, cursor = [], ""
                for _ in range(10):
                    page = library.page(owner, library.View(sort=sort, order="desc", limit=2, cursor=cursor))
                    seen += [media.id for media in page.items]
                    cursor = page.next_cursor
                    if not cursor:
                        break
                assert sorted(seen) == sorted(photos), (zone, sort)
            db.session.rollback()


def test_the_gallery_counts_photos_as_they_come_and_go(browser_kim, kim, photos):
    assert "7 photos" in browser_kim.get("/").get_data(as_text=True)
    kim.delete(f"/api/v1/images/{photos[0]}")
    assert "6 photos" in browser_kim.get("/").get_data(as_text=True)


def test_deleting_a_selection_updates_the_header_count(browser_kim, photos):
    response = browser_kim.post("/library/selection", data={"ids": photos[:3], "action": "delete"},
                                headers={"HX-Request": "true", "X-CSRFToken": browser_kim.csrf})
    html = response.get_data(as_text=True)
    assert 'id="library-stats" hx-swap-oob="true"' in html and "4 photos" in html


def test_album_order_without_an_album_says_what_it_needs(kim):
    error = kim.get("/api/v1/images?sort=album").get_json()["error"]
    assert error == {"code": "invalid_sort", "field": "sort",
                     "message": "sort=album follows an album's own order, so it needs album as well."}
