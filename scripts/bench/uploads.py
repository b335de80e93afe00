"""Benchmark 11 (BENCH_ONLY=uploads): issue 15's goals for the upload pipeline and for serving, each a ratio to a
reference measured in the same run, over rounds (at least 3, more until a round lands within the spread already
seen), with the 1-minute load average at each round.

- Upload throughput: CLIENTS clients uploading a 12 MP JPEG (GPS, EXIF orientation, ICC profile) over HTTP to the
  account's default visibility (private), photos/s, vs a minimal Pillow pipeline (open, draft decode,
  exif_transpose, 400 px WebP quality 80 method 4) in one worker process per core on the same file.
- HEIC and AVIF vs JPEG: the corpus iPhone HEIC, and AVIF and JPEG (quality 90) of its pixels with its GPS EXIF,
  one client, uploads in turn; ms per upload.
- Memory: peak RSS of a fresh server over 100 uploads mixing JPEG, HEIC, AVIF, PNG and animated WebP from CLIENTS
  clients, and its RSS a minute after the last, against 500 MB and 250 MB.
- An owner's thumbnail, at the URL the gallery page gives the owner, with the session cookie, vs a public cached
  thumbnail; wrk, 16 connections.
- A 3 MB original vs nginx serving the same bytes; a Range request vs a plain one on Shoebox; and, when the app
  has server.accel_redirect, Shoebox behind nginx with X-Accel-Redirect vs nginx serving the stored file.
- thumbor (installed into a throwaway venv under $BENCH_TMP, one process) serving a cached 400 px WebP from its
  result storage, beside Shoebox's public cached thumbnail: a reference with no goal.
"""

from __future__ import annotations

import html
import http.client
import io
import multiprocessing
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import unquote, urlsplit

import fixtures
import gallery
import load
import memory
import nginx
from common import MB, SCRATCH, free_port, guarded, in_rounds, load_average, median, run_in_threads, say, \
    stop, summary, timed, track
from serving import FILE_CONNECTIONS, SECONDS, THUMB_CONNECTIONS, measured
from server import Shoebox, multipart_body, post

CLIENTS = 4
UPLOADS_PER_ROUND = 40
PILLOW_WORKERS = os.cpu_count() or 2
SAME_PIXELS_UPLOADS = 3  # of each format per round
MIXED_UPLOADS, MEMORY_ROUNDS = 100, 3  # a round waits a minute after its uploads
ROUND_SECONDS = max(3.0, SECONDS / 2)  # each side's load run in a round of a serving comparison
SIDE = 400
RANGE = (1_000_000, 1_999_999)
THUMBOR_INSTALL_SECONDS = 300
NAMES = {  # each part's rows, which its error rows are named after too
    "one": (f"upload throughput, 12 MP JPEG, {CLIENTS} clients", "HEIC upload vs JPEG, same pixels",
            "AVIF upload vs JPEG, same pixels", "owner's thumbnail vs public",
            "public thumbnail vs thumbor (result storage)", "original 3 MB JPEG vs nginx",
            "original 3 MB: Range (1 MB) vs whole"),
    "memory": (f"memory: {MIXED_UPLOADS} mixed uploads: peak RSS",
               f"memory: {MIXED_UPLOADS} mixed uploads: RSS {memory.SETTLE_SECONDS} s after"),
    "accel": ("original 3 MB with X-Accel-Redirect vs nginx",)}


def run(work: Path) -> list[dict]:
    """Every row of the group; a row that cannot be measured says why, and the others still run."""
    say("uploads: making fixtures (12 MP JPEG, the iPhone photo as JPEG/AVIF/PNG, a 3 MB JPEG)")
    photo = fixtures.photo_12mp(work / "upload-12mp.jpg")
    same_pixels = fixtures.iphone_variants(work)
    original = fixtures.jpeg_of_about(work / "original-3mb.jpg")
    rows = guarded(NAMES["one"], _one_server, work / "uploads-shoebox", photo, same_pixels, original)
    rows += guarded(NAMES["memory"], mixed_memory, work / "uploads-memory", photo, same_pixels)
    rows += guarded(NAMES["accel"], accel_redirect, work / "uploads-accel", original)
    return rows


