"""HTTP load: wrk when it is installed, otherwise a small threaded Python client run the same way."""

from __future__ import annotations

import http.client
import re
import shutil
import subprocess
import threading
import time
from urllib.parse import urlsplit

from common import run_in_threads, stop, track

UNITS = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}


def tool() -> str:
    """'wrk' if it can be used, else 'python'."""
    return "wrk" if shutil.which("wrk") else "python"


def measure(url: str, *, connections: int, seconds: float, threads: int = 2, headers: dict | None = None) -> dict:
    """Load url for `seconds` with `connections` keep-alive connections: requests/s, bytes/s, errors."""
    if tool() == "wrk":
        return run_wrk(url, connections=connections, seconds=seconds, threads=threads, headers=headers)
    return run_python(url, connections=connections, seconds=seconds, headers=headers)


def run_wrk(url: str, *, connections: int, seconds: float, threads: int, headers: dict | None = None) -> dict:
    """Run wrk once and read its summary."""
    command = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "30s",
               *[option for name, value in (headers or {}).items() for option in ("-H", f"{name}: {value}")], url]
    process = track(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        out, err = process.communicate(timeout=seconds + 60)
    finally:
        stop(process)
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed: {err or out}")
    return parse_wrk(out)


def parse_wrk(output: str) -> dict:
    """requests, seconds, bytes, requests/s, bytes/s and error counts from wrk's text summary."""
    summary = re.search(r"(\d+) requests in ([\d.]+)(m?s|m|h), ([\d.]+)([KMGT]?B) read", output)
    if not summary:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[summary[3]]
    requests, seconds = int(summary[1]), float(summary[2]) * scale
    read = float(summary[4]) * UNITS[summary[5]]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {"tool": "wrk", "requests": requests, "seconds": seconds, "bytes": int(read),
            "rps": requests / seconds, "bytes_per_s": read / seconds, "non_2xx": int(bad[1]) if bad else 0,
            "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0}


def run_python(url: str, *, connections: int, seconds: float, headers: dict | None = None) -> dict:
    """The fallback: one thread per keep-alive connection, GET in a loop until time is up."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    totals = {"requests": 0, "bytes": 0, "non_2xx": 0, "socket_errors": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client():
        """One connection's loop; its counts are added to the totals."""
        counts = _client_loop(parts.hostname, parts.port, target, deadline, headers or {})
        with lock:
            for name, value in counts.items():
                totals[name] += value

    elapsed = run_in_threads(client, connections)
    return {"tool": "python", **totals, "seconds": elapsed, "rps": totals["requests"] / elapsed,
            "bytes_per_s": totals["bytes"] / elapsed}


def _client_loop(host: str, port: int, target: str, deadline: float, headers: dict) -> dict:
    """GET target over one connection (reconnecting after errors) until the deadline."""
    counts = {"requests": 0, "bytes": 0, "non_2xx": 0, "socket_errors": 0}
    connection = http.client.HTTPConnection(host, port, timeout=30)
    while time.monotonic() < deadline:
        try:
            connection.request("GET", target, headers=headers)
            response = connection.getresponse()
            while chunk := response.read(1 << 20):
                counts["bytes"] += len(chunk)
            counts["requests"] += 1
            counts["non_2xx"] += not 200 <= response.status < 400
        except (OSError, http.client.HTTPException):
            counts["socket_errors"] += 1
            connection.close()
            connection = http.client.HTTPConnection(host, port, timeout=30)
    connection.close()
    return counts


def version() -> str:
    """wrk's version line, or a note that the Python client is used."""
    if tool() != "wrk":
        return "python threaded client (wrk not installed)"
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return (done.stdout or done.stderr).splitlines()[0].strip() if (done.stdout or done.stderr) else "wrk"
