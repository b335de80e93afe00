"""Leader failover and job takeover: kill -9 an instance and the others carry on.

The instances run with jobs.lease_seconds = 10 and a 5 s scheduler heartbeat (conftest.FAST_SETTINGS);
each instance tries to take the leader lock every 10 s.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from tests.cluster.conftest import supervisor

LEADER_WITHIN = 30  # seconds, from the issue


@pytest.fixture(scope="module")
def cluster_settings():
    # A grace of 8 days makes the last slot of every scheduled job (the weekly one too) due at once, so that
    # the leader queues one of each, not only the hourly ones.
    return {"SHOEBOX_SCHEDULER__MISFIRE_GRACE_SECONDS": str(8 * 24 * 3600)}


def _engine(cluster):
    return sa.create_engine(supervisor.postgres_url(cluster.database_url), isolation_level="AUTOCOMMIT")


def _wait(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"{what} within {seconds:.0f} s")


def _leader(cluster, seconds: float, what: str) -> int:
    return _wait(lambda: (index := cluster.leader()) is not None and (index,), seconds, what)[0]


def _slots(conn) -> dict[str, int]:
    rows = conn.execute(sa.text("SELECT slot, count(*) FROM jobs WHERE slot IS NOT NULL GROUP BY slot")).all()
    return {slot: count for slot, count in rows}


def test_another_instance_leads_within_30_s_of_kill_9_and_no_slot_is_queued_twice_or_lost(cluster):
    engine = _engine(cluster)
    leader = _leader(cluster, 30, "no instance leads the scheduler")
    with engine.connect() as conn:
        before = _wait(lambda: _slots(conn), 30, "the leader queued no scheduled slot")
        names = {slot.split("@")[0] for slot in before}
        _wait(lambda: _unfinished_slots(conn) == 0, 60, "the scheduled jobs did not run")

        cluster.kill(leader)
        killed_at = time.monotonic()
        # The slots a leader dying at the turn of the hour would not have queued: their rows are gone, as if never
        # queued. The next leader must queue each of them, once.
        missed = sorted(conn.execute(sa.text(
            "DELETE FROM jobs WHERE slot IS NOT NULL AND state IN ('done', 'failed') RETURNING slot")).scalars())

        new_leader = _leader(cluster, LEADER_WITHIN + 5, "no other instance took the lead")
        took = time.monotonic() - killed_at
        print(f"\nFailover: instance {new_leader} leads {took:.1f} s after kill -9 of the leader (instance {leader}); "
              f"{len(missed)} missed slot(s) queued again by it")
        assert new_leader != leader and took <= LEADER_WITHIN
        assert missed == sorted(before)

        after = _wait(lambda: (slots := _slots(conn)) and set(before) <= set(slots) and slots, 30,
                      "the new leader did not queue every slot the old one had")
        assert all(count == 1 for count in after.values()), {s: c for s, c in after.items() if c != 1}
        assert {slot.split("@")[0] for slot in after} >= names and len(names) >= 5, names
        # Each of them runs, once, on some instance.
        _wait(lambda: _unfinished_slots(conn) == 0, 60, "the re-queued slots did not run")
        assert _slots(conn) == after
        beat = conn.execute(sa.text("SELECT instance FROM job_runs WHERE name = 'heartbeat'")).scalar()
        assert beat.endswith(f":{cluster.pid(new_leader)}"), f"the heartbeat is written by {beat}"

    cluster.start(leader)  # back as a follower: the lock stays with the new leader
    assert cluster.leader() == new_leader
    engine.dispose()


def test_a_job_held_by_a_killed_instance_is_taken_over_after_its_lease(cluster):
    engine = _engine(cluster)
    lease_seconds = int(cluster.env()["SHOEBOX_JOBS__LEASE_SECONDS"])
    with engine.connect() as blocker, engine.connect() as conn:
        # Hold the table the job deletes from, so that the instance that claims it is caught in the middle of it.
        blocker.execute(sa.text("BEGIN"))
        blocker.execute(sa.text("LOCK TABLE view_events IN ACCESS EXCLUSIVE MODE"))
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        job_id = conn.execute(sa.text(
            "INSERT INTO jobs (name, payload, state, attempts, max_attempts, run_after, cancel_requested, progress, "
            "detail, error, created_at) VALUES ('prune_view_events', '{}', 'queued', 0, 3, :now, false, 0, '{}', "
            "'', :now) RETURNING id"), {"now": now}).scalar()

        def holder():
            owner = conn.execute(sa.text("SELECT lease_owner FROM jobs WHERE id = :id AND state = 'running'"),
                                 {"id": job_id}).scalar()
            return owner

        owner = _wait(holder, 30, "no instance claimed the job")
        pids = {cluster.pid(i): i for i in range(len(cluster.instances))}
        held_by = pids[int(owner.split(":")[1])]
        time.sleep(1)
        assert holder() == owner, "the job was not held while its table was locked"

        cluster.kill(held_by)
        killed_at = time.monotonic()
        lease_left = conn.execute(sa.text("SELECT extract(epoch FROM lease_expires_at - (now() AT TIME ZONE 'UTC')) "
                                          "FROM jobs WHERE id = :id"), {"id": job_id}).scalar()
        blocker.execute(sa.text("ROLLBACK"))

        def finished():
            return conn.execute(sa.text("SELECT state, attempts, error FROM jobs WHERE id = :id"),
                                {"id": job_id}).one() if _state(conn, job_id) in ("done", "failed") else None

        state, attempts, error = _wait(finished, lease_seconds + 40, "the job was not taken over and finished")
        took = time.monotonic() - killed_at
        print(f"\nJob takeover: job {job_id} held by instance {held_by} finished {took:.1f} s after its kill -9 "
              f"(lease {lease_seconds} s), attempt {attempts}")
        assert (state, attempts, error) == ("done", 2, "")
        assert took >= float(lease_left) - 1, f"taken {took:.1f} s after the kill, with {lease_left:.1f} s of lease left"
    cluster.start(held_by)
    engine.dispose()


def _unfinished_slots(conn) -> int:
    return conn.execute(sa.text("SELECT count(*) FROM jobs WHERE slot IS NOT NULL AND state NOT IN ('done', 'failed')")
                        ).scalar()


def _state(conn, job_id: int) -> str:
    return conn.execute(sa.text("SELECT state FROM jobs WHERE id = :id"), {"id": job_id}).scalar()