def _one_server(home: Path, photo: Path, same_pixels: dict, original: Path) -> list[dict]:
    """The rows that share one server, which is stopped whatever happens."""
    with ExitStack() as stack:
        server = Shoebox(home)
        stack.callback(server.stop)
        server.start()
        server.create_account()
        rows = guarded(NAMES["one"][:1], throughput, server, photo)
        rows += guarded(NAMES["one"][1:3], same_pixel_uploads, server, same_pixels)
        rows += guarded(NAMES["one"][3:4], owner_thumbnails, server, photo)
        rows += guarded(NAMES["one"][4:5], thumbor_reference, server, photo, home / "thumbor")
        rows += guarded(NAMES["one"][5:], originals, server, original, home / "nginx")
        return rows


# --- 1. upload throughput -------------------------------------------------------------------------------------

def pillow_pipeline(path: Path) -> int:
    """The reference: open, draft-decode, turn upright, 400 px WebP quality 80 method 4; the WebP's size."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        scale = SIDE / max(im.size)
        im.draft("RGB", (round(im.width * scale), round(im.height * scale)))
        im.thumbnail((SIDE, SIDE), reducing_gap=3.0)
        upright = ImageOps.exif_transpose(im)
    buffer = io.BytesIO()
    upright.save(buffer, "WEBP", quality=80, method=4)
    return buffer.tell()


def upload_concurrently(server: Shoebox, bodies: list[tuple[bytes, str]], clients: int) -> float:
    """POST every body from `clients` threads, each taking the next body when its upload is done; seconds."""
    pending, lock, failed = iter(bodies), threading.Lock(), []

    def client():
        """Upload until no body is left."""
        while True:
            with lock:
                body = next(pending, None)
            if body is None:
                return
            try:
                status, data = post(server.url + "/api/v1/images", *body, server.api_key)
            except OSError as error:
                status, data = 0, str(error).encode()
            if status != 201:
                failed.append(f"{status}: {data[:200]!r}")

    seconds = run_in_threads(client, clients)
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(bodies)} uploads failed: {failed[:3]}\n{server.log_tail(10)}")
    return seconds


def throughput(server: Shoebox, photo: Path) -> list[dict]:
    """Photos/s over HTTP with CLIENTS clients vs the Pillow pipeline in PILLOW_WORKERS processes, by round."""
    body = multipart_body(photo, None)
    visibility = "public" if server.upload(photo, public=None)["is_public"] else "private"
    say(f"uploads: {UPLOADS_PER_ROUND} uploads of a {photo.stat().st_size / MB:.1f} MB 12 MP JPEG ({visibility}) "
        f"from {CLIENTS} clients vs Pillow in {PILLOW_WORKERS} processes, by round")
    with multiprocessing.get_context("fork").Pool(PILLOW_WORKERS) as pool:
        pool.map(pillow_pipeline, [photo] * PILLOW_WORKERS)  # the workers are up and have imported Pillow
        upload_concurrently(server, [body] * CLIENTS, CLIENTS)

        def one_round(index: int) -> dict:
            """Both, in an order that changes every round; photos/s each."""
            sides = {"shoebox": lambda: upload_concurrently(server, [body] * UPLOADS_PER_ROUND, CLIENTS),
                     "pillow": lambda: timed(pool.map, pillow_pipeline, [photo] * UPLOADS_PER_ROUND, 1)}
            seconds = {name: sides[name]() for name in (sorted(sides, reverse=bool(index % 2)))}
            rates = {name: UPLOADS_PER_ROUND / value for name, value in seconds.items()}
            return {"shoebox_photos_s": round(rates["shoebox"], 2), "pillow_photos_s": round(rates["pillow"], 2),
                    "ratio": round(rates["shoebox"] / rates["pillow"], 3)}

        result = summary(in_rounds(one_round))
    shoebox, pillow = (median([r[key] for r in result["rounds"]]) for key in ("shoebox_photos_s", "pillow_photos_s"))
    return [{"name": NAMES["one"][0], **result, "visibility": visibility,
             "uploads_per_round": UPLOADS_PER_ROUND, "pillow_workers": PILLOW_WORKERS, "file_mb": _mb(photo),
             "figure": f"Shoebox {shoebox:.2f} photos/s", "reference": f"Pillow {pillow:.2f} photos/s",
             "goal": ">= 0.5 (Shoebox photos/s / minimal Pillow pipeline photos/s)", "goal_min": 0.5}]


def _mb(path: Path) -> float:
    """A file's size in MB, to one decimal."""
    return round(path.stat().st_size / MB, 1)


