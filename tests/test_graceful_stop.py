"""Graceful stop of `python -m webapp serve` on SIGTERM: what a rolling restart behind a load balancer needs.

The listening socket closes at once (new connections are refused, so nginx tries another instance),
requests already under way are finished, idle connections are closed, and the scheduler's leader lock
is given up so that another instance can lead.
"""

from __future__ import annotations

import signal
import socket
import time
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from tests.fixtures.database import TEST_DATABASE_URL, postgres_url
from tests.fixtures.processes import spawn_shoebox, wait_until_healthy

pytestmark = pytest.mark.slow


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _refused(url: str) -> bool:
    try:
        _connect(url).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_finishes_requests_under_way_and_refuses_new_ones(tmp_path):
    process, url = spawn_shoebox(tmp_path, SHOEBOX_SERVER__DRAIN_SECONDS="20")
    wait_until_healthy(process, url)
    # A request still arriving (half its headers sent) and one whose body is still arriving.
    slow_get = _connect(url)
    slow_get.sendall(b"GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    body = b"x" * 50_000
    slow_post = _connect(url)
    slow_post.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                      b"Content-Type: application/x-www-form-urlencoded\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body[:1000])
    # An idle keep-alive connection that has finished its request.
    idle = _connect(url)
    idle.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    first = idle.recv(65536)
    assert first.startswith(b"HTTP/1.1 200")
    time.sleep(0.3)

    process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert _refused(url), "a new connection was accepted after SIGTERM"
    assert process.poll() is None, "the server exited with requests under way"

    time.sleep(1.5)  # the requests keep arriving, slowly, after the signal
    slow_post.sendall(body[1000:])
    slow_get.sendall(b"Connection: close\r\n\r\n")
    assert _read_response(slow_get).startswith(b"HTTP/1.1 200"), "the slow GET did not get its answer"
    post_answer = _read_response(slow_post)
    assert post_answer.startswith(b"HTTP/1.1 ") and int(post_answer[9:12]) < 500, post_answer[:200]
    try:  # the rest of its answer, then the end: the server closes it (a timeout here means it was left open)
        answer = first + _read_response(idle)
    except TimeoutError:
        pytest.fail("the idle keep-alive connection was left open")
    assert answer.count(b"HTTP/1.1 ") == 1

    output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert "Shoebox stopped." in output and "Traceback" not in output
    for sock in (slow_get, slow_post, idle):
        sock.close()


def test_drain_gives_up_after_drain_seconds(tmp_path):
    process, url = spawn_shoebox(tmp_path, SHOEBOX_SERVER__DRAIN_SECONDS="2")
    wait_until_healthy(process, url)
    stuck = _connect(url)
    stuck.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nabc")  # never finished
    time.sleep(0.3)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=20)
    elapsed = time.monotonic() - started
    assert process.returncode == 0, output
    assert 1.5 <= elapsed < 10, f"stopped after {elapsed:.1f} s with server.drain_seconds = 2"
    assert "Stopped waiting for 1 unfinished request(s) after 2 s (server.drain_seconds)." in output
    stuck.close()


@pytest.fixture
def postgres_schema():
    """(URL of a fresh PostgreSQL schema, an AUTOCOMMIT engine on the server); the schema is dropped after."""
    if not TEST_DATABASE_URL:
        pytest.skip("TEST_DATABASE_URL is not set: the leader lock and job leases are checked on PostgreSQL")
    schema = f"graceful_{int(time.time() * 1000)}"
    admin = sa.create_engine(postgres_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(postgres_url(TEST_DATABASE_URL)).update_query_dict(
        {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    yield url, admin, schema
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_sigterm_gives_up_the_leader_lock(tmp_path, postgres_schema):
    from webapp.jobs import LEADER_LOCK_ID

    url, admin, _ = postgres_schema
    process, base = spawn_shoebox(tmp_path, SHOEBOX_DATABASE__URL=url, SHOEBOX_SCHEDULER__ENABLED="true")
    wait_until_healthy(process, base)
    with admin.connect() as conn:
        take = sa.text("SELECT pg_try_advisory_lock(:id)")
        deadline = time.monotonic() + 15
        while not _held_by_other(conn, LEADER_LOCK_ID) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert conn.execute(take, {"id": LEADER_LOCK_ID}).scalar() is False, "the server never led"
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
        assert process.returncode == 0, output
        assert conn.execute(take, {"id": LEADER_LOCK_ID}).scalar() is True, "the leader lock was not freed"
        conn.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": LEADER_LOCK_ID})


def test_sigterm_gives_back_a_job_it_is_running(tmp_path, postgres_schema):
    url, admin, schema = postgres_schema
    process, base = spawn_shoebox(tmp_path, SHOEBOX_DATABASE__URL=url, SHOEBOX_JOBS__POLL_SECONDS="1",
                                  SHOEBOX_LOGGING__LEVEL="info")
    wait_until_healthy(process, base)
    with admin.connect() as blocker, admin.connect() as conn:
        # The job deletes from view_events: with that table locked, it is caught running when the signal comes.
        blocker.execute(sa.text("BEGIN"))
        blocker.execute(sa.text(f'LOCK TABLE "{schema}".view_events IN ACCESS EXCLUSIVE MODE'))
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        job_id = conn.execute(sa.text(
            f'INSERT INTO "{schema}".jobs (name, payload, state, attempts, max_attempts, run_after, cancel_requested, '
            "progress, detail, error, created_at) VALUES ('prune_view_events', '{}', 'queued', 0, 3, :now, false, 0, "
            "'{}', '', :now) RETURNING id"), {"now": now}).scalar()
        row = sa.text(f'SELECT state, attempts, lease_owner FROM "{schema}".jobs WHERE id = :id')
        deadline = time.monotonic() + 20
        while conn.execute(row, {"id": job_id}).one().state != "running" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert conn.execute(row, {"id": job_id}).one().state == "running", "the worker never took the job"
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
        assert "Gave back 1 unfinished job(s) for another worker." in output, output
        state, attempts, owner = conn.execute(row, {"id": job_id}).one()
        assert (state, attempts, owner) == ("queued", 0, None), "the job's lease was not given back"
        blocker.execute(sa.text("ROLLBACK"))


def _held_by_other(conn, lock_id: int) -> bool:
    return bool(conn.execute(sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :id "
                                     "AND granted"), {"id": lock_id}).scalar())
