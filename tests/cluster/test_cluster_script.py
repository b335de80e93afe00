"""scripts/cluster itself: what it prints, that nginx serves through it, and that Ctrl-C or SIGTERM leaves
no process and no listening port behind."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.cluster.conftest import (LOCAL_POSTGRES, cluster_database, missing_services, services_required,
                                   supervisor)
from tests.fixtures import ROOT
from tests.fixtures.database import TEST_DATABASE_URL


@pytest.fixture(scope="module")
def database_url():
    server = TEST_DATABASE_URL or LOCAL_POSTGRES
    missing = missing_services(server)
    if missing:
        if services_required():
            pytest.fail("scripts/cluster cannot start: " + "; ".join(missing), pytrace=False)
        pytest.skip("scripts/cluster cannot start: " + "; ".join(missing))
    url = cluster_database(server, "script")
    supervisor.drop_database(url)
    yield url
    supervisor.drop_database(url)


def _run(tmp_path: Path, database_url: str, **env) -> tuple[subprocess.Popen, list[str]]:
    """Start scripts/cluster; returns the process and its output lines up to "Press Ctrl-C to stop."."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SHOEBOX_", "S3_", "REDIS_URL"))}
    environment.update({"PORT": "0", "CLUSTER_DIR": str(tmp_path / "cluster"), "DATABASE_URL": database_url, **env})
    process = subprocess.Popen([str(ROOT / "scripts" / "cluster")], cwd=ROOT, env=environment, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    lines = []
    deadline = time.monotonic() + 180
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("Press Ctrl-C") or time.monotonic() > deadline:
            break
    assert lines and lines[-1].startswith("Press Ctrl-C"), "\n".join(lines)
    return process, lines


def _descendants(pid: int) -> set[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _stop_and_check(process: subprocess.Popen, lines: list[str], stop) -> None:
    ports = [int(m.group(1)) for line in lines if (m := re.search(r"http://127\.0\.0\.1:(\d+)$", line))]
    children = _descendants(process.pid)
    assert len(children) >= len(ports) + 2, f"expected instances, nginx, redis and moto among {children}"
    stop()
    rest, _ = process.communicate(timeout=90)
    assert process.returncode == 0, rest
    assert "Stopped." in rest, rest
    time.sleep(0.5)
    left = sorted(pid for pid in children if _alive(pid))
    assert not left, f"left running after the stop: {left}"
    assert not [port for port in ports if _listening(port)], "a port still listens after the stop"


def test_cluster_prints_its_addresses_serves_through_nginx_and_sigterm_stops_everything(tmp_path, database_url):
    process, lines = _run(tmp_path, database_url)
    try:
        assert any(line.startswith("S3: moto at http://127.0.0.1:") for line in lines), lines
        lb = re.fullmatch(r"Load balancer: (http://127\.0\.0\.1:\d+)", lines[-4]).group(1)
        instances = [re.fullmatch(rf"Instance {n}: (http://127\.0\.0\.1:\d+)", lines[-3 + n - 1]).group(1)
                     for n in (1, 2)]
        assert requests.get(lb + "/health/ready", timeout=10).json()["status"] == "ok"
        assert requests.get(lb + "/login", timeout=10).status_code == 200
        for url in instances:
            assert requests.get(url + "/health/ready", timeout=10).status_code == 200
        secret = tmp_path / "cluster" / "secret_key"
        assert secret.stat().st_mode & 0o777 == 0o600
        _stop_and_check(process, lines, lambda: process.send_signal(signal.SIGTERM))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


def test_three_instances_and_ctrl_c(tmp_path, database_url):
    process, lines = _run(tmp_path, database_url, INSTANCES="3")
    try:
        instances = [line for line in lines if re.fullmatch(r"Instance \d: http://127\.0\.0\.1:\d+", line)]
        assert [line.split(":")[0] for line in instances] == ["Instance 1", "Instance 2", "Instance 3"]
        lb = re.search(r"Load balancer: (\S+)", "\n".join(lines)).group(1)
        # Round-robin: requests through nginx reach every instance (each logs the requests it answers).
        for _ in range(9):
            assert requests.get(lb + "/health", timeout=10).status_code == 200
        logs = [(tmp_path / "cluster" / f"instance-{i}.log").read_text() for i in range(3)]
        assert all("GET /health 200" in log for log in logs)
        # Ctrl-C in a terminal reaches the whole foreground process group.
        _stop_and_check(process, lines, lambda: os.killpg(process.pid, signal.SIGINT))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
