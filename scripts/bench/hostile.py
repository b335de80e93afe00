"""Benchmark 7: hostile clients (issue 10) against a real server, each beside a same-run reference.

- Memory: the server's RSS growth for an upload that is cheap to send and dear to decode (a 400-frame
  1000x1000 WebP turned by EXIF orientation 6; an 88-megapixel PNG of one colour), against an
  ordinary 12 MP JPEG. The bound on decoded bytes should refuse both with 413 before decoding.
- Slow headers: /health latency, each request on a new connection, while one client holds 150
  connections that send a header line every few seconds, against the same with no such client.
- Slow URL fetches: /health latency while 8 uploads by URL wait on a host that sends one byte at a
  time, against the same with nothing else running.

Memory figures are medians of ROUNDS uploads, the reference's last (memory its decoding freed would
hide the growth of what follows). Latencies are p50/p99 over every request of every round, idle and
hostile taking turns. Each round's figures, their spread and the machine's load average go into the JSON.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from common import MB, ROOT, guarded, median, say
from memory import PeakSampler
from server import Shoebox, multipart_body, post

ROUNDS = 3
HEALTH_REQUESTS = 100  # per round and case, one after another, each on its own connection
HEALTH_TIMEOUT = 10.0  # a /health request that takes longer counts as this long, and as failed
DRIBBLERS = 150  # more than waitress's default connection limit of 100
DRIBBLE_EVERY = 2.0  # seconds between two header lines on every slow connection
# The slow-header rounds space their requests so that the attack outlasts server.header_timeout
# (20 s): /health is also measured while the server closes those connections and they come back.
HEADER_ROUNDS = 2
HEADER_GAP = 0.25  # seconds from one /health request to the next, on both sides
URL_UPLOADS = 8
URL_ACCOUNTS = 4  # URL_UPLOADS spread over them: two each, the default fetch.per_user
MEMORY_GOAL = 0.25
LATENCY_GOAL = 2.0
NAMES = ("hostile: 400-frame WebP, EXIF 6 (RSS)", "hostile: 88 MP flat PNG (RSS)",
         "hostile: /health, 150 slow-header conns", "hostile: /health, 8 slow URL uploads")

ACCOUNTS_SNIPPET = """
import sys
from webapp import create_app
from webapp.auth import api_keys, service
from webapp.extensions import db
app = create_app()
with app.app_context():
    for number in range(int(sys.argv[1])):
        user = service.create_user(f"hostile{number}@example.com", f"hostile{number}",
                                   "correct horse battery staple", verified=True)
        db.session.commit()
        print(api_keys.create_api_key(user, "hostile")[1])
"""


class HostileShoebox(Shoebox):
    """The bench's server with URL uploads from loopback allowed, so that the slow host can be local."""

    def env(self) -> dict:
        return {**super().env(), "SHOEBOX_SECURITY__ALLOW_PRIVATE_FETCH": "true"}

    def url_accounts(self, count: int) -> list[str]:
        """API keys of `count` accounts on the default plan, made through the app itself."""
        done = subprocess.run([sys.executable, "-c", ACCOUNTS_SNIPPET, str(count)], cwd=ROOT, env=self.env(),
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"could not create the URL upload accounts:\n{done.stderr[-3000:]}")
        return done.stdout.split()[-count:]


# --- the files ------------------------------------------------------------------------------------

def attack_webp(dest: Path) -> Path:
    """400 frames of 1000x1000 with EXIF orientation 6, a few hundred KB: frames that barely change."""
    from PIL import Image, ImageDraw

    frames = []
    for number in range(4):  # consecutive frames differ, so the encoder keeps all 400
        frame = Image.new("RGB", (1000, 1000), (40, 90, 140))
        ImageDraw.Draw(frame).rectangle((100 + 50 * number, 100, 200 + 50 * number, 200), fill=(240, 200, 60))
        frames.append(frame)
    exif = Image.Exif()
    exif[0x0112] = 6
    sequence = [frames[number % 4] for number in range(400)]
    sequence[0].save(dest, "WEBP", save_all=True, append_images=sequence[1:], duration=40, loop=0, quality=50,
                     method=0, allow_mixed=True, exif=exif.tobytes())
    return dest


def flat_png(dest: Path, side: int = 9400) -> Path:
    """A side x side RGB PNG of one colour (88 MP at 9400), written row by row without holding the pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor, row = zlib.compressobj(9), b"\x00" + b"\x00" * (3 * side)  # filter byte, black pixels
    with open(dest, "wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)))
        for _ in range(side):
            if data := compressor.compress(row):
                out.write(chunk(b"IDAT", data))
        out.write(chunk(b"IDAT", compressor.flush()) + chunk(b"IEND", b""))
    return dest


def small_jpeg(width: int = 48, height: int = 32) -> bytes:
    """A small ordinary JPEG: the warm-up upload, and what the slow host sends."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).convert("RGB").save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


