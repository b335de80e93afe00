"""Share links as an attacker meets them: every /s/<token> URL goes through one door, and in no state of
a link does a photo's byte or fact leave by another way. (Races are in test_share_races.py.)"""

from __future__ import annotations

import io
import os
import re
import time
from dataclasses import dataclass, field

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.media import make_flat_png, make_jpeg, make_video, multipart
from tests.fixtures.shares import (Link, change_link, csrf_of, delete_link, expire_link, link_row, looks_like_image,
                                   make_link, og_image, open_link, visit_cookie)

PASSWORD = "tangerine-lighthouse-42"


# --- the world: kim's photos and album, and lee's photo -------------------------------------------

class Person:
    """An API client for one account: upload, transform, get, delete."""

    def __init__(self, app, user_id: int, name: str):
        self.id, self.client = user_id, app.test_client()
        token = self.client.post("/api/v1/auth/login", json={"identifier": name, "password": STRONG_PASSWORD}) \
            .get_json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def upload(self, colour, name="photo.jpg") -> str:
        body, content_type = multipart({"file": (make_jpeg(colour=colour), name)})
        response = self.client.post("/api/v1/images", headers=self.headers, data=body, content_type=content_type)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    def save_version(self, media_id: str) -> str:
        """A saved transformation of the photo; returns its URL name (<hash>.png)."""
        response = self.client.post(f"/api/v1/images/{media_id}/transform", headers=self.headers,
                                    json={"transformations": {"resize": {"width": 32}, "format": "png"}})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["url"].rsplit("/", 1)[1]

    def bytes_of(self, media_id: str, saved: str) -> list[bytes]:
        """Every form of a photo that a link could carry: original, each size, the saved version."""
        paths = [f"/i/{media_id}", f"/i/{media_id}/t/{saved}"] + \
            [f"/i/{media_id}?size={size}" for size in SIZES]
        return [self.client.get(path, headers=self.headers).data for path in paths]

    def call(self, method: str, path: str, **kwargs):
        return self.client.open(path, method=method, headers=self.headers, **kwargs)


@dataclass
class World:
    """kim's album of two photos, a third photo of kim's in no link, and a photo of lee's; each with a saved version."""

    app: object
    kim: Person
    lee: Person
    album: str
    in_album: list[str]
    outside: str
    others: str
    saved: dict[str, str] = field(default_factory=dict)
    forms: dict[str, list[bytes]] = field(default_factory=dict)

    def share(self, **options) -> Link:
        """A link of kim's to the album (by default), with `options`."""
        if not {"media_id", "media_ids", "album_id"} & set(options):
            options["album_id"] = self.album
        return make_link(self.app, self.kim.id, **options)

    def every_id(self) -> list[str]:
        return [*self.in_album, self.outside, self.others]


@pytest.fixture
def world(app, make_user):
    kim_id, lee_id = make_user(username="kim"), make_user(username="lee")
    kim, lee = Person(app, kim_id, "kim"), Person(app, lee_id, "lee")
    in_album = [kim.upload((200, 40 * n, 10), f"holiday{n}.jpg") for n in range(2)]
    outside, others = kim.upload((10, 200, 10), "private.jpg"), lee.upload((10, 10, 200), "lees.jpg")
    album = kim.call("POST", "/api/v1/albums", json={"title": "Holiday"}).get_json()["id"]
    assert kim.call("POST", f"/api/v1/albums/{album}/images", json={"image_ids": in_album}).status_code == 200
    made = World(app, kim, lee, album, in_album, outside, others)
    for owner, media_id in ((kim, in_album[0]), (kim, outside), (lee, others)):
        made.saved[media_id] = owner.save_version(media_id)
        made.forms[media_id] = owner.bytes_of(media_id, made.saved[media_id])
    return made


# --- the routes: one line each --------------------------------------------------------------------

SIZES = ("thumb", "small", "medium", "large")


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str  # {token}, {photo} and {saved} are filled in

    @property
    def names_a_photo(self) -> bool:
        return "{photo}" in self.path


# Every URL under /s/<token> that carries a photo's bytes or facts. A new one is one more line here.
ROUTES = [
    Route("page", "GET", "/s/{token}"),
    Route("more", "GET", "/s/{token}/more"),
    Route("viewer", "GET", "/s/{token}/p/{photo}"),
    *[Route(size, "GET", f"/s/{{token}}/p/{{photo}}/{size}") for size in SIZES],
    Route("original", "GET", "/s/{token}/p/{photo}/original"),
    Route("video", "GET", "/s/{token}/p/{photo}/video"),  # the photo is a video where the route needs one
    Route("saved version", "GET", "/s/{token}/p/{photo}/t/{saved}"),
    Route("facts", "GET", "/s/{token}/p/{photo}.json"),
    Route("zip", "GET", "/s/{token}/zip"),
    Route("preview", "GET", "/s/{token}/preview.webp"),
    Route("guest upload", "POST", "/s/{token}/upload"),
]
PHOTO_ROUTES = [route for route in ROUTES if route.names_a_photo]
LINK_ROUTES = [route for route in ROUTES if not route.names_a_photo and route.method == "GET"]
NO_SUCH_VERSION = "0" * 20 + ".png"


def send(client, route: Route, token: str, photo: str, saved: str = NO_SUCH_VERSION):
    path = route.path.format(token=token, photo=photo, saved=saved)
    if route.method == "POST":
        body, content_type = multipart({"csrf_token": csrf_of(client), "name": "Mallory",
                                        "file": (make_jpeg(colour=(1, 2, 3)), "mine.jpg")})
        return client.post(path, data=body, content_type=content_type)
    # Buffered: a streamed zip left open keeps its request's context (and `g`) for the next request.
    return client.open(path, method=route.method, buffered=True)


def leaks(response, world: World, allowed: tuple[str, ...] = ()) -> list[str]:
    """What a refused answer gives away: a photo's bytes, or the id of a photo it may not name."""
    body, found = response.data, []
    if looks_like_image(body) or response.content_type.startswith(("image/", "application/zip")):
        found.append(f"an image ({response.content_type})")
    text = body.decode("utf-8", "replace")
    found += [f"the id {media_id}" for media_id in world.every_id() if media_id not in allowed and media_id in text]
    found += ["a photo's bytes" for forms in world.forms.values() for data in forms if data in body]
    return found


