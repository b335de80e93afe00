"""Hotlink protection: the admin lists the sites whose pages may show public photos; pages elsewhere get 403,
while this server's own pages, requests without a Referer and the photo's owner are always served."""

from __future__ import annotations

import re

import pytest

from tests.fixtures.accounts import csrf_token_from
from tests.fixtures.media import make_jpeg

HTMX = {"HX-Request": "true"}
FORUM = "https://forum.example.com/t/holiday-photos/42"


@pytest.fixture
def admin_client(app, make_user, kim):
    """A browser logged in as the admin "root" through the real login form."""
    from tests.fixtures.accounts import AuthActions

    make_user(username="root", role="admin")
    client = app.test_client()
    AuthActions(client).login("root")
    return client


def allow_sites(app, *sites: str) -> None:
    """Set the list as the admin form does (this process applies it at once)."""
    from webapp.extensions import db
    from webapp.media import hotlinks
    from webapp.models import User

    with app.test_request_context():
        root = db.session.scalar(db.select(User).where(User.role == "admin")) or db.session.get(User, 1)
        hotlinks.save_allowed_sites(root, "\n".join(sites))


@pytest.fixture
def photo(kim) -> dict:
    """One of kim's public photos, with a saved version (a transformation)."""
    body = kim.upload(make_jpeg(), "beach.jpg", is_public="true").get_json()
    saved = kim.test_client.post(f"/api/v1/images/{body['id']}/transform", headers=kim.headers,
                                 json={"transformations": {"resize": {"width": 32}}})
    assert saved.status_code == 201, saved.get_json()
    body["saved"] = saved.get_json()["url"].removeprefix("http://shoebox.test")
    return body


def photo_urls(photo: dict) -> list[str]:
    return [f"/i/{photo['id']}.jpg", f"/i/{photo['id']}", f"/i/{photo['id']}?size=thumb",
            f"/i/{photo['id']}?size=large", photo["saved"]]


def fetch_all(client, photo: dict, referer: str | None) -> dict[str, int]:
    headers = {"Referer": referer} if referer is not None else {}
    return {url: client.get(url, headers=headers).status_code for url in photo_urls(photo)}


def test_an_allowed_site_may_show_every_form_of_a_public_photo(app, client, photo):
    allow_sites(app, "forum.example.com")
    assert set(fetch_all(client, photo, FORUM).values()) == {200}


def test_a_subdomain_of_an_allowed_site_may_show_it_too(app, client, photo):
    allow_sites(app, "example.com")
    assert set(fetch_all(client, photo, FORUM).values()) == {200}
    assert set(fetch_all(client, photo, "http://www.example.com/").values()) == {200}


@pytest.mark.parametrize("referer", ["https://elsewhere.net/page", "https://notforum.example.com/",
                                     "https://forum.example.com.evil.net/"])
def test_other_sites_get_403_with_a_sentence_that_says_why(app, client, photo, referer):
    allow_sites(app, "forum.example.com")
    assert set(fetch_all(client, photo, referer).values()) == {403}
    response = client.get(f"/i/{photo['id']}?size=medium", headers={"Referer": referer, "Accept": "application/json"})
    error = response.get_json()["error"]
    assert error["code"] == "hotlink_refused"
    host = re.match(r"https://([^/]+)/", referer).group(1)
    assert f"may not be shown on {host}" in error["message"]


def test_a_request_without_a_referer_is_always_served(app, client, photo):
    allow_sites(app, "forum.example.com")
    assert set(fetch_all(client, photo, None).values()) == {200}
    assert set(fetch_all(client, photo, "").values()) == {200}


def test_this_servers_own_pages_may_always_show_the_photo(app, client, photo):
    allow_sites(app, "forum.example.com")
    embed_page = f"http://shoebox.test/embed/{photo['id']}"
    assert set(fetch_all(client, photo, embed_page).values()) == {200}


def test_the_owner_is_served_even_from_another_site(app, kim, photo):
    allow_sites(app, "forum.example.com")
    for url in photo_urls(photo):
        assert kim.get(url, headers={"Referer": "https://elsewhere.net/"}).status_code == 200, url


def test_an_empty_list_lets_every_site_show_public_photos(client, photo):
    assert set(fetch_all(client, photo, "https://elsewhere.net/").values()) == {200}


def test_a_private_photo_stays_404_from_another_site(app, client, kim):
    allow_sites(app, "forum.example.com")
    private = kim.upload(make_jpeg(), "secret.jpg", is_public="false").get_json()
    assert client.get(f"/i/{private['id']}", headers={"Referer": "https://elsewhere.net/"}).status_code == 404


