"""Run every benchmark against its same-run reference; print the summary and write the JSON.

Started by scripts/bench/run (which sets up .venv and the system tools). Exit status 1 means the
bench broke somewhere (see the 'error' rows); a missed goal is reported, not an error.
BENCH_ONLY=thumbnail,server,uploads,gallery,transforms,hostile,shares,backups,admin,cluster runs only the named ones (server:
serving, originals and memory; uploads: issue 15's upload throughput against a minimal Pillow pipeline, HEIC and AVIF
against a JPEG of the same pixels, peak RSS over 100 mixed uploads and a minute later, an owner's thumbnails against
public ones, a 3 MB original against nginx, a Range request, X-Accel-Redirect, and thumbor when it installs;
hostile: the attacks of issue 10, memory, slow headers and slow URL fetches; shares: issue 12's share links, the
album page, a size served through a link and the max-views race; backups: issue 13's backup and restore of 2 GB of
photos against tar, the server's RSS and the gallery's p99 while it makes a backup; admin: issue 14's dashboard page
and API p99 at 100,000 photos and 1,000 people against 300 ms, on SQLite and PostgreSQL; cluster: issue 17's
two instances against one through nginx, uploads and views during a storage move against idle, and the move's
bytes/s against s3fs copying the same objects).
Every row records the 1-minute load average: at each round where it has rounds, else before and after it.
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

from common import ROOT, SCRATCH, load_average, say

sys.path.insert(0, str(ROOT))  # webapp, as `python -m webapp` sees it

import admin  # noqa: E402
import backups  # noqa: E402
import cluster  # noqa: E402
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
import uploads  # noqa: E402
from server import Shoebox  # noqa: E402

ONLY = {name.strip() for name in os.environ.get("BENCH_ONLY", "").split(",") if name.strip()}


def wanted(name: str) -> bool:
    """Whether BENCH_ONLY (unset: everything) asks for this benchmark."""
    return not ONLY or name in ONLY


def guarded(name: str, function, *args) -> dict | list[dict]:
    """function(*args), or an 'error' result naming what went wrong (the other benchmarks still run)."""
    try:
        return function(*args)
    except Exception as error:
        traceback.print_exc()
        return {"name": name, "error": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"}


def with_load(function, *args) -> list[dict]:
    """function(*args)'s rows (one or a list); a row that did not record the load average gets it before and after."""
    before = load_average()
    rows = function(*args)
    rows = rows if isinstance(rows, list) else [rows]
    after = load_average()
    for row in rows:
        row.setdefault("load_average_1min", [before, after])
    return rows


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
        return [*with_load(guarded, names[0], serving.cached_thumbnails, server, photo_media),
                *with_load(guarded, names[1], serving.originals, server, big_media, big, work / "nginx"),
                *with_load(guarded, names[2], memory.run, server, big, padded)]


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
            results += with_load(guarded, "thumbnail", thumbs.run, photo) if wanted("thumbnail") else []
            results += server_benchmarks(work, photo, big, padded) if wanted("server") else []
        for name, module in (("uploads", uploads), ("gallery", gallery), ("transforms", transforms),
                             ("hostile", hostile), ("shares", shares), ("backups", backups), ("admin", admin),
                             ("cluster", cluster)):
            if wanted(name):
                results += with_load(module.run, work)
    for result in results:
        result["verdict"] = report.verdict(result)
    path = report.write_json(results, {**environment(), "wall_seconds": round(time.monotonic() - started, 1)})
    print()
    print(report.table(results))
    print(report.notes(results))
    print(uploads.notes(results))
    print(gallery.notes(results))
    print(hostile.notes(results))
    print(shares.notes(results))
    print(backups.notes(results))
    print(admin.notes(results))
    print(cluster.notes(results))
    print(f"\nWritten to {path.relative_to(ROOT)} in {time.monotonic() - started:.0f} s.")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