def test_the_matrix_covers_every_preset_size():
    from webapp.media import service

    assert set(SIZES) == set(service.PRESETS)


def test_the_matrix_covers_every_url_under_a_token(app):
    """A new route under /s/<token> must get its line in ROUTES (the password and Open form, which carries
    no photo, is what sets up the states below)."""
    served = {(method, rule.rule) for rule in app.url_map.iter_rules() if rule.rule.startswith("/s/<token>")
              for method in rule.methods - {"HEAD", "OPTIONS"}} - {("POST", "/s/<token>")}
    covered = {(route.method, re.sub(rf"/({'|'.join(SIZES)})$", "/<size>",
                                     route.path.format(token="<token>", photo="<media_id>", saved="<name>")))
               for route in ROUTES}
    assert served <= covered, f"not in the matrix: {sorted(served - covered)}"


def test_every_route_of_the_matrix_serves_an_open_link(world, client):
    """The other cells only mean something if each route does work when the door is open (the video route
    with a video of the album: it plays videos only)."""
    link = world.share(allow_upload=True)
    photo, video = world.in_album[0], _video_in_album(world)
    answers = {route.name: send(client, route, link.token, video if route.name == "video" else photo,
                                world.saved[photo]).status_code for route in ROUTES}
    assert answers == {route.name: 201 if route.method == "POST" else 200 for route in ROUTES}


def _video_in_album(world) -> str:
    body, content_type = multipart({"file": (make_video(), "clip.mp4")})
    sent = world.kim.client.post("/api/v1/images", headers=world.kim.headers, data=body, content_type=content_type)
    video = sent.get_json()["id"]
    assert world.kim.call("POST", f"/api/v1/albums/{world.album}/images", json={"image_ids": [video]}).status_code == 200
    return video


# --- link states × every route ----------------------------------------------------------------------

@dataclass(frozen=True)
class Refusal:
    status: int
    heading: str | None = None  # what the page says, for the states a person must understand
    page_status: int | None = None  # the page itself answers otherwise (the password form, the Open button)


def _no_password_yet(world, client):
    return world.share(password=PASSWORD, allow_upload=True).token


def _wrong_password(world, client):
    link = world.share(password=PASSWORD, allow_upload=True)
    assert open_link(client, link, "tangerine-lighthouse-43").status_code == 401
    return link.token


def _not_opened_yet(world, client):
    return world.share(max_views=5, allow_upload=True).token


def _another_links_visit(world, client):
    """A visitor who gave the (same) password of link A sends A's visit to link B, by hand."""
    first, second = world.share(password=PASSWORD), world.share(password=PASSWORD, allow_upload=True)
    assert open_link(client, first, PASSWORD).status_code == 303
    client.set_cookie("shoebox_visit", visit_cookie(client, first), path=second.url)
    return second.token


def _another_links_visit_on_a_limited_link(world, client):
    first, second = world.share(max_views=5), world.share(max_views=5, allow_upload=True)
    assert open_link(client, first).status_code == 303
    client.set_cookie("shoebox_visit", visit_cookie(client, first), path=second.url)
    return second.token


def _expired(world, client):
    link = world.share(allow_upload=True)
    expire_link(world.app, link)
    return link.token


def _expired_during_a_visit(world, client):
    link = world.share(allow_upload=True)
    assert client.get(link.url).status_code == 200
    expire_link(world.app, link)
    return link.token


def _revoked(world, client):
    link = world.share(allow_upload=True)
    change_link(world.app, link, revoked=True)
    return link.token


def _revoked_during_a_visit(world, client):
    link = world.share(password=PASSWORD, allow_upload=True)
    assert open_link(client, link, PASSWORD).status_code == 303
    change_link(world.app, link, revoked=True)
    return link.token


def _used_up(world, client):
    link = world.share(max_views=1, allow_upload=True)
    assert open_link(world.app.test_client(), link).status_code == 303  # someone else had the one view
    return link.token


def _deleted(world, client):
    link = world.share(allow_upload=True)
    delete_link(world.app, link)
    return link.token


def _one_character_off(world, client):
    token = world.share(allow_upload=True).token
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def _photo_link_whose_photo_was_deleted(world, client):
    link = world.share(media_id=world.in_album[0])
    assert world.kim.call("DELETE", f"/api/v1/images/{world.in_album[0]}").status_code == 204
    return link.token


LINK_STATES = [
    pytest.param(_no_password_yet, Refusal(401, page_status=401), id="no-password-yet"),
    pytest.param(_wrong_password, Refusal(401, page_status=401), id="wrong-password"),
    pytest.param(_not_opened_yet, Refusal(403, page_status=200), id="not-opened-yet"),
    pytest.param(_another_links_visit, Refusal(401, page_status=401), id="another-links-visit"),
    pytest.param(_another_links_visit_on_a_limited_link, Refusal(403, page_status=200),
                 id="another-links-visit-limited"),
    pytest.param(_expired, Refusal(410, "This link has expired"), id="expired"),
    pytest.param(_expired_during_a_visit, Refusal(410, "This link has expired"), id="expired-during-visit"),
    pytest.param(_revoked, Refusal(410, "This link was withdrawn"), id="revoked"),
    pytest.param(_revoked_during_a_visit, Refusal(410, "This link was withdrawn"), id="revoked-during-visit"),
    pytest.param(_used_up, Refusal(410, "This link has been used up"), id="used-up"),
    pytest.param(_deleted, Refusal(404, "There is nothing at this link"), id="deleted"),
    pytest.param(_one_character_off, Refusal(404, "There is nothing at this link"), id="token-one-char-off"),
    pytest.param(_photo_link_whose_photo_was_deleted, Refusal(404, "There is nothing at this link"),
                 id="photo-deleted-under-photo-link"),
]


