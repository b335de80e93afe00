"""The meter: bytes served from each account's photos and API requests are counted in memory and land in
daily_usage on flush; once a plan's monthly bandwidth is used up, that owner's photos answer 429 naming
the limit, with Retry-After to the first of next month, and nobody else's are touched."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from tests.fixtures.media import make_jpeg
from webapp import metering


def make_plan(app, name, **limits):
    from webapp.extensions import db
    from webapp.models import Plan

    with app.app_context():
        plan = Plan(name=name, description="", **limits)
        db.session.add(plan)
        db.session.commit()
        return plan.id


def put_on(app, user_id, plan_id):
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        db.session.get(User, user_id).plan_id = plan_id
        db.session.commit()
        metering.forget()


def usage(app, user_id):
    """(bytes_out, api_requests) summed over daily_usage, after writing what waits."""
    from webapp.extensions import db
    from webapp.models import DailyUsage

    metering.flush(app)
    with app.app_context():
        row = db.session.execute(select(func.coalesce(func.sum(DailyUsage.bytes_out), 0),
                                        func.coalesce(func.sum(DailyUsage.api_requests), 0))
                                 .where(DailyUsage.user_id == user_id)).one()
        return tuple(row)


@pytest.fixture
def public_photo(kim):
    """Kim's public photo: (id, size in bytes)."""
    answer = kim.upload(make_jpeg((320, 240)), is_public="true").get_json()
    return answer["id"], answer["size"]


def test_served_bytes_land_in_daily_usage_after_a_flush(app, kim, public_photo):
    media_id, size = public_photo
    visitor = app.test_client()
    for _ in range(3):
        assert visitor.get(f"/i/{media_id}").status_code == 200
    bytes_out, _requests = usage(app, kim.id)
    assert bytes_out == 3 * size


def test_a_304_counts_nothing_and_a_range_counts_its_length(app, kim, public_photo):
    media_id, size = public_photo
    visitor = app.test_client()
    etag = visitor.get(f"/i/{media_id}").headers["ETag"]
    assert visitor.get(f"/i/{media_id}", headers={"If-None-Match": etag}).status_code == 304
    ranged = visitor.get(f"/i/{media_id}", headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.data) == 100
    assert visitor.head(f"/i/{media_id}").status_code == 200
    assert usage(app, kim.id)[0] == size + 100


def test_over_the_monthly_bandwidth_an_owners_photos_answer_429_and_others_do_not(app, kim, make_user,
                                                                                   public_photo):
    media_id, size = public_photo
    put_on(app, kim.id, make_plan(app, "tiny", bandwidth_bytes_per_month=2 * size))
    visitor = app.test_client()
    assert visitor.get(f"/i/{media_id}").status_code == 200
    assert visitor.get(f"/i/{media_id}").status_code == 200
    refused = visitor.get(f"/i/{media_id}", headers={"Accept": "application/json"})
    assert refused.status_code == 429
    error = refused.get_json()["error"]
    assert error["code"] == "bandwidth_exceeded"
    assert error["message"].startswith("This photo's owner has used this month's ")
    assert metering.human_size(2 * size) in error["message"]
    now = datetime.now(timezone.utc)
    assert 0 < int(refused.headers["Retry-After"]) <= (32 - now.day) * 86400
    assert visitor.get(f"/i/{media_id}?size=thumb").status_code == 429  # every size of it
    assert usage(app, kim.id)[0] == 2 * size  # the refusals sent nothing

    # Someone else on the same kind of plan is not touched.
    from tests.test_admin_plans import api_client
    other_id = make_user(username="lee")
    put_on(app, other_id, make_plan(app, "tiny2", bandwidth_bytes_per_month=2 * size))
    lee = api_client(app, "lee")
    from tests.fixtures.media import multipart
    body, content_type = multipart({"file": (make_jpeg((320, 240), colour=(9, 9, 9)), "b.jpg"), "is_public": "true"})
    lees = lee.post("/api/v1/images", data=body, content_type=content_type).get_json()["id"]
    assert visitor.get(f"/i/{lees}").status_code == 200


def test_the_written_total_binds_after_a_flush_too(app, kim, public_photo):
    media_id, size = public_photo
    plan_id = make_plan(app, "tiny", bandwidth_bytes_per_month=size)
    visitor = app.test_client()
    assert visitor.get(f"/i/{media_id}").status_code == 200
    metering.flush(app)
    put_on(app, kim.id, plan_id)  # forgets what this instance knew: the month's total is read afresh
    assert visitor.get(f"/i/{media_id}").status_code == 429


def test_fifty_concurrent_downloads_are_all_counted(app, kim, public_photo):
    media_id, size = public_photo

    def fetch(_):
        return len(app.test_client().get(f"/i/{media_id}").data)

    with ThreadPoolExecutor(max_workers=10) as pool:
        sent = sum(pool.map(fetch, range(50)))
    assert sent == 50 * size
    assert usage(app, kim.id)[0] == sent


def test_each_api_request_is_counted(app, kim):
    before = usage(app, kim.id)[1]
    for _ in range(4):
        assert kim.get("/api/v1/images").status_code == 200
    assert usage(app, kim.id)[1] == before + 4


def test_a_zip_counts_what_it_streamed(app, kim, public_photo, auth):
    from tests.fixtures.accounts import csrf_token_from

    media_id, size = public_photo
    client = kim.test_client
    auth._client = client
    auth.login("kim")
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    zipped = client.post("/library/download", data={"ids": [media_id], "csrf_token": token})
    assert zipped.status_code == 200
    streamed = len(zipped.data)  # the body is made as it is read
    assert streamed > size and usage(app, kim.id)[0] == streamed


def test_the_hot_path_reads_the_database_once_per_owner_not_per_request(app, kim, public_photo):
    from sqlalchemy import event

    from webapp.extensions import db

    media_id, _size = public_photo
    put_on(app, kim.id, make_plan(app, "big", bandwidth_bytes_per_month=10 ** 12))
    visitor = app.test_client()
    visitor.get(f"/i/{media_id}?size=thumb")  # warms the preset and the owner's figures
    statements = []
    with app.app_context():
        engine = db.engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        for _ in range(20):
            assert visitor.get(f"/i/{media_id}?size=thumb").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert not [s for s in statements if "daily_usage" in s or "plans" in s]


def test_next_month_starts_on_the_first_at_midnight_utc():
    assert metering.seconds_to_next_month(datetime(2026, 12, 31, 23, 59, 0, tzinfo=timezone.utc)) == 60
    assert metering.seconds_to_next_month(datetime(2026, 2, 28, 0, 0, 0, tzinfo=timezone.utc)) == 86400
