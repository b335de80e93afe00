"""An owner's sizes at signed, immutable addresses: as fast as public thumbnails (from memory, no session,
no account, no query), working without a cookie for whoever holds the address, and never for a forged
address, a deleted photo or a blocked owner."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD, AuthActions
from tests.fixtures.media import make_jpeg, multipart
from tests.fixtures.shares import make_link

SIGNED = re.compile(r"/i/[A-Za-z0-9_-]+/[a-z]+\.\d+\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}\.webp")


def signed_url(app, media_id: str, size: str) -> str:
    """The address the owner's pages give out for `size` of the photo."""
    from webapp.extensions import db
    from webapp.media import links
    from webapp.models import Media

    with app.test_request_context():
        return links.owner_size_url(db.session.get(Media, media_id), size)


def private_photo(kim) -> str:
    response = kim.upload(make_jpeg((640, 480)), "secret.jpg")
    assert response.status_code == 201
    return response.get_json()["id"]


def set_blocked(app, user_id: int, blocked: bool) -> None:
    """Block or unblock through the admin service (which empties this instance's memory on a block)."""
    from webapp.admin import users
    from webapp.auth import service as accounts
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        admin = accounts.create_user(f"root{time.monotonic_ns()}@example.com", f"root{time.monotonic_ns()}",
                                     STRONG_PASSWORD, role="admin", verified=True)
        (users.block if blocked else users.unblock)(admin, db.session.get(User, user_id))


@pytest.fixture
def statements(app):
    """Every SQL statement this thread sends (the bandwidth meter's own thread is left out)."""
    from sqlalchemy import event

    from webapp.extensions import db

    seen, me = [], threading.get_ident()

    def count(conn, cursor, statement, *args):
        if threading.get_ident() == me:
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


def test_signed_thumbnail_of_a_private_photo_works_without_a_cookie(app, kim):
    media_id = private_photo(kim)
    stranger = app.test_client()
    assert stranger.get(f"/i/{media_id}?size=thumb").status_code == 404  # still private
    response = stranger.get(signed_url(app, media_id, "thumb"))
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/webp"
    assert response.data == kim.get(f"/i/{media_id}?size=thumb").data


@pytest.mark.parametrize("size", ["small", "medium", "large"])
def test_every_preview_size_is_signed_and_made_on_first_request(app, kim, size):
    from tests.fixtures.media import decode

    media_id = private_photo(kim)
    response = app.test_client().get(signed_url(app, media_id, size))
    assert response.status_code == 200
    assert decode(response.data).format == "WEBP"


