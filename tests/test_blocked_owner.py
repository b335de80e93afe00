"""Blocking someone stops everything of theirs on the next request: their browser session, access and
refresh tokens and API keys, their public photos (the file, every size, info, embed page, oEmbed) and their
share links (the page and every sub-resource), even what this instance keeps in memory. Unblocking brings
the photos and links back; the old logins stay ended."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD, AuthActions, csrf_token_from
from tests.fixtures.media import make_jpeg
from tests.fixtures.shares import make_link

BASE = "http://shoebox.test"


@pytest.fixture
def owner(app, kim):
    """kim with a public photo (and a saved transformation of it), a share link to it and to an album, an API
    key, a refresh token and a browser session, every one of which works."""
    photo = kim.upload(make_jpeg(), "beach.jpg", is_public="true").get_json()
    album = kim.test_client.post("/api/v1/albums", headers=kim.headers, json={"title": "Holidays"}).get_json()
    kim.test_client.post(f"/api/v1/albums/{album['id']}/images", headers=kim.headers, json={"image_ids": [photo["id"]]})
    variant = kim.test_client.post(f"/api/v1/images/{photo['id']}/transform", headers=kim.headers,
                                   json={"transformations": {"rotate": 90}}).get_json()
    api = app.test_client()
    login = api.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}).get_json()
    key = api.post("/api/v1/api-keys", headers={"Authorization": f"Bearer {login['access_token']}"},
                   json={"name": "script"}).get_json()["key"]
    browser = app.test_client()
    AuthActions(browser).login("kim")

    class Owner:
        id = kim.id
        media_id = photo["id"]
        variant_url = variant["url"].removeprefix(BASE)
        photo_link = make_link(app, kim.id, media_id=photo["id"])
        album_link = make_link(app, kim.id, album_id=album["id"])
        access_token = login["access_token"]
        refresh_token = login["refresh_token"]
        api_key = key
    Owner.browser = browser
    return Owner


@pytest.fixture
def admin(app, make_user):
    make_user(username="root", role="admin")
    client = app.test_client()
    AuthActions(client).login("root")
    return client


def set_blocked(admin, owner, blocked: bool):
    action = "block" if blocked else "unblock"
    page = admin.get(f"/admin/users/{owner.id}").get_data(as_text=True)
    response = admin.post(f"/admin/users/{owner.id}/{action}",
                          data={"csrf_token": csrf_token_from(page), "confirm": "1"})
    assert response.status_code == 303


def public_addresses(owner) -> list[str]:
    page = f"{BASE}/i/{owner.media_id}"
    return [f"/i/{owner.media_id}", f"/i/{owner.media_id}.jpg", f"/i/{owner.media_id}?size=thumb",
            f"/i/{owner.media_id}?size=medium", f"/info/{owner.media_id}", f"/embed/{owner.media_id}",
            owner.variant_url, "/oembed?" + urlencode({"url": page})]


def share_addresses(owner) -> list[str]:
    addresses = []
    for link in (owner.photo_link, owner.album_link):
        addresses += [link.url, f"{link.url}/more", f"{link.url}/p/{owner.media_id}",
                      f"{link.url}/p/{owner.media_id}/thumb", f"{link.url}/p/{owner.media_id}/small",
                      f"{link.url}/p/{owner.media_id}/original", f"{link.url}/p/{owner.media_id}.json",
                      f"{link.url}/zip", f"{link.url}/preview.webp"]
    return addresses


def test_blocking_stops_public_photos_and_share_links_on_the_next_request(app, admin, owner):
    visitor = app.test_client()
    for address in public_addresses(owner) + share_addresses(owner):
        assert visitor.get(address).status_code == 200, address  # and the hot paths now remember them
    set_blocked(admin, owner, True)
    for address in public_addresses(owner):
        assert visitor.get(address).status_code == 404, address
    for address in share_addresses(owner):
        response = visitor.get(address)
        assert response.status_code == 410, address
    page = visitor.get(owner.photo_link.url).get_data(as_text=True)
    assert "This link is not available at the moment." in page
    oembed = visitor.get("/oembed?" + urlencode({"url": BASE + owner.photo_link.url}))
    assert oembed.status_code == 404


def test_unblocking_brings_photos_and_links_back(app, admin, owner):
    visitor = app.test_client()
    set_blocked(admin, owner, True)
    assert visitor.get(f"/i/{owner.media_id}?size=thumb").status_code == 404
    set_blocked(admin, owner, False)
    for address in public_addresses(owner) + share_addresses(owner):
        assert visitor.get(address).status_code == 200, address


def test_blocking_ends_the_session_tokens_and_keys_at_once(app, admin, owner):
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {owner.access_token}"}
    assert owner.browser.get("/settings/").status_code == 200
    assert api.get("/api/v1/account", headers=bearer).status_code == 200
    assert api.get("/api/v1/account", headers={"X-API-Key": owner.api_key}).status_code == 200
    set_blocked(admin, owner, True)
    assert owner.browser.get("/settings/").status_code in (302, 401)
    assert api.get("/api/v1/account", headers=bearer).status_code == 401
    assert api.get("/api/v1/account", headers={"X-API-Key": owner.api_key}).status_code == 401
    assert api.post("/api/v1/auth/refresh", json={"refresh_token": owner.refresh_token}).status_code == 401
    refused = api.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "account_blocked"
    set_blocked(admin, owner, False)
    # The key works again; the ended logins do not come back, but a new one works.
    assert api.get("/api/v1/account", headers={"X-API-Key": owner.api_key}).status_code == 200
    assert api.get("/api/v1/account", headers=bearer).status_code == 401
    assert api.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}).status_code == 200


def test_a_blocked_owners_photos_stay_private_to_others_and_other_owners_are_untouched(app, admin, owner, make_user):
    from webapp.extensions import db
    from webapp.models import User

    other = make_user(username="lee")
    lee_client = app.test_client()
    token = lee_client.post("/api/v1/auth/login", json={"identifier": "lee", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    from tests.fixtures.media import multipart

    body, content_type = multipart({"file": (make_jpeg(colour=(10, 200, 10)), "lee.jpg"), "is_public": "true"})
    lee_photo = lee_client.post("/api/v1/images", headers={"Authorization": f"Bearer {token}"}, data=body,
                                content_type=content_type).get_json()["id"]
    set_blocked(admin, owner, True)
    visitor = app.test_client()
    assert visitor.get(f"/i/{lee_photo}?size=thumb").status_code == 200
    assert visitor.get(f"/i/{owner.media_id}?size=thumb").status_code == 404
    with app.app_context():
        assert db.session.get(User, other).is_blocked is False
