"""Transformations over HTTP: the API contract, the variant URL and its privacy, the daily quota under
concurrency and at midnight, units given back on failure, and the editor's routes."""

from __future__ import annotations

import io
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
from PIL import Image

from tests.fixtures.accounts import STRONG_PASSWORD, AuthActions, csrf_token_from
from tests.fixtures.media import multipart

BEFORE_MIDNIGHT = datetime(2031, 5, 9, 23, 59, 59, 900000, tzinfo=timezone.utc)
AFTER_MIDNIGHT = datetime(2031, 5, 10, 0, 0, 0, 100000, tzinfo=timezone.utc)


def make_jpeg(size=(64, 48), colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


class Person:
    """An account with an API token: upload(), transform(), get(), and a browser session on demand."""

    def __init__(self, app, username: str):
        self.app, self.username = app, username
        self.client = app.test_client()
        token = self.client.post("/api/v1/auth/login", json={"identifier": username, "password": STRONG_PASSWORD}) \
            .get_json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def upload(self, data: bytes | None = None, name="photo.jpg", **form) -> dict:
        body, content_type = multipart({"file": (data or make_jpeg(), name), **form})
        response = self.client.post("/api/v1/images", headers=self.headers, data=body, content_type=content_type)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def transform(self, media_id: str, transformations=None, *, body=None, client=None):
        return (client or self.client).post(f"/api/v1/images/{media_id}/transform", headers=self.headers,
                                            json={"transformations": transformations} if body is None else body)

    def get(self, path: str, **headers):
        return self.client.get(path, headers={**self.headers, **headers})

    def delete(self, path: str):
        return self.client.delete(path, headers=self.headers)

    def used(self) -> int:
        return self.get("/api/v1/quota").get_json()["transforms"]["used"]

    def browser(self):
        """A test client logged in through the real login form, and its CSRF token."""
        client = self.app.test_client()
        AuthActions(client).login(self.username)
        return client, csrf_token_from(client.get("/upload").get_data(as_text=True))


@pytest.fixture
def kim(app, make_user):
    make_user(email="kim@example.com", username="kim")
    return Person(app, "kim")


@pytest.fixture
def lee(app, make_user):
    make_user(email="lee@example.com", username="lee")
    return Person(app, "lee")


def set_daily_limit(app, limit: int) -> None:
    from webapp.extensions import db
    from webapp.models import Plan

    with app.app_context():
        db.session.scalar(db.select(Plan).where(Plan.name == "free")).transforms_per_day = limit
        db.session.commit()


def variant_keys(app) -> list[str]:
    from webapp.extensions import blob_store

    with app.app_context():
        return [key for key in blob_store().keys("variants") if "/t-" in key]


def variant_rows(app) -> int:
    from webapp.extensions import db
    from webapp.models import Variant

    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(Variant).where(Variant.spec.startswith("t:")))


def path_of(url: str) -> str:
    return url.removeprefix("http://shoebox.test")


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- the contract --------------------------------------------------------------------------------

def test_a_transformation_answers_201_with_url_size_and_format(kim):
    photo = kim.upload()
    response = kim.transform(photo["id"], {"resize": {"width": 32}, "rotate": 90, "format": "png"})
    assert response.status_code == 201
    body = response.get_json()
    assert (body["width"], body["height"], body["format"]) == (24, 32, "png")
    assert re.fullmatch(rf"http://shoebox\.test/i/{photo['id']}/t/[0-9a-f]{{20}}\.png", body["url"])
    served = kim.get(path_of(body["url"]))
    assert served.status_code == 200 and served.mimetype == "image/png" and len(served.data) == body["size"]
    assert decode(served.data).size == (24, 32)


def test_same_transformation_twice_is_charged_once(app, kim):
    photo = kim.upload()
    first = kim.transform(photo["id"], {"resize": {"width": 32}, "format": "webp"})
    again = kim.transform(photo["id"], {"format": "webp", "resize": {"width": 32}})
    same = kim.transform(photo["id"], {"resize": {"width": 32, "height": 24, "fit": "inside"}, "format": "webp",
                                       "quality": 80})
    assert first.status_code == 201 and again.status_code == 200 and same.status_code == 200
    assert first.get_json()["url"] == again.get_json()["url"] == same.get_json()["url"]
    assert kim.used() == 1 and variant_rows(app) == 1 and len(variant_keys(app)) == 1


