"""Deletion links (ShareX's DeletionURL): every API upload answers with a secret link; opening it asks, only a
POST deletes, and a used or wrong link is a 404. The link is the whole authority, so it needs no CSRF token."""

from __future__ import annotations

import hashlib
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.media import make_jpeg, media_count, stored_keys

LINK = re.compile(r"^http://shoebox\.test/delete/([A-Za-z0-9_-]{43})$")


def storage_used(app, user_id) -> int:
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        return db.session.get(User, user_id).storage_used


def deleted_events(app, media_id) -> int:
    from webapp.extensions import db
    from webapp.models import AuditEvent

    with app.app_context():
        return len(db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "media_deleted",
                                                                  AuditEvent.target == f"media:{media_id}")).all())


@pytest.fixture
def uploaded(app, kim):
    """kim's upload through the API: (its JSON, the path of its deletion link)."""
    created = kim.upload(make_jpeg((640, 480)), name="holiday.jpg")
    assert created.status_code == 201
    body = created.get_json()
    return body, urlsplit(body["deletion_url"]).path


def test_an_upload_answers_with_a_secret_link_of_which_only_a_digest_is_stored(app, uploaded):
    from webapp.extensions import db
    from webapp.models import Media

    body, path = uploaded
    secret = LINK.match(body["deletion_url"]).group(1)  # 43 URL-safe characters: 256 bits
    with app.app_context():
        stored = db.session.get(Media, body["id"]).deletion_key_hash
    assert stored == hashlib.sha256(secret.encode()).hexdigest() and secret not in stored


def test_every_upload_gets_its_own_link(kim):
    links = {kim.upload(make_jpeg()).get_json()["deletion_url"] for _ in range(3)}
    assert len(links) == 3


def test_opening_the_link_asks_and_never_deletes(app, client, uploaded):
    body, path = uploaded
    page = client.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "holiday.jpg" in html and "Delete for good" in html
    assert f'action="{path}"' in html and 'method="post"' in html
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert '<meta name="robots" content="noindex, nofollow">' in html
    thumbnail = re.search(r'class="deletion-link-preview">\s*<img src="([^"]+)"', html).group(1)
    shown = client.get(thumbnail)  # the photo is private, yet its thumbnail shows to whoever holds the link
    assert shown.status_code == 200 and shown.headers["Content-Type"].startswith("image/")
    shown.close()
    assert client.head(path).status_code == 200
    for _ in range(3):
        client.get(path)
    assert media_count(app) == 1


def test_a_post_deletes_gives_the_storage_back_and_uses_the_link_up(app, client, kim, uploaded):
    body, path = uploaded
    assert storage_used(app, kim.id) == body["size"]
    done = client.post(path)  # no CSRF token, no session: the secret is the authority
    assert done.status_code == 200
    assert "holiday.jpg and every size of it are gone" in done.get_data(as_text=True)
    assert done.headers["Cache-Control"] == "no-store"
    assert media_count(app) == 0 and stored_keys(app) == []
    assert storage_used(app, kim.id) == 0
    assert deleted_events(app, body["id"]) == 1
    assert kim.get(f"/api/v1/images/{body['id']}").status_code == 404
    for used in (client.get(path), client.post(path)):
        assert used.status_code == 404 and used.headers["Cache-Control"] == "no-store"
        assert "deleted already" in used.get_data(as_text=True)
    assert storage_used(app, kim.id) == 0


@pytest.mark.parametrize("secret", ["A" * 43, "short", "A" * 44, "%00" * 5])
def test_a_wrong_link_is_a_404_and_deletes_nothing(app, client, uploaded, secret):
    assert client.get(f"/delete/{secret}").status_code == 404
    assert client.post(f"/delete/{secret}").status_code == 404
    assert media_count(app) == 1


def test_a_cross_site_form_post_can_only_use_a_link_its_author_already_has(app, client, kim, uploaded, auth):
    # A forged post from another site, sent by the owner's own logged-in browser, carries the owner's cookie;
    # but the page never looks at it. Only the secret in the path decides, so the forger can delete no more
    # than the secret they already hold lets anyone delete directly: CSRF protection would add nothing.
    auth.login("kim")
    assert client.get("/settings/").status_code == 200  # the browser is signed in as kim
    forged = {"Origin": "https://evil.example", "Referer": "https://evil.example/page"}
    other = kim.upload(make_jpeg(), name="other.jpg").get_json()
    assert client.post(f"/delete/{'B' * 43}", headers=forged).status_code == 404
    assert client.post(f"/delete/{other['id']}", headers=forged).status_code == 404  # a photo id is no secret
    assert media_count(app) == 2


def test_a_link_is_rate_limited_per_address(app, client, make_user):
    make_user()  # an instance with no account sends every page to its setup
    statuses = [client.get(f"/delete/{'C' * 43}").status_code for _ in range(61)]
    assert statuses[:60] == [404] * 60 and statuses[60] == 429


def test_fifty_posts_at_once_delete_once_and_give_the_storage_back_once(live_server):
    from webapp.auth import service

    app = live_server.app
    with app.app_context():
        kim_id = service.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True).id
    session = requests.Session()
    token = session.post(f"{live_server.url}/api/v1/auth/login",
                         json={"identifier": "kim", "password": STRONG_PASSWORD}).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    kept = session.post(f"{live_server.url}/api/v1/images", headers=bearer,
                        files={"file": ("kept.jpg", make_jpeg((300, 200)))}).json()
    doomed = session.post(f"{live_server.url}/api/v1/images", headers=bearer,
                          files={"file": ("doomed.jpg", make_jpeg((320, 200), (10, 200, 10)))}).json()
    assert storage_used(app, kim_id) == kept["size"] + doomed["size"]
    link = live_server.url + urlsplit(doomed["deletion_url"]).path
    start = threading.Barrier(50)

    def post(_):
        start.wait()
        return requests.post(link, timeout=30).status_code

    with ThreadPoolExecutor(50) as pool:
        statuses = sorted(pool.map(post, range(50)))
    assert statuses == [200] + [404] * 49
    assert storage_used(app, kim_id) == kept["size"]
    assert deleted_events(app, doomed["id"]) == 1
    listed = session.get(f"{live_server.url}/api/v1/images", headers=bearer).json()["items"]
    assert [p["id"] for p in listed] == [kept["id"]]


def test_an_upload_without_a_file_is_refused_by_name_not_a_server_error(app, kim):
    from webapp.errors import InvalidInput
    from webapp.extensions import db
    from webapp.media import deletion
    from webapp.models import User

    with app.test_request_context():
        with pytest.raises(InvalidInput) as refused:
            deletion.receive_api_upload(db.session.get(User, kim.id), None, None)
    assert refused.value.field == "file" and refused.value.code == "missing_file"
    assert media_count(app) == 0