# --- memory ---------------------------------------------------------------------------------------

def upload_growth(server: Shoebox, body: tuple[bytes, str]) -> dict:
    """One upload: its status and seconds, the peak RSS above the baseline and what stayed after it."""
    baseline = server.memory_kb("VmRSS")
    with PeakSampler(server) as sampler:
        started = time.monotonic()
        status, _ = post(server.url + "/api/v1/images", *body, server.api_key)
        seconds = time.monotonic() - started
    time.sleep(0.2)
    kept = server.memory_kb("VmRSS")
    return {"status": status, "seconds": round(seconds, 2),
            "peak_mb": round((sampler.peak_kb - baseline) * 1024 / MB, 1),
            "kept_mb": round((kept - baseline) * 1024 / MB, 1)}


def memory_rows(server: Shoebox, webp: Path, png: Path, photo: Path) -> list[dict]:
    """ROUNDS uploads of each attack file, then of the 12 MP JPEG (last: its freed memory would hide theirs)."""
    say(f"hostile memory: {ROUNDS} uploads each of a {webp.stat().st_size / 1000:.0f} KB 400-frame WebP, "
        f"a {png.stat().st_size / 1000:.0f} KB 88 MP PNG, then a 12 MP JPEG (reference)")
    load = [round(os.getloadavg()[0], 2)]
    server.upload(photo.with_name("warm-up.jpg"))  # imports and first allocations, before any figure
    rounds = {name: [upload_growth(server, multipart_body(path)) for _ in range(ROUNDS)]
              for name, path in (("webp", webp), ("png", png), ("jpeg", photo))}
    load.append(round(os.getloadavg()[0], 2))
    reference = rounds["jpeg"]
    reference_mb = median([r["peak_mb"] for r in reference])
    return [_memory_row(NAMES[0], rounds["webp"], reference, reference_mb, webp, load),
            _memory_row(NAMES[1], rounds["png"], reference, reference_mb, png, load)]


def _memory_row(name: str, attack: list[dict], reference: list[dict], reference_mb: float, path: Path,
                load: list[float]) -> dict:
    peak, seconds = median([r["peak_mb"] for r in attack]), median([r["seconds"] for r in attack])
    statuses = "/".join(map(str, sorted({r["status"] for r in attack})))
    return {"name": name, "file_kb": round(path.stat().st_size / 1000), "rounds": attack,
            "reference_rounds": reference,
            "peak_mb": peak, "peak_spread_mb": _spread([r["peak_mb"] for r in attack]),
            "reference_peak_mb": reference_mb, "reference_spread_mb": _spread([r["peak_mb"] for r in reference]),
            "load_average_1min": load, "cpus": os.cpu_count(),
            "figure": f"+{peak:.0f} MB, {statuses} in {seconds:.2f} s",
            "reference": f"12 MP JPEG +{reference_mb:.0f} MB ({'/'.join(str(r['status']) for r in reference)})",
            "ratio": round(peak / max(reference_mb, 1.0), 3), "goal_max": MEMORY_GOAL,
            "goal": f"<= {MEMORY_GOAL} (peak RSS growth / a 12 MP JPEG upload's)"}


def _spread(values: list[float]) -> list[float]:
    """[lowest, highest] of the rounds."""
    return [round(min(values), 2), round(max(values), 2)]


# --- /health latency ------------------------------------------------------------------------------