# --- 2. HEIC and AVIF against a JPEG of the same pixels ----------------------------------------------------------

def same_pixel_uploads(server: Shoebox, files: dict[str, Path]) -> list[dict]:
    """ms per upload of the HEIC and of the AVIF vs the JPEG of the same pixels, one client, by round."""
    if not files:
        missing = f"needs the corpus photo {fixtures.IPHONE_HEIC}"
        return [{"name": name, "skipped": missing} for name in NAMES["one"][1:3]]
    bodies = {kind: multipart_body(path, None) for kind, path in files.items()}
    for kind in ("jpeg", "heic", "avif"):
        upload_concurrently(server, [bodies[kind]], 1)  # warm: each decoder's library loaded once
    say(f"uploads: HEIC and AVIF vs a JPEG of the same pixels (2566x3313), {SAME_PIXELS_UPLOADS} each per round")
    return [_same_pixels_row(server, bodies, kind, files) for kind in ("heic", "avif")]


def _same_pixels_row(server: Shoebox, bodies: dict, kind: str, files: dict[str, Path]) -> dict:
    """One format's rounds against the JPEG, uploads taking turns."""
    def one_round(index: int) -> dict:
        """SAME_PIXELS_UPLOADS of each, alternating, the first one changing every round; median ms each."""
        order = ("jpeg", kind) if index % 2 == 0 else (kind, "jpeg")
        times = {"jpeg": [], kind: []}
        for _ in range(SAME_PIXELS_UPLOADS):
            for name in order:
                times[name].append(timed(upload_concurrently, server, [bodies[name]], 1))
        ms = {name: median(values) * 1000 for name, values in times.items()}
        return {f"{kind}_ms": round(ms[kind], 1), "jpeg_ms": round(ms["jpeg"], 1),
                "ratio": round(ms[kind] / ms["jpeg"], 3)}

    result = summary(in_rounds(one_round))
    ms = {name: median([r[f"{name}_ms"] for r in result["rounds"]]) for name in (kind, "jpeg")}
    return {"name": NAMES["one"][1 if kind == "heic" else 2], **result,
            "file_mb": {name: _mb(files[name]) for name in (kind, "jpeg")},
            "figure": f"{kind.upper()} {ms[kind]:.0f} ms/upload", "reference": f"JPEG {ms['jpeg']:.0f} ms/upload",
            "goal": f"<= 2 ({kind.upper()} ms / JPEG ms per upload)", "goal_max": 2.0}


# --- 3. memory over mixed uploads ---------------------------------------------------------------------------------

def mixed_memory(home: Path, photo: Path, same_pixels: dict) -> list[dict]:
    """Peak RSS of a fresh server over MIXED_UPLOADS mixed uploads from CLIENTS clients, and a minute later."""
    names = NAMES["memory"]
    if not same_pixels or not fixtures.ANIMATED_WEBP.exists():
        return [{"name": name, "skipped": "needs the corpus (the iPhone HEIC and the animated WebP)"}
                for name in names]
    files = [photo, same_pixels["heic"], same_pixels["avif"], same_pixels["png"], fixtures.ANIMATED_WEBP]
    bodies = [multipart_body(path, None) for path in files]
    with ExitStack() as stack:
        server = Shoebox(home)
        stack.callback(server.stop)
        server.start()
        server.create_account()
        say(f"uploads: memory over {MIXED_UPLOADS} uploads of JPEG, HEIC, AVIF, PNG and animated WebP from "
            f"{CLIENTS} clients, then {memory.SETTLE_SECONDS} s idle; {MEMORY_ROUNDS} rounds")
        rounds = [_memory_round(server, bodies) for _ in range(MEMORY_ROUNDS)]
    shared = {"uploads_per_round": MIXED_UPLOADS, "clients": CLIENTS, "server_threads": server.threads,
              "rss_at_start_mb": round(server.start_rss_mb, 1), "files": [f"{p.name} ({_mb(p)} MB)" for p in files]}
    peak = summary([{**r, "ratio": round(r["peak_mb"] / memory.PEAK_GOAL_MB, 3)} for r in rounds])
    after = summary([{**r, "ratio": round(r["settled_mb"] / memory.SETTLED_GOAL_MB, 3)} for r in rounds])
    peak_mb, after_mb = (median([r[key] for r in rounds]) for key in ("peak_mb", "settled_mb"))
    return [{**row, **shared, **figures} for row, figures in zip(
        memory.goal_rows(f"memory: {MIXED_UPLOADS} mixed uploads", peak_mb, after_mb, {}), (peak, after), strict=True)]