@pytest.mark.parametrize("make_state, refusal", LINK_STATES)
def test_a_link_that_does_not_open_carries_nothing_on_any_route(world, client, make_state, refusal):
    token = make_state(world, client)
    counters_before = _all_counters(world)
    photo, wrong = world.in_album[0], []
    for route in ROUTES:
        response = send(client, route, token, photo, world.saved[photo])
        expected = refusal.page_status if route.name == "page" and refusal.page_status else refusal.status
        if response.status_code != expected:
            wrong.append(f"{route.name}: {response.status_code}, not {expected}")
        if refusal.heading and refusal.heading.encode() not in response.data:
            wrong.append(f"{route.name}: the page does not say {refusal.heading!r}")
        wrong += [f"{route.name}: {leak}" for leak in leaks(response, world)]
    assert wrong == []
    assert _all_counters(world) == counters_before, "a refused request changed a counter"


def _all_counters(world) -> list:
    from sqlalchemy import text

    from webapp.extensions import db

    with world.app.app_context(), db.engine.connect() as connection:
        links = connection.execute(text("SELECT id, views, downloads, uploaded_files FROM share_links ORDER BY id"))
        media = connection.execute(text("SELECT count(*) FROM media")).scalar()
        return [tuple(row) for row in links] + [media]


# --- photo states × the routes that name a photo ----------------------------------------------------

def _album(world):
    return world.share(allow_upload=True), world.in_album[0]


def _removed_from_album(world):
    link, photo = _album(world)
    response = world.kim.call("DELETE", f"/api/v1/albums/{world.album}/images/{photo}")
    assert response.status_code in (200, 204)
    return link, photo


def _deleted_photo(world):
    link, photo = _album(world)
    assert world.kim.call("DELETE", f"/api/v1/images/{photo}").status_code == 204
    return link, photo


PHOTO_STATES = [
    pytest.param(_removed_from_album, id="removed-from-album"),
    pytest.param(_deleted_photo, id="photo-deleted"),
    pytest.param(lambda world: (world.share(), world.outside), id="album-link-owners-other-photo"),
    pytest.param(lambda world: (world.share(), world.others), id="album-link-another-owners-photo"),
    pytest.param(lambda world: (world.share(media_ids=world.in_album), world.outside),
                 id="selection-link-owners-other-photo"),
    pytest.param(lambda world: (world.share(media_ids=world.in_album), world.others),
                 id="selection-link-another-owners-photo"),
    pytest.param(lambda world: (world.share(media_id=world.in_album[0]), world.in_album[1]),
                 id="photo-link-album-neighbour"),
    pytest.param(lambda world: (world.share(media_id=world.in_album[0]), world.others),
                 id="photo-link-another-owners-photo"),
    pytest.param(lambda world: (world.share(password=PASSWORD), world.outside), id="password-link-other-photo"),
]


def _enter(client, world, link: Link) -> None:
    """Start a visit as a person would: the password if the link has one, else just the page."""
    if link_row(world.app, link)["password_hash"]:
        assert open_link(client, link, PASSWORD).status_code == 303
    else:
        assert client.get(link.url).status_code == 200


@pytest.mark.parametrize("make_state", PHOTO_STATES)
def test_a_photo_the_link_does_not_show_is_404_on_an_open_visit(world, client, make_state):
    link, photo = make_state(world)
    _enter(client, world, link)
    others = tuple(media_id for media_id in world.every_id() if media_id != photo)
    wrong = []
    for route in PHOTO_ROUTES:
        response = send(client, route, link.token, photo, world.saved.get(photo, NO_SUCH_VERSION))
        if response.status_code != 404:
            wrong.append(f"{route.name}: {response.status_code}")
        wrong += [f"{route.name}: {leak}" for leak in leaks(response, world, allowed=others)]
    assert wrong == []


@pytest.mark.parametrize("make_state", PHOTO_STATES)
def test_the_link_wide_routes_never_carry_a_photo_the_link_does_not_show(world, client, make_state):
    link, photo = make_state(world)
    _enter(client, world, link)
    wrong = []
    protected = link_row(world.app, link)["password_hash"] is not None
    for route in LINK_ROUTES:
        response = send(client, route, link.token, photo)
        expected = 404 if route.name == "preview" and protected else 200  # a protected link has no preview
        if response.status_code != expected:
            wrong.append(f"{route.name}: {response.status_code}")
        if photo.encode() in response.data:
            wrong.append(f"{route.name} names the photo")
        if any(data in response.data for data in world.forms.get(photo, [])):
            wrong.append(f"{route.name} carries the photo")
    assert wrong == []


# --- tokens ------------------------------------------------------------------------------------------

def test_tokens_carry_at_least_128_random_bits_in_url_safe_characters(world):
    tokens = [world.share().token for _ in range(20)]
    assert len(set(tokens)) == 20
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token), token
        assert len(token) * 6 >= 128, f"{token} carries {len(token) * 6} bits"


def test_a_token_that_differs_only_in_its_last_character_or_its_case_opens_nothing(world, client):
    token = world.share().token
    for near in {token[:-1] + c for c in "AbZ9-_"} - {token} | {token.swapcase(), token + "A", token[:-1]}:
        assert client.get(f"/s/{near}").status_code == 404, near
        assert client.get(f"/s/{near}/p/{world.in_album[0]}/large").status_code == 404, near


ODD_TOKENS = ["a", "A" * 64, "A" * 65, "A" * 10_000, "ü" * 32, "😀", "%00", "%00" * 40, "%ff%fe", "%C0%AF", "%2e%2e",
              "..", ".", "%252e%252e%252f", "a%20b", "%E2%80%AE", "\u202etoken", "' OR '1'='1", "tok\\en", "~", "*",
              "token;jsessionid=1", "%", "%zz", "<script>alert(1)<%2fscript>", "\ufeff", "null", "0"]


