"""Benchmark 11: several instances and a storage move (issue 17), each beside a same-run reference.

One cluster from scripts/cluster.py (two instances on a scratch PostgreSQL database, moto's S3 server,
Redis and nginx), the 'bench' account, and SEED_PHOTOS varied copies of the corpus's real photos
uploaded through the load balancer (each copy with its own JPEG comment segment, as backups.py makes
them, so every file has its own SHA-256): about three objects a photo (original, thumb, medium).

- Scaling: a public photo's cached thumbnail (GET /i/<id>?size=thumb) and the owner's gallery
  (GET /, logged in: the page a visitor of their own Shoebox loads first) under wrk through nginx,
  round-robin over both instances against the same nginx passing everything to one of them. Both
  front ends live in one nginx of our own (two ports, the same workers and proxy settings, with
  keep-alive connections to the instances, which scripts/cluster's balancer leaves out so that a
  stopping instance's refusals are retried), so the two sides differ only in the instance count;
  they take turns, in rounds, with the load average and how busy the CPUs were at each.
- During a move: uploads (the corpus's 9.1 MP Nokia JPEG, varied per upload; the corpus holds no real
  12 MP JPEG) and views (a random seeded photo's thumbnail, then its original) through the load
  balancer by a few paced clients, idle for IDLE_SECONDS and then while the instances' workers move
  every file to the other bucket (job storage_move); p99 during / p99 idle, by round. After each such
  move, the files the database names that the new store lacks are listed with when their uploads ran.
- Move throughput: the storage_move job's bytes over its seconds (its row's started_at to
  finished_at, its wait for every instance to switch stores and its sweep included), with no traffic
  and each move's old copies removed afterwards (storage_cleanup), against s3fs copying the same
  objects between the same buckets on the same server with one batched fs.copy (server-side copies,
  concurrent, as
  `aws s3 sync` does between buckets); s3fs downloading them with fs.get and uploading them with
  fs.put is given beside it.

Run as a script (`python cluster.py account|facts|move STORE|cleanup`) it is one step inside an
instance's configuration.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import load
import nginx
import serving
from backups import _varied
from common import MB, ROOT, free_port, guarded, in_rounds, median, say, summary, track
from gallery import Client, PostgresDatabase, Skip, browser_login, percentile
from server import PASSWORD, multipart_body, post

CORPUS = ROOT.parent / "shared" / "corpus" / "photos"
SEED_SOURCES = ("HMD_Nokia_8.3_5G.jpg", "iphone_hdr_YES.jpg", "45-gps_ifd.jpg", "DSCN0010.jpg", "no_exif.jpg")
UPLOAD_SOURCE = "HMD_Nokia_8.3_5G.jpg"  # 4608x1976, 2.2 MB: the corpus's largest real JPEG
SEED_PHOTOS = int(os.environ.get("BENCH_CLUSTER_PHOTOS", "100"))
SEEDERS = 4
SECONDS = max(3.0, serving.SECONDS / 2)  # each side of a scaling round
CONNECTIONS = 16
MOVE_ROUNDS = int(os.environ.get("BENCH_CLUSTER_MOVE_ROUNDS", "3"))
UPLOADERS, UPLOAD_PAUSE = 2, 1.0
VIEWERS, VIEW_PAUSE = 3, 0.1
IDLE_SECONDS = 12.0
BUSY_ROUNDS = int(os.environ.get("BENCH_CLUSTER_BUSY_ROUNDS", "2"))
JOB_TIMEOUT = 600
SCALING_GOAL, P99_GOAL, MOVE_GOAL = 1.0, 2.0, 0.5
NAMES = ("cluster: cached thumbnail, 2 instances / 1", "cluster: gallery page, 2 instances / 1",
         "cluster: upload p99 during a storage move", "cluster: view p99 during a storage move",
         "cluster: storage move vs s3fs copy", "cluster: storage move vs s3fs get+put")


def run(work: Path) -> list[dict]:
    """Start a cluster on a scratch database, seed it, run the three benchmarks, stop it all."""
    supervisor = ROOT / "scripts" / "cluster.py"
    if not supervisor.is_file():
        return [{"name": name, "skipped": "scripts/cluster.py is missing"} for name in NAMES]
    if sum((CORPUS / name).is_file() for name in SEED_SOURCES) < len(SEED_SOURCES):
        return [{"name": name, "skipped": f"the corpus photos are missing from {CORPUS}"} for name in NAMES]
    postgres = PostgresDatabase("shoebox_bench_cluster")
    site = None
    try:
        site = Site(_supervisor(supervisor), work / "cluster", postgres.create())
        site.start()
        seeded = _seed(site, work / "cluster-uploads")
    except Skip as skip:
        return [{"name": name, "skipped": str(skip)} for name in NAMES]
    except Exception as error:
        traceback.print_exc()
        if site is not None:
            site.stop()
        postgres.drop()
        message = f"setup: {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
        return [{"name": name, "error": message} for name in NAMES]
    try:
        rows = [*guarded(NAMES[:2], _scaling, site, seeded, work / "cluster-nginx"),
                *guarded(NAMES[4:], _throughput, site, seeded, work / "cluster-reference"),
                *guarded(NAMES[2:4], _during_moves, site, seeded, work / "cluster-uploads")]
    finally:
        site.stop()
        postgres.drop()
    shared = {"photos": seeded["photos"], "objects": seeded["objects"], "object_bytes": seeded["bytes"],
              "cpus": os.cpu_count(), "instances": len(site.instance_urls)}
    return [row if "error" in row else shared | row for row in rows]


def _supervisor(path: Path):
    """scripts/cluster.py as a module (it is not a package; 'cluster' is this file's name here)."""
    spec = importlib.util.spec_from_file_location("shoebox_cluster_supervisor", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _load_average() -> float:
    return round(os.getloadavg()[0], 2)


class Site:
    """The cluster of scripts/cluster.py (its own Redis and moto S3 server, our scratch database), as the
    bench sees it: its addresses, its stores, an instance's environment and the bench account's API key."""

    def __init__(self, supervisor, home: Path, database_url: str):
        self.cluster = supervisor.Cluster(count=2, directory=home, database_url=database_url)
        self.api_key = ""
        self.active = "storage"  # the store the files are in; each move the bench makes switches it

    @property
    def other(self) -> str:
        """The store the next move goes to."""
        return "alt" if self.active == "storage" else "storage"

    def start(self) -> None:
        say("cluster: starting scripts/cluster.py's supervisor: 2 instances, PostgreSQL, Redis, moto S3, nginx")
        self.cluster.up()
        for instance in self.cluster.instances:
            track(instance.process)  # for scripts/bench/run's exit trap, should the bench die first
        say(f"cluster: load balancer {self.url}, instances {', '.join(self.instance_urls)}")

    def stop(self) -> None:
        self.cluster.down()

    @property
    def url(self) -> str:
        return self.cluster.lb

    @property
    def database_url(self) -> str:
        return self.cluster.database_url

    @property
    def instance_urls(self) -> list[str]:
        return [instance.url for instance in self.cluster.instances]

    @property
    def pids(self) -> list[int]:
        return [instance.process.pid for instance in self.cluster.instances]

    @property
    def s3_pid(self) -> int | None:
        """The pid of the moto server listening on the cluster's S3 endpoint, found by its command line."""
        port = self.cluster.s3.endpoint.rsplit(":", 1)[-1].encode()
        for entry in Path("/proc").iterdir():
            try:
                words = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"moto.server" in words and port in words:
                return int(entry.name)
        return None

    def env(self) -> dict:
        """The environment of a one-off process inside the first instance's configuration: no job workers
        and no scheduler, so that the instances' workers take every job (and none dies with the process)."""
        return {k: v for k, v in os.environ.items() if not k.startswith("SHOEBOX_")} | self.cluster.env(0) | \
            {"SHOEBOX_JOBS__WORKERS": "0", "SHOEBOX_SCHEDULER__ENABLED": "false"}

    def stores(self) -> dict[str, dict]:
        """The stores of the instances' settings, [storage] and [stores.alt]: name -> url, endpoint_url, key,
        secret, region."""
        env = self.cluster.env(0)
        fields = ("url", "endpoint_url", "key", "secret", "region")
        return {name: {field: env.get(f"{prefix}{field.upper()}", "") for field in fields}
                for name, prefix in (("storage", "SHOEBOX_STORAGE__"), ("alt", "SHOEBOX_STORES__ALT__"))}


# --- the data ---------------------------------------------------------------------------------------

def _seed(site: Site, folder: Path) -> dict:
    """The bench account, SEED_PHOTOS varied copies of the corpus photos uploaded through the load balancer,
    and every preview made: what the store then holds."""
    site.api_key = _in_app(site.env(), "account")["api_key"]
    folder.mkdir(parents=True, exist_ok=True)
    sources = [(CORPUS / name).read_bytes() for name in SEED_SOURCES]
    plan, ids, errors, lock = list(range(SEED_PHOTOS)), [], [], threading.Lock()
    say(f"cluster: uploading {SEED_PHOTOS} varied copies of {len(SEED_SOURCES)} corpus photos through "
        f"{site.url} with {SEEDERS} clients")
    started = time.monotonic()

    def uploader() -> None:
        while not errors:
            with lock:
                if not plan:
                    return
                number = plan.pop()
            path = folder / f"seed-{number:04d}.jpg"
            path.write_bytes(_varied(sources[number % len(sources)], number))
            try:
                ids.append(_upload(site, path)["id"])
            except Exception as error:
                errors.append(error)
            finally:
                path.unlink()

    threads = [threading.Thread(target=uploader) for _ in range(SEEDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    facts = _wait_for_jobs(site)
    say(f"cluster: {len(ids)} photos in {time.monotonic() - started:.0f} s; the store holds "
        f"{facts['objects']} objects of {facts['bytes'] / MB:.0f} MB")
    return {"photo_ids": sorted(ids), "photos": len(ids), "upload_seconds": round(time.monotonic() - started, 1),
            **facts}


def _upload(site: Site, path: Path) -> dict:
    """POST one public photo to /api/v1/images through the load balancer; the API's JSON."""
    body, content_type = multipart_body(path, True)
    status, data = post(site.url + "/api/v1/images", body, content_type, site.api_key)
    if status != 201:
        raise RuntimeError(f"upload of {path.name} answered {status}: {data[:300]!r}")
    return json.loads(data)


def _wait_for_jobs(site: Site, seconds: float = 300) -> dict:
    """Wait until no job is queued or running (the previews made after each upload); the store's facts."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        facts = _in_app(site.env(), "facts")
        if not facts["jobs_waiting"]:
            return facts
        time.sleep(1)
    raise RuntimeError(f"{facts['jobs_waiting']} jobs still queued or running after {seconds:.0f} s")


def _in_app(env: dict, *args: str, timeout: float = JOB_TIMEOUT) -> dict:
    """Run this file as one step inside an instance's configuration; its JSON report."""
    done = subprocess.run([sys.executable, __file__, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- 1. two instances against one, through nginx -----------------------------------------------------

NGINX_CONFIG = """
worker_processes auto;
pid {home}/nginx.pid;
error_log {home}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 100000;
    client_max_body_size 200m;
    client_body_temp_path {home}/body;
    proxy_temp_path {home}/proxy;
    fastcgi_temp_path {home}/fastcgi;
    uwsgi_temp_path {home}/uwsgi;
    scgi_temp_path {home}/scgi;
{sides}
}}
"""
NGINX_SIDE = """
    upstream {name} {{
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://{name};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
"""


class Fronts(nginx.Nginx):
    """One nginx with a port per side: 'one' passes every request to the first instance, 'two' round-robin
    to both. The same workers and proxy settings serve both sides."""

    def __init__(self, home: Path, instance_urls: list[str]):
        super().__init__(home)
        self.instances = [url.removeprefix("http://").rstrip("/") for url in instance_urls]
        self.ports = {"one": self.port, "two": free_port()}
        self.urls = {side: f"http://127.0.0.1:{port}" for side, port in self.ports.items()}

    def start(self, locations: str = "") -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        upstreams = {"one": self.instances[:1], "two": self.instances[:2]}
        sides = "".join(NGINX_SIDE.format(name=side, port=self.ports[side], servers="\n".join(
            f"        server {address};" for address in upstreams[side])) for side in self.ports)
        config = self.home / "nginx.conf"
        config.write_text(NGINX_CONFIG.format(home=self.home, sides=sides))
        command = [nginx.binary(), "-p", str(self.home), "-e", str(self.home / "error.log"), "-c", str(config),
                   "-g", "daemon off;"]
        self.process = track(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        self.url = self.urls["one"]
        self._wait()
        say(f"cluster: nginx at {self.urls['one']} (1 instance) and {self.urls['two']} (2 instances)")


def _scaling(site: Site, seeded: dict, home: Path) -> list[dict]:
    """Requests/s of a cached thumbnail and of the gallery through nginx to two instances / to one, in rounds."""
    if nginx.binary() is None:
        return [{"name": name, "skipped": "nginx not available (apt-get install nginx-light)"} for name in NAMES[:2]]
    if len(site.instance_urls) < 2:
        raise RuntimeError(f"the cluster started {len(site.instance_urls)} instance(s), not 2")
    fronts = Fronts(home, site.instance_urls)
    fronts.start()
    try:
        thumb = f"/i/{seeded['photo_ids'][0]}?size=thumb"
        cookie = _owner_cookie(fronts.urls["two"])
        for side, url in fronts.urls.items():
            _check_page(url, thumb, {}, "image/webp")
            _check_page(url, "/", {"Cookie": cookie}, "text/html")
        cases = (("thumbnail", NAMES[0], thumb, {}), ("gallery", NAMES[1], "/", {"Cookie": cookie}))
        return [_scaling_row(name, case, fronts, path, headers, site.pids) for case, name, path, headers in cases]
    finally:
        fronts.stop()


def _owner_cookie(url: str) -> str:
    """The Cookie header of the bench account signed in through the login form."""
    client = Client(url)
    try:
        browser_login(client)
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    finally:
        client.close()


def _check_page(url: str, path: str, headers: dict, content_type: str) -> None:
    """The page answers 200 with the expected type (a gallery page with its tiles) before it is loaded."""
    client = Client(url)
    try:
        status, message, body = client.request("GET", path, headers=headers)
    finally:
        client.close()
    if status != 200 or not message.get("Content-Type", "").startswith(content_type):
        raise RuntimeError(f"{url}{path} answered {status} {message.get('Content-Type')}")
    if content_type == "text/html" and not re.search(rb'<li class="tile[ "]', body):
        raise RuntimeError(f"{url}{path} answered a page without photo tiles")


def _scaling_row(name: str, case: str, fronts: Fronts, path: str, headers: dict, pids: list[int]) -> dict:
    """Rounds of wrk on each side in turn (who goes first alternates); the ratio of requests/s two / one."""
    say(f"cluster: {case} {path}, 2 instances vs 1 through nginx, {load.tool()}, {CONNECTIONS} connections, "
        f"{SECONDS:.0f} s a side a round")

    def measure_round(number: int) -> dict:
        figures = {}
        for side in (("one", "two") if number % 2 == 0 else ("two", "one")):
            busy, used, started = CpuClock(), cpu_seconds(pids), time.monotonic()
            measured = serving.measured(fronts.urls[side] + path, CONNECTIONS, SECONDS, headers)
            figures[f"{side}_rps"] = round(measured["rps"], 1)
            figures[f"{side}_cpu_busy"] = busy.busy()
            figures[f"{side}_instances_cpus"] = round((cpu_seconds(pids) - used) / (time.monotonic() - started), 2)
        return figures | {"ratio": round(figures["two_rps"] / figures["one_rps"], 3)}

    rounds = in_rounds(measure_round, maximum=4)
    one, two = median([r["one_rps"] for r in rounds]), median([r["two_rps"] for r in rounds])
    return {"name": name, "case": case, "path": path, "tool": load.tool(), "connections": CONNECTIONS,
            "seconds": SECONDS, **summary(rounds),
            "figure": f"2 instances {two:,.0f} req/s", "reference": f"1 instance {one:,.0f} req/s",
            "goal_min": SCALING_GOAL,
            "goal": f">= {SCALING_GOAL} (req/s through nginx to 2 instances / to 1; the ceiling is about the CPU "
                    f"count, {os.cpu_count()} here, less what nginx and wrk take)"}


def cpu_seconds(pids: list[int | None]) -> float:
    """User and system CPU seconds the processes have used so far (those gone or unknown count 0)."""
    total = 0
    for pid in filter(None, pids):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


class CpuClock:
    """How busy the machine's CPUs were from its creation to busy(): 1.0 is every CPU all the time."""

    def __init__(self):
        self.start = self._times()

    @staticmethod
    def _times() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle and iowait
        return sum(fields) - idle, sum(fields)

    def busy(self) -> float:
        (busy_then, total_then), (busy_now, total_now) = self.start, self._times()
        return round((busy_now - busy_then) / max(1, total_now - total_then), 3)


# --- 2. uploads and views while the files move ------------------------------------------------------

class Traffic:
    """Paced uploaders and viewers through the load balancer, each request's start and milliseconds kept."""

    def __init__(self, site: Site, photo_ids: list[str], folder: Path):
        self.site, self.photo_ids, self.folder = site, photo_ids, folder
        self.source = (CORPUS / UPLOAD_SOURCE).read_bytes()
        self.timings: dict[str, list[tuple[float, float]]] = {"upload": [], "view": []}
        self.failures: list[str] = []
        self.uploaded: dict[str, tuple[float, float]] = {}  # photo id -> (sent, answered)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._numbers = iter(range(100_000, 1_000_000))
        self._lock = threading.Lock()

    def __enter__(self):
        self._threads = [threading.Thread(target=self._uploads, args=(n,)) for n in range(UPLOADERS)] + \
                        [threading.Thread(target=self._views, args=(n,)) for n in range(VIEWERS)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _uploads(self, number: int) -> None:
        path = self.folder / f"traffic-{number}.jpg"
        while not self._stop.is_set():
            with self._lock:
                copy = next(self._numbers)
            path.write_bytes(_varied(self.source, copy))
            body, content_type = multipart_body(path, True)
            started = time.monotonic()
            try:
                status, data = post(self.site.url + "/api/v1/images", body, content_type, self.site.api_key)
            except OSError as error:
                status, data = type(error).__name__, b""
            self._record("upload", started, status, 201)
            if status == 201:
                self.uploaded[json.loads(data)["id"]] = (started, time.monotonic())
            self._stop.wait(UPLOAD_PAUSE)
        path.unlink(missing_ok=True)

    def _views(self, number: int) -> None:
        """A random photo's thumbnail, then its original, on one keep-alive connection (a visitor's click)."""
        shuffler, client = random.Random(number), Client(self.site.url)
        try:
            while not self._stop.is_set():
                photo = shuffler.choice(self.photo_ids)
                started = time.monotonic()
                try:
                    status, _, _ = client.request("GET", f"/i/{photo}?size=thumb")
                    if status == 200:
                        status, _, _ = client.request("GET", f"/i/{photo}")
                except OSError as error:
                    status = type(error).__name__
                self._record("view", started, status, 200)
                self._stop.wait(VIEW_PAUSE)
        finally:
            client.close()

    def _record(self, kind: str, started: float, status, expected: int) -> None:
        self.timings[kind].append((started, (time.monotonic() - started) * 1000))
        if status != expected:
            self.failures.append(f"{kind} {status}")

    def between(self, kind: str, start: float, end: float) -> list[float]:
        """Milliseconds of the requests that began and ended within [start, end]."""
        return [ms for began, ms in self.timings[kind] if start <= began and began + ms / 1000 <= end]


def _during_moves(site: Site, seeded: dict, folder: Path) -> list[dict]:
    """p99 of uploads and of views idle for IDLE_SECONDS, then during a move to the other bucket, BUSY_ROUNDS
    times; after each move, the files the database names that are not on the new store are listed (the old
    copies are not removed: the clean-up refuses while any are missing)."""
    say(f"cluster: {UPLOADERS} uploader(s) pausing {UPLOAD_PAUSE} s and {VIEWERS} viewers pausing {VIEW_PAUSE} s "
        f"through the load balancer, idle ({IDLE_SECONDS:.0f} s) and during a move, {BUSY_ROUNDS} rounds")
    load_average, rounds, windows = [_load_average()], [], {"idle": [], "busy": []}
    folder.mkdir(parents=True, exist_ok=True)
    with Traffic(site, seeded["photo_ids"], folder) as traffic:
        time.sleep(2)  # every client past its first requests
        for _ in range(BUSY_ROUNDS):
            start, cpu = time.monotonic(), {"s3": cpu_seconds([site.s3_pid]), "instances": cpu_seconds(site.pids)}
            time.sleep(IDLE_SECONDS)
            idle = (start, time.monotonic())
            cpu = {name: round((cpu_seconds(pids) - cpu[name]) / IDLE_SECONDS, 2)
                   for name, pids in (("s3", [site.s3_pid]), ("instances", site.pids))}
            before = {"s3": cpu_seconds([site.s3_pid]), "instances": cpu_seconds(site.pids)}
            moved = _move(site, site.other)
            busy = (moved["running_at"], moved["done_at"])
            length = time.monotonic() - idle[1]
            busy_cpu = {name: round((cpu_seconds(pids) - before[name]) / length, 2)
                        for name, pids in (("s3", [site.s3_pid]), ("instances", site.pids))}
            windows["idle"].append(idle)
            windows["busy"].append(busy)
            rounds.append({"move_s": moved["seconds"], "objects": moved["result"]["objects"],
                           "switch_s": moved["switch_s"], "done_s": moved["done_s"],
                           "cpus_used_idle": cpu, "cpus_used_moving": busy_cpu,
                           "copied_late": moved["result"].get("copied_late"),
                           "left_on_old_store": _left_behind(_in_app(site.env(), "facts")["missing_on_active"],
                                                             traffic, moved),
                           "load_average_1min": _load_average(),
                           **{f"{kind}_{window}": _p99(traffic.between(kind, *span))
                              for kind in ("upload", "view") for window, span in (("idle", idle), ("busy", busy))}})
        failures, timings = list(traffic.failures), traffic
    load_average.append(_load_average())
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed: {failures[:5]}")
    return [_p99_row(name, kind, rounds, windows, timings, load_average)
            for name, kind in ((NAMES[2], "upload"), (NAMES[3], "view"))]


def _left_behind(missing: dict[str, list[str]], traffic: Traffic, moved: dict) -> list[dict]:
    """The files the database names that the new store lacks after a move: where they are, and when their
    upload was sent and answered, in seconds from the move's start (its switch of stores at moved['switch_s'])."""
    left = []
    for key, stores in sorted(missing.items()):
        sent = next((times for photo, times in traffic.uploaded.items() if photo in key), None)
        left.append({"key": key, "on": stores} | ({"sent_s": round(sent[0] - moved["running_at"], 2),
                                                    "answered_s": round(sent[1] - moved["running_at"], 2)}
                                                   if sent else {}))
    return left


def _p99(values: list[float]) -> dict:
    return {"p50_ms": round(percentile(values, 0.5), 1), "p99_ms": round(percentile(values, 0.99), 1),
            "requests": len(values)} if values else {"p50_ms": None, "p99_ms": None, "requests": 0}


def _p99_row(name: str, kind: str, rounds: list[dict], windows: dict, traffic: Traffic,
             load_average: list[float]) -> dict:
    """p99 over every round's windows (during / idle), with each round's own ratio for the spread."""
    pooled = {window: _p99([ms for span in spans for ms in traffic.between(kind, *span)])
              for window, spans in windows.items()}
    if not pooled["idle"]["requests"] or not pooled["busy"]["requests"]:
        raise RuntimeError(f"no {kind} finished within a window: idle {pooled['idle']['requests']}, "
                           f"during the move {pooled['busy']['requests']}")
    ratios = [round(r[f"{kind}_busy"]["p99_ms"] / r[f"{kind}_idle"]["p99_ms"], 3) for r in rounds
              if r[f"{kind}_busy"]["requests"] and r[f"{kind}_idle"]["requests"]]
    what = {"upload": f"POST /api/v1/images, {UPLOAD_SOURCE}", "view": "GET thumb, then GET original"}[kind]
    return {"name": name, "kind": kind, "what": what, "idle": pooled["idle"], "busy": pooled["busy"],
            "rounds": rounds, "load_average_1min": load_average,
            "ratio_spread": {"min": min(ratios), "median": round(median(ratios), 3), "max": max(ratios)},
            "figure": f"during a move {pooled['busy']['p99_ms']:,.0f} ms",
            "reference": f"idle {pooled['idle']['p99_ms']:,.0f} ms",
            "ratio": round(pooled["busy"]["p99_ms"] / pooled["idle"]["p99_ms"], 3), "goal_max": P99_GOAL,
            "goal": f"<= {P99_GOAL} ({kind} p99 through the load balancer during a storage move / idle)"}


# --- 3. the move's throughput against s3fs -----------------------------------------------------------

def _s3fs(table: dict):
    """An s3fs filesystem for a store's settings, set up as Shoebox's own (path-style, no CRC checksums)."""
    import s3fs

    config = {"s3": {"addressing_style": "path"}, "request_checksum_calculation": "when_required",
              "response_checksum_validation": "when_required"}
    client = {name: value for name, value in (("endpoint_url", table["endpoint_url"]),
                                              ("region_name", table["region"])) if value}
    return s3fs.S3FileSystem(key=table["key"] or None, secret=table["secret"] or None, client_kwargs=client,
                             config_kwargs=config, use_listings_cache=False)


def _root(table: dict) -> str:
    """bucket/prefix of a store's s3:// url."""
    return table["url"].removeprefix("s3://").strip("/")


def _reference(site: Site, source: str, target: str, keys: list[str], scratch: Path) -> dict:
    """s3fs copying `keys` from store `source` to a folder of store `target`'s bucket: one batched fs.copy
    (server-side), then fs.get of them all to local disk and fs.put back up; each timed, then removed."""
    tables = site.stores()
    fs = _s3fs(tables[source])
    sources = [f"{_root(tables[source])}/{key}" for key in keys]
    bucket = _root(tables[target]).split("/")[0]
    copies = [f"{bucket}/bench-reference-copy/{key}" for key in keys]
    uploads = [f"{bucket}/bench-reference-put/{key}" for key in keys]
    local = [str(scratch / key) for key in keys]
    try:
        started = time.perf_counter()
        fs.copy(sources, copies)
        copy_seconds = time.perf_counter() - started
        started = time.perf_counter()
        fs.get(sources, local)
        get_seconds = time.perf_counter() - started
        started = time.perf_counter()
        fs.put(local, uploads)
        put_seconds = time.perf_counter() - started
        copied = fs.du(f"{bucket}/bench-reference-copy")
    finally:
        for folder in (f"{bucket}/bench-reference-copy", f"{bucket}/bench-reference-put"):
            if fs.exists(folder):
                fs.rm(folder, recursive=True)
        subprocess.run(["rm", "-rf", str(scratch)], check=True)
    return {"copy_s": round(copy_seconds, 2), "get_s": round(get_seconds, 2), "put_s": round(put_seconds, 2),
            "copied_bytes": copied}


def _throughput(site: Site, seeded: dict, scratch: Path) -> list[dict]:
    """MOVE_ROUNDS rounds, each s3fs's copies of the store's objects and then the move job itself, back and
    forth between the two buckets (the old copies cleaned up after each move); ratios of bytes/s."""
    say(f"cluster: {MOVE_ROUNDS} rounds of s3fs copy, s3fs get+put and the storage_move job, "
        f"{seeded['objects']} objects of {seeded['bytes'] / MB:.0f} MB")
    load_average, rounds = [_load_average()], []
    for number in range(MOVE_ROUNDS):
        source, target = site.active, site.other
        keys = _keys(site, source)
        reference = _reference(site, source, target, keys, scratch)
        moved = _move(site, target)
        _clean_up(site)
        size = moved["result"]["bytes"]
        if reference["copied_bytes"] != size or len(keys) != moved["result"]["objects"]:
            raise RuntimeError(f"s3fs copied {len(keys)} objects of {reference['copied_bytes']} bytes, the move "
                               f"{moved['result']['objects']} of {size}: not the same files")
        rounds.append({"from": source, "to": target, "objects": len(keys), "bytes": size, **reference,
                       "move_s": moved["seconds"], "move_copy_s": moved["copy_seconds"],
                       "move_mb_s": round(size / MB / moved["seconds"], 1),
                       "copy_mb_s": round(size / MB / reference["copy_s"], 1),
                       "get_put_mb_s": round(size / MB / (reference["get_s"] + reference["put_s"]), 1),
                       "load_average_1min": _load_average()})
        say(f"cluster: round {number + 1}: move {rounds[-1]['move_mb_s']} MB/s, s3fs copy "
            f"{rounds[-1]['copy_mb_s']} MB/s, get+put {rounds[-1]['get_put_mb_s']} MB/s")
    load_average.append(_load_average())
    rows = []
    for name, reference, label in ((NAMES[4], "copy", "s3fs fs.copy"), (NAMES[5], "get_put", "s3fs get+put")):
        ratios = [round(r["move_mb_s"] / r[f"{reference}_mb_s"], 3) for r in rounds]
        mine, theirs = median([r["move_mb_s"] for r in rounds]), median([r[f"{reference}_mb_s"] for r in rounds])
        rows.append({"name": name, "rounds": [r | {"ratio": ratio} for r, ratio in zip(rounds, ratios, strict=True)],
                     "ratio": round(median(ratios), 3), "load_average_1min": load_average,
                     "ratio_spread": {"min": min(ratios), "median": round(median(ratios), 3), "max": max(ratios)},
                     "figure": f"move {mine:,.1f} MB/s", "reference": f"{label} {theirs:,.1f} MB/s",
                     "goal_min": MOVE_GOAL,
                     "goal": f">= {MOVE_GOAL} (storage_move job bytes/s, start to done / {label} bytes/s of the "
                             "same objects between the same buckets)"})
    return rows


def _keys(site: Site, store: str) -> list[str]:
    """The keys the move copies: every object of the store but the site's marker."""
    table = site.stores()[store]
    root = _root(table)
    found = _s3fs(table).find(root)
    return sorted(path[len(root) + 1:] for path in found if not path.endswith("/shoebox-site.json"))


def _move(site: Site, target: str, watch_from: float | None = None) -> dict:
    """Queue a move to `target` for the instances' workers and wait for it; its job row and timings."""
    job_id = _in_app(site.env(), "move", target)["job_id"]
    watch = JobWatch(site.database_url, job_id)
    row = watch.wait()
    site.active = target
    seconds = (row["finished_at"] - row["started_at"]).total_seconds()
    return {"job_id": job_id, "seconds": round(seconds, 2), "result": row["result"],
            "copy_seconds": round(watch.switched_at - watch.running_at, 2),
            "switch_s": round(watch.switched_at - watch.running_at, 2),
            "done_s": round(watch.done_at - watch.running_at, 2),
            "running_at": watch.running_at, "done_at": watch.done_at}


def _clean_up(site: Site) -> None:
    """Remove the old copies (storage_cleanup), as an admin does after a move, and wait for it."""
    JobWatch(site.database_url, _in_app(site.env(), "cleanup")["job_id"]).wait()


class JobWatch:
    """A job's row in the cluster's PostgreSQL database, polled every 0.1 s until it is done."""

    def __init__(self, database_url: str, job_id: int):
        import psycopg

        url = re.sub(r"^postgresql\+\w+://", "postgresql://", database_url)
        self.connection = psycopg.connect(url, autocommit=True)
        self.job_id = job_id
        self.running_at = self.switched_at = self.done_at = 0.0

    def wait(self, seconds: float = JOB_TIMEOUT) -> dict:
        """Poll until the job is done (its row as a dict); fail if it fails or runs out of time."""
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                row = self.connection.execute(
                    "SELECT state, started_at, finished_at, error, detail, result FROM jobs WHERE id = %s",
                    (self.job_id,)).fetchone()
                state = row[0]
                if state == "running" and not self.running_at:
                    self.running_at = time.monotonic()
                if self.running_at and not self.switched_at and self._switched():
                    self.switched_at = time.monotonic()
                if state in ("done", "failed", "cancelled"):
                    self.done_at = time.monotonic()
                    self.running_at = self.running_at or self.done_at
                    self.switched_at = self.switched_at or self.done_at
                    if state != "done":
                        raise RuntimeError(f"job {self.job_id} ended {state}: {row[3][:300]}")
                    return {"started_at": row[1], "finished_at": row[2], "detail": row[4], "result": row[5]}
                time.sleep(0.1)
            raise RuntimeError(f"job {self.job_id} still {state} after {seconds:.0f} s")
        finally:
            self.connection.close()

    def _switched(self) -> bool:
        """Whether the move has copied every file and made the target the active store (its sweep follows)."""
        row = self.connection.execute("SELECT value FROM settings WHERE key = 'storage_location'").fetchone()
        value = row[0] if row else {}
        value = json.loads(value) if isinstance(value, str) else value
        return bool(value) and not value.get("moving_to")


# --- figures ------------------------------------------------------------------------------------------

def notes(results: list[dict]) -> str:
    """The data, each round's figures and the load they were measured under."""
    lines = []
    for result in results:
        if not result["name"].startswith("cluster:") or "error" in result or "skipped" in result:
            continue
        loads = result["load_average_1min"]
        load_average = f"load average {min(loads)}-{max(loads)} on {result['cpus']} CPUs"
        if result["name"] == NAMES[0]:
            lines.append(f"- data: {result['photos']} photos uploaded through the load balancer, "
                         f"{result['objects']} objects of {result['object_bytes'] / MB:,.0f} MB on S3 (moto)")
        if result["name"] in NAMES[:2]:
            by_round = ", ".join(f"{r['two_rps']:,.0f}/{r['one_rps']:,.0f} ({r['ratio']:.2f}, CPUs busy "
                                 f"{r['two_cpu_busy']:.0%}/{r['one_cpu_busy']:.0%}, CPUs used by the instances "
                                 f"{r['two_instances_cpus']}/{r['one_instances_cpus']})" for r in result["rounds"])
            lines.append(f"- {result['case']} {result['path']} through nginx, req/s 2 instances / 1 by round: "
                         f"{by_round}; {load_average}")
        elif result["name"] in NAMES[2:4]:
            lines.append(f"- {result['kind']}s ({result['what']}), p50/p99 ms: idle {result['idle']['p50_ms']}/"
                         f"{result['idle']['p99_ms']} over {result['idle']['requests']}, during a move "
                         f"{result['busy']['p50_ms']}/{result['busy']['p99_ms']} over {result['busy']['requests']}; "
                         f"by round, p99 during/idle: " + ", ".join(
                             f"{r[result['kind'] + '_busy']['p99_ms']}/{r[result['kind'] + '_idle']['p99_ms']} "
                             f"(move {r['move_s']} s; CPUs used by moto's S3 server {r['cpus_used_idle']['s3']} idle, "
                             f"{r['cpus_used_moving']['s3']} moving, by the 2 instances "
                             f"{r['cpus_used_idle']['instances']} and {r['cpus_used_moving']['instances']})"
                             for r in result["rounds"]) + f"; {load_average}")
            if result["kind"] == "upload":
                lines += [_left_note(number, figures) for number, figures in enumerate(result["rounds"], 1)
                          if figures["left_on_old_store"]]
        elif result["name"] == NAMES[4]:
            lines.append("- move / s3fs fs.copy / s3fs get+put by round (s): " + ", ".join(
                f"{r['move_s']}/{r['copy_s']}/{r['get_s'] + r['put_s']:.2f} ({r['from']} -> {r['to']}, "
                f"{r['objects']} objects, {r['bytes'] / MB:,.0f} MB)" for r in result["rounds"]) +
                "; the move's copying alone (until it switched stores, before its wait for every instance "
                "and its sweep) took " + ", ".join(f"{r['move_copy_s']}" for r in result["rounds"]) +
                f" s; {load_average}")
    return "\nCluster:\n" + "\n".join(lines) if lines else ""


def _left_note(number: int, figures: dict) -> str:
    """One round's files left only on the old store, and when their uploads ran relative to the move."""
    left = figures["left_on_old_store"]
    timed = [one for one in left if "sent_s" in one]
    when = (f"; their uploads were sent {min(o['sent_s'] for o in timed)} to {max(o['sent_s'] for o in timed)} s "
            f"and answered {min(o['answered_s'] for o in timed)} to {max(o['answered_s'] for o in timed)} s after "
            f"the move started") if timed else ""
    return (f"- move {number} under load: {len(left)} file(s) the database names were not on the new store when it "
            f"ended, only on {', '.join(sorted({s for one in left for s in one['on']})) or 'no store'} (e.g. "
            f"{left[0]['key']}){when}; it switched stores at {figures['switch_s']} s and ended at "
            f"{figures['done_s']} s")


# --- steps inside an instance (run as a script) ------------------------------------------------------

def account() -> dict:
    """The 'bench' account, an admin on the unlimited plan (a move is an admin's), and its API key."""
    from sqlalchemy import select

    from webapp.auth import api_keys, service
    from webapp.extensions import db
    from webapp.models import Plan

    user = service.create_user("bench@example.com", "bench", PASSWORD, verified=True)
    user.plan = db.session.scalar(select(Plan).where(Plan.name == "unlimited"))
    user.role = "admin"
    db.session.commit()
    return {"api_key": api_keys.create_api_key(user, "bench")[1]}


def facts() -> dict:
    """Jobs still queued or running, the objects and bytes in the active store, and the files the database
    names that the active store lacks (with the stores that have them)."""
    from sqlalchemy import func, select

    from webapp.extensions import blob_store, db
    from webapp.models import Job, Media, Variant
    from webapp.stores import location

    waiting = db.session.scalar(select(func.count()).select_from(Job).where(Job.state.in_(("queued", "running"))))
    # The rows first: a file is stored before its row is committed, so each key named here is listed below
    # unless it is missing (the other order counts the uploads that land meanwhile as missing).
    named = [*db.session.scalars(select(Media.storage_key)), *db.session.scalars(select(Variant.storage_key))]
    router, state = blob_store(), location.current()
    active = router.named(state.active)
    sizes = {key: active.size(key) for key in active.keys() if key != location.MARKER}
    missing = {key: [name for name in location.tables() if router.named(name).exists(key)]
               for key in named if key not in sizes and not active.exists(key)}
    return {"jobs_waiting": waiting, "active": state.active, "objects": len(sizes), "bytes": sum(sizes.values()),
            "missing_on_active": missing}


def move(target: str) -> dict:
    """Queue a move of every file to store `target` for the instances' workers (checked as the dry run
    checks); the job's id."""
    from webapp.stores import service

    return {"job_id": service.start_move(_bench_user(), target).id}


def cleanup() -> dict:
    """Queue the removal of the previous store's copies; the job's id."""
    from webapp.stores import service

    return {"job_id": service.start_cleanup(_bench_user()).id}


def _bench_user():
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import User

    return db.session.scalar(select(User).where(User.username == "bench"))


def main(args: list[str]) -> dict:
    sys.path.insert(0, str(ROOT))
    from webapp import create_app

    app = create_app()
    with app.app_context():
        if args[0] == "move":
            return move(args[1])
        return {"account": account, "facts": facts, "cleanup": cleanup}[args[0]]()


if __name__ == "__main__":
    if sys.argv[1:2] not in (["account"], ["facts"], ["move"], ["cleanup"]):
        sys.exit("usage: cluster.py account|facts|move STORE|cleanup  (bench.py runs the benchmark)")
    print(json.dumps(main(sys.argv[1:]), default=str))