def _memory_round(server: Shoebox, bodies: list) -> dict:
    """One round: the uploads under the peak sampler, then the RSS a minute after the last."""
    baseline = server.memory_kb("VmRSS") * 1024 / MB
    with memory.PeakSampler(server) as sampler:
        seconds = upload_concurrently(server, [bodies[i % len(bodies)] for i in range(MIXED_UPLOADS)], CLIENTS)
    peak = sampler.peak_kb * 1024 / MB
    return {"baseline_mb": round(baseline, 1), "peak_mb": round(peak, 1), "upload_seconds": round(seconds, 1),
            "settled_mb": round(memory.settled_mb(server), 1), "load_average_1min": load_average()}


# --- 4. an owner's thumbnails, and thumbor -------------------------------------------------------------------------

def owner_thumbnails(server: Shoebox, photo: Path) -> list[dict]:
    """The owner's thumbnail at the URL the gallery page gives the owner vs a public cached one."""
    public = server.upload(photo, public=True)
    private = server.upload(photo, public=False)
    owner_path, cookie = owner_thumbnail_url(server, private["id"])
    public_path = f"/i/{public['id']}?size=thumb"
    for path, headers in ((owner_path, {"Cookie": cookie}), (public_path, {})):
        _expect_image(server.url + path, headers)
    say(f"uploads: the owner's thumbnail ({owner_path}) vs a public one, {load.tool()}, {THUMB_CONNECTIONS} "
        f"connections, {ROUND_SECONDS:.0f} s each per round")
    result = summary(in_rounds(lambda index: _rps_round(
        {"owner": (server.url + owner_path, {"Cookie": cookie}), "public": (server.url + public_path, {})},
        THUMB_CONNECTIONS, index)))
    rps = {side: median([r[f"{side}_rps"] for r in result["rounds"]]) for side in ("owner", "public")}
    return [{"name": NAMES["one"][3], **result, "owner_url": owner_path, "owner_sends_cookie": True,
             "figure": f"owner {rps['owner']:,.0f} req/s", "reference": f"public {rps['public']:,.0f} req/s",
             "connections": THUMB_CONNECTIONS, "seconds_per_side": ROUND_SECONDS,
             "goal": ">= 0.8 (owner's thumbnail req/s / public thumbnail req/s)", "goal_min": 0.8}]


def owner_thumbnail_url(server: Shoebox, media_id: str) -> tuple[str, str]:
    """Log in through the web form and read the gallery page: the owner's thumbnail path and the Cookie header."""
    client = gallery.Client(server.url)
    try:
        gallery.browser_login(client)
        status, _, body = client.request("GET", "/")
    finally:
        client.close()
    sources = [html.unescape(src) for src in re.findall(r'<img\b[^>]*?\ssrc="([^"]+)"', body.decode())]
    found = next((src for src in sources if media_id in src), None)
    if status != 200 or found is None:
        raise RuntimeError(f"the gallery page (status {status}) shows no <img> of photo {media_id}: {sources[:3]}")
    parts = urlsplit(found)
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    return parts.path + (f"?{parts.query}" if parts.query else ""), cookie


def _expect_image(url: str, headers: dict, status: int = 200) -> bytes:
    """GET url once; its body, or a failure unless it answers `status` with an image."""
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
        if response.status != status or not response.headers.get("Content-Type", "").startswith("image/"):
            raise RuntimeError(f"{url} answered {response.status} {response.headers.get('Content-Type')}")
        return body


