"""Run every benchmark against its same-run reference; print the summary and write the JSON.

Started by scripts/bench/run (which sets up .venv and the system tools). Exit status 1 means the
bench broke somewhere (see the 'error' rows); a missed goal is reported, not an error.
BENCH_ONLY=thumbnail,server,gallery,transforms,hostile,shares,backups,admin runs only the named ones (server: serving,
originals and memory; hostile: the attacks of issue 10, memory, slow headers and slow URL fetches; shares: issue 12's
share links, the album page, a size served through a link and the max-views race; backups: issue 13's backup and
restore of 2 GB of photos against tar, the server's RSS and the gallery's p99 while it makes a backup; admin: issue 14's
dashboard page and API p99 at 100,000 photos and 1,000 people against 300 ms, on SQLite and PostgreSQL).
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import ExitStack
from pathlib import Path

from common import ROOT, SCRATCH, say

sys.path.insert(0, str(ROOT))  # webapp, as `python -m webapp` sees it

import admin  # noqa: E402
import backups  # noqa: E402
import fixtures  # noqa: E402
import gallery  # noqa: E402
import hostile  # noqa: E402
import load  # noqa: E402
import memory  # noqa: E402
import report  # noqa: E402
import serving  # noqa: E402
import shares  # noqa: E402
import thumbs  # noqa: E402
import transforms  # noqa: E402
from server import Shoebox  # noqa: E402

ONLY = {name.strip() for name in os.environ.get("BENCH_ONLY", "").split(",") if name.strip()}


def wanted(name: str) -> bool:
    """Whether BENCH_ONLY (unset: everything) asks for this benchmark."""
    return not ONLY or name in ONLY


def guarded(name: str, function, *args) -> dict:
    """function(*args), or an 'error' result naming what went wrong (the other benchmarks still run)."""
    try:
        return function(*args)
    except Exception as error:
        traceback.print_exc()
        return {"name": name, "error": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"}


def server_benchmarks(work: Path, photo: Path, big: Path, padded: Path) -> list[dict]:
    """Benchmarks 2-4 on one real server, which is stopped whatever happens."""
    names = ["cached thumbnail serving", "originals", "memory"]
    with ExitStack() as stack:
        server = Shoebox(work / "shoebox")
        stack.callback(server.stop)
        try:
            server.start()
            server.create_account()
            photo_media, big_media = server.upload(photo), server.upload(big)
        except Exception as error:
            traceback.print_exc()
            return [{"name": name, "error": f"server setup: {error}".splitlines()[0][:200]} for name in names]
        return [guarded(names[0], serving.cached_thumbnails, server, photo_media),
                guarded(names[1], serving.originals, server, big_media, big, work / "nginx"),
                guarded(names[2], memory.run, server, big, padded)]


def environment() -> dict:
    """What the figures were measured on."""
    import PIL

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
            "pillow": PIL.__version__, "load_tool": load.version(), "commit": commit.stdout.strip() or None,
            "load_seconds": serving.SECONDS}


def main() -> int:
    """Make the fixtures, run the four benchmarks, report."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=SCRATCH, prefix="run-") as scratch:
        work = Path(scratch)
        results = []
        if wanted("thumbnail") or wanted("server"):
            say("making fixtures: a 12 MP JPEG, a 30 MB PNG and a 30 MB padded 64x64 PNG")
            photo, big = fixtures.photo_12mp(work / "photo-12mp.jpg"), fixtures.big_png(work / "big-30mb.png")
            padded = fixtures.padded_png(work / "padded-30mb.png")
            results += [guarded("thumbnail", thumbs.run, photo)] if wanted("thumbnail") else []
            results += server_benchmarks(work, photo, big, padded) if wanted("server") else []
        if wanted("gallery"):
            results += gallery.run(work)
        if wanted("transforms"):
            results += transforms.run(work)
        if wanted("hostile"):
            results += hostile.run(work)
        if wanted("shares"):
            results += shares.run(work)
        if wanted("backups"):
            results += backups.run(work)
        if wanted("admin"):
            results += admin.run(work)
    for result in results:
        result["verdict"] = report.verdict(result)
    path = report.write_json(results, {**environment(), "wall_seconds": round(time.monotonic() - started, 1)})
    print()
    print(report.table(results))
    print(report.notes(results))
    print(gallery.notes(results))
    print(hostile.notes(results))
    print(shares.notes(results))
    print(backups.notes(results))
    print(admin.notes(results))
    print(f"\nWritten to {path.relative_to(ROOT)} in {time.monotonic() - started:.0f} s.")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
