"""Benchmark 4: the server's peak RSS while it takes concurrent uploads of a large file, and a minute later."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from common import MB, run_in_threads, say
from server import Shoebox, multipart_body, post

CONCURRENT = 20
PEAK_GOAL_MB, SETTLED_GOAL_MB = 500, 250  # DESIGN.md: peak RSS <= 500 MB, <= 250 MB a minute later
SETTLE_SECONDS = 60


class PeakSampler:
    """Polls the server's VmRSS every few milliseconds in a thread and keeps the highest value."""

    def __init__(self, server: Shoebox, interval: float = 0.005):
        self.server, self.interval = server, interval
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        """Sample VmRSS until told to stop."""
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, self.server.memory_kb("VmRSS"))
            time.sleep(self.interval)

    def __enter__(self):
        self.server.reset_peak()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        # VmHWM also catches a peak between two polls (when clear_refs could reset it).
        self.peak_kb = max(self.peak_kb, self.server.memory_kb("VmHWM"))


def upload_all(server: Shoebox, body: tuple[bytes, str], count: int) -> tuple[list[int], float]:
    """POST the same upload `count` times at once, each on its own connection: (statuses, seconds)."""
    statuses: list[int] = []
    gate = threading.Barrier(count)

    def one():
        """One upload, started with all the others."""
        gate.wait()
        try:
            statuses.append(post(server.url + "/api/v1/images", *body, server.api_key)[0])
        except OSError as error:
            statuses.append(f"error: {error}")

    return statuses, run_in_threads(one, count)


def peak_during(server: Shoebox, body, count: int) -> dict:
    """Baseline RSS, peak RSS and wall time around `count` concurrent uploads."""
    baseline = server.memory_kb("VmRSS")
    with PeakSampler(server) as sampler:
        statuses, seconds = upload_all(server, body, count)
    failed = [s for s in statuses if s != 201]
    if failed:
        raise RuntimeError(f"{len(failed)} of {count} uploads failed: {failed[:5]}\n{server.log_tail()}")
    return {"baseline_mb": baseline * 1024 / MB, "peak_mb": sampler.peak_kb * 1024 / MB,
            "delta_mb": (sampler.peak_kb - baseline) * 1024 / MB, "seconds": round(seconds, 2)}


def settled_mb(server: Shoebox, seconds: float = SETTLE_SECONDS) -> float:
    """The server's RSS in MB after `seconds` with nothing to do."""
    time.sleep(seconds)
    return server.memory_kb("VmRSS") * 1024 / MB


def goal_rows(name: str, peak_mb: float, after_mb: float, figures: dict) -> list[dict]:
    """The two absolute goals as rows: peak RSS / 500 MB and RSS a minute later / 250 MB."""
    return [{"name": f"{name}: peak RSS", **figures, "figure": f"peak {peak_mb:.0f} MB",
             "reference": f"goal {PEAK_GOAL_MB} MB", "peak_mb": round(peak_mb, 1),
             "ratio": round(peak_mb / PEAK_GOAL_MB, 3), "goal": f"<= 1 (peak RSS / {PEAK_GOAL_MB} MB)",
             "goal_max": 1.0},
            {"name": f"{name}: RSS {SETTLE_SECONDS} s after", **figures,
             "figure": f"{after_mb:.0f} MB {SETTLE_SECONDS} s after", "reference": f"goal {SETTLED_GOAL_MB} MB",
             "settled_mb": round(after_mb, 1), "ratio": round(after_mb / SETTLED_GOAL_MB, 3),
             "goal": f"<= 1 (RSS {SETTLE_SECONDS} s after / {SETTLED_GOAL_MB} MB)", "goal_max": 1.0}]


def run(server: Shoebox, big_file: Path, padded_file: Path) -> list[dict]:
    """One upload, then CONCURRENT at once; the goal: the extra RSS stays well below the bytes in flight.

    First, CONCURRENT uploads of padded_file (as many bytes, almost no pixels): the cost of receiving
    alone. It goes first because memory freed by decoding stays in the process and would hide it.
    """
    size = big_file.stat().st_size
    in_flight_mb = CONCURRENT * size / MB
    say(f"memory: {CONCURRENT} concurrent uploads of a {padded_file.stat().st_size / MB:.0f} MB file with 64x64 "
        f"pixels, then 1 and {CONCURRENT} concurrent uploads of a {size / MB:.0f} MB PNG")
    receiving = peak_during(server, multipart_body(padded_file), CONCURRENT)
    body = multipart_body(big_file)
    single = peak_during(server, body, 1)
    many = peak_during(server, body, CONCURRENT)
    say(f"memory: waiting {SETTLE_SECONDS} s for the RSS after the last upload")
    after = settled_mb(server)
    name = f"memory: {CONCURRENT} concurrent {size / MB:.0f} MB uploads"
    return [{"name": name,
             "file_mb": round(size / MB, 1), "in_flight_mb": round(in_flight_mb, 1),
             "server_threads": server.threads, "rss_at_start_mb": round(server.start_rss_mb, 1),
             "single_upload": _rounded(single), "concurrent": _rounded(many),
             "concurrent_receiving_only": _rounded(receiving), "rss_60s_after_mb": round(after, 1),
             "ratio": round(many["delta_mb"] / in_flight_mb, 3),
             "goal": "<= 0.5 (peak - baseline) / bytes in flight", "goal_max": 0.5},
             *goal_rows(name, many["peak_mb"], after, {"server_threads": server.threads})]


def _rounded(figures: dict) -> dict:
    """The figures to one decimal."""
    return {name: round(value, 1) for name, value in figures.items()}