def _rps_round(sides: dict[str, tuple[str, dict]], connections: int, index: int) -> dict:
    """Each side's load run (url, headers), the first side changing every round: req/s and MB/s of each, and
    the ratio of the first's req/s to the second's."""
    names = list(sides)
    figures = {name: measured(sides[name][0], connections, ROUND_SECONDS, sides[name][1])
               for name in (names if index % 2 == 0 else names[::-1])}
    first, second = names
    return {**{f"{name}_rps": round(f["rps"], 1) for name, f in figures.items()},
            **{f"{name}_mb_s": round(f["bytes_per_s"] / MB, 1) for name, f in figures.items()},
            "ratio": round(figures[first]["rps"] / figures[second]["rps"], 3)}


def thumbor_reference(server: Shoebox, photo: Path, home: Path) -> list[dict]:
    """Shoebox's public cached thumbnail vs thumbor serving a 400 px WebP from its result storage (no goal)."""
    name = NAMES["one"][4]
    thumbor, why = _install_thumbor(SCRATCH / "thumbor-venv")
    if thumbor is None:
        return [{"name": name, "skipped": why}]
    public_url = f"{server.url}/i/{server.upload(photo, public=True)['id']}?size=thumb"
    _expect_image(public_url, {})
    with ExitStack() as stack:
        service = _start_thumbor(thumbor, photo, home)
        stack.callback(stop, service["process"])
        url = f"{service['url']}/unsafe/fit-in/{SIDE}x{SIDE}/filters:format(webp):quality(80)/{photo.name}"
        _expect_image(url, {})  # makes it and puts it in the result storage
        time.sleep(0.5)
        _expect_image(url, {})
        say(f"uploads: public thumbnail vs thumbor {service['version']} from its result storage, "
            f"{THUMB_CONNECTIONS} connections")
        result = summary(in_rounds(lambda index: _rps_round(
            {"shoebox": (public_url, {}), "thumbor": (url, {})}, THUMB_CONNECTIONS, index)))
    rps = {side: median([r[f"{side}_rps"] for r in result["rounds"]]) for side in ("shoebox", "thumbor")}
    return [{"name": name, **result, "thumbor_version": service["version"], "thumbor_processes": 1,
             "figure": f"Shoebox {rps['shoebox']:,.0f} req/s", "reference": f"thumbor {rps['thumbor']:,.0f} req/s",
             "goal": "none: Shoebox req/s / thumbor req/s, both one process"}]


def _install_thumbor(venv: Path) -> tuple[Path | None, str]:
    """thumbor in its own throwaway venv (never the project's): its executable, or why not."""
    if not (venv / "bin" / "thumbor").exists():
        say("uploads: installing thumbor into a throwaway venv")
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "thumbor"], check=True, capture_output=True,
                           timeout=THUMBOR_INSTALL_SECONDS)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
            detail = getattr(error, "stderr", b"") or b""
            return None, f"thumbor did not install: {str(error)[:80]} {detail[-120:].decode(errors='replace')}"
    return venv / "bin" / "thumbor", ""


THUMBOR_CONFIG = """
LOADER = 'thumbor.loaders.file_loader'
FILE_LOADER_ROOT_PATH = {images!r}
STORAGE = 'thumbor.storages.no_storage'
RESULT_STORAGE = 'thumbor.result_storages.file_storage'
RESULT_STORAGE_FILE_STORAGE_ROOT_PATH = {results!r}
RESULT_STORAGE_STORES_UNSAFE = True
ALLOW_UNSAFE_URL = True
QUALITY = 80
"""