def test_odd_tokens_are_404_and_never_an_error(world, client):
    csrf, wrong = csrf_of(client), []
    for token in ODD_TOKENS:
        answers = [client.get(f"/s/{token}"), client.get(f"/s/{token}/p/{world.in_album[0]}/large"),
                   client.get(f"/s/{token}/zip"), client.get(f"/s/{token}/p/{world.in_album[0]}.json"),
                   client.post(f"/s/{token}", data={"csrf_token": csrf, "password": PASSWORD}),
                   client.post(f"/s/{token}/upload", data={"csrf_token": csrf, "name": "x"})]
        wrong += [(token[:20], response.request.method, response.status_code) for response in answers
                  if response.status_code != 404 or looks_like_image(response.data)]
    assert wrong == []


# --- passwords ---------------------------------------------------------------------------------------

def test_a_share_password_is_an_argon2_hash_and_no_answer_ever_carries_it(world, client):
    link = world.share(password=PASSWORD, allow_upload=True, note="For the family")
    stored = link_row(world.app, link)["password_hash"]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    photo = world.in_album[0]
    answers = [client.get(link.url), open_link(client, link, "not it"), open_link(client, link, PASSWORD)]
    answers += [send(client, route, link.token, photo, world.saved[photo]) for route in ROUTES]
    owner = world.app.test_client()
    owner.post("/login", data={"identifier": "kim", "password": STRONG_PASSWORD, "csrf_token": csrf_of(owner)})
    answers.append(owner.get("/shares"))
    assert answers[-1].status_code == 200
    for response in answers:
        everything = response.data + str(response.headers).encode()
        assert PASSWORD.encode() not in everything and stored.encode() not in everything


def test_a_password_in_the_query_string_is_ignored(world, client):
    link = world.share(password=PASSWORD)
    assert client.get(f"{link.url}?password={PASSWORD}").status_code == 401
    assert client.get(f"{link.url}/p/{world.in_album[0]}/large?password={PASSWORD}").status_code == 401
    response = client.post(f"{link.url}?password={PASSWORD}", data={"csrf_token": csrf_of(client)})
    assert response.status_code == 401 and visit_cookie(client, link) is None
    assert client.get(link.url).status_code == 401


def test_the_right_password_gives_a_visit_cookie_for_this_link_only(world, client):
    link = world.share(password=PASSWORD)
    response = open_link(client, link, PASSWORD)
    assert response.status_code == 303 and response.headers["Location"].endswith(link.url)
    cookie = next(value for value in response.headers.getlist("Set-Cookie") if value.startswith("shoebox_visit="))
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert attributes["path"] == f"Path={link.url}"
    assert "httponly" in attributes and attributes["samesite"] == "SameSite=Lax"
    assert "domain" not in attributes
    assert client.get(link.url).status_code == 200
    assert client.get(f"{link.url}/p/{world.in_album[0]}/large").status_code == 200


def test_changing_the_password_voids_every_visit(world, client):
    link = world.share(password=PASSWORD)
    assert open_link(client, link, PASSWORD).status_code == 303
    change_link(world.app, link, password="a-brand-new-password")
    assert client.get(link.url).status_code == 401
    assert client.get(f"{link.url}/p/{world.in_album[0]}/large").status_code == 401
    assert open_link(client, link, PASSWORD).status_code == 401
    assert open_link(client, link, "a-brand-new-password").status_code == 303
    assert client.get(f"{link.url}/p/{world.in_album[0]}/large").status_code == 200


def test_adding_a_password_to_an_open_link_voids_the_visits_made_without_one(world, client):
    link = world.share()
    assert client.get(link.url).status_code == 200 and visit_cookie(client, link)
    change_link(world.app, link, password=PASSWORD)
    assert client.get(link.url).status_code == 401
    assert client.get(f"{link.url}/p/{world.in_album[0]}/original").status_code == 401


def test_revoking_voids_every_visit_even_if_the_link_is_restored(world, client):
    link = world.share(password=PASSWORD)
    assert open_link(client, link, PASSWORD).status_code == 303
    change_link(world.app, link, revoked=True)
    assert client.get(f"{link.url}/p/{world.in_album[0]}/large").status_code == 410
    change_link(world.app, link, revoked=False)
    assert client.get(link.url).status_code == 401
    assert client.get(f"{link.url}/p/{world.in_album[0]}/large").status_code == 401


def _addressed(n: int) -> dict:
    return {"environ_base": {"REMOTE_ADDR": f"203.0.113.{n}"}}


def test_ten_wrong_passwords_on_one_link_lock_it_for_everyone_and_show_in_its_stats(world, client):
    link, spare = world.share(password=PASSWORD), world.share(password=PASSWORD)
    for n in range(10):  # ten people, one guess each
        assert open_link(world.app.test_client(), link, f"guess {n}", **_addressed(n)).status_code == 401
    locked = open_link(world.app.test_client(), link, PASSWORD, **_addressed(99))
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert link_row(world.app, link)["password_failures"] == 10
    assert open_link(world.app.test_client(), spare, PASSWORD, **_addressed(99)).status_code == 303


def test_ten_wrong_passwords_from_one_address_across_links_lock_that_address(world, client):
    first, second, third = (world.share(password=PASSWORD) for _ in range(3))
    for link in (first, second):
        for n in range(5):
            assert open_link(client, link, f"guess {n}", **_addressed(1)).status_code == 401
    assert open_link(client, third, PASSWORD, **_addressed(1)).status_code == 429
    assert open_link(world.app.test_client(), first, PASSWORD, **_addressed(2)).status_code == 303
    assert [link_row(world.app, link)["password_failures"] for link in (first, second, third)] == [5, 5, 0]


def test_the_password_lock_lifts_after_fifteen_minutes(world, client, monkeypatch):
    link = world.share(password=PASSWORD)
    for n in range(10):
        open_link(client, link, f"guess {n}")
    assert open_link(client, link, PASSWORD).status_code == 429
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 15 * 60 + 1)
    assert open_link(client, link, PASSWORD).status_code == 303


# --- view and download limits ------------------------------------------------------------------------