def test_variants_are_listed_and_deleted(app, kim):
    photo = kim.upload()
    made = [kim.transform(photo["id"], {"resize": {"width": width}}).get_json() for width in (10, 20)]
    listed = kim.get(f"/api/v1/images/{photo['id']}/variants").get_json()
    assert [item["id"] for item in listed["items"]] == [made[1]["id"], made[0]["id"]]
    assert listed["next_cursor"] is None and listed["items"][0]["spec"] == "resize=20x15;format=jpeg;q=85"
    assert kim.delete(f"/api/v1/images/{photo['id']}/variants/{made[0]['id']}").status_code == 204
    assert kim.get(path_of(made[0]["url"])).status_code == 404
    assert len(variant_keys(app)) == 1 and kim.used() == 2  # deleting gives no unit back
    assert kim.delete(f"/api/v1/images/{photo['id']}/variants/{made[0]['id']}").status_code == 404


def test_the_variant_url_serves_like_any_image(kim):
    photo = kim.upload(is_public="true")
    url = path_of(kim.transform(photo["id"], {"resize": {"width": 40}}).get_json()["url"])
    anyone = kim.app.test_client()
    first = anyone.get(url)
    assert first.status_code == 200 and "public" in first.headers["Cache-Control"]
    assert first.headers["ETag"] and first.headers["Last-Modified"] and first.headers["X-Content-Type-Options"] == "nosniff"
    assert anyone.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    part = anyone.get(url, headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.data == first.data[:10]
    assert anyone.get(url + "?download=1").headers["Content-Disposition"].startswith("attachment;")


def test_a_variant_of_a_private_photo_is_seen_by_its_owner_only(kim, lee):
    photo = kim.upload()
    url = path_of(kim.transform(photo["id"], {"flip": True}).get_json()["url"])
    assert kim.get(url).status_code == 200 and "private" in kim.get(url).headers["Cache-Control"]
    assert kim.app.test_client().get(url).status_code == 404
    assert lee.get(url).status_code == 404
    assert lee.get(f"/api/v1/images/{photo['id']}/variants").status_code == 404
    assert kim.client.patch(f"/api/v1/images/{photo['id']}", headers=kim.headers, json={"is_public": True}).status_code == 200
    assert lee.get(url).status_code == 200


def test_nobody_makes_work_by_changing_the_url(app, kim):
    photo = kim.upload(is_public="true")
    anyone = app.test_client()
    for name in ("0123456789abcdef0123.webp", "0123456789abcdef0123.png", "resize=10x10.webp", "../../etc.webp",
                 "0123456789ABCDEF0123.webp", "x" * 300):
        assert anyone.get(f"/i/{photo['id']}/t/{name}").status_code == 404, name
    assert variant_keys(app) == [] and variant_rows(app) == 0


def test_deleting_the_photo_deletes_its_variants(app, kim):
    photo = kim.upload()
    for width in (10, 20, 30):
        kim.transform(photo["id"], {"resize": {"width": width}})
    assert len(variant_keys(app)) == 3
    assert kim.delete(f"/api/v1/images/{photo['id']}").status_code == 204
    assert variant_keys(app) == [] and variant_rows(app) == 0


# --- refused input ---------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    {"transformations": {}}, {"transformations": None}, {}, {"transformations": {"flip": True}, "extra": 1},
    {"transformations": {"resize": {"width": 0}}}, {"transformations": {"resize": {"width": -1}}},
    {"transformations": {"resize": {"width": "wide"}}}, {"transformations": {"resize": {"width": 1.5}}},
    {"transformations": {"resize": {"width": True}}}, {"transformations": {"resize": {"width": 100_000}}},
    {"transformations": {"crop": {"x": 60, "y": 0, "width": 10, "height": 10}}},
    {"transformations": {"format": "tiff"}}, {"transformations": {"filters": {"blur": True}}},
    {"transformations": {"shrink": True}}, {"transformations": {"quality": 0}}, {"transformations": {"quality": 101}},
    [1, 2, 3], "resize",
])
def test_bad_input_is_400_with_a_sentence_and_costs_nothing(app, kim, body):
    photo = kim.upload()
    response = kim.transform(photo["id"], body=body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] in {"invalid_transformation", "invalid_json"} and error["message"].endswith(".")
    assert kim.used() == 0 and variant_keys(app) == []