def test_signed_sizes_are_immutable_private_and_never_vary_on_the_cookie(app, kim):
    media_id = private_photo(kim)
    browser = app.test_client()
    AuthActions(browser).login("kim")  # a logged-in browser sends its session cookie along
    url = signed_url(app, media_id, "thumb")
    response = browser.get(url)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert "Cookie" not in response.headers.get("Vary", "")
    assert "Set-Cookie" not in response.headers
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    again = browser.get(url, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.headers["Cache-Control"] == "private, max-age=31536000, immutable"


def test_forged_truncated_and_borrowed_signatures_are_404(app, kim, make_user):
    media_id, other_id = private_photo(kim), private_photo(kim)
    url = signed_url(app, media_id, "thumb")
    head, sig = url.rsplit(".", 2)[0], url.rsplit(".", 2)[1]
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    owner_id = int(head.split(".")[1])
    stranger = app.test_client()
    assert stranger.get(url).status_code == 200
    refused = [
        f"{head}.{flipped}.webp",  # one character changed
        f"{head}.{sig[:22]}.webp",  # truncated
        url.replace("/thumb.", "/medium."),  # another size's address with this signature
        url.replace(media_id, other_id),  # another photo
        url.replace(f".{owner_id}.", f".{owner_id + 1}."),  # another owner
        url.replace("/thumb.", "/huge."),  # no such size
    ]
    for address in refused:
        assert stranger.get(address).status_code == 404, address
    make_user(username="lee")
    lee = app.test_client()
    token = lee.post("/api/v1/auth/login", json={"identifier": "lee", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    body, content_type = multipart({"file": (make_jpeg(), "lee.jpg")})
    lees_id = lee.post("/api/v1/images", headers={"Authorization": f"Bearer {token}"}, data=body,
                       content_type=content_type).get_json()["id"]
    lees_url = signed_url(app, lees_id, "thumb")
    assert stranger.get(lees_url).status_code == 200
    lees_owner = lees_url.split(".")[1]
    assert stranger.get(lees_url.replace(lees_id, media_id)).status_code == 404  # lee's signature on kim's photo
    assert stranger.get(lees_url.replace(lees_id, media_id).replace(f".{lees_owner}.", f".{owner_id}."))\
        .status_code == 404


def test_a_deleted_photos_signed_thumbnail_is_404_at_once(app, kim):
    media_id = private_photo(kim)
    url = signed_url(app, media_id, "thumb")
    stranger = app.test_client()
    assert stranger.get(url).status_code == 200  # now in memory
    assert kim.delete(f"/api/v1/images/{media_id}").status_code == 204
    assert stranger.get(url).status_code == 404


def test_a_blocked_owners_signed_thumbnail_is_404_and_works_again_once_unblocked(app, kim):
    media_id = private_photo(kim)
    url = signed_url(app, media_id, "thumb")
    stranger = app.test_client()
    assert stranger.get(url).status_code == 200
    set_blocked(app, kim.id, True)
    assert stranger.get(url).status_code == 404
    set_blocked(app, kim.id, False)
    assert stranger.get(url).status_code == 200


def test_a_signed_hit_from_memory_sends_no_sql_even_with_a_session_cookie(app, kim, statements):
    media_id = private_photo(kim)
    browser = app.test_client()
    AuthActions(browser).login("kim")
    url = signed_url(app, media_id, "thumb")
    assert browser.get(url).status_code == 200  # read once: the row, and the owner's bandwidth left
    statements.clear()
    for _ in range(3):
        assert browser.get(url).status_code == 200
    assert statements == []
    # The public thumbnail, by comparison, loads the session's account on every request.
    assert browser.get(f"/i/{media_id}?size=thumb").status_code == 200
    assert statements


def test_signed_sizes_count_against_the_owners_bandwidth_and_stop_when_it_is_used(app, kim):
    from sqlalchemy import func, select

    from webapp import metering
    from webapp.extensions import db
    from webapp.models import DailyUsage, Plan, User

    media_id = private_photo(kim)
    url = signed_url(app, media_id, "thumb")
    stranger = app.test_client()
    size = len(stranger.get(url).data)
    metering.flush(app)
    with app.app_context():
        assert db.session.scalar(select(func.sum(DailyUsage.bytes_out)).where(DailyUsage.user_id == kim.id)) == size
        plan = Plan(name="tiny", description="", bandwidth_bytes_per_month=size)
        db.session.add(plan)
        db.session.flush()
        db.session.get(User, kim.id).plan_id = plan.id
        db.session.commit()
        metering.forget()
    refused = stranger.get(url, headers={"Accept": "application/json"})
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "bandwidth_exceeded"


def test_the_gallery_shows_the_owner_signed_thumbnails(app, kim, make_user):
    media_ids = {private_photo(kim), kim.upload(make_jpeg(), is_public="true").get_json()["id"]}
    browser = app.test_client()
    AuthActions(browser).login("kim")
    sources = re.findall(r'<img src="([^"]+)"[^>]*class="tile-image"', browser.get("/").get_data(as_text=True))
    assert len(sources) == 2 and all(SIGNED.fullmatch(src) for src in sources)
    assert {src.split("/")[2] for src in sources} == media_ids
    stranger = app.test_client()
    assert all(stranger.get(src).status_code == 200 for src in sources)


def test_the_owners_album_photo_and_editor_pages_show_signed_sizes(app, kim):
    media_id = private_photo(kim)
    album = kim.test_client.post("/api/v1/albums", headers=kim.headers, json={"title": "Trip"}).get_json()
    kim.test_client.post(f"/api/v1/albums/{album['id']}/images", headers=kim.headers, json={"image_ids": [media_id]})
    browser = app.test_client()
    AuthActions(browser).login("kim")
    expected = {"/albums": "thumb", f"/albums/{album['id']}": "thumb", f"/photos/{media_id}": "medium",
                f"/i/{media_id}/edit": "small"}
    for page, size in expected.items():
        html = browser.get(page).get_data(as_text=True)
        assert signed_url(app, media_id, size) in html, page
        assert f"/i/{media_id}?size=" not in html, page


def test_other_viewers_never_see_a_signature(app, kim, make_user):
    media_id = kim.upload(make_jpeg(), is_public="true").get_json()["id"]
    link = make_link(app, kim.id, media_id=media_id)
    make_user(username="lee")
    lee = app.test_client()
    AuthActions(lee).login("lee")
    pages = [lee.get(f"/embed/{media_id}"), lee.get("/"), app.test_client().get(f"/embed/{media_id}"),
             app.test_client().get(link.url), app.test_client().get(f"/info/{media_id}")]
    for page in pages:
        assert page.status_code == 200
        assert not SIGNED.search(page.get_data(as_text=True))
    assert kim.get(f"/api/v1/images/{media_id}").get_json()["thumbnail_url"].endswith(f"/i/{media_id}?size=thumb")


def test_fifty_requests_at_once_for_a_new_size_make_it_once(app, kim, monkeypatch):
    from webapp.media import service

    media_id = private_photo(kim)
    url = signed_url(app, media_id, "small")
    made, make_preset = [], service.make_preset

    def slow_make_preset(media, name):
        made.append(name)
        time.sleep(0.3)  # long enough for every other request to arrive while this one works
        return make_preset(media, name)

    monkeypatch.setattr(service, "make_preset", slow_make_preset)
    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(lambda _: app.test_client().get(url), range(50)))
    assert [response.status_code for response in responses] == [200] * 50
    assert len({response.data for response in responses}) == 1
    assert made == ["small"]
