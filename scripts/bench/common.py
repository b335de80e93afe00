"""What every benchmark shares: paths, free ports, process tracking and a progress line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRATCH = Path(os.environ.get("BENCH_TMP") or "/tmp")
MB = 1_000_000


def say(message: str) -> None:
    """One progress line on stderr, so that stdout keeps only the results."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def track(process: subprocess.Popen) -> subprocess.Popen:
    """Record a child's pid where scripts/bench/run's exit trap finds it, should we die first."""
    with open(SCRATCH / "pids", "a") as pids:
        pids.write(f"{process.pid}\n")
    return process


def stop(process: subprocess.Popen, seconds: float = 10) -> None:
    """SIGTERM a child, then SIGKILL it if it is still there after `seconds`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def median(values: list[float]) -> float:
    """The middle value (mean of the two middle ones for an even count)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def timed(function, *args) -> float:
    """Seconds one call of function(*args) takes."""
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def run_in_threads(target, count: int) -> float:
    """Run `target` in `count` threads at once; returns the seconds until the last one finished."""
    import threading

    start = time.monotonic()
    workers = [threading.Thread(target=target) for _ in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.monotonic() - start


def guarded(names: tuple[str, ...], function, *args) -> list[dict]:
    """function(*args), or one error row per name: one broken case does not stop the others."""
    try:
        return function(*args)
    except Exception as error:
        traceback.print_exc()
        return [{"name": name, "error": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"}
                for name in names]


def load_average() -> float:
    """The machine's 1-minute load average, from /proc/loadavg."""
    with open("/proc/loadavg") as figures:
        return float(figures.read().split()[0])


def in_rounds(measure_round, *, minimum: int = 3, maximum: int = 7) -> list[dict]:
    """Rounds of measure_round(index), each a dict with a 'ratio', with the load average at its end.

    At least `minimum` rounds; then more until a round's ratio falls within those already seen (the spread
    is known), at most `maximum`.
    """
    done: list[dict] = []
    while len(done) < maximum:
        figures = measure_round(len(done))
        figures["load_average_1min"] = load_average()
        earlier = [one["ratio"] for one in done]
        done.append(figures)
        if len(done) >= minimum and min(earlier) <= figures["ratio"] <= max(earlier):
            break
    return done


def summary(rounds: list[dict]) -> dict:
    """The median ratio of the rounds, its min/median/max, and the load average at each round."""
    ratios = [one["ratio"] for one in rounds]
    return {"ratio": round(median(ratios), 3),
            "ratio_spread": {"min": round(min(ratios), 3), "median": round(median(ratios), 3),
                             "max": round(max(ratios), 3)},
            "load_average_1min": [one["load_average_1min"] for one in rounds], "rounds": rounds}
