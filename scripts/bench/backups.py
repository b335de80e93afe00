"""Benchmark 9: instance backups and restores (issue 13) of about 2 GB of real photos, beside tar on the same data.

The data: the corpus's five real JPEGs of 150 kB to 2.2 MB (two phone photos, three camera ones) uploaded
round-robin through POST /api/v1/images until the originals reach BENCH_BACKUP_MB (2,000 MB), each
copy with its own JPEG comment segment (FF FE "Shoebox bench copy N") after the start-of-image
marker, so that every file is a valid photo with its own SHA-256. The bench account keeps
locations, so the originals are stored byte for byte; uploads also make the thumb and medium WebPs,
which the backup holds too. The checks fail the bench if two photos share a SHA-256.

- Backup: the whole job, from start_backup() queuing it to the row being done (writing the zip to
  the local backup folder, fsync, reading it back in full with every SHA-256 checked), run by
  jobs.work_until_idle in a process of its own, against `tar -cf` of the same files folder
  (originals and variants) to a file on the same disk. MB/s are the files' bytes over the seconds.
- Restore: the instance restore of that archive into an empty instance (new data dir and SQLite
  database, the archive received as the setup page would), the whole job from start_restore() to
  done, against `tar -xf` of the tar into an empty folder on the same disk.
- Memory: the RSS of a running server (`python -m webapp serve`, one job worker) sampled every 100 ms
  while its worker makes a backup queued through the service (VmHWM catches what falls between samples).
- Gallery: GET / as the owner by GALLERY_CLIENTS logged-in clients, each pausing CLIENT_PAUSE between
  requests, while the server's worker makes a backup, against the same clients with the server idle;
  idle and busy windows take turns.

The page cache cannot be dropped without root: every figure is warm-cache. One unmeasured backup and
tar (and restore and untar) warm it first, then ROUNDS rounds take turns on who goes first. Each
round's figures, their median and spread and the machine's load average go into the JSON. The
backup and restore jobs fsync what they write and tar does not; what an fsync of the tar (and a
`sync -f` after `tar -xf`) takes is given beside them, not counted in tar's MB/s.
Run as a script (`python backups.py prepare|facts|start|make|restore ARCHIVE|profile`) it is one step
inside an instance's own configuration.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from contextlib import closing
from pathlib import Path

from common import MB, ROOT, guarded, median, say
from gallery import Client, browser_login, percentile
from server import Shoebox

CORPUS = ROOT.parent / "shared" / "corpus" / "photos"
PHOTOS = ("HMD_Nokia_8.3_5G.jpg", "iphone_hdr_YES.jpg", "45-gps_ifd.jpg", "DSCN0010.jpg", "no_exif.jpg")
TARGET_MB = int(os.environ.get("BENCH_BACKUP_MB", "2000"))
ROUNDS = int(os.environ.get("BENCH_BACKUP_ROUNDS", "3"))
UPLOADERS = 2
SAMPLE_SECONDS = 0.1
GALLERY_CLIENTS, CLIENT_PAUSE = 4, 0.05
IDLE_SECONDS, BUSY_ROUNDS = 20.0, 2
JOB_TIMEOUT = 1800
THROUGHPUT_GOAL, RSS_GOAL_MB, P99_GOAL = 0.5, 100, 2.0
NAMES = ("backups: instance backup, whole job", "backups: instance restore, whole job",
         "backups: server RSS during a backup", "backups: gallery p99 during a backup")


class BackupShoebox(Shoebox):
    """A server whose worker looks for queued jobs every second, its archives in a folder of its home."""

    def env(self) -> dict:
        environment = super().env()
        environment.update({"SHOEBOX_JOBS__POLL_SECONDS": "1",
                            "SHOEBOX_BACKUPS__TARGET": (self.home / "archives").as_uri()})
        return environment

    def inline_env(self) -> dict:
        """The same instance for a one-off process that runs its jobs itself (no worker threads)."""
        return self.env() | {"SHOEBOX_JOBS__WORKERS": "0"}

    @property
    def database(self) -> Path:
        return self.home / "data" / "shoebox.db"


def run(work: Path) -> list[dict]:
    """Seed one instance through a running server, measure the server, then the jobs against tar."""
    if sum((CORPUS / name).is_file() for name in PHOTOS) < len(PHOTOS):
        return [{"name": name, "skipped": f"the corpus photos are missing from {CORPUS}"} for name in NAMES]
    home = work / "backups"
    server = BackupShoebox(home / "source")
    try:
        server.start()
        server.create_account()
        _in_app(server.inline_env(), "prepare")
        seeded = _seed(server, home / "uploads")
        served = [*guarded(NAMES[2:3], _memory, server), *guarded(NAMES[3:], _gallery, server)]
    except Exception as error:
        traceback.print_exc()
        message = f"setup: {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
        return [{"name": name, "error": message} for name in NAMES]
    finally:
        server.stop()
    shared = {"data": seeded, "cpus": os.cpu_count()}
    tar = home / "files.tar"
    backed_up = guarded(NAMES[:1], _backup_vs_tar, server, tar, shared)
    restored = guarded(NAMES[1:2], _restore_vs_untar, server, tar, home, shared, backed_up[0].get("archive"))
    return [row if "error" in row else row | shared for row in (*backed_up, *restored, *served)]


def _in_app(env: dict, *args: str, timeout: float = JOB_TIMEOUT) -> dict:
    """Run this file as one step inside an instance's configuration; its JSON report."""
    done = subprocess.run([sys.executable, __file__, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _load_average() -> float:
    return round(os.getloadavg()[0], 2)


# --- the data ---------------------------------------------------------------------------------

def _seed(server: BackupShoebox, folder: Path) -> dict:
    """Upload varied copies of the corpus photos until the originals reach TARGET_MB; what was made."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = [(CORPUS / name).read_bytes() for name in PHOTOS]
    plan, total = [], 0
    while total < TARGET_MB * MB:
        number = len(plan)
        plan.append(number)
        total += len(sources[number % len(sources)]) + 27  # the comment segment adds 27 bytes or so
    say(f"backups: uploading {len(plan):,} varied copies of {len(PHOTOS)} corpus photos "
        f"({total / MB:,.0f} MB) with {UPLOADERS} clients")
    started, lock, errors = time.monotonic(), threading.Lock(), []

    def uploader() -> None:
        while not errors:
            with lock:
                if not plan:
                    return
                number = plan.pop()
            path = folder / f"{Path(PHOTOS[number % len(PHOTOS)]).stem}-{number:05d}.jpg"
            path.write_bytes(_varied(sources[number % len(sources)], number))
            try:
                server.upload(path)
            except Exception as error:
                errors.append(error)
            finally:
                path.unlink()

    threads = [threading.Thread(target=uploader) for _ in range(UPLOADERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    facts = _in_app(server.inline_env(), "facts")
    if facts["distinct_sha256"] != facts["photos"]:
        raise RuntimeError(f"{facts['photos']} photos but {facts['distinct_sha256']} distinct SHA-256s")
    files = _folder_bytes(server.home / "data" / "files")
    return facts | files | {"upload_seconds": round(time.monotonic() - started, 1)}


def _varied(jpeg: bytes, number: int) -> bytes:
    """The JPEG with a comment segment of its own right after the start-of-image marker."""
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    comment = f"Shoebox bench copy {number}".encode()
    return jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]


def _folder_bytes(folder: Path) -> dict:
    """How many files a folder holds and their bytes."""
    sizes = [path.stat().st_size for path in folder.rglob("*") if path.is_file()]
    return {"files": len(sizes), "file_bytes": sum(sizes)}


# --- throughput against tar -------------------------------------------------------------------

def _backup_vs_tar(server: BackupShoebox, tar: Path, shared: dict) -> list[dict]:
    """Whole backup jobs against `tar -cf` of the files folder, after one unmeasured run of each."""
    payload = shared["data"]["file_bytes"]
    say(f"backups: instance backup vs tar -cf of {payload / MB:,.0f} MB, 1 warm-up and {ROUNDS} rounds")
    load_average, rounds = [_load_average()], []
    for number in range(ROUNDS + 1):
        order = ("backup", "tar") if number % 2 else ("tar", "backup")
        figures = {}
        for kind in order:
            if kind == "backup":
                figures["backup"] = _in_app(server.inline_env(), "make")
            else:
                figures["tar"] = _tar_create(server.home / "data", tar)
        if number:  # the first is the warm-up
            rounds.append({"backup_s": figures["backup"]["seconds"], "tar_s": figures["tar"]["seconds"],
                           "tar_fsync_s": figures["tar"]["fsync_seconds"],
                           "backup_mb_s": round(payload / MB / figures["backup"]["seconds"], 1),
                           "tar_mb_s": round(payload / MB / figures["tar"]["seconds"], 1)})
    load_average.append(_load_average())
    made = figures["backup"]
    return [_throughput_row(NAMES[0], rounds, "backup", "tar", load_average)
            | {"archive": str(server.home / "archives" / made["key"]), "archive_bytes": made["size"],
               "tar_bytes": tar.stat().st_size, "counts": made["counts"],
               "goal": f">= {THROUGHPUT_GOAL} (backup job MB/s, read-back included / tar -cf MB/s)"}]


def _tar_create(data: Path, tar: Path) -> dict:
    """`tar -cf` of the files folder; then, timed apart, an fsync of the tar (what the backup pays too)."""
    tar.unlink(missing_ok=True)
    start = time.perf_counter()
    subprocess.run(["tar", "-cf", str(tar), "-C", str(data), "files"], check=True)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    with open(tar, "rb+") as written:
        os.fsync(written.fileno())
    return {"seconds": round(seconds, 2), "fsync_seconds": round(time.perf_counter() - start, 2)}


def _restore_vs_untar(server: BackupShoebox, tar: Path, home: Path, shared: dict, archive: str | None) -> list[dict]:
    """Whole instance restores into empty instances against `tar -xf` into empty folders."""
    if not archive:
        raise RuntimeError("no archive to restore: the backup benchmark failed")
    payload = shared["data"]["file_bytes"]
    say(f"backups: instance restore vs tar -xf of {payload / MB:,.0f} MB, 1 warm-up and {ROUNDS} rounds")
    load_average, rounds = [_load_average()], []
    for number in range(ROUNDS + 1):
        order = ("restore", "untar") if number % 2 else ("untar", "restore")
        figures = {}
        for kind in order:
            target = home / f"{kind}-{number}"
            try:
                figures[kind] = _restore(target, archive) if kind == "restore" else _untar(tar, target)
            finally:
                subprocess.run(["rm", "-rf", str(target)], check=True)
            _check_restored(kind, figures[kind], shared["data"])
        if number:
            rounds.append({"restore_s": figures["restore"]["seconds"], "untar_s": figures["untar"]["seconds"],
                           "untar_sync_s": figures["untar"]["sync_seconds"],
                           "restore_mb_s": round(payload / MB / figures["restore"]["seconds"], 1),
                           "untar_mb_s": round(payload / MB / figures["untar"]["seconds"], 1)})
    load_average.append(_load_average())
    return [_throughput_row(NAMES[1], rounds, "restore", "untar", load_average)
            | {"restored": figures["restore"]["counts"],
               "goal": f">= {THROUGHPUT_GOAL} (instance restore job MB/s / tar -xf MB/s)"}]


def _restore(target: Path, archive: str) -> dict:
    """An empty instance in `target`, the archive received into it (not timed), then the timed restore job."""
    instance = BackupShoebox(target)
    target.mkdir(parents=True)
    report = _in_app(instance.inline_env(), "restore", archive)
    return report | _folder_bytes(target / "data" / "files")


def _untar(tar: Path, target: Path) -> dict:
    """`tar -xf` into an empty folder; then, timed apart, `sync -f` (syncfs: the restore fsyncs every file)."""
    target.mkdir(parents=True)
    start = time.perf_counter()
    subprocess.run(["tar", "-xf", str(tar), "-C", str(target)], check=True)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run(["sync", "-f", str(target)], check=True)
    return {"seconds": round(seconds, 2), "sync_seconds": round(time.perf_counter() - start, 2)} | \
        _folder_bytes(target / "files")


def _check_restored(kind: str, figures: dict, data: dict) -> None:
    """Both sides put back every file, byte for byte in count and size; the restore every photo row."""
    if (figures["files"], figures["file_bytes"]) != (data["files"], data["file_bytes"]):
        raise RuntimeError(f"{kind} put back {figures['files']} files of {figures['file_bytes']} bytes, "
                           f"not {data['files']} of {data['file_bytes']}")
    if kind == "restore" and figures["counts"].get("media") != data["photos"]:
        raise RuntimeError(f"the restore put back {figures['counts'].get('media')} photos, not {data['photos']}")


def _throughput_row(name: str, rounds: list[dict], ours: str, theirs: str, load_average: list[float]) -> dict:
    """Median MB/s of each side, the ratio of the medians, and each round's ratio for the spread."""
    mine, reference = median([r[f"{ours}_mb_s"] for r in rounds]), median([r[f"{theirs}_mb_s"] for r in rounds])
    for r in rounds:
        r["ratio"] = round(r[f"{ours}_mb_s"] / r[f"{theirs}_mb_s"], 3)
    spread = {kind: _spread([r[f"{kind}_mb_s"] for r in rounds]) for kind in (ours, theirs)}
    label = {"backup": "backup", "tar": "tar -cf", "restore": "restore", "untar": "tar -xf"}
    return {"name": name, "rounds": rounds, "spread_percent": spread, "load_average_1min": load_average,
            "figure": f"{label[ours]} {mine:,.0f} MB/s", "reference": f"{label[theirs]} {reference:,.0f} MB/s",
            "ratio": round(mine / reference, 3), "goal_min": THROUGHPUT_GOAL}


def _spread(values: list[float]) -> float:
    """(max - min) / median, in percent."""
    return round((max(values) - min(values)) / median(values) * 100, 1)


# --- a running server: memory, and the gallery while a backup runs ---------------------------

class Watch:
    """Queue a backup from another process, then sample the server's RSS every SAMPLE_SECONDS until it is done."""

    def __init__(self, server: BackupShoebox):
        self.server = server
        self.samples: list[tuple[float, int]] = []
        self.running_at = self.done_at = 0.0

    def baseline(self, seconds: float = 2.0) -> float:
        """The median RSS (MB) over `seconds` before the backup."""
        values = []
        for _ in range(int(seconds / SAMPLE_SECONDS)):
            values.append(self.server.memory_kb("VmRSS"))
            time.sleep(SAMPLE_SECONDS)
        return median(values) / 1000

    def backup(self) -> dict:
        """Queue an instance backup through the service; sample until its row is done. Its figures."""
        baseline = self.baseline()
        self.server.reset_peak()
        backup_id = _in_app(self.server.inline_env(), "start")["backup_id"]
        with closing(sqlite3.connect(self.server.database, timeout=10)) as database:
            status, deadline = "pending", time.monotonic() + JOB_TIMEOUT
            while status not in ("done", "failed") and time.monotonic() < deadline:
                self.samples.append((time.monotonic(), self.server.memory_kb("VmRSS")))
                status = database.execute("SELECT status FROM backups WHERE id = ?", (backup_id,)).fetchone()[0]
                database.commit()  # end the read transaction, so the next poll sees the worker's commits
                if status == "running" and not self.running_at:
                    self.running_at = time.monotonic()
                time.sleep(SAMPLE_SECONDS)
        self.done_at = time.monotonic()
        if status != "done":
            raise RuntimeError(f"the server's backup {backup_id} ended {status}:\n{self.server.log_tail()}")
        peak = max(max(rss for _, rss in self.samples), self.server.memory_kb("VmHWM")) / 1000
        return {"baseline_mb": round(baseline, 1), "peak_mb": round(peak, 1), "growth_mb": round(peak - baseline, 1),
                "seconds": round(self.done_at - (self.running_at or self.done_at), 1), "samples": len(self.samples)}


def _memory(server: BackupShoebox) -> list[dict]:
    """The server's RSS growth while its worker makes its first backup (nothing else running)."""
    say("backups: the server's RSS while its worker makes a backup")
    load_average = [_load_average()]
    watched = Watch(server).backup()
    load_average.append(_load_average())
    return [{"name": NAMES[2], **watched, "load_average_1min": load_average,
             "figure": f"+{watched['growth_mb']:.0f} MB (RSS {watched['baseline_mb']:.0f} -> {watched['peak_mb']:.0f})",
             "reference": f"{RSS_GOAL_MB} MB budget", "ratio": round(watched["growth_mb"] / RSS_GOAL_MB, 3),
             "goal_max": 1.0, "goal": f"< {RSS_GOAL_MB} MB (RSS growth over the whole backup / {RSS_GOAL_MB} MB)"}]


class Browsing:
    """GALLERY_CLIENTS logged-in owners loading GET / in threads, each pausing CLIENT_PAUSE in between."""

    def __init__(self, server: BackupShoebox):
        self.clients = [Client(server.url) for _ in range(GALLERY_CLIENTS)]
        for client in self.clients:
            browser_login(client)
            status, _, body = client.request("GET", "/")
            if status != 200 or len(re.findall(rb'<li class="tile[ "]', body)) != 60:
                raise RuntimeError(f"GET / answered {status} without a first page of 60 photos")
        self.timings: list[tuple[float, float]] = []  # (started, milliseconds)
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _browse(self, client: Client) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                status, _, _ = client.request("GET", "/")
            except OSError as error:
                status = f"{type(error).__name__}"
            self.timings.append((started, (time.monotonic() - started) * 1000))
            if status != 200:
                self.failures.append(str(status))
            time.sleep(CLIENT_PAUSE)

    def __enter__(self):
        self._threads = [threading.Thread(target=self._browse, args=(client,)) for client in self.clients]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join()
        for client in self.clients:
            client.close()

    def between(self, start: float, end: float) -> list[float]:
        return [ms for started, ms in self.timings if start <= started and started + ms / 1000 <= end]


def _gallery(server: BackupShoebox) -> list[dict]:
    """p99 of GET / with the server idle, then while its worker makes a backup, BUSY_ROUNDS times."""
    say(f"backups: gallery p99, {GALLERY_CLIENTS} clients, idle ({IDLE_SECONDS:.0f} s) and during a backup, "
        f"{BUSY_ROUNDS} rounds")
    load_average, rounds, idle, busy, memory = [_load_average()], [], [], [], []
    with Browsing(server) as browsing:
        time.sleep(2)  # every client past its first requests
        for _ in range(BUSY_ROUNDS):
            start = time.monotonic()
            time.sleep(IDLE_SECONDS)
            quiet = browsing.between(start, time.monotonic())
            watch = Watch(server)
            memory.append(watch.backup())
            loaded = browsing.between(watch.running_at, watch.done_at)
            idle += quiet
            busy += loaded
            rounds.append({"idle_p99_ms": round(percentile(quiet, 0.99), 1),
                           "busy_p99_ms": round(percentile(loaded, 0.99), 1), "idle_requests": len(quiet),
                           "busy_requests": len(loaded), "backup_seconds": memory[-1]["seconds"],
                           "rss_growth_mb": memory[-1]["growth_mb"]})
        failures = list(browsing.failures)
    load_average.append(_load_average())
    if failures:
        raise RuntimeError(f"{len(failures)} gallery requests failed: {failures[:5]}")
    summary = {kind: {"p50_ms": round(percentile(values, 0.5), 1), "p99_ms": round(percentile(values, 0.99), 1),
                      "max_ms": round(max(values), 1), "requests": len(values)}
               for kind, values in (("idle", idle), ("busy", busy))}
    for r in rounds:
        r["ratio"] = round(r["busy_p99_ms"] / r["idle_p99_ms"], 3)
    return [{"name": NAMES[3], **summary, "rounds": rounds, "clients": GALLERY_CLIENTS, "pause_s": CLIENT_PAUSE,
             "load_average_1min": load_average,
             "figure": f"during a backup {summary['busy']['p99_ms']:.1f} ms",
             "reference": f"idle {summary['idle']['p99_ms']:.1f} ms",
             "ratio": round(summary["busy"]["p99_ms"] / summary["idle"]["p99_ms"], 3), "goal_max": P99_GOAL,
             "goal": f"<= {P99_GOAL} (GET / p99 while the server makes a backup / idle p99)"}]


# --- figures ------------------------------------------------------------------------------------

def notes(results: list[dict]) -> str:
    """The data, each round's figures and the load they were measured under."""
    lines = []
    for result in results:
        if not result["name"].startswith("backups") or "error" in result or "skipped" in result:
            continue
        load_average = f"load average {result['load_average_1min'][0]}-{result['load_average_1min'][1]} " \
                       f"on {result['cpus']} CPUs"
        if result["name"] == NAMES[0]:
            data = result["data"]
            lines.append(f"- data: {data['photos']:,} photos ({data['distinct_sha256']:,} distinct SHA-256s) "
                         f"uploaded in {data['upload_seconds']:.0f} s; {data['files']:,} files of "
                         f"{data['file_bytes'] / MB:,.0f} MB (originals and their WebP sizes); archive "
                         f"{result['archive_bytes'] / MB:,.0f} MB, tar {result['tar_bytes'] / MB:,.0f} MB")
            lines.append(f"- backup / tar -cf by round (s): " + ", ".join(
                f"{r['backup_s']}/{r['tar_s']} ({r['ratio']:.2f})" for r in result["rounds"]) +
                f"; spread (max - min) / median {_spreads(result)}; an fsync of the tar took "
                f"{median([r['tar_fsync_s'] for r in result['rounds']])} s more (median); {load_average}")
        elif result["name"] == NAMES[1]:
            lines.append(f"- restore / tar -xf by round (s): " + ", ".join(
                f"{r['restore_s']}/{r['untar_s']} ({r['ratio']:.2f})" for r in result["rounds"]) +
                f"; spread (max - min) / median {_spreads(result)}; a sync -f of the extracted files took "
                f"{median([r['untar_sync_s'] for r in result['rounds']])} s more (median); {load_average}")
        elif result["name"] == NAMES[2]:
            lines.append(f"- server RSS: baseline {result['baseline_mb']} MB, peak {result['peak_mb']} MB over a "
                         f"{result['seconds']} s backup ({result['samples']} samples every {SAMPLE_SECONDS} s); "
                         f"{load_average}")
        elif result["name"] == NAMES[3]:
            lines.append(f"- gallery GET / ({result['clients']} clients, {result['pause_s']} s pauses), p50/p99 ms: "
                         f"idle {result['idle']['p50_ms']}/{result['idle']['p99_ms']} over "
                         f"{result['idle']['requests']} requests, during a backup "
                         f"{result['busy']['p50_ms']}/{result['busy']['p99_ms']} over {result['busy']['requests']}; "
                         f"by round, p99 during/idle: " + ", ".join(
                             f"{r['busy_p99_ms']}/{r['idle_p99_ms']} ({r['ratio']:.2f}, backup "
                             f"{r['backup_seconds']} s, RSS +{r['rss_growth_mb']} MB)" for r in result["rounds"]) +
                         f"; {load_average}")
    return "\nBackups:\n" + "\n".join(lines) if lines else ""


def _spreads(result: dict) -> str:
    return ", ".join(f"{kind} {percent}%" for kind, percent in result["spread_percent"].items())


# --- steps inside an instance (run as a script) ----------------------------------------------

def _app():
    sys.path.insert(0, str(ROOT))
    from webapp import create_app

    return create_app()


def _bench_user():
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import User

    return db.session.scalar(select(User).where(User.username == "bench"))


def prepare() -> dict:
    """The bench account becomes an admin (instance backups) that keeps locations (originals byte for byte)."""
    from webapp.extensions import db

    user = _bench_user()
    user.role, user.keep_location = "admin", True
    db.session.commit()
    return {"user_id": user.id}


def facts() -> dict:
    """How many photos there are, how many distinct SHA-256s, and their bytes."""
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import Media

    photos, distinct, size = db.session.execute(
        select(func.count(), func.count(func.distinct(Media.sha256)), func.sum(Media.size))).one()
    return {"photos": photos, "distinct_sha256": distinct, "original_bytes": int(size or 0)}


def _delete_archives(user) -> None:
    """Delete the earlier instance backups: the disk holds one archive at a time."""
    from webapp.backups import service

    for earlier in service.backups_of(user, "instance"):
        service.delete_backup(user, earlier)


def start() -> dict:
    """Queue an instance backup (for a server's worker to make), the earlier ones deleted first."""
    from webapp.backups import service

    user = _bench_user()
    _delete_archives(user)
    return {"backup_id": service.start_backup(user, "instance").id}


def make(app) -> dict:
    """The earlier archives deleted, then the whole job run here, timed from queuing to done."""
    from webapp import jobs
    from webapp.backups import service
    from webapp.extensions import db
    from webapp.models import Backup

    user = _bench_user()
    _delete_archives(user)
    started = time.perf_counter()
    backup_id = service.start_backup(user, "instance").id
    jobs.work_until_idle(app, ["backup"])
    seconds = time.perf_counter() - started
    db.session.remove()
    backup = db.session.get(Backup, backup_id)
    if backup.status != "done":
        raise RuntimeError(f"the backup ended {backup.status}: {backup.error}")
    return {"seconds": round(seconds, 2), "size": backup.size, "counts": backup.counts, "key": backup.storage_key}


def restore(app, archive: str) -> dict:
    """Receive the archive into this empty instance as the setup page does, then the timed restore job."""
    from webapp import jobs
    from webapp.backups import service
    from webapp.extensions import db
    from webapp.models import Job

    with open(archive, "rb") as stream:
        backup = service.receive_archive(None, "instance", stream, setup=True)
    started = time.perf_counter()
    job_id = service.start_restore(None, backup, setup=True).id
    jobs.work_until_idle(app, ["restore"])
    seconds = time.perf_counter() - started
    db.session.remove()
    job = db.session.get(Job, job_id)
    if job.state != "done":
        raise RuntimeError(f"the restore ended {job.state}: {job.error}")
    return {"seconds": round(seconds, 2), "counts": job.result["added"]}


def profile(app) -> dict:
    """making.make under cProfile (an instance backup row made here); the top functions on stderr."""
    import cProfile
    import pstats

    from webapp.backups import making, service

    user = _bench_user()
    _delete_archives(user)
    backup = service.start_backup(user, "instance")
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(making.make, backup)
    seconds = time.perf_counter() - started
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    return {"seconds": round(seconds, 2)}


def main(args: list[str]) -> dict:
    app = _app()
    with app.app_context():
        steps = {"prepare": prepare, "facts": facts, "start": start}
        if args[0] in steps:
            return steps[args[0]]()
        if args[0] == "restore":
            return restore(app, args[1])
        return {"make": make, "profile": profile}[args[0]](app)


if __name__ == "__main__":
    if sys.argv[1:2] not in (["prepare"], ["facts"], ["start"], ["make"], ["restore"], ["profile"]):
        sys.exit("usage: backups.py prepare|facts|start|make|restore ARCHIVE|profile  (bench.py runs the benchmark)")
    print(json.dumps(main(sys.argv[1:])))
