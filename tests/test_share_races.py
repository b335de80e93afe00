"""Share link limits hold when everyone comes at once: one view of a max_views=1 link, one download of a
max_downloads=1 link, and no more guest files than a link takes, with counters and the owner's storage
exact. Each race runs through the app in threads and against a real server (waitress, with threads), on
SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD, csrf_token_from
from tests.fixtures.media import make_jpeg, multipart
from tests.fixtures.shares import Link, link_row, make_link, visit_cookie
from webapp.media.service import PREVIEW

OPENERS, DOWNLOADERS, GUESTS = 50, 50, 20


def all_at_once(count: int, prepare, act) -> list:
    """Run `prepare(n)` for each of `count` visitors, then `act(prepared)` in `count` threads released together."""
    prepared = [prepare(n) for n in range(count)]
    start = threading.Barrier(count)

    def go(ready):
        start.wait(timeout=60)
        return act(ready)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(go, prepared))


def owner_counters(app, user_id: int) -> tuple:
    """(storage_used, media_count, uploads today, media rows, stored blobs but previews) as committed."""
    from sqlalchemy import text

    from webapp.extensions import blob_store, db

    with app.app_context(), db.engine.connect() as connection:
        storage, photos = connection.execute(text("SELECT storage_used, media_count FROM users WHERE id = :id"),
                                             {"id": user_id}).one()
        uploads = connection.execute(text("SELECT COALESCE(SUM(uploads), 0) FROM daily_usage WHERE user_id = :id"),
                                     {"id": user_id}).scalar()
        rows = connection.execute(text("SELECT count(*) FROM media")).scalar()
        # Previews are made by a background job, which a real server's worker may or may not have reached.
        return storage, photos, uploads, rows, len([key for key in blob_store().keys()
                                                    if not key.endswith(f"/{PREVIEW}.webp")])


def guest_photos(app, link: Link) -> list[tuple[str, int]]:
    """(id, size) of every photo guests added through the link."""
    from sqlalchemy import text

    from webapp.extensions import db

    with app.app_context(), db.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            text("SELECT id, size FROM media WHERE guest_share_id = :id"), {"id": link.id})]


def new_album(app, owner_id: int, photo_id: str) -> str:
    from webapp.albums import service as albums
    from webapp.extensions import db
    from webapp.media import service as media_service
    from webapp.models import User

    with app.app_context():
        owner = db.session.get(User, owner_id)
        album = albums.create_album(owner, "Party")
        albums.add_photos(album, media_service.get_many_for(owner, [photo_id]))
        return album.id


# --- through the app, in threads ---------------------------------------------------------------------

def test_fifty_simultaneous_opens_of_a_one_view_link_give_exactly_one_visit(app, kim):
    photo = kim.upload(make_jpeg()).get_json()["id"]
    link = make_link(app, kim.id, media_id=photo, max_views=1)

    def prepare(_n):
        client = app.test_client()
        return client, csrf_token_from(client.get(link.url).get_data(as_text=True))

    def act(ready):
        client, csrf = ready
        return client.post(link.url, data={"csrf_token": csrf}).status_code, client

    answers = all_at_once(OPENERS, prepare, act)
    statuses = sorted(status for status, _client in answers)
    assert statuses == [303] + [410] * (OPENERS - 1)
    assert link_row(app, link)["views"] == 1
    visitors = [client for _status, client in answers if visit_cookie(client, link)]
    assert len(visitors) == 1
    assert visitors[0].get(f"{link.url}/p/{photo}/large").status_code == 200


def test_fifty_simultaneous_downloads_of_a_one_download_link_give_exactly_one(app, kim):
    photo = kim.upload(make_jpeg()).get_json()["id"]
    link = make_link(app, kim.id, media_id=photo, max_downloads=1)

    def act(client):
        response = client.get(f"{link.url}/p/{photo}/original")
        return response.status_code, len(response.data)

    answers = all_at_once(DOWNLOADERS, lambda _n: app.test_client(), act)
    assert sorted(status for status, _size in answers) == [200] + [410] * (DOWNLOADERS - 1)
    size = kim.get(f"/api/v1/images/{photo}").get_json()["size"]
    assert [length for status, length in answers if status == 200] == [size]
    assert link_row(app, link)["downloads"] == 1


def test_twenty_simultaneous_guest_uploads_to_a_three_file_link_store_exactly_three(app, kim):
    photo = kim.upload(make_jpeg()).get_json()["id"]
    album = new_album(app, kim.id, photo)
    link = make_link(app, kim.id, album_id=album, allow_upload=True, upload_max_files=3)
    storage, photos, uploads, rows, blobs = owner_counters(app, kim.id)

    def prepare(n):
        client = app.test_client()
        csrf = csrf_token_from(client.get(link.url).get_data(as_text=True))
        return client, multipart({"csrf_token": csrf, "name": f"Guest {n}",
                                  "file": (make_jpeg(colour=(n * 12, 100, 200)), f"guest{n}.jpg")})

    def act(ready):
        client, (body, content_type) = ready
        return client.post(f"{link.url}/upload", data=body, content_type=content_type).status_code

    statuses = all_at_once(GUESTS, prepare, act)
    assert sorted(statuses) == [201] * 3 + [403] * (GUESTS - 3)
    _assert_exactly_three_stored(app, kim.id, link, (storage, photos, uploads, rows, blobs))


def _assert_exactly_three_stored(app, owner_id: int, link: Link, before: tuple) -> None:
    from webapp.media.service import MADE_AT_UPLOAD

    stored = guest_photos(app, link)
    total = sum(size for _id, size in stored)
    assert len(stored) == 3
    row = link_row(app, link)
    assert (row["uploaded_files"], row["uploaded_bytes"]) == (3, total)
    storage, photos, uploads, rows, blobs = before
    assert owner_counters(app, owner_id) == (storage + total, photos + 3, uploads + 3, rows + 3,
                                             blobs + 3 * (1 + len(MADE_AT_UPLOAD)))


# --- against a real server: waitress with threads, its own process and connections ---------------------

@pytest.fixture
def served(make_app, database_url, start_instance, tmp_path):
    """(app sharing the server's database and files, base URL of a Shoebox server, kim's id and a photo of hers)."""
    from webapp.auth import service

    app = make_app(storage={"url": (tmp_path / "data" / "files").as_uri()})
    with app.app_context():
        kim_id = service.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True).id
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    body, content_type = multipart({"file": (make_jpeg(), "photo.jpg")})
    photo = client.post("/api/v1/images", headers={"Authorization": f"Bearer {token}"}, data=body,
                        content_type=content_type).get_json()["id"]
    base = start_instance(SHOEBOX_DATABASE__URL=database_url, SHOEBOX_SERVER__THREADS="16")
    return app, base, kim_id, photo


def _session_of(base: str, path: str) -> tuple[str, str]:
    """(Cookie header, CSRF token) of a new visitor who loaded `path`. (The server marks its cookies Secure
    on 127.0.0.1, which Python's cookie jar would then not send over http: they are sent by hand.)"""
    import requests

    page = requests.get(base + path, timeout=30)
    assert page.status_code == 200, page.text[:300]
    return "; ".join(f"{c.name}={c.value}" for c in page.cookies), csrf_token_from(page.text)


@pytest.mark.slow  # a server process started for it
def test_fifty_simultaneous_opens_on_a_real_server_give_exactly_one_visit(served):
    import requests

    app, base, kim_id, photo = served
    link = make_link(app, kim_id, media_id=photo, max_views=1)

    def act(ready):
        cookie, csrf = ready
        return requests.post(base + link.url, data={"csrf_token": csrf}, headers={"Cookie": cookie},
                             allow_redirects=False, timeout=60).status_code

    statuses = all_at_once(OPENERS, lambda _n: _session_of(base, link.url), act)
    assert sorted(statuses) == [303] + [410] * (OPENERS - 1)
    assert link_row(app, link)["views"] == 1


@pytest.mark.slow  # a server process started for it
def test_fifty_simultaneous_downloads_on_a_real_server_give_exactly_one(served):
    import requests

    app, base, kim_id, photo = served
    link = make_link(app, kim_id, media_id=photo, max_downloads=1)

    def act(_ready):
        return requests.get(f"{base}{link.url}/p/{photo}/original", timeout=60).status_code

    assert sorted(all_at_once(DOWNLOADERS, lambda n: n, act)) == [200] + [410] * (DOWNLOADERS - 1)
    assert link_row(app, link)["downloads"] == 1


@pytest.mark.slow  # a server process started for it
def test_twenty_simultaneous_guest_uploads_on_a_real_server_store_exactly_three(served):
    import requests

    app, base, kim_id, photo = served
    link = make_link(app, kim_id, album_id=new_album(app, kim_id, photo), allow_upload=True, upload_max_files=3)
    before = owner_counters(app, kim_id)

    def prepare(n):
        cookie, csrf = _session_of(base, link.url)
        body, content_type = multipart({"csrf_token": csrf, "name": f"Guest {n}",
                                        "file": (make_jpeg(colour=(n * 12, 100, 200)), f"guest{n}.jpg")})
        return {"Cookie": cookie, "Content-Type": content_type}, body

    def act(ready):
        headers, body = ready
        return requests.post(f"{base}{link.url}/upload", data=body, headers=headers, timeout=60).status_code

    statuses = all_at_once(GUESTS, prepare, act)
    assert sorted(statuses) == [201] * 3 + [403] * (GUESTS - 3)
    _assert_exactly_three_stored(app, kim_id, link, before)