def test_the_list_is_read_at_most_once_in_a_while_and_never_without_a_referer(app, client, photo, monkeypatch):
    from webapp import instance

    allow_sites(app, "forum.example.com")
    reads = []
    real_get = instance.get
    monkeypatch.setattr(instance, "get", lambda key: reads.append(key) or real_get(key))
    for _ in range(10):
        client.get(f"/i/{photo['id']}?size=thumb")
        client.get(f"/i/{photo['id']}?size=thumb", headers={"Referer": "http://shoebox.test/"})
    assert "hotlink_allowed_sites" not in reads
    for _ in range(10):
        client.get(f"/i/{photo['id']}?size=thumb", headers={"Referer": FORUM})
        client.get(f"/i/{photo['id']}?size=thumb", headers={"Referer": "https://elsewhere.net/"})
    assert reads.count("hotlink_allowed_sites") <= 1


# --- the admin's setting ------------------------------------------------------------------------

def test_the_admin_sets_the_list_through_the_form_and_it_is_audited(app, admin_client, client, photo):
    from webapp import instance
    from webapp.models import AuditEvent

    page = admin_client.get("/admin/settings").get_data(as_text=True)
    assert 'id="hotlinks"' in page and 'name="hotlink_allowed_sites"' in page
    response = admin_client.post("/admin/settings/hotlinks", data={
        "csrf_token": csrf_token_from(page),
        "hotlink_allowed_sites": "Forum.Example.com\n\n  blog.example.org  \nforum.example.com\n"})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/settings#hotlinks"
    page = admin_client.get("/admin/settings").get_data(as_text=True)
    assert "Embedding settings saved." in page
    assert re.search(r"<textarea[^>]*>\s*forum\.example\.com\nblog\.example\.org</textarea>", page)
    with app.app_context():
        from webapp.extensions import db

        assert instance.get("hotlink_allowed_sites") == ["forum.example.com", "blog.example.org"]
        [event] = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "settings_changed")).all()
        assert event.target == "hotlinks"
        assert event.details["changes"]["hotlink_allowed_sites"] == [[], ["forum.example.com", "blog.example.org"]]
    assert client.get(f"/i/{photo['id']}", headers={"Referer": "https://elsewhere.net/"}).status_code == 403
    assert client.get(f"/i/{photo['id']}", headers={"Referer": FORUM}).status_code == 200


def test_the_form_without_its_csrf_token_changes_nothing(app, admin_client):
    from webapp import instance

    response = admin_client.post("/admin/settings/hotlinks", data={"hotlink_allowed_sites": "forum.example.com"})
    assert response.status_code == 400
    with app.app_context():
        assert instance.get("hotlink_allowed_sites") == []


def test_someone_who_is_not_an_admin_gets_404(app, kim):
    response = kim.test_client.post("/admin/settings/hotlinks", data={"hotlink_allowed_sites": "evil.net"})
    assert response.status_code == 404


@pytest.mark.parametrize("bad", ["https://forum.example.com/", "*.example.com", "example.com:8080",
                                 "exa mple.com", "-bad.example.com", "forum..example.com", "forum.example.com/t/1"])
def test_what_is_not_a_host_name_is_refused_beside_the_field(app, admin_client, bad):
    from webapp import instance

    page = admin_client.get("/admin/settings").get_data(as_text=True)
    response = admin_client.post("/admin/settings/hotlinks", data={"hotlink_allowed_sites": f"good.example.com\n{bad}"},
                                 headers={**HTMX, "X-CSRFToken": csrf_token_from(page)})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    errors = re.search(r'<ul class="field-errors" id="hotlink_allowed_sites-errors">(.*?)</ul>', html, re.S)
    assert errors, "the error is not beside the field"
    assert "is not a host name" in errors.group(1) and bad.strip() in errors.group(1).replace("&#34;", '"')
    assert 'aria-invalid="true"' in html
    with app.app_context():
        assert instance.get("hotlink_allowed_sites") == []


def test_a_bad_host_name_names_the_field_in_the_service(app):
    from webapp.errors import InvalidInput
    from webapp.media import hotlinks

    with app.app_context(), pytest.raises(InvalidInput) as refused:
        hotlinks.parse_sites("forum.example.com\nhttps://blog.example.org/")
    assert refused.value.field == "hotlink_allowed_sites"
    assert "https://blog.example.org/" in refused.value.message


def test_an_international_name_is_kept_in_the_form_browsers_send():
    from webapp.media import hotlinks

    assert hotlinks.parse_sites("Bücher.example\n") == ["xn--bcher-kva.example"]


def test_german_visitors_are_told_why_in_german(app, client, photo):
    allow_sites(app, "forum.example.com")
    response = client.get(f"/i/{photo['id']}", headers={"Referer": "https://elsewhere.net/", "Accept-Language": "de",
                                                        "Accept": "application/json"})
    assert response.status_code == 403
    assert "elsewhere.net" in response.get_json()["error"]["message"]
    assert "may not be shown" not in response.get_json()["error"]["message"]
