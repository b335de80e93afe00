"""Two instances on one database and one Redis: a change made on one is seen by the other on its very next
request, although the other had the old answer in memory (webapp/cluster.py carries what to forget)."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fixtures.instances import bearer, make_account, upload_public
from webapp import cluster


def remembered(app, key) -> bool:
    from webapp.media import service

    return service.memory(app).get(key) is not None


@pytest.fixture
def kims_photo(pair):
    """Kim's public photo, uploaded through A, with Kim's API headers."""
    a, _b = pair
    kim = make_account(a, "kim")
    headers = bearer(a, "kim")
    return kim, headers, upload_public(a, headers)


def admin_of(app):
    from webapp.extensions import db
    from webapp.models import User

    return db.session.get(User, make_account(app, f"admin{uuid.uuid4().hex[:6]}", role="admin"))


def test_a_photo_made_private_on_one_instance_is_404_on_the_other_at_once(pair, kims_photo):
    a, b = pair
    _kim, headers, media_id = kims_photo
    visitor = b.test_client()
    assert visitor.get(f"/i/{media_id}?size=thumb").status_code == 200
    assert visitor.get(f"/i/{media_id}").status_code == 200
    assert remembered(b, (media_id, "thumb")) and remembered(b, (media_id, "original"))
    assert a.test_client().patch(f"/api/v1/images/{media_id}", headers=headers,
                                 json={"is_public": False}).status_code == 200
    assert visitor.get(f"/i/{media_id}?size=thumb").status_code == 404
    assert visitor.get(f"/i/{media_id}").status_code == 404


def test_a_photo_deleted_on_one_instance_is_404_on_the_other_at_once(pair, kims_photo):
    a, b = pair
    _kim, headers, media_id = kims_photo
    visitor = b.test_client()
    assert visitor.get(f"/i/{media_id}?size=thumb").status_code == 200
    assert a.test_client().delete(f"/api/v1/images/{media_id}", headers=headers).status_code == 204
    assert visitor.get(f"/i/{media_id}?size=thumb").status_code == 404


def test_an_owner_blocked_on_one_instance_stops_answering_on_the_other_at_once(pair, kims_photo):
    from webapp.admin import users
    from webapp.extensions import db
    from webapp.media import signed
    from webapp.models import Media, User

    a, b = pair
    kim, headers, media_id = kims_photo
    with b.test_request_context():
        parts = signed.address(db.session.get(Media, media_id), "thumb")
    owner_address = "/i/{media_id}/{size}.{owner_id}.{content}.{sig}.webp".format(**parts)
    visitor = b.test_client()
    assert visitor.get(f"/i/{media_id}?size=thumb").status_code == 200
    assert visitor.get(owner_address).status_code == 200
    assert b.test_client().get("/api/v1/images", headers=headers).status_code == 200
    assert remembered(b, (media_id, "thumb")) and remembered(b, (media_id, "thumb", parts["sig"]))
    with a.app_context():
        users.block(admin_of(a), db.session.get(User, kim))
    assert visitor.get(f"/i/{media_id}?size=thumb").status_code == 404
    assert visitor.get(owner_address).status_code == 404
    assert b.test_client().get("/api/v1/images", headers=headers).status_code == 401


def test_a_share_link_revoked_on_one_instance_stops_on_the_other_at_once(pair, kims_photo):
    from tests.fixtures.shares import change_link, make_link

    a, b = pair
    kim, _headers, media_id = kims_photo
    link = make_link(a, kim, media_id=media_id)
    recipient = b.test_client()
    assert recipient.get(link.url).status_code == 200
    change_link(a, link, revoked=True)
    assert recipient.get(link.url).status_code == 410


def test_an_api_key_revoked_on_one_instance_is_refused_on_the_other_at_once(pair, kims_photo):
    a, b = pair
    _kim, headers, _media_id = kims_photo
    made = a.test_client().post("/api/v1/api-keys", headers=headers, json={"name": "laptop"}).get_json()
    key = {"X-API-Key": made["key"]}
    assert b.test_client().get("/api/v1/images", headers=key).status_code == 200
    assert a.test_client().delete(f"/api/v1/api-keys/{made['id']}", headers=headers).status_code == 204
    assert b.test_client().get("/api/v1/images", headers=key).status_code == 401


def test_a_changed_hotlink_list_holds_on_the_other_instance_at_once(pair, kims_photo):
    from webapp.media import hotlinks

    a, b = pair
    _kim, _headers, media_id = kims_photo
    elsewhere = {"Referer": "https://forum.example/thread/1"}
    visitor = b.test_client()
    assert visitor.get(f"/i/{media_id}?size=thumb", headers=elsewhere).status_code == 200  # every site may embed
    with a.app_context():
        assert hotlinks.save_allowed_sites(admin_of(a), "friends.example")
    assert visitor.get(f"/i/{media_id}?size=thumb", headers=elsewhere).status_code == 403
    assert visitor.get(f"/i/{media_id}?size=thumb",
                       headers={"Referer": "https://www.friends.example/"}).status_code == 200


def test_a_plan_limit_lowered_on_one_instance_holds_on_the_other_at_once(pair, kims_photo):
    from webapp.admin import plans
    from webapp.extensions import db
    from webapp.models import User

    a, b = pair
    kim, _headers, media_id = kims_photo
    visitor = b.test_client()
    assert visitor.get(f"/i/{media_id}?size=thumb").status_code == 200  # B now knows the plan's limit (50 GiB)
    with a.app_context():
        plan_id = db.session.get(User, kim).plan_id
        plans.update_plan(admin_of(a), plan_id, {"bandwidth_bytes_per_month": 1})
    # B's own tally of what it served is past one byte.
    refused = visitor.get(f"/i/{media_id}?size=thumb", headers={"Accept": "application/json"})
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "bandwidth_exceeded"


def test_an_instance_that_cannot_hear_answers_from_the_database(pair, kims_photo):
    from sqlalchemy import update

    from webapp.extensions import db
    from webapp.models import Media

    a, b = pair
    _kim, _headers, media_id = kims_photo
    visitor = b.test_client()
    assert visitor.get(f"/i/{media_id}?size=thumb").status_code == 200
    assert remembered(b, (media_id, "thumb"))
    bus = cluster.bus_of(b)
    bus.stop()  # B's listener leaves: from now on it hears nothing
    with a.app_context():  # a change nobody announces: only the database knows
        db.session.execute(update(Media).where(Media.id == media_id).values(is_public=False))
        db.session.commit()
    assert not bus.memory_usable
    assert visitor.get(f"/i/{media_id}?size=thumb").status_code == 404
    with b.app_context():
        assert cluster.bus_of(b).status()["status"] == "unreachable"


def test_fifty_requests_on_both_instances_while_announcing_never_fail(pair, kims_photo):
    a, b = pair
    _kim, _headers, media_id = kims_photo
    done = threading.Event()

    def announce():
        with a.app_context():
            while not done.is_set():
                cluster.announce(cluster.PHOTO, media_id)
                cluster.announce(cluster.ACCOUNT, "0")
                cluster.announce(cluster.SETTINGS)

    def fetch(n):
        app = (a, b)[n % 2]
        path = f"/i/{media_id}?size=thumb" if n % 3 else f"/i/{media_id}"
        return app.test_client().get(path, headers={"Referer": "https://forum.example/"}).status_code

    announcer = threading.Thread(target=announce)
    announcer.start()
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(fetch, range(50)))
    finally:
        done.set()
        announcer.join()
    assert statuses == [200] * 50