def test_malformed_json_is_400_with_a_sentence(kim):
    photo = kim.upload()
    response = kim.client.post(f"/api/v1/images/{photo['id']}/transform", headers=kim.headers,
                               data='{"transformations": {', content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"]["message"].endswith(".")


def test_someone_elses_photo_is_404_even_when_public(kim, lee):
    photo = kim.upload(is_public="true")
    response = lee.transform(photo["id"], {"flip": True})
    assert response.status_code == 404 and lee.used() == 0


def test_a_plain_file_is_415(app, kim):
    from webapp import instance
    from webapp.extensions import db

    with app.app_context():
        instance.put("allow_any_file", True)
        db.session.commit()
    document = kim.upload(b"just some notes\n", "notes.txt")
    response = kim.transform(document["id"], {"flip": True})
    assert response.status_code == 415 and response.get_json()["error"]["code"] == "not_an_image"


# --- the daily quota ---------------------------------------------------------------------------

def test_the_quota_exceeded_is_429_with_retry_after_and_which_limit(app, kim):
    set_daily_limit(app, 2)
    photo = kim.upload()
    assert [kim.transform(photo["id"], {"resize": {"width": w}}).status_code for w in (10, 20)] == [201, 201]
    refused = kim.transform(photo["id"], {"resize": {"width": 30}})
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "transform_quota_exceeded"
    assert 0 < int(refused.headers["Retry-After"]) <= 86400
    assert "midnight UTC" in refused.get_json()["error"]["message"]
    assert kim.transform(photo["id"], {"resize": {"width": 20}}).status_code == 200  # a stored one is still free


def test_fifty_transformations_at_once_with_a_limit_of_twenty_give_exactly_twenty(app, kim):
    set_daily_limit(app, 20)
    photo = kim.upload()

    def attempt(width):
        with app.test_client() as client:
            return kim.transform(photo["id"], {"resize": {"width": width}}, client=client).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(attempt, range(1, 51)))  # fifty different widths: nothing is cached
    assert statuses.count(201) == 20 and statuses.count(429) == 30
    assert kim.used() == 20 and variant_rows(app) == 20 and len(variant_keys(app)) == 20


def test_the_same_transformation_asked_at_once_is_made_and_charged_once(app, kim):
    photo = kim.upload(make_jpeg((1200, 900)))

    def attempt(_):
        with app.test_client() as client:
            return kim.transform(photo["id"], {"resize": {"width": 600}, "format": "png"}, client=client)

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(attempt, range(6)))
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
    assert len({r.get_json()["url"] for r in responses}) == 1
    assert kim.used() == 1 and variant_rows(app) == 1
    assert kim.get(path_of(responses[0].get_json()["url"])).status_code == 200


def test_a_request_just_before_midnight_and_one_just_after_fall_on_different_days(app, kim):
    from webapp import quota
    from webapp.extensions import db
    from webapp.media import variants
    from webapp.models import Media, User

    set_daily_limit(app, 1)
    photo = kim.upload()
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == "kim"))
        media = db.session.get(Media, photo["id"])

        def make(raw, now):
            return variants.create_variant(user, media, variants.plan(media, raw), now=now)

        assert make({"flip": True}, BEFORE_MIDNIGHT)[1] is True
        with pytest.raises(quota.QuotaExceeded):
            make({"mirror": True}, BEFORE_MIDNIGHT)
        assert make({"mirror": True}, AFTER_MIDNIGHT)[1] is True
        assert quota.used_today(user.id, BEFORE_MIDNIGHT).transforms == 1
        assert quota.used_today(user.id, AFTER_MIDNIGHT).transforms == 1


def test_two_people_never_share_a_counter(app, kim, lee):
    set_daily_limit(app, 1)
    kims, lees = kim.upload(), lee.upload()
    assert kim.transform(kims["id"], {"flip": True}).status_code == 201
    assert lee.transform(lees["id"], {"flip": True}).status_code == 201
    assert kim.transform(kims["id"], {"mirror": True}).status_code == 429
    assert (kim.used(), lee.used()) == (1, 1)


def test_zero_means_unlimited(app, kim):
    set_daily_limit(app, 0)
    photo = kim.upload()
    assert all(kim.transform(photo["id"], {"resize": {"width": w}}).status_code == 201 for w in range(1, 26))


# --- failures give the unit back ---------------------------------------------------------------

def test_a_failed_transformation_gives_its_unit_back_and_leaves_nothing(app, kim, monkeypatch):
    from webapp import transforms

    photo = kim.upload()

    def broken(*args, **kwargs):
        raise RuntimeError("the encoder crashed")

    monkeypatch.setattr(transforms, "apply", broken)
    assert kim.transform(photo["id"], {"flip": True}).status_code == 500
    assert kim.used() == 0 and variant_rows(app) == 0 and variant_keys(app) == []