def _start_thumbor(thumbor: Path, photo: Path, home: Path) -> dict:
    """thumbor on a free loopback port, one process, loading from a folder with the photo in it."""
    (home / "images").mkdir(parents=True, exist_ok=True)
    (home / "images" / photo.name).write_bytes(photo.read_bytes())
    config = home / "thumbor.conf"
    config.write_text(THUMBOR_CONFIG.format(images=str(home / "images"), results=str(home / "results")))
    port = free_port()
    log = open(home / "thumbor.log", "w")
    process = track(subprocess.Popen([str(thumbor), "-i", "127.0.0.1", "-p", str(port), "-c", str(config),
                                      "-l", "warning", "--processes", "1"], stdout=log, stderr=subprocess.STDOUT))
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/healthcheck", timeout=1).read()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() >= deadline - 0.2:
                stop(process)
                raise RuntimeError(f"thumbor did not start: {(home / 'thumbor.log').read_text()[-300:]}")
            time.sleep(0.2)
    version = subprocess.run([str(thumbor), "--version"], capture_output=True, text=True).stdout.strip()
    return {"process": process, "url": url, "version": version.split()[1] if " " in version else version}


# --- 5. originals ----------------------------------------------------------------------------------------------------

def originals(server: Shoebox, source: Path, home: Path) -> list[dict]:
    """A 3 MB original vs nginx serving the bytes Shoebox serves; a Range request vs a plain one on Shoebox."""
    media = server.upload(source, public=True)
    path = f"/i/{media['id']}"
    served = _expect_image(server.url + path, {})
    copy = home / "www-source" / f"{media['id']}.jpg"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(served)
    size = len(served)
    rows = [_against_nginx(server.url + path, copy, home, size)]
    wanted = f"bytes={RANGE[0]}-{RANGE[1]}"
    partial = _expect_image(server.url + path, {"Range": wanted}, status=206)
    if partial != served[RANGE[0]:RANGE[1] + 1]:
        raise RuntimeError(f"{path} with Range {wanted} sent {len(partial)} bytes that are not the range")
    say(f"uploads: Range {wanted} vs the whole {size / MB:.1f} MB original, {FILE_CONNECTIONS} connections")
    result = summary(in_rounds(lambda index: _rps_round(
        {"range": (server.url + path, {"Range": wanted}), "plain": (server.url + path, {})}, FILE_CONNECTIONS,
        index)))
    rps = {side: median([r[f"{side}_rps"] for r in result["rounds"]]) for side in ("range", "plain")}
    rows.append({"name": NAMES["one"][6], **result, "file_mb": round(size / MB, 1),
                 "range": wanted, "figure": f"Range {rps['range']:,.0f} req/s",
                 "reference": f"whole {rps['plain']:,.0f} req/s",
                 "goal": ">= 0.8 (Range req/s / whole file req/s, Shoebox)", "goal_min": 0.8})
    return rows


def _against_nginx(url: str, copy: Path, home: Path, size: int) -> dict:
    """The original over Shoebox vs the same bytes over nginx, by round."""
    name = NAMES["one"][5]
    if nginx.binary() is None:
        return {"name": name, "skipped": "nginx not available (apt-get install nginx-light)"}
    web = nginx.Nginx(home)
    try:
        direct = web.publish(copy)
        web.start()
        say(f"uploads: a {size / MB:.1f} MB original vs nginx, {FILE_CONNECTIONS} connections")
        result = summary(in_rounds(lambda index: _rps_round(
            {"shoebox": (url, {}), "nginx": (direct, {})}, FILE_CONNECTIONS, index)))
        version = web.version()
    finally:
        web.stop()
    rps = {side: median([r[f"{side}_rps"] for r in result["rounds"]]) for side in ("shoebox", "nginx")}
    return {"name": name, **result, "file_mb": round(size / MB, 1), "nginx_version": version,
            "nginx_serves": "the bytes Shoebox serves (the stored original), from disk",
            "figure": f"Shoebox {rps['shoebox']:,.0f} req/s", "reference": f"nginx {rps['nginx']:,.0f} req/s",
            "goal": ">= 0.5 (Shoebox req/s / nginx req/s)", "goal_min": 0.5}


