"""Any instance serves any request, and a change made on one is seen on every other on the very next request.

Each test makes its change on one instance and checks it on the other at once, with no pause between: an
instance that answered from what it remembered would fail them. Before the change the other instance is
"warmed": asked a few times for what it may keep in memory (public sizes and originals, signed owner sizes)."""

from __future__ import annotations

import time

import pytest

from tests.cluster.clients import PASSWORD, web_session
from tests.cluster.people import TIMEOUT, Account, admin_of, call, put_on_new_plan, sign_up, signed_thumbnails
from tests.fixtures.accounts import csrf_token_from
from tests.fixtures.media import make_jpeg

WARM_UPS = 3
JSON = {"Accept": "application/json"}  # errors as JSON, with their code, instead of a page


@pytest.fixture(scope="module")
def admin(cluster) -> Account:
    return admin_of(cluster)


def browse(browser, url: str):
    """What a browser is answered at `url`, redirects not followed."""
    return browser.get(url, allow_redirects=False, timeout=TIMEOUT)


def public_photo(owner: Account, base: str, colour=(200, 30, 30)) -> str:
    uploaded = owner.upload(base, make_jpeg((96, 64), colour), is_public="true")
    assert uploaded.status_code == 201, uploaded.text
    return uploaded.json()["id"]


def warm(base: str, paths: list[str], headers: dict | None = None) -> float:
    """Ask `base` for each path a few times, so that whatever it keeps in memory it now has; returns when
    the first answer was asked for (what it remembered since runs out of time by itself from then on)."""
    started = time.monotonic()
    for _ in range(WARM_UPS):
        for path in paths:
            answer = call(base, "GET", path, headers=headers)
            assert answer.status_code == 200, (path, answer.status_code)
    return started


def assert_in_time(warmed_at: float) -> None:
    """A check made after the warmed memory ran out of time by itself proves nothing: say so."""
    from webapp.media.service import PUBLIC_BLOB_SECONDS

    assert time.monotonic() - warmed_at < PUBLIC_BLOB_SECONDS, "the checks came too late to test the memory"


def public_addresses(media_id: str) -> list[str]:
    return [f"/i/{media_id}?size=thumb", f"/i/{media_id}?size=small", f"/i/{media_id}", f"/i/{media_id}.jpg"]


# --- credentials made on one instance work on the other ------------------------------------------

def test_a_browser_session_from_one_instance_works_on_the_other(cluster, admin):
    person = sign_up(cluster.instances[0])
    browser = web_session(cluster.instances[0], person.username)
    for base in (cluster.instances[1], cluster.lb, cluster.instances[0]):
        settings = browse(browser, base + "/settings/")
        assert settings.status_code == 200 and person.username in settings.text, base
    # A form whose CSRF token came from instance 0 is accepted by instance 1, and the session it ends is
    # over on instance 0 too, even for its old cookie.
    cookie = "; ".join(f"{each.name}={each.value}" for each in browser.cookies)
    token = csrf_token_from(browse(browser, cluster.instances[0] + "/").text)
    logged_out = browser.post(cluster.instances[1] + "/logout", data={"csrf_token": token}, allow_redirects=False,
                              timeout=TIMEOUT)
    assert logged_out.status_code in (302, 303)
    assert call(cluster.instances[0], "GET", "/settings/", headers={"Cookie": cookie}).status_code in (302, 401)