def test_storage_down_while_storing_is_503_and_gives_the_unit_back(app, kim, monkeypatch):
    from webapp.storage import BlobStore, StorageUnavailable

    photo = kim.upload()
    real_put = BlobStore.put

    def put(self, key, source, **kwargs):
        if "/t-" in key:
            raise StorageUnavailable("the bucket is unreachable")
        return real_put(self, key, source, **kwargs)

    monkeypatch.setattr(BlobStore, "put", put)
    response = kim.transform(photo["id"], {"flip": True})
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "storage_unavailable"
    assert kim.used() == 0 and variant_rows(app) == 0


def test_a_unit_taken_before_midnight_is_given_back_to_that_day(app, kim, monkeypatch):
    from webapp import quota, transforms
    from webapp.extensions import db
    from webapp.media import variants
    from webapp.models import Media, User

    photo = kim.upload()
    monkeypatch.setattr(transforms, "apply", lambda *args: (_ for _ in ()).throw(RuntimeError("crashed")))
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == "kim"))
        media = db.session.get(Media, photo["id"])
        with pytest.raises(RuntimeError):
            variants.create_variant(user, media, variants.plan(media, {"flip": True}), now=BEFORE_MIDNIGHT)
        assert quota.used_today(user.id, BEFORE_MIDNIGHT).transforms == 0


# --- the editor's routes -----------------------------------------------------------------------

def editor_form(**fields) -> dict:
    """The editor form as the page sends it when nothing was changed, with `fields` changed."""
    return {"resize_width": "", "resize_height": "", "fit": "cover", "crop_x": "", "crop_y": "", "crop_width": "",
            "crop_height": "", "rotate": "0", "format": "", "quality": "85", "background": "#ffffff",
            "transparent": "1", **fields}


def test_the_editor_is_for_the_owner_only(app, kim, lee):
    photo = kim.upload(is_public="true")
    owner, _token = kim.browser()
    page = owner.get(f"/i/{photo['id']}/edit")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "20 of 20 transformations left today" in html and "midnight UTC" in html
    assert 'src="/static/js/editor.js"' in html and "<script>" not in html
    other, _token = lee.browser()
    assert other.get(f"/i/{photo['id']}/edit").status_code == 404
    assert app.test_client().get(f"/i/{photo['id']}/edit").status_code == 302  # to the login page


def test_previews_are_free_never_stored_and_show_the_result(app, kim):
    photo = kim.upload()
    browser, token = kim.browser()
    headers = {"HX-Request": "true", "X-CSRFToken": token}
    shown = browser.post(f"/i/{photo['id']}/edit/preview", data=editor_form(resize_width="32", rotate="90"),
                         headers=headers)
    html = shown.get_data(as_text=True)
    assert shown.status_code == 200 and "24 × 32" in html and "data:image/jpeg;base64," in html
    assert re.search(r"about [\d.]+ (bytes|KB)", html)
    assert kim.used() == 0 and variant_keys(app) == []
    wrong = browser.post(f"/i/{photo['id']}/edit/preview", data=editor_form(crop_x="5"), headers=headers)
    assert wrong.status_code == 200 and "editor-problem" in wrong.get_data(as_text=True)


def test_previews_are_limited_per_person(kim):
    photo = kim.upload(make_jpeg((16, 12)))
    browser, token = kim.browser()
    headers = {"HX-Request": "true", "X-CSRFToken": token}
    statuses = [browser.post(f"/i/{photo['id']}/edit/preview", data=editor_form(rotate=str(n % 300 + 1)),
                             headers=headers).status_code for n in range(121)]
    assert statuses[:120] == [200] * 120 and statuses[120] == 429


def test_saving_in_the_editor_makes_a_version_once_and_updates_the_count(app, kim):
    photo = kim.upload()
    browser, token = kim.browser()
    headers = {"HX-Request": "true", "X-CSRFToken": token}
    form = editor_form(crop_x="8", crop_y="8", crop_width="40", crop_height="30", format="webp", quality="60")
    saved = browser.post(f"/i/{photo['id']}/edit", data=form, headers=headers).get_data(as_text=True)
    assert "40 × 30 · WebP" in saved and "19 of 20 transformations left today" in saved
    assert "Crop 40×30 from 8, 8 · WebP, quality 60" in saved
    again = browser.post(f"/i/{photo['id']}/edit", data=form, headers=headers).get_data(as_text=True)
    assert "already saved" in again and kim.used() == 1
    variant_id = re.search(r'id="variant-(\d+)"', saved).group(1)
    gone = browser.delete(f"/i/{photo['id']}/edit/variants/{variant_id}", headers=headers)
    assert gone.status_code == 200 and "Nothing saved yet" in gone.get_data(as_text=True)
    assert variant_keys(app) == []