def test_looking_at_a_view_limited_link_uses_no_view_until_open_is_pressed(world, client):
    link = world.share(max_views=2)
    for _ in range(5):
        page = client.get(link.url)
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and 'action="' + link.url + '"' in html and og_image(html) == []
        assert client.head(link.url).status_code == 200
    assert link_row(world.app, link)["views"] == 0
    assert open_link(client, link).status_code == 303
    assert link_row(world.app, link)["views"] == 1


PREVIEW_BOTS = ["Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
                "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
                "TelegramBot (like TwitterBot)", "WhatsApp/2.23.20.0 A",
                "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "Twitterbot/1.0"]
PERSON = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Safari/604.1"}


def test_preview_bots_never_burn_a_one_time_link_and_its_one_visitor_keeps_the_visit(world, client):
    link = world.share(media_id=world.in_album[0], max_views=1)
    for bot in PREVIEW_BOTS:
        fetcher = world.app.test_client()
        for _ in range(10):
            card = fetcher.get(link.url, headers={"User-Agent": bot})
            assert card.status_code == 200 and og_image(card.get_data(as_text=True)) == []
            preview = fetcher.get(f"{link.url}/preview.webp", headers={"User-Agent": bot})
            assert preview.status_code == 403 and not looks_like_image(preview.data)
    assert link_row(world.app, link)["views"] == 0

    assert open_link(client, link, headers=PERSON).status_code == 303
    someone_else = world.app.test_client()
    assert someone_else.get(link.url, headers=PERSON).status_code == 410
    assert open_link(someone_else, link, headers=PERSON).status_code == 410
    for bot in PREVIEW_BOTS:
        assert world.app.test_client().get(link.url, headers={"User-Agent": bot}).status_code == 410

    for _ in range(3):  # the one visitor comes back to it, loads every size, and uses no more views
        assert client.get(link.url, headers=PERSON).status_code == 200
        for size in SIZES:
            image = client.get(f"{link.url}/p/{world.in_album[0]}/{size}", headers=PERSON)
            assert image.status_code == 200 and looks_like_image(image.data)
    assert link_row(world.app, link)["views"] == 1


def test_a_visit_to_a_used_up_link_ends_after_an_hour(world, client, monkeypatch):
    link = world.share(max_views=1)
    assert open_link(client, link).status_code == 303
    assert client.get(f"{link.url}/p/{world.in_album[0]}/large").status_code == 200
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 3601)
    assert client.get(f"{link.url}/p/{world.in_album[0]}/large").status_code == 410
    assert client.get(link.url).status_code == 410


def test_downloads_are_counted_apart_from_views(world, client):
    link = world.share(max_views=1, max_downloads=2)
    assert open_link(client, link).status_code == 303
    for _ in range(3):
        assert client.get(link.url).status_code == 200
        assert client.get(f"{link.url}/p/{world.in_album[0]}/large").status_code == 200
    assert (link_row(world.app, link)["views"], link_row(world.app, link)["downloads"]) == (1, 0)
    assert client.get(f"{link.url}/p/{world.in_album[0]}/original").status_code == 200
    assert client.get(f"{link.url}/zip", buffered=True).status_code == 200
    refused = client.get(f"{link.url}/p/{world.in_album[0]}/t/{world.saved[world.in_album[0]]}",
                         headers={"Accept": "application/json"})
    assert refused.status_code == 410 and refused.get_json()["error"]["code"] == "downloads_used_up"
    assert not looks_like_image(client.get(f"{link.url}/p/{world.in_album[0]}/original").data)
    assert (link_row(world.app, link)["views"], link_row(world.app, link)["downloads"]) == (1, 2)
    assert client.get(f"{link.url}/p/{world.in_album[0]}/large").status_code == 200  # sizes are not downloads


def test_with_downloads_off_originals_zip_and_saved_versions_are_403_but_sizes_show(world, client):
    link = world.share(allow_download=False)
    photo = world.in_album[0]
    page = client.get(link.url).get_data(as_text=True)
    assert "/original" not in page and "/zip" not in page
    for path in (f"/p/{photo}/original", "/zip", f"/p/{photo}/t/{world.saved[photo]}"):
        for method in ("GET", "HEAD"):
            response = client.open(link.url + path, method=method)
            assert response.status_code == 403 and not looks_like_image(response.data), (method, path)
    for size in SIZES:
        assert client.get(f"{link.url}/p/{photo}/{size}").status_code == 200
    assert link_row(world.app, link)["downloads"] == 0


def test_a_range_request_under_a_download_limit_is_a_whole_download(world, client):
    link = world.share(max_downloads=2)
    whole = world.forms[world.in_album[0]][0]
    for _ in range(2):
        response = client.get(f"{link.url}/p/{world.in_album[0]}/original", headers={"Range": "bytes=0-9"})
        assert response.status_code == 200 and response.data == whole
    response = client.get(f"{link.url}/p/{world.in_album[0]}/original", headers={"Range": "bytes=10-"})
    assert response.status_code == 410 and not looks_like_image(response.data)


def test_head_takes_no_download_and_answers_as_get_would(world, client):
    link = world.share(max_downloads=1)
    original = f"{link.url}/p/{world.in_album[0]}/original"
    for _ in range(3):
        head = client.head(original)
        assert head.status_code == 200 and head.data == b""
    assert link_row(world.app, link)["downloads"] == 0
    assert client.get(original).status_code == 200
    assert client.head(original).status_code == 410
    assert client.get(original).status_code == 410


# --- caching ---------------------------------------------------------------------------------------

def test_a_protected_links_answers_are_never_stored_and_an_open_links_are_revalidated(world, client):
    photo = world.in_album[0]
    paths = ["", f"/p/{photo}", f"/p/{photo}/large", f"/p/{photo}.json", "/more", f"/p/{photo}/original"]
    for options, expected in (({"password": PASSWORD}, "private, no-store"), ({"max_views": 3}, "private, no-store"),
                              ({"max_downloads": 50}, "private, no-store"), ({}, "private, no-cache")):
        link, visitor = world.share(**options), world.app.test_client()
        assert visitor.get(link.url).headers["Cache-Control"] == expected  # the password form, the Open button
        assert open_link(visitor, link, options.get("password")).status_code == 303
        for path in paths:
            response = visitor.get(link.url + path)
            assert response.status_code == 200, path
            assert response.headers["Cache-Control"] == expected, (options, path)