def test_tokens_from_one_instance_refresh_on_the_other_and_a_reused_refresh_token_is_refused(cluster, admin):
    first, second = cluster.instances
    person = sign_up(first)
    assert person.get(second, "/api/v1/account").json()["username"] == person.username
    refreshed = call(second, "POST", "/api/v1/auth/refresh", json={"refresh_token": person.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    new_access = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    assert call(first, "GET", "/api/v1/account", headers=new_access).status_code == 200
    reused = call(first, "POST", "/api/v1/auth/refresh", json={"refresh_token": person.refresh_token})
    assert reused.status_code == 401 and reused.json()["error"]["code"] == "token_reused"
    # Reuse ends the whole login, on every instance: the pair instance 1 gave out stops too.
    for base in (second, first):
        assert call(base, "GET", "/api/v1/account", headers=new_access).status_code == 401, base
    again = call(second, "POST", "/api/v1/auth/refresh", json={"refresh_token": refreshed.json()["refresh_token"]})
    assert again.status_code == 401


def test_an_api_key_made_on_one_instance_works_on_the_other(cluster, admin):
    person = sign_up(cluster.instances[1])
    _key_id, key = person.api_key(cluster.instances[1])
    for base in (cluster.instances[0], cluster.lb):
        answer = call(base, "GET", "/api/v1/account", headers={"X-API-Key": key})
        assert answer.status_code == 200 and answer.json()["username"] == person.username, base
    uploaded = call(cluster.instances[0], "POST", "/api/v1/images", headers={"X-API-Key": key},
                    files={"file": ("key.jpg", make_jpeg(), "image/jpeg")})
    assert uploaded.status_code == 201, uploaded.text


# --- rate limits are counted once for the whole cluster -------------------------------------------

def failed_logins(cluster, attempts: int, identifier, address) -> list:
    """Wrong passwords sent to the instances in turn, from the client address `address(n)` (the instances
    trust one proxy, so X-Forwarded-For is the address when a request comes straight to them)."""
    return [call(cluster.instances[n % len(cluster.instances)], "POST", "/api/v1/auth/login",
                 headers={"X-Forwarded-For": address(n)},
                 json={"identifier": identifier(n), "password": "not the password at all"})
            for n in range(attempts)]


def test_failed_logins_to_one_account_alternating_between_instances_meet_the_one_instance_limit(cluster, admin):
    """tests/test_accounts_api.py finds five failures answered 401 and the sixth 429 on one instance, from
    a new address each time; the cluster counts the same, whichever instance each attempt reaches."""
    person = sign_up(cluster.instances[0])
    answers = failed_logins(cluster, 7, lambda n: person.username, lambda n: f"203.0.113.{n + 1}")
    assert [answer.status_code for answer in answers] == [401] * 5 + [429, 429]
    assert all(int(answer.headers["Retry-After"]) > 0 for answer in answers[5:])
    refused = call(cluster.instances[1], "POST", "/api/v1/auth/login", headers={"X-Forwarded-For": "203.0.113.99"},
                   json={"identifier": person.username, "password": PASSWORD})
    assert refused.status_code == 429  # the right password waits too, on every instance


def test_failed_logins_from_one_address_alternating_between_instances_meet_the_one_instance_limit(cluster, admin):
    """Ten attempts a minute from one address are answered and the eleventh refused (LOGIN_PER_ADDRESS in
    webapp/auth/limits.py, as one instance counts them); the cluster counts the same."""
    answers = failed_logins(cluster, 12, lambda n: f"nobody{n}", lambda n: "198.51.100.7")
    assert [answer.status_code for answer in answers] == [401] * 10 + [429, 429]
    elsewhere = failed_logins(cluster, 1, lambda n: "nobody", lambda n: "198.51.100.8")
    assert elsewhere[0].status_code == 401  # another address has its own count


# --- one upload, seen everywhere --------------------------------------------------------------------

def test_an_upload_through_one_instance_is_listed_and_shown_by_every_instance(cluster, admin):
    person = sign_up(cluster.instances[0])
    media_id = public_photo(person, cluster.instances[0])
    browser = web_session(cluster.lb, person.username)
    for base in (cluster.lb, cluster.instances[1]):
        listed = person.get(base, "/api/v1/images")
        assert listed.status_code == 200 and [item["id"] for item in listed.json()["items"]] == [media_id], base
        gallery = browse(browser, base + "/")
        assert gallery.status_code == 200 and f'data-id="{media_id}"' in gallery.text, base
        thumbnails = signed_thumbnails(gallery.text, media_id)
        assert thumbnails, "the owner's gallery shows no signed thumbnail"
        thumbnail = call(cluster.instances[1], "GET", thumbnails[0])
        assert thumbnail.status_code == 200 and thumbnail.content[8:12] == b"WEBP"
    assert call(cluster.instances[1], "GET", f"/i/{media_id}?size=thumb").status_code == 200


# --- changes are seen everywhere on the next request ---------------------------------------------

def test_a_photo_made_private_on_one_instance_stops_answering_on_the_other_at_once(cluster, admin):
    owner = sign_up(cluster.instances[0])
    media_id = public_photo(owner, cluster.instances[0])
    warmed_at = warm(cluster.instances[1], public_addresses(media_id))
    made_private = owner.patch(cluster.instances[0], f"/api/v1/images/{media_id}", json={"is_public": False})
    assert made_private.status_code == 200 and made_private.json()["is_public"] is False
    for path in public_addresses(media_id):
        assert call(cluster.instances[1], "GET", path).status_code == 404, path
    assert_in_time(warmed_at)
    assert owner.get(cluster.instances[1], f"/api/v1/images/{media_id}").json()["is_public"] is False


def test_a_share_link_revoked_on_one_instance_answers_410_on_the_other_at_once(cluster, admin):
    owner = sign_up(cluster.instances[0])
    media_id = public_photo(owner, cluster.instances[0])
    link = owner.post(cluster.instances[0], "/api/v1/shares", json={"image_id": media_id}).json()
    addresses = [f"/s/{link['token']}", f"/s/{link['token']}/p/{media_id}/thumb",
                 f"/s/{link['token']}/p/{media_id}/small"]
    warmed_at = warm(cluster.instances[1], addresses)
    revoked = owner.patch(cluster.instances[0], f"/api/v1/shares/{link['id']}", json={"revoked": True})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    for path in addresses:
        assert call(cluster.instances[1], "GET", path).status_code == 410, path
    assert_in_time(warmed_at)
    page = call(cluster.instances[1], "GET", addresses[0])
    assert "This link was withdrawn" in page.text


def test_a_user_blocked_on_one_instance_is_refused_everywhere_on_the_other_at_once(cluster, admin):
    first, second = cluster.instances
    person = sign_up(first)
    _key_id, key = person.api_key(first)
    browser = web_session(first, person.username)
    media_id = public_photo(person, first)
    link = person.post(first, "/api/v1/shares", json={"image_id": media_id}).json()
    shared = [f"/s/{link['token']}", f"/s/{link['token']}/p/{media_id}/thumb"]
    warmed_at = warm(second, public_addresses(media_id) + shared)
    warm(second, ["/api/v1/account"], person.bearer)
    warm(second, ["/api/v1/account"], {"X-API-Key": key})
    assert browse(browser, second + "/settings/").status_code == 200
    blocked = admin.patch(first, f"/api/v1/admin/users/{person.id}", json={"is_blocked": True})
    assert blocked.status_code == 200, blocked.text
    assert browse(browser, second + "/settings/").status_code in (302, 401)
    assert person.get(second, "/api/v1/account").status_code == 401
    assert call(second, "GET", "/api/v1/account", headers={"X-API-Key": key}).status_code == 401
    for path in public_addresses(media_id):
        assert call(second, "GET", path).status_code == 404, path
    for path in shared:
        assert call(second, "GET", path).status_code == 410, path
    assert_in_time(warmed_at)
    refresh = call(second, "POST", "/api/v1/auth/refresh", json={"refresh_token": person.refresh_token})
    assert refresh.status_code == 401


def test_an_api_key_revoked_on_one_instance_is_refused_on_the_other_at_once(cluster, admin):
    person = sign_up(cluster.instances[1])
    key_id, key = person.api_key(cluster.instances[1])
    warmed_at = warm(cluster.instances[1], ["/api/v1/account", "/api/v1/images"], {"X-API-Key": key})
    assert person.delete(cluster.instances[0], f"/api/v1/api-keys/{key_id}").status_code == 204
    refused = call(cluster.instances[1], "GET", "/api/v1/account", headers={"X-API-Key": key})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "api_key_invalid"
    assert_in_time(warmed_at)
    upload = call(cluster.instances[1], "POST", "/api/v1/images", headers={"X-API-Key": key},
                  files={"file": ("late.jpg", make_jpeg(), "image/jpeg")})
    assert upload.status_code == 401


def test_a_photo_deleted_on_one_instance_stops_its_signed_and_public_sizes_on_the_other_at_once(cluster, admin):
    first, second = cluster.instances
    owner = sign_up(first)
    media_id = public_photo(owner, first)
    browser = web_session(first, owner.username)
    thumbnails = signed_thumbnails(browse(browser, first + "/").text, media_id)
    assert thumbnails, "the owner's gallery shows no signed thumbnail"
    warmed_at = warm(second, thumbnails + public_addresses(media_id))
    assert owner.delete(first, f"/api/v1/images/{media_id}").status_code == 204
    for path in thumbnails + public_addresses(media_id):
        assert call(second, "GET", path).status_code == 404, path
    assert_in_time(warmed_at)


# --- the admin's settings and plans too ------------------------------------------------------------

def test_a_hotlink_allow_list_set_on_one_instance_holds_on_the_other_at_once(cluster, admin):
    first, second = cluster.instances
    owner = sign_up(first)
    thumbnail = f"/i/{public_photo(owner, first)}?size=thumb"
    forum = {"Referer": "https://forum.example/thread/1"}
    warmed_at = warm(second, [thumbnail], forum)  # an empty list lets every site show public photos
    changed = call(first, "PUT", "/api/v1/admin/settings", headers=admin.bearer,
                   json={"hotlink_allowed_sites": ["friends.example"]})
    assert changed.status_code == 200, changed.text
    try:
        refused = call(second, "GET", thumbnail, headers={**forum, **JSON})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "hotlink_refused"
        assert call(second, "GET", thumbnail, headers={"Referer": "https://friends.example/"}).status_code == 200
        assert_in_time(warmed_at)
    finally:
        call(first, "PUT", "/api/v1/admin/settings", headers=admin.bearer, json={"hotlink_allowed_sites": []})


def test_a_plans_bandwidth_limit_set_on_one_instance_holds_on_the_other_at_once(cluster, admin):
    first, second = cluster.instances
    owner = sign_up(first)
    plan_id = put_on_new_plan(admin, first, owner)
    addresses = public_addresses(public_photo(owner, first))
    warmed_at = warm(second, addresses)
    limited = admin.patch(first, f"/api/v1/admin/plans/{plan_id}", json={"bandwidth_bytes_per_month": 1})
    assert limited.status_code == 200, limited.text
    for path in addresses:
        refused = call(second, "GET", path, headers=JSON)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "bandwidth_exceeded", path
    assert_in_time(warmed_at)


def test_an_owner_moved_to_a_smaller_plan_on_one_instance_is_held_to_it_on_the_other_at_once(cluster, admin):
    first, second = cluster.instances
    owner = sign_up(first)
    addresses = public_addresses(public_photo(owner, first))
    small = admin.post(first, "/api/v1/admin/plans", json={"name": f"small-{owner.username}",
                                                          "bandwidth_bytes_per_month": 1})
    assert small.status_code == 201, small.text
    warmed_at = warm(second, addresses)
    moved = admin.patch(first, f"/api/v1/admin/users/{owner.id}", json={"plan": small.json()["id"]})
    assert moved.status_code == 200, moved.text
    for path in addresses:
        refused = call(second, "GET", path, headers=JSON)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "bandwidth_exceeded", path
    assert_in_time(warmed_at)
