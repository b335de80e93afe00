"""Attacks on the channel between instances (webapp/cluster.py), with two apps in one process on one database:
a change made on A while B is under load, hostile and flooding messages on the channel, a Redis that comes
and goes. The rule under attack: once A's commit and announcement have returned, no request that starts on B
afterwards answers from what B remembered."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid

import pytest

from tests.fixtures.instances import bearer, make_account, pair_on, upload_public, wait_for
from webapp import cluster

# Concurrent clients in this process: each request holds up to two pooled database connections at once (its
# session's and the bandwidth meter's own), and the pool has 15, so more would wait on the pool, not on B.
CLIENTS = 7


@pytest.fixture
def redis_url(redis_url):
    """The suite's Redis, on database 13 (this file's own) instead of the one given."""
    import redis

    url = redis_url.rsplit("/", 1)[0] + "/13"
    yield url
    redis.Redis.from_url(url).flushdb()


def kims_photo_on(app):
    kim = make_account(app, f"kim{uuid.uuid4().hex[:6]}")
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        name = db.session.get(User, kim).username
    headers = bearer(app, name)
    return kim, headers, upload_public(app, headers)


def hammer(app, requests_, change, *, after=0.3):
    """CLIENTS threads send `requests_` (path, headers) to `app` in turn, before, during and `after` seconds
    after `change()` returns; returns (seconds since change returned at the request's start, path, status)
    for every request that started after."""
    results, stop, ready = [], threading.Event(), threading.Barrier(CLIENTS + 1)
    lock = threading.Lock()
    finished_at = [None]

    def client(n):
        browser = app.test_client()
        ready.wait()
        i = n
        while not stop.is_set():
            path, headers = requests_[i % len(requests_)]
            i += 1
            started = time.monotonic()
            status = browser.get(path, headers=headers).status_code
            with lock:
                results.append((started, path, status))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    ready.wait()
    time.sleep(0.15)
    change()
    finished_at[0] = time.monotonic()
    time.sleep(after)
    stop.set()
    for thread in threads:
        thread.join(30)
    before = [status for started, _path, status in results if started < finished_at[0]]
    assert 200 in before, "the load never reached the photo before the change"
    return [(round(started - finished_at[0], 4), path, status)
            for started, path, status in results if started >= finished_at[0]]


def public_paths(media_id):
    return [(f"/i/{media_id}?size=thumb", {}), (f"/i/{media_id}", {})]


def test_a_photo_made_private_on_a_while_b_is_under_load_is_never_200_on_b_afterwards(pair):
    a, b = pair
    _kim, headers, media_id = kims_photo_on(a)
    after = hammer(b, public_paths(media_id), lambda: a.test_client().patch(
        f"/api/v1/images/{media_id}", headers=headers, json={"is_public": False}))
    assert after and [hit for hit in after if hit[2] == 200] == []


def test_a_photo_deleted_on_a_while_b_is_under_load_is_never_200_on_b_afterwards(pair):
    a, b = pair
    _kim, headers, media_id = kims_photo_on(a)
    after = hammer(b, public_paths(media_id),
                   lambda: a.test_client().delete(f"/api/v1/images/{media_id}", headers=headers))
    assert after and [hit for hit in after if hit[2] == 200] == []


def test_an_owner_blocked_on_a_while_b_is_under_load_is_never_200_on_b_afterwards(pair):
    from webapp.admin import users
    from webapp.extensions import db
    from webapp.models import User

    a, b = pair
    kim, _headers, media_id = kims_photo_on(a)
    admin = make_account(a, f"admin{uuid.uuid4().hex[:6]}", role="admin")

    def block():
        with a.app_context():
            users.block(db.session.get(User, admin), db.session.get(User, kim))

    after = hammer(b, public_paths(media_id), block)
    assert after and [hit for hit in after if hit[2] == 200] == []


def test_a_share_link_revoked_on_a_while_b_is_under_load_is_never_200_on_b_afterwards(pair):
    from tests.fixtures.shares import change_link, make_link

    a, b = pair
    kim, headers, media_id = kims_photo_on(a)
    a.test_client().patch(f"/api/v1/images/{media_id}", headers=headers, json={"is_public": False})
    link = make_link(a, kim, media_id=media_id)
    after = hammer(b, [(link.url, {})], lambda: change_link(a, link, revoked=True))
    assert after and [hit for hit in after if hit[2] == 200] == []


def test_an_api_key_revoked_on_a_while_b_is_under_load_is_never_accepted_on_b_afterwards(pair):
    a, b = pair
    _kim, headers, _media_id = kims_photo_on(a)
    made = a.test_client().post("/api/v1/api-keys", headers=headers, json={"name": "laptop"}).get_json()
    after = hammer(b, [("/api/v1/images", {"X-API-Key": made["key"]})],
                   lambda: a.test_client().delete(f"/api/v1/api-keys/{made['id']}", headers=headers))
    assert after and [hit for hit in after if hit[2] == 200] == []


# --- hostile messages on the channel ---------------------------------------------------------------------

HOSTILE = [b"not json", b"\xff\xfe\x00", b"[]", b"null", b'"photo"', b"42", b'{"key": "x"}',
           b'{"topic": ["photo"], "key": null}', b'{"topic": {"a": 1}, "key": null}',
           b'{"topic": "photo", "key": {"a": 1}}', b'{"topic": "photo", "key": ["a"]}',
           b'{"topic": "account", "key": "not a number"}', b'{"topic": "nobody-listens", "key": "x"}',
           b'{"topic": "photo", "key": null, "from": 1}', b"[" * 100_000 + b"]" * 100_000,
           b'{"topic": "' + b"p" * 1_000_000 + b'"}']


def publish(url, channel, *messages):
    import redis

    client = redis.Redis.from_url(url)
    with client.pipeline(transaction=False) as pipe:
        for message in messages:
            pipe.publish(channel, message)
        pipe.execute()


@pytest.mark.parametrize("message", HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_message_leaves_the_listener_subscribed_and_still_forgetting(pair, redis_url, message):
    from sqlalchemy import update

    from webapp.extensions import db
    from webapp.media import service
    from webapp.models import Media

    a, b = pair
    _kim, _headers, media_id = kims_photo_on(a)
    bus = cluster.bus_of(b)
    assert b.test_client().get(f"/i/{media_id}?size=thumb").status_code == 200
    subscription = bus._socket
    publish(redis_url, bus.channel, message)
    time.sleep(0.3)
    assert bus.memory_usable and bus._socket is subscription, f"the listener reconnected: {bus.last_error}"
    assert service.memory(b).get((media_id, "thumb")) is not None or message.startswith(b'{"topic": "')
    with a.app_context():
        db.session.execute(update(Media).where(Media.id == media_id).values(is_public=False))
        db.session.commit()
        cluster.announce(cluster.PHOTO, media_id)
    assert b.test_client().get(f"/i/{media_id}?size=thumb").status_code == 404


@pytest.mark.parametrize("breaks_the_listener", [False, True])
def test_a_hostile_message_just_before_a_real_one_never_lets_b_answer_stale(pair, redis_url, monkeypatch,
                                                                            breaks_the_listener):
    """Whatever the listener does with the bad message (ignores it, or fails on it and reconnects), the real
    one read in the same batch must hold at once: B never answers from memory with it unapplied."""
    from sqlalchemy import update

    from webapp.extensions import db
    from webapp.models import Media

    a, b = pair
    _kim, _headers, media_id = kims_photo_on(a)
    bus = cluster.bus_of(b)
    thumb = f"/i/{media_id}?size=thumb"
    assert b.test_client().get(thumb).status_code == 200
    with a.app_context():
        db.session.execute(update(Media).where(Media.id == media_id).values(is_public=False))
        db.session.commit()
    if breaks_the_listener:  # any error the listener did not foresee, raised while the real message waits
        receive = bus._receive

        def failing(data):
            if b"hostile" in data:
                raise RuntimeError("a bug in reading messages")
            receive(data)

        monkeypatch.setattr(bus, "_receive", failing)

    class SlowLog(logging.Handler):  # a log that takes a moment to write (a full disk, a slow terminal)
        def emit(self, record):
            time.sleep(0.5)

    slow = SlowLog(logging.WARNING)
    logging.getLogger("webapp.cluster").addHandler(slow)
    try:
        real = json.dumps({"topic": cluster.PHOTO, "key": media_id, "from": "another-instance"})
        publish(redis_url, bus.channel, b'{"topic": ["photo"], "key": "hostile"}', real)
        deadline, statuses = time.monotonic() + 1.0, []
        time.sleep(0.05)
        while time.monotonic() < deadline:
            statuses.append(b.test_client().get(thumb).status_code)
    finally:
        logging.getLogger("webapp.cluster").removeHandler(slow)
    assert statuses and set(statuses) == {404}


def test_a_flood_of_ten_thousand_messages_does_not_stall_requests(pair, redis_url):
    a, b = pair
    _kim, _headers, media_id = kims_photo_on(a)
    bus = cluster.bus_of(b)
    thumb = f"/i/{media_id}?size=thumb"
    assert b.test_client().get(thumb).status_code == 200
    flood = [json.dumps({"topic": cluster.PHOTO, "key": f"other{n}", "from": "x"}) for n in range(10_000)]
    flooding = threading.Thread(target=publish, args=(redis_url, bus.channel, *flood))
    timings = []
    flooding.start()
    while flooding.is_alive() or len(timings) < 20:
        started = time.monotonic()
        status = b.test_client().get(thumb).status_code
        timings.append((status, time.monotonic() - started))
    flooding.join()
    assert {status for status, _ in timings} == {200}
    assert max(seconds for _, seconds in timings) < 0.5, sorted(seconds for _, seconds in timings)[-5:]
    assert bus._subscribed.is_set()
    deadline = time.monotonic() + 5
    while not bus.memory_usable and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bus.memory_usable


# --- a Redis that comes and goes -----------------------------------------------------------------------


def test_a_flapping_redis_never_leaves_an_instance_answering_stale(make_app, own_redis):
    a, b = pair_on(make_app, own_redis.url)
    bus_a, bus_b = cluster.bus_of(a), cluster.bus_of(b)
    _kim, headers, media_id = kims_photo_on(a)
    visitor, owner = b.test_client(), a.test_client()
    thumb, public = f"/i/{media_id}?size=thumb", True
    wrong = []

    def toggle():
        nonlocal public
        public = not public
        assert owner.patch(f"/api/v1/images/{media_id}", headers=headers,
                           json={"is_public": public}).status_code == 200

    def check(when):
        for _ in range(3):
            status = visitor.get(thumb).status_code
            if status != (200 if public else 404):
                wrong.append((when, public, status))

    for round_ in range(4):
        check(f"round {round_} up")
        own_redis.stop()
        toggle()  # just after the stop, before anyone noticed
        check(f"round {round_} just stopped")
        wait_for(lambda: not bus_b.memory_usable)
        toggle()
        check(f"round {round_} down")
        own_redis.start()
        toggle()  # while the listeners reconnect
        check(f"round {round_} restarting")
        assert bus_a.wait_subscribed(10) and bus_b.wait_subscribed(10)
        check(f"round {round_} back")
        toggle()
        check(f"round {round_} back, changed")
        assert wait_for(lambda: bus_a.waiting() == 0 and bus_b.waiting() == 0)
    assert wrong == []


def test_one_request_for_a_photo_holds_one_pooled_database_connection_at_a_time(make_app):
    """With server.threads at 16 or more (it may be up to 256) and the pool's 15 connections, requests that each
    need two at once can all hold one and wait for the second: every one of them fails after 30 s."""
    from sqlalchemy import event

    from webapp.extensions import db

    app = make_app(storage={"url": f"memory://attack-{uuid.uuid4().hex}"})
    _kim, _headers, media_id = kims_photo_on(app)
    held, most = threading.local(), []

    def checkout(*_args):
        held.count = getattr(held, "count", 0) + 1
        most.append(held.count)

    def checkin(*_args):
        held.count = getattr(held, "count", 1) - 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    try:
        with app.app_context():
            from webapp import metering

            metering.meter_of(app).forget()  # a meter that has not read the owner's month yet
        assert app.test_client().get(f"/i/{media_id}").status_code == 200
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)
    assert most and max(most) == 1


def test_a_change_made_while_redis_hangs_is_never_answered_stale_on_the_other_instance(make_app, own_redis):
    """A Redis that stops answering without closing its sockets (frozen, or cut off by the network): A's
    announcement cannot go out, yet once A has answered, B must not answer from what it remembered."""
    import os
    import signal

    a, b = pair_on(make_app, own_redis.url)
    _kim, headers, media_id = kims_photo_on(a)
    visitor, thumb = b.test_client(), f"/i/{media_id}?size=thumb"
    assert visitor.get(thumb).status_code == 200
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        assert a.test_client().patch(f"/api/v1/images/{media_id}", headers=headers,
                                     json={"is_public": False}).status_code == 200
        changed_at, stale = time.monotonic(), []
        while time.monotonic() - changed_at < 3:
            if visitor.get(thumb).status_code == 200:
                stale.append(round(time.monotonic() - changed_at, 2))
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    assert stale == [], f"B answered 200 {len(stale)} times, up to {stale[-1]} s after A's change returned"