def health_latencies(server: Shoebox, count: int = HEALTH_REQUESTS, gap: float = 0.0) -> tuple[list[float], int]:
    """Milliseconds of `count` GET /health, each on a new connection, one every `gap` seconds at most;
    failures count as HEALTH_TIMEOUT."""
    times, failed = [], 0
    for _ in range(count):
        started = time.perf_counter()
        next_one = started + gap
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=HEALTH_TIMEOUT)
        try:
            connection.request("GET", "/health")
            response = connection.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
        finally:
            connection.close()
        failed += not ok
        times.append(HEALTH_TIMEOUT * 1000 if not ok else (time.perf_counter() - started) * 1000)
        time.sleep(max(0.0, next_one - time.perf_counter()))
    return times, failed


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `share` of them at or below it."""
    import math

    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def latency_row(name: str, rounds: list[dict], load: list[float], extra: dict) -> dict:
    """The row for one hostile case: p50/p99 over all rounds of each side, ratio of the p99s."""
    sides = {}
    for side in ("hostile", "idle"):
        values = [ms for r in rounds for ms in r[side]["ms"]]
        sides[side] = {"p50_ms": round(percentile(values, 0.50), 2), "p99_ms": round(percentile(values, 0.99), 2),
                       "max_ms": round(max(values), 2), "failed": sum(r[side]["failed"] for r in rounds),
                       "round_p99_ms": [round(percentile(r[side]["ms"], 0.99), 2) for r in rounds]}
    hostile, idle = sides["hostile"], sides["idle"]
    return {"name": name, **sides, **extra, "requests_per_round": HEALTH_REQUESTS, "rounds": len(rounds),
            "load_average_1min": load, "cpus": os.cpu_count(),
            "figure": f"p50/p99 {hostile['p50_ms']:.1f}/{hostile['p99_ms']:.1f} ms, {hostile['failed']} failed",
            "reference": f"idle {idle['p50_ms']:.1f}/{idle['p99_ms']:.1f} ms",
            "ratio": round(hostile["p99_ms"] / idle["p99_ms"], 3), "goal_max": LATENCY_GOAL,
            "goal": f"<= {LATENCY_GOAL} (/health p99 under attack / idle p99)"}


def _measured(server: Shoebox, gap: float = 0.0) -> dict:
    times, failed = health_latencies(server, gap=gap)
    return {"ms": times, "failed": failed}


# --- slow headers ---------------------------------------------------------------------------------

class Dribbler:
    """One client holding DRIBBLERS connections whose request headers never end; it reopens any the server closes."""

    def __init__(self, port: int):
        self.port = port
        self.sockets: list[socket.socket | None] = [None] * DRIBBLERS
        self.closed_by_server = self.connect_failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open(self) -> socket.socket | None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: shoebox.test\r\n")
            return sock
        except OSError:
            self.connect_failures += 1
            return None

    def _run(self) -> None:
        line = 0
        while not self._stop.is_set():
            for index, sock in enumerate(self.sockets):
                if sock is not None:
                    try:
                        sock.sendall(b"X-Slow-%d: still typing\r\n" % line)
                        continue
                    except OSError:
                        self.closed_by_server += 1
                        sock.close()
                self.sockets[index] = self._open()
            line += 1
            self._stop.wait(DRIBBLE_EVERY)

    def open_count(self) -> int:
        return sum(sock is not None for sock in self.sockets)

    def __enter__(self):
        self._thread.start()
        deadline = time.monotonic() + 10
        while self.open_count() < DRIBBLERS and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(DRIBBLE_EVERY + 0.5)  # at least one more line on every connection before we measure
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        for sock in self.sockets:
            if sock is not None:
                sock.close()


def slow_headers_row(server: Shoebox) -> dict:
    """/health while DRIBBLERS connections dribble headers, against /health alone, ROUNDS times each."""
    say(f"hostile slow headers: {HEADER_ROUNDS} rounds of {HEALTH_REQUESTS} /health {HEADER_GAP} s apart idle, then "
        f"with {DRIBBLERS} connections sending a header line every {DRIBBLE_EVERY:.0f} s")
    load, rounds, held = [round(os.getloadavg()[0], 2)], [], []
    for _ in range(HEADER_ROUNDS):
        idle = _measured(server, HEADER_GAP)
        with Dribbler(server.port) as dribbler:
            hostile = _measured(server, HEADER_GAP)
            held.append({"open": dribbler.open_count(), "closed_by_server": dribbler.closed_by_server,
                         "connect_failures": dribbler.connect_failures})
        rounds.append({"idle": idle, "hostile": hostile})
    load.append(round(os.getloadavg()[0], 2))
    return latency_row(NAMES[2], rounds, load, {"dribblers": held})


# --- slow URL fetches -----------------------------------------------------------------------------

class SlowHost:
    """A local web server that sends a small JPEG one byte every `interval` seconds until released."""

    def __init__(self, interval: float = 0.2):
        self.body, self.interval = small_jpeg(), interval
        self.release, self.in_flight, self.lock = threading.Event(), 0, threading.Lock()
        host = self

        class Drip(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                with host.lock:
                    host.in_flight += 1
                try:
                    host.drip(self)
                except OSError:
                    pass  # Shoebox gave up on the download: what a deadline does
                finally:
                    with host.lock:
                        host.in_flight -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Drip)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slow.jpg"

    def drip(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Content-Length", str(len(self.body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        sent = 0
        while sent < len(self.body) - 1 and not self.release.is_set():
            handler.wfile.write(self.body[sent:sent + 1])
            handler.wfile.flush()
            sent += 1
            self.release.wait(self.interval)
        handler.wfile.write(self.body[sent:])

    def wait_for_in_flight(self, at_least: int, seconds: float = 5) -> int:
        """How many downloads are dripping once at_least are, or when `seconds` have passed."""
        deadline = time.monotonic() + seconds
        while self.in_flight < at_least and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.in_flight

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def url_uploads(server: Shoebox, host: SlowHost, keys: list[str]) -> tuple[list[threading.Thread], list]:
    """Start URL_UPLOADS uploads by URL at once, spread over the accounts' keys; (threads, statuses)."""
    statuses: list = []
    body = json.dumps({"url": host.url}).encode()

    def one(key: str) -> None:
        try:
            statuses.append(post(server.url + "/api/v1/images", body, "application/json", key, timeout=120)[0])
        except OSError as error:
            statuses.append(f"error: {error}")

    threads = [threading.Thread(target=one, args=(keys[n % len(keys)],)) for n in range(URL_UPLOADS)]
    for thread in threads:
        thread.start()
    return threads, statuses


