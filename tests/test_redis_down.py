"""Redis down: rate limits fall back to each instance's memory, no request stalls, /health/ready stays 200 and
says so; an instance that lost the channel answers from the database, and hears again once Redis is back."""

from __future__ import annotations

import socket
import time
import uuid

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD, csrf_token_from
from tests.fixtures.media import make_jpeg, multipart
from tests.fixtures.instances import spare_port, wait_for
from webapp import cluster


@pytest.fixture(autouse=True)
def limiter_back_to_its_storage():
    """The limiter is one object for every app in the process: what one test's dead Redis taught it must not
    send the next test's apps to the fallback memory."""
    yield
    from webapp.extensions import limiter

    limiter._storage_dead = False


@pytest.fixture
def hung_redis():
    """An address that accepts connections and never answers, like a Redis host that froze."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()


def make_account(app, name):
    from webapp.auth import service

    with app.app_context():
        return service.create_user(f"{name}@example.com", name, STRONG_PASSWORD, verified=True).id


def failed_login(client, n) -> tuple[int, float]:
    """One wrong password for a made-up account (only the per-address limit in play): status and seconds taken."""
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    started = time.monotonic()
    status = client.post("/login", data={"identifier": f"guess{n}", "password": "wrong wrong wrong",
                                         "csrf_token": token}).status_code
    return status, time.monotonic() - started


def warm_up(make_app) -> None:
    """Kim's account, and one sign-in on an app without Redis: a process's first costs a second whatever the
    storage, which is not what the tests measure."""
    app = make_app()
    make_account(app, "kim")
    failed_login(app.test_client(), 0)


def test_with_redis_down_login_limits_hold_per_instance_and_answer_at_once(make_app):
    warm_up(make_app)
    app = make_app(cluster={"redis_url": f"redis://127.0.0.1:{spare_port()}/0"})  # nothing listens there
    client = app.test_client()
    attempts = [failed_login(client, n) for n in range(11)]
    assert [status for status, _seconds in attempts] == [200] * 10 + [429]
    assert max(seconds for _status, seconds in attempts) < 0.5  # 20-90 ms each here, the first included


def test_with_redis_down_the_instance_is_ready_and_says_limits_are_per_instance(make_app):
    app = make_app(cluster={"redis_url": f"redis://127.0.0.1:{spare_port()}/0"})
    response = app.test_client().get("/health/ready")
    assert response.status_code == 200
    checks = response.get_json()["checks"]
    assert checks["limits"]["status"] == "per instance"
    assert "each instance counts rate limits alone" in checks["limits"]["detail"]
    assert checks["cluster"]["status"] == "unreachable"
    assert "answers from the database" in checks["cluster"]["detail"]


def test_without_redis_the_instance_says_limits_are_in_memory_and_it_is_single(app):
    checks = app.test_client().get("/health/ready").get_json()["checks"]
    assert checks["limits"]["status"] == "memory" and checks["cluster"]["status"] == "single"


def test_with_redis_up_limits_are_shared_and_the_instance_hears_the_others(make_app, own_redis):
    app = make_app(cluster={"redis_url": own_redis.url})
    assert cluster.bus_of(app).wait_subscribed(5)
    checks = app.test_client().get("/health/ready").get_json()["checks"]
    assert checks["limits"]["status"] == "shared" and checks["cluster"]["status"] == "ok"


def test_a_hung_redis_costs_a_request_a_fraction_of_a_second(make_app, hung_redis):
    warm_up(make_app)
    app = make_app(cluster={"redis_url": hung_redis})
    client = app.test_client()
    attempts = [failed_login(client, n) for n in range(3)]
    assert all(status == 200 for status, _seconds in attempts)
    assert max(seconds for _status, seconds in attempts) < 1.0
    started = time.monotonic()
    with app.app_context():
        cluster.announce(cluster.PHOTO, "some-photo")  # not subscribed: kept for later
    # A change waits out the others' silence deadline (so none answers from before it), and no longer.
    assert cluster.FRESH_SECONDS <= time.monotonic() - started < cluster.FRESH_SECONDS + 0.5
    assert not cluster.bus_of(app).memory_usable


def test_an_instance_that_lost_redis_answers_from_the_database_and_hears_again_when_it_is_back(make_app, own_redis):
    from webapp.media import service

    shared = {"cluster": {"redis_url": own_redis.url}, "storage": {"url": f"memory://redis-down-{uuid.uuid4().hex}"}}
    a, b = make_app(**shared), make_app(**shared)
    bus_a, bus_b = cluster.bus_of(a), cluster.bus_of(b)
    assert bus_a.wait_subscribed(5) and bus_b.wait_subscribed(5)
    make_account(a, "kim")
    token = a.test_client().post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD})
    headers = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
    body, content_type = multipart({"file": (make_jpeg(), "a.jpg"), "is_public": "true"})
    media_id = a.test_client().post("/api/v1/images", headers=headers, data=body,
                                    content_type=content_type).get_json()["id"]
    visitor, owner = b.test_client(), a.test_client()
    thumb = f"/i/{media_id}?size=thumb"
    assert visitor.get(thumb).status_code == 200
    assert service.memory(b).get((media_id, "thumb")) is not None

    own_redis.stop()
    assert wait_for(lambda: not bus_a.memory_usable and not bus_b.memory_usable)
    assert service.memory(b).get((media_id, "thumb")) is None  # forgotten when the channel broke
    started = time.monotonic()
    assert owner.patch(f"/api/v1/images/{media_id}", headers=headers, json={"is_public": False}).status_code == 200
    assert time.monotonic() - started < cluster.FRESH_SECONDS + 1.0  # waits out the others' silence deadline only
    assert visitor.get(thumb).status_code == 404
    assert owner.patch(f"/api/v1/images/{media_id}", headers=headers, json={"is_public": True}).status_code == 200
    assert visitor.get(thumb).status_code == 200
    assert service.memory(b).get((media_id, "thumb")) is None  # nothing kept that it could not be told about
    assert b.test_client().get("/health/ready").status_code == 200

    own_redis.start()
    assert bus_a.wait_subscribed(10) and bus_b.wait_subscribed(10)
    assert wait_for(lambda: bus_a.waiting() == 0)  # what A announced while Redis was down has gone out
    # Remembered again (A's kept announcements may still empty B's memory once while they arrive).
    assert wait_for(lambda: visitor.get(thumb).status_code == 200 and service.memory(b).get((media_id, "thumb")))
    assert owner.patch(f"/api/v1/images/{media_id}", headers=headers, json={"is_public": False}).status_code == 200
    assert visitor.get(thumb).status_code == 404
    assert b.test_client().get("/health/ready").get_json()["checks"]["cluster"]["status"] == "ok"


def test_the_admin_dashboard_warns_that_limits_are_per_instance_while_redis_is_down(make_app):
    from tests.fixtures.accounts import AuthActions
    from webapp.auth import service

    app = make_app(cluster={"redis_url": f"redis://127.0.0.1:{spare_port()}/0"})
    with app.app_context():
        service.create_user("root@example.com", "root", STRONG_PASSWORD, role="admin", verified=True)
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": "root", "password": STRONG_PASSWORD})
    health = client.get("/api/v1/admin/stats", headers={"Authorization": f"Bearer {token.get_json()['access_token']}"}) \
        .get_json()["health"]
    assert health["limits"]["status"] == "warning" and health["limits"]["state"] == "per instance"
    assert health["cluster"]["status"] == "warning" and health["cluster"]["state"] == "unreachable"
    AuthActions(client).login("root")
    html = client.get("/admin/").get_data(as_text=True)
    section = html[html.index('id="dashboard-health-heading"'):]
    assert "Rate limits" in section and "counted by each instance alone" in section
    assert "Other instances" in section and "answers from the database" in section