def test_every_share_answer_keeps_its_url_out_of_referrers_and_shared_caches(world, client):
    link, gone = world.share(password=PASSWORD), world.share()
    change_link(world.app, gone, revoked=True)
    answers = [client.get(link.url), client.get(f"{link.url}/zip"), open_link(client, link, "wrong"),
               client.get(gone.url), client.get("/s/nothing-here"), client.get(f"/s/nothing-here/p/x/large"),
               client.post(link.url, data={}), open_link(client, link, PASSWORD), client.get(link.url),
               client.get(f"{link.url}/p/{world.in_album[0]}/large")]
    for response in answers:
        assert response.headers["Referrer-Policy"] == "no-referrer", response.status_code
        assert response.headers["Cache-Control"].startswith("private, no-"), response.status_code
        assert "Cookie" in response.headers.get("Vary", "")


def test_a_revoked_link_answers_410_on_the_very_next_request_on_every_instance(world, client, make_app):
    other_instance = make_app()  # the same database; its own memory
    world.kim.call("PATCH", f"/api/v1/images/{world.in_album[0]}", json={"is_public": True})
    public = f"/i/{world.in_album[0]}?size=large"
    link = world.share(media_id=world.in_album[0])
    served = client.get(f"{link.url}/p/{world.in_album[0]}/large")
    assert served.status_code == 200 and client.get(public).status_code == 200  # the public cache holds it now
    with other_instance.app_context():
        from webapp.extensions import db
        from webapp.models import ShareLink
        from webapp.shares import service

        service.revoke_share(db.session.get(ShareLink, link.id))
    again = client.get(f"{link.url}/p/{world.in_album[0]}/large", headers={"If-None-Match": served.headers["ETag"]})
    assert again.status_code == 410 and not looks_like_image(again.data)
    assert client.get(link.url).status_code == 410
    assert client.get(public).status_code == 200  # the photo is public: its own URL is unaffected


def test_a_shared_private_photo_stays_404_at_its_own_urls_for_everyone_but_its_owner(world, client):
    photo = world.in_album[0]
    link = world.share(media_id=photo)
    assert client.get(link.url).status_code == 200
    client.set_cookie("shoebox_visit", visit_cookie(client, link), path="/")  # as if it were sent everywhere
    paths = [f"/i/{photo}", f"/i/{photo}.jpg", f"/i/{photo}?size=large", f"/info/{photo}", f"/embed/{photo}",
             f"/i/{photo}/t/{world.saved[photo]}"]
    for path in paths:
        for who, headers in (("recipient", {}), ("lee", world.lee.headers)):
            response = client.get(path, headers=headers)
            assert response.status_code == 404 and not looks_like_image(response.data), (who, path)
        assert world.kim.call("GET", path).status_code == 200, path
    assert world.lee.call("GET", f"/api/v1/images/{photo}").status_code == 404


# --- guest uploads -----------------------------------------------------------------------------------

def _owner_counters(world) -> tuple:
    """What an upload would change: kim's storage and photo count, today's uploads, rows and stored blobs."""
    from sqlalchemy import text

    from webapp.extensions import blob_store, db

    with world.app.app_context(), db.engine.connect() as connection:
        storage, photos = connection.execute(text("SELECT storage_used, media_count FROM users WHERE id = :id"),
                                             {"id": world.kim.id}).one()
        uploads = connection.execute(text("SELECT COALESCE(SUM(uploads), 0) FROM daily_usage WHERE user_id = :id"),
                                     {"id": world.kim.id}).scalar()
        rows = connection.execute(text("SELECT count(*) FROM media")).scalar()
        return storage, photos, uploads, rows, sorted(blob_store().keys())


def _link_counters(world, link) -> tuple:
    row = link_row(world.app, link)
    return row["uploaded_files"], row["uploaded_bytes"], row["views"], row["downloads"]


def guest_upload(client, link: Link, data: bytes | None, filename: str = "guest.jpg", name: str = "Aunt Mia"):
    fields = {"csrf_token": csrf_of(client), "name": name}
    if data is not None:
        fields["file"] = (data, filename)
    body, content_type = multipart(fields)
    return client.post(f"{link.url}/upload", data=body, content_type=content_type,
                       headers={"Accept": "application/json"})