def slow_fetch_row(server: HostileShoebox) -> dict:
    """/health while URL_UPLOADS uploads by URL wait on a slow host, against /health alone, ROUNDS times each."""
    keys = server.url_accounts(URL_ACCOUNTS)
    say(f"hostile slow fetches: {ROUNDS} rounds of {HEALTH_REQUESTS} /health idle, then with {URL_UPLOADS} URL "
        f"uploads from a host that sends a byte every 0.2 s ({URL_ACCOUNTS} accounts)")
    load, rounds, uploads = [round(os.getloadavg()[0], 2)], [], []
    for _ in range(ROUNDS):
        idle = _measured(server)
        host = SlowHost()
        try:
            threads, statuses = url_uploads(server, host, keys)
            dripping = host.wait_for_in_flight(URL_UPLOADS // 2)
            hostile = _measured(server)
            still = host.in_flight
        finally:
            host.stop()
        for thread in threads:
            thread.join(60)
        uploads.append({"dripping_at_start": dripping, "dripping_at_end": still,
                        "statuses": sorted(map(str, statuses))})
        rounds.append({"idle": idle, "hostile": hostile})
    load.append(round(os.getloadavg()[0], 2))
    return latency_row(NAMES[3], rounds, load, {"url_uploads": uploads})


# --- the run --------------------------------------------------------------------------------------

def run(work: Path) -> list[dict]:
    """The four rows, on one server of their own (stopped whatever happens); error rows if it breaks."""
    import fixtures

    server = HostileShoebox(work / "shoebox-hostile")
    try:
        say("hostile: making a 400-frame WebP, an 88 MP PNG and a 12 MP JPEG")
        webp, png = attack_webp(work / "attack-400x1mp.webp"), flat_png(work / "flat-88mp.png")
        photo = fixtures.photo_12mp(work / "hostile-12mp.jpg")
        photo.with_name("warm-up.jpg").write_bytes(small_jpeg(640, 480))
        server.start()
        server.create_account()
    except Exception as error:
        server.stop()
        traceback.print_exc()
        return [{"name": name, "error": f"setup: {type(error).__name__}: {str(error).splitlines()[0][:200]}"}
                for name in NAMES]
    try:
        rows = guarded(NAMES[:2], memory_rows, server, webp, png, photo)
        rows += guarded(NAMES[2:3], lambda s: [slow_headers_row(s)], server)
        rows += guarded(NAMES[3:], lambda s: [slow_fetch_row(s)], server)
        return rows
    finally:
        server.stop()


def notes(results: list[dict]) -> str:
    """Per-round figures, statuses and the load, under the table."""
    lines = []
    for result in results:
        if not result["name"].startswith("hostile") or "error" in result:
            continue
        if "peak_mb" in result:
            attack, reference = _upload_rounds(result["rounds"]), _upload_rounds(result["reference_rounds"])
            lines.append(f"- {result['name']} ({result['file_kb']} KB), per round status, time, RSS peak/kept "
                         f"growth: {attack}; 12 MP JPEG: {reference}")
        else:
            detail = result.get("dribblers") or result.get("url_uploads")
            lines.append(f"- {result['name']}: p99 per round {result['hostile']['round_p99_ms']} ms vs idle "
                         f"{result['idle']['round_p99_ms']} ms, max {result['hostile']['max_ms']:.0f} ms; "
                         f"{json.dumps(detail)}")
        lines[-1] += f"; load average {result['load_average_1min'][0]}-{result['load_average_1min'][1]} " \
                     f"on {result['cpus']} CPUs"
    return "\nHostile clients:\n" + "\n".join(lines) if lines else ""


def _upload_rounds(rounds: list[dict]) -> str:
    """Each upload's status, seconds and RSS growth (peak/kept), for the notes."""
    return ", ".join(f"{r['status']} {r['seconds']} s +{r['peak_mb']}/{r['kept_mb']} MB" for r in rounds)
