"""Attacks on the real cluster: a change on one instance under load on the other, a graceful stop with a slow
upload in flight, Redis frozen and back under rate-limited logins, and a leader paused (SIGSTOP) past its
lease. Instance 0 is "A", instance 1 is "B"."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa

from tests.cluster.conftest import supervisor
from tests.cluster.people import TIMEOUT, admin_of, call, sign_up
from tests.fixtures.media import make_jpeg

CLIENTS = 50


@pytest.fixture(scope="module")
def admin(cluster):
    return admin_of(cluster)


def test_fifty_requests_on_b_never_see_a_photo_made_private_on_a_once_that_has_returned(cluster, admin):
    a, b = cluster.instances
    kim = sign_up(a)
    uploaded = kim.upload(a, make_jpeg((96, 64)), is_public="true")
    assert uploaded.status_code == 201, uploaded.text
    media_id = uploaded.json()["id"]
    paths = [f"/i/{media_id}?size=thumb", f"/i/{media_id}"]
    stop, results, lock = threading.Event(), [], threading.Lock()

    def client(n):
        with requests.Session() as browser:
            i = n
            while not stop.is_set():
                started = time.monotonic()
                status = browser.get(b + paths[i % 2], timeout=TIMEOUT).status_code
                i += 1
                with lock:
                    results.append((started, status))

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        for n in range(CLIENTS):
            pool.submit(client, n)
        time.sleep(1)
        assert kim.patch(a, f"/api/v1/images/{media_id}", json={"is_public": False}).status_code == 200
        changed_at = time.monotonic()
        time.sleep(1.5)
        stop.set()
    before = [status for started, status in results if started < changed_at]
    after = [status for started, status in results if started >= changed_at]
    assert 200 in before and after
    assert set(after) == {404}, {status: after.count(status) for status in set(after)}


def noisy_jpeg() -> bytes:
    """A photo of a few megabytes (noise does not compress)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.frombytes("RGB", (1600, 1200), os.urandom(1600 * 1200 * 3)).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def test_a_slow_upload_in_flight_at_sigterm_completes_and_the_port_then_refuses(cluster, admin):
    b = cluster.instances[1]
    port = int(b.rsplit(":", 1)[1])
    kim = sign_up(cluster.lb)
    photo = noisy_jpeg()
    boundary = "attackboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + photo + f"\r\n--{boundary}--\r\n".encode()
    head = (f"POST /api/v1/images HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {kim.access_token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode()
    upload = socket.create_connection(("127.0.0.1", port), timeout=60)
    upload.sendall(head + body[:len(body) // 4])
    time.sleep(0.5)
    process = cluster._supervisor.instances[1].process
    process.send_signal(signal.SIGTERM)
    time.sleep(1)
    try:
        # New connections to the stopping instance are refused; through nginx they go to the other.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        assert call(cluster.lb, "GET", "/health/ready").status_code == 200
        for piece in range(1, 4):  # the rest, slowly, over 3 s
            upload.sendall(body[len(body) * piece // 4:len(body) * (piece + 1) // 4])
            time.sleep(1)
        answer = b""
        while chunk := upload.recv(65536):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
        assert process.wait(30) == 0
    finally:
        upload.close()
        process.wait(60)
        cluster.start(1)


def _redis_process(cluster):
    return next(process for name, process in cluster._supervisor._services if name == "redis")


def _wrong_login(base: str, address: str, n: int = 0) -> tuple[int, float]:
    """A wrong password from `address` for a made-up account of its own (only the per-address limit in play)."""
    started = time.monotonic()
    status = call(base, "POST", "/api/v1/auth/login", json={"identifier": f"nobody{n}-{address}", "password": "wrong"},
                  headers={"X-Forwarded-For": address}).status_code
    return status, time.monotonic() - started


def _limits_shared(base: str) -> bool:
    answer = call(base, "GET", "/health/ready")
    return answer.status_code == 200 and answer.json()["checks"]["limits"]["status"] == "shared"


def test_login_limits_with_redis_frozen_then_back_never_500_and_are_shared_again(cluster):
    a, b = cluster.instances
    redis = _redis_process(cluster)
    usual = [_wrong_login((a, b)[n % 2], "198.51.100.6", n) for n in range(6)]
    os.kill(redis.pid, signal.SIGSTOP)
    try:
        frozen = [_wrong_login((a, b)[n % 2], "198.51.100.7", n) for n in range(12)]
    finally:
        os.kill(redis.pid, signal.SIGCONT)
    print(f"\nWrong logins, Redis up: {usual}\nRedis frozen: {frozen}")
    assert all(status in (401, 429) for status, _ in frozen), frozen
    assert max(seconds for _, seconds in frozen) < 1.5, frozen
    # Back: each instance goes back to Redis after its back-off (at most 32 s).
    deadline = time.monotonic() + 60
    while not (_limits_shared(a) and _limits_shared(b)):
        assert time.monotonic() < deadline, "the limits did not go back to Redis"
        _wrong_login(a, "198.51.100.99")
        _wrong_login(b, "198.51.100.99")
        time.sleep(1)
    shared = [_wrong_login((a, b)[n % 2], "198.51.100.8", n)[0] for n in range(11)]
    assert shared == [401] * 10 + [429], shared


def _engine(cluster):
    return sa.create_engine(supervisor.postgres_url(cluster.database_url), isolation_level="AUTOCOMMIT")


def _leader(cluster) -> int:
    deadline = time.monotonic() + 40
    while (index := cluster.leader()) is None:
        assert time.monotonic() < deadline, "no instance leads the scheduler"
        time.sleep(0.5)
    return index


def test_a_leader_paused_past_its_lease_keeps_the_lock_and_no_slot_runs_twice(cluster):
    lease = int(cluster.env()["SHOEBOX_JOBS__LEASE_SECONDS"])
    leader = _leader(cluster)
    other = 1 - leader
    process = cluster._supervisor.instances[leader].process
    engine = _engine(cluster)
    seen, through_lb = set(), []
    os.kill(process.pid, signal.SIGSTOP)
    paused_at = time.monotonic()
    try:
        while time.monotonic() - paused_at < lease * 2:
            answer = supervisor.ready(cluster.instances[other])
            seen.add(bool(answer and answer["checks"]["scheduler"].get("leader")))
            started = time.monotonic()
            try:
                status = requests.get(cluster.lb + "/health", timeout=10).status_code
            except requests.RequestException as error:
                status = type(error).__name__
            through_lb.append((round(started - paused_at, 1), status, round(time.monotonic() - started, 1)))
            time.sleep(1)
    finally:
        os.kill(process.pid, signal.SIGCONT)
    print(f"\nPaused leader {leader} for {lease * 2} s: instance {other} led: {sorted(seen)}; "
          f"through nginx (s after pause, status, s taken): {through_lb}")
    assert seen == {False}, "another instance took the advisory lock while the leader's connection lived"
    assert _leader(cluster) == leader
    with engine.connect() as conn:
        twice = conn.execute(sa.text("SELECT slot, count(*) FROM jobs WHERE slot IS NOT NULL GROUP BY slot "
                                     "HAVING count(*) > 1")).all()
        runs = conn.execute(sa.text("SELECT j.slot, j.attempts FROM jobs j WHERE j.slot IS NOT NULL "
                                    "AND j.attempts > 1")).all()
    engine.dispose()
    assert twice == [] and runs == [], (twice, runs)
    # A request nginx sent to the paused instance before the supervisor marked it down waits for it (up to
    # proxy_read_timeout); once marked down (two health polls), every request goes to the other instance.
    noticed = 2 * supervisor.HEALTH_EVERY + 2
    late = [hit for hit in through_lb if hit[0] > noticed + 10 and (hit[1] != 200 or hit[2] > 1)]
    assert late == [], f"requests through nginx while an instance was paused: {late}"


def test_a_job_held_by_a_paused_instance_is_taken_over_and_the_paused_one_writes_no_result(cluster):
    """SIGSTOP the instance running a job for longer than its lease: another takes the job over; on SIGCONT
    the paused one must not record its own outcome over the new owner's."""
    lease = int(cluster.env()["SHOEBOX_JOBS__LEASE_SECONDS"])
    engine = _engine(cluster)
    with engine.connect() as blocker, engine.connect() as conn:
        blocker.execute(sa.text("BEGIN"))
        blocker.execute(sa.text("LOCK TABLE view_events IN ACCESS EXCLUSIVE MODE"))
        job_id = conn.execute(sa.text(
            "INSERT INTO jobs (name, payload, state, attempts, max_attempts, run_after, cancel_requested, progress, "
            "detail, error, created_at) VALUES ('prune_view_events', '{}', 'queued', 0, 3, now() AT TIME ZONE 'UTC', "
            "false, 0, '{}', '', now() AT TIME ZONE 'UTC') RETURNING id")).scalar()

        def row():
            return conn.execute(sa.text("SELECT state, attempts, lease_owner, error FROM jobs WHERE id = :id"),
                                {"id": job_id}).one()

        deadline = time.monotonic() + 30
        while row().lease_owner is None:
            assert time.monotonic() < deadline, "no instance claimed the job"
            time.sleep(0.25)
        first_owner = row().lease_owner
        held_by = {cluster.pid(i): i for i in range(2)}[int(first_owner.split(":")[1])]
        process = cluster._supervisor.instances[held_by].process
        os.kill(process.pid, signal.SIGSTOP)
        try:
            deadline = time.monotonic() + lease + 20
            while row().lease_owner in (first_owner, None):
                assert time.monotonic() < deadline, f"the job was not taken over: {row()}"
                time.sleep(0.25)
            taken = row()
            blocker.execute(sa.text("ROLLBACK"))
            time.sleep(3)
        finally:
            os.kill(process.pid, signal.SIGCONT)
        deadline = time.monotonic() + 60
        while row().state not in ("done", "failed"):
            assert time.monotonic() < deadline, f"the job did not finish: {row()}"
            time.sleep(0.25)
        time.sleep(3)  # the paused one has woken and done whatever it does
        final = row()
    engine.dispose()
    paused_log = [line for line in cluster.log(held_by).splitlines() if f"Job {job_id}" in line or
                  f"job {job_id}" in line]
    print(f"\nJob {job_id}: claimed by {first_owner} (instance {held_by}, then paused), taken over as {taken}; "
          f"final {final}; the paused instance logged: {paused_log}")
    assert taken.attempts == 2 and final.state == "done" and final.error == "", final