def _noise_jpeg(side: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def test_a_guest_upload_lands_in_the_album_as_a_private_photo_charged_to_the_owner(world, client):
    link = world.share(allow_upload=True, upload_max_files=3)
    before = _owner_counters(world)
    response = guest_upload(client, link, make_jpeg(colour=(90, 90, 250)), name="  Aunt\u202e Mia\n ")
    assert response.status_code == 201, response.get_json()
    media_id, size = response.get_json()["id"], response.get_json()["size"]
    storage, photos, uploads, rows, keys = _owner_counters(world)
    assert (storage, photos, uploads, rows) == (before[0] + size, before[1] + 1, before[2] + 1, before[3] + 1)
    assert _link_counters(world, link)[:2] == (1, size)
    listed = world.kim.call("GET", f"/api/v1/images?album={world.album}").get_json()["items"]
    assert media_id in [item["id"] for item in listed]
    assert client.get(f"/i/{media_id}").status_code == 404  # private: only through the link
    assert client.get(f"{link.url}/p/{media_id}/thumb").status_code == 200
    from webapp.extensions import db
    from webapp.models import Media

    with world.app.app_context():
        assert db.session.get(Media, media_id).guest_name == "Aunt Mia"


def _broken_files() -> list[tuple[str, bytes]]:
    from tests.fixtures.media import CORPUS

    folder = CORPUS / "broken"
    if not folder.is_dir():
        return []
    return [(path.name, path.read_bytes()) for path in sorted(folder.iterdir()) if path.suffix != ".md"]


HOSTILE = [
    # (what, file bytes, file name, guest name, status, error code)
    ("an SVG with a script", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>', "x.svg",
     "Mallory", 415, None),
    ("an HTML page", b"<!doctype html><html><script>alert(document.cookie)</script></html>", "x.html", "Mallory",
     415, None),
    ("a JPEG header and nothing else", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "cut.jpg", "Mallory", None, None),
    ("a decompression bomb", make_flat_png(40_000, 40_000), "bomb.png", "Mallory", 413, None),
    ("an empty file", b"", "empty.jpg", "Mallory", 400, None),
    ("no name", make_jpeg(), "fine.jpg", "", 400, "guest_name_required"),
    ("a name of only spaces and controls", make_jpeg(), "fine.jpg", " \t\u200b\u202e ", 400, "guest_name_required"),
    ("a 10 kB name", make_jpeg(), "fine.jpg", "M" * 10_240, 400, "guest_name_too_long"),
]


def _assert_one_sentence(response, status: int | None, code: str | None):
    assert 400 <= response.status_code < 500 if status is None else response.status_code == status, \
        response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert code is None or error["code"] == code
    assert error["message"].endswith(".") and not re.search(r"[.!?]\s+[A-Z]", error["message"]), error["message"]


@pytest.mark.parametrize("what, data, filename, name, status, code", HOSTILE, ids=[row[0] for row in HOSTILE])
def test_a_hostile_guest_upload_is_refused_in_one_sentence_and_nothing_is_kept(world, client, what, data, filename,
                                                                            name, status, code):
    link = world.share(allow_upload=True, upload_max_files=3)
    before, link_before = _owner_counters(world), _link_counters(world, link)
    _assert_one_sentence(guest_upload(client, link, data, filename, name), status, code)
    assert _owner_counters(world) == before
    assert _link_counters(world, link) == link_before


def test_the_broken_files_of_the_corpus_are_refused_and_nothing_is_kept(world, client):
    broken = _broken_files()
    if not broken:
        pytest.skip("the test corpus (../shared/corpus/broken) is missing")
    link = world.share(allow_upload=True)
    before, link_before = _owner_counters(world), _link_counters(world, link)
    for filename, data in broken:
        _assert_one_sentence(guest_upload(client, link, data, filename), None, None)
    assert _owner_counters(world) == before
    assert _link_counters(world, link) == link_before


def test_a_file_over_the_links_byte_cap_is_refused_and_nothing_is_kept(world, client):
    small = make_jpeg()
    link = world.share(allow_upload=True, upload_max_bytes=len(small) * 3)
    assert guest_upload(client, link, small).status_code == 201
    before, link_before = _owner_counters(world), _link_counters(world, link)
    for data in (_noise_jpeg(200), _noise_jpeg(600)):
        _assert_one_sentence(guest_upload(client, link, data), 413, "upload_bytes_used_up")
    assert _owner_counters(world) == before and _link_counters(world, link) == link_before


def test_a_link_stops_taking_files_at_its_file_cap(world, client):
    link = world.share(allow_upload=True, upload_max_files=2)
    for n in range(2):
        assert guest_upload(client, link, make_jpeg(colour=(n, 200, 200))).status_code == 201
    before, link_before = _owner_counters(world), _link_counters(world, link)
    _assert_one_sentence(guest_upload(client, link, make_jpeg(colour=(9, 9, 9))), 403, "upload_files_used_up")
    assert _owner_counters(world) == before and _link_counters(world, link) == link_before


@pytest.mark.parametrize("how, status, code", [
    ("uploads off", 403, "uploads_not_allowed"),
    ("a photo link", 403, "uploads_not_allowed"),
    ("a selection link", 403, "uploads_not_allowed"),
    ("revoked", 410, "link_revoked"),
    ("expired", 410, "link_expired"),
    ("uploads turned off since", 403, "uploads_not_allowed"),
    ("no password given", 401, "password_required"),
])
def test_a_link_that_takes_no_uploads_refuses_them_and_keeps_nothing(world, client, how, status, code):
    link = {"uploads off": lambda: world.share(),
            "a photo link": lambda: world.share(media_id=world.in_album[0]),
            "a selection link": lambda: world.share(media_ids=world.in_album)}.get(how, lambda: None)() \
        or world.share(allow_upload=True, password=PASSWORD if how == "no password given" else None)
    if how == "revoked":
        change_link(world.app, link, revoked=True)
    if how == "expired":
        expire_link(world.app, link)
    if how == "uploads turned off since":
        change_link(world.app, link, allow_upload=False)
    before, link_before = _owner_counters(world), _link_counters(world, link)
    _assert_one_sentence(guest_upload(client, link, make_jpeg()), status, code)
    assert _owner_counters(world) == before and _link_counters(world, link) == link_before


def _limit_owner(world, **limits) -> None:
    """Change kim's plan (uploads_per_day, storage_bytes, max_upload_bytes), or is_verified (and the instance rule)."""
    from webapp import instance
    from webapp.extensions import db
    from webapp.models import Plan, User

    with world.app.app_context():
        user = db.session.get(User, world.kim.id)
        if "is_verified" in limits:
            user.is_verified = limits.pop("is_verified")
            instance.put("unverified_may_upload", False)
        plan = db.session.get(Plan, user.plan_id) if user.plan_id else \
            db.session.scalar(db.select(Plan).where(Plan.name == "free"))
        for name, value in limits.items():
            setattr(plan, name, value)
        user.plan_id = plan.id
        db.session.commit()


@pytest.mark.parametrize("limits, status, code", [
    ({"uploads_per_day": 3}, 429, "upload_quota_exceeded"),  # kim uploaded three photos today
    ({"storage_bytes": 1}, 413, "storage_quota_exceeded"),
    ({"max_upload_bytes": 300}, 413, "file_too_large"),
    ({"is_verified": False}, 403, "email_unconfirmed"),
], ids=["uploads today", "storage", "size per upload", "unconfirmed owner"])
def test_the_owners_limits_are_told_to_a_guest_as_the_owners_not_theirs(world, client, limits, status, code):
    link = world.share(allow_upload=True)
    _limit_owner(world, **limits)
    before = _owner_counters(world)
    response = guest_upload(client, link, _noise_jpeg(64))
    _assert_one_sentence(response, status, code)
    message = response.get_json()["error"]["message"]
    assert not re.search(r"\b(you|your)\b", message, re.IGNORECASE), message  # the plan is not the guest's
    assert "owner" in message
    assert _owner_counters(world) == before


def test_a_10_kb_file_name_is_kept_as_a_short_display_name(world, client):
    link = world.share(allow_upload=True)
    response = guest_upload(client, link, make_jpeg(), filename="../../" + "x" * 10_240 + ".jpg")
    assert response.status_code == 201
    assert len(response.get_json()["original_name"]) <= 255 and "/" not in response.get_json()["original_name"]


def test_guest_upload_without_the_forms_csrf_token_is_refused_and_keeps_nothing(world, client):
    link = world.share(allow_upload=True)
    before = _owner_counters(world)
    body, content_type = multipart({"name": "Mallory", "file": (make_jpeg(), "x.jpg")})
    response = client.post(f"{link.url}/upload", data=body, content_type=content_type)
    assert response.status_code == 400 and _owner_counters(world) == before


# --- the rest of the attacker's list ------------------------------------------------------------------

def test_path_tricks_and_dotted_ids_reach_nothing_outside_the_link(world, client):
    link = world.share(media_id=world.in_album[0])
    assert client.get(link.url).status_code == 200
    photo, outside, t = world.in_album[0], world.outside, link.url
    tricks = [f"{t}/p/../../i/{outside}", f"{t}/p/%2e%2e/%2e%2e/i/{outside}", f"{t}/p/..%2f..%2fi%2f{outside}",
              f"{t}/p/{photo}/..%2f{outside}/large", f"{t}/p/{photo}/large/../../{outside}/large",
              f"{t}/p/{outside}.json", f"{t}/p/{photo}.json.json", f"{t}/p/{photo}.png", f"{t}/p/{photo}.webp",
              f"{t}/p/{photo}%00/large", f"{t}/p/{photo}%2Flarge", f"{t}/p/.json", f"{t}/p/../zip",
              f"{t}/p/{photo}/t/{world.saved[outside]}", f"{t}/p/{photo}/t/..%2f..%2f{outside}",
              f"{t}/p/{photo}/t/{world.saved[photo].replace('.png', '')}", f"{t}/p/{photo}/t/x.png.png",
              f"{t}/p/{photo}/original/..", f"{t}/p/{photo}/LARGE", f"{t}/p/{photo}/huge", f"{t}/p/{photo}/t/",
              f"{t}/../../i/{outside}", f"{t}%2f..%2f..%2fi%2f{outside}", f"/s/{link.token}/p/{outside}/large"]
    others = [data for media_id, forms in world.forms.items() if media_id != photo for data in forms]
    wrong = []
    for path in tricks:
        response = client.get(path)
        if response.status_code >= 500 or outside.encode() in response.data or \
                any(data in response.data for data in others):
            wrong.append((path, response.status_code))
        elif response.status_code not in (400, 404, 405):  # what is served is the link's own photo
            assert response.status_code == 200 and photo in path, path
    assert wrong == []
    facts = client.get(f"{t}/p/{photo}.json")
    assert facts.status_code == 200 and facts.get_json()["id"] == photo


def test_a_page_cursor_never_reaches_past_the_links_photos(world, client):
    link = world.share()
    assert client.get(link.url).status_code == 200
    for after in (f"-1.{world.outside}", f"0.{world.others}", "-99999999999999999999.a", "0.", ".", "x.y",
                  f"0.{'z' * 23}", "9" * 400 + ".a", "9" * 5000 + ".a", "2147483648.a", "-2147483649.a", "0.%00",
                  "1e9.a", " 1.a", "\u00b2.a", "\u0661.a", "--1.a"):
        for path in (f"{link.url}/more", link.url):
            response = client.get(path, query_string={"after": after})
            assert response.status_code in (200, 400), (after, response.status_code)
            assert world.outside.encode() not in response.data and world.others.encode() not in response.data


def test_the_open_and_password_forms_need_their_csrf_token(world, client):
    limited, locked = world.share(max_views=1), world.share(password=PASSWORD)
    client.get("/login")  # a session of its own
    for link, form in ((limited, {}), (locked, {"password": PASSWORD})):
        for token in (None, "forged", csrf_of(world.app.test_client())):  # none, made up, another session's
            response = client.post(link.url, data={**form, **({"csrf_token": token} if token else {})})
            assert response.status_code == 400 and visit_cookie(client, link) is None
    assert link_row(world.app, limited)["views"] == 0
    assert link_row(world.app, locked)["password_failures"] == 0
    assert client.get(f"{limited.url}/p/{world.in_album[0]}/large").status_code == 403


def test_recipients_never_see_where_a_photo_was_taken(app, world, client):
    from tests.fixtures.media import corpus_file

    from webapp.extensions import db

    world.kim.call("PATCH", "/api/v1/account", json={"keep_location": True})
    body, content_type = multipart({"file": (corpus_file("photos", "DSCN0010.jpg").read_bytes(), "DSCN0010.jpg")})
    uploaded = world.kim.client.post("/api/v1/images", headers=world.kim.headers, data=body,
                                     content_type=content_type).get_json()
    with app.app_context():
        from webapp.models import Media

        kept = db.session.get(Media, uploaded["id"])
        coordinates = [f"{value:.4f}"[:-1] for value in (kept.latitude, kept.longitude) if value is not None]
    assert len(coordinates) == 2, "the owner keeps the location"
    for show_metadata in (True, False):
        link = world.share(media_id=uploaded["id"], show_metadata=show_metadata)
        page = client.get(link.url).get_data(as_text=True)
        facts = client.get(f"{link.url}/p/{uploaded['id']}.json").get_json()
        assert not {"latitude", "longitude", "location", "gps"} & set(facts)
        assert ("camera" in facts and "taken_at" in facts) == show_metadata
        for coordinate in coordinates:
            assert coordinate not in page and coordinate not in str(facts)