def accel_redirect(home: Path, source: Path) -> list[dict]:
    """Shoebox behind nginx answering with X-Accel-Redirect vs nginx serving the stored file itself."""
    from webapp.config import DEFAULTS

    name = NAMES["accel"][0]
    if "accel_redirect" not in DEFAULTS["server"]:
        return [{"name": name, "skipped": "the app has no server.accel_redirect setting (webapp/config.py)"}]
    if nginx.binary() is None:
        return [{"name": name, "skipped": "nginx not available (apt-get install nginx-light)"}]
    default = DEFAULTS["server"]["accel_redirect"]
    setting = "true" if isinstance(default, bool) else "/_shoebox_files/"
    with ExitStack() as stack:
        server = Shoebox(home / "shoebox", settings={"SERVER__ACCEL_REDIRECT": setting})
        stack.callback(server.stop)
        server.start()
        server.create_account()
        media = server.upload(source, public=True)
        internal, stored = _accel_target(server, f"/i/{media['id']}")
        web = nginx.Nginx(home / "nginx")
        stack.callback(web.stop)
        nginx.let_workers_through(stored)
        prefix, root = _split_internal(internal, stored)
        web.start(f"        location {prefix}/ {{ internal; alias {root}/; }}\n"
                  f"        location /direct/ {{ alias {root}/; }}\n"
                  f"        location /i/ {{ proxy_pass {server.url}; proxy_set_header Host 127.0.0.1:{server.port}; }}")
        direct, proxied = f"{web.url}/direct{internal[len(prefix):]}", f"{web.url}/i/{media['id']}"
        if _expect_image(proxied, {}) != stored.read_bytes():
            raise RuntimeError("nginx did not serve the stored file through X-Accel-Redirect")
        say(f"uploads: X-Accel-Redirect through nginx vs nginx direct, {FILE_CONNECTIONS} connections")
        result = summary(in_rounds(lambda index: _rps_round(
            {"accel": (proxied, {}), "nginx": (direct, {})}, FILE_CONNECTIONS, index)))
    rps = {side: median([r[f"{side}_rps"] for r in result["rounds"]]) for side in ("accel", "nginx")}
    return [{"name": name, **result, "setting": setting, "internal_location": prefix,
             "proxy": "nginx's defaults: HTTP/1.0, a new connection to Shoebox per request",
             "figure": f"via Shoebox {rps['accel']:,.0f} req/s", "reference": f"nginx {rps['nginx']:,.0f} req/s",
             "goal": ">= 0.9 (Shoebox + X-Accel-Redirect req/s / nginx req/s)", "goal_min": 0.9}]


def _accel_target(server: Shoebox, path: str) -> tuple[str, Path]:
    """The X-Accel-Redirect path Shoebox answers `path` with, and the stored file it names."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        internal = unquote(response.headers.get("X-Accel-Redirect") or "")
    finally:
        connection.close()
    if not internal:
        raise RuntimeError(f"{path} answered {response.status} without X-Accel-Redirect")
    leaf = internal.rstrip("/").rsplit("/", 1)[-1]
    stored = [found for found in (server.home / "data").rglob(leaf) if found.is_file()]
    if len(stored) != 1:
        raise RuntimeError(f"X-Accel-Redirect {internal} names no single file under the data directory")
    return internal, stored[0]


def _split_internal(internal: str, stored: Path) -> tuple[str, Path]:
    """('/internal-prefix', the folder it stands for): the longest tail the header and the file's path share."""
    header, disk = internal.strip("/").split("/"), stored.parts
    shared = 0
    while shared < min(len(header), len(disk)) and header[-1 - shared] == disk[-1 - shared]:
        shared += 1
    return "/" + "/".join(header[:len(header) - shared]), Path(*disk[:len(disk) - shared])


def notes(results: list[dict]) -> str:
    """Each uploads row's ratio by round and the load average at each."""
    ours = {name for names in NAMES.values() for name in names}
    lines = []
    for result in results:
        if result["name"] not in ours or "rounds" not in result:
            continue
        by_round = ", ".join(f"{r['ratio']:.2f} (load {r['load_average_1min']:.1f})" for r in result["rounds"])
        files = f"; files (MB) {result['file_mb']}" if "file_mb" in result else ""
        where = f"; URL {result['owner_url']}" if "owner_url" in result else ""
        lines.append(f"- {result['name']}: ratio by round {by_round}{files}{where}")
    return "\nUploads and serving (issue 15), by round:\n" + "\n".join(lines) if lines else ""


if __name__ == "__main__":
    sys.exit("run through scripts/bench/run with BENCH_ONLY=uploads")
