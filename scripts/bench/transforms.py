"""Benchmark 6: transformations. The same resizes of a 12 MP JPEG to WebP, three ways, same worker count:
over HTTP (POST /api/v1/images/<id>/transform on the real server), in-process (webapp.transforms alone),
and pyvips; then the cost of an AVIF encode at Shoebox's speed setting against WebP.

Every request asks for a width not asked before, so nothing is answered from the variant cache.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
import traceback
from pathlib import Path

from common import median, run_in_threads, say
from server import Shoebox, post

WORKERS = os.cpu_count() or 2
PER_ROUND = 12 * WORKERS  # transformations per method and round
ROUNDS = 3
FIRST_WIDTH = 1000
SOURCE = (4000, 3000)  # fixtures.photo_12mp


def _widths(round_number: int) -> list[int]:
    """Distinct target widths for one round (the same for each method)."""
    start = FIRST_WIDTH + round_number * PER_ROUND
    return list(range(start, start + PER_ROUND))


def _throughput(work, widths: list[int]) -> float:
    """Transformations per second of work(width) over `widths`, WORKERS at a time."""
    pending, lock, failures = list(widths), threading.Lock(), []

    def worker():
        while True:
            with lock:
                if not pending:
                    return
                width = pending.pop()
            try:
                work(width)
            except Exception as error:  # reported after the run: a failure must not look fast
                failures.append(error)

    seconds = run_in_threads(worker, WORKERS)
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(widths)} transformations failed: {failures[0]}")
    return len(widths) / seconds


def _request(width: int) -> dict:
    return {"transformations": {"resize": {"width": width}, "format": "webp", "quality": 80}}


def over_http(server: Shoebox, media_id: str):
    """One transformation through the API, as a client sees it; it must be new (201)."""
    url = f"{server.url}/api/v1/images/{media_id}/transform"

    def work(width: int) -> None:
        status, body = post(url, json.dumps(_request(width)).encode(), "application/json", server.api_key)
        if status != 201:
            raise RuntimeError(f"width {width} answered {status}: {body[:200]!r}")
    return work


def in_process(photo: Path):
    """The same transformation with webapp.transforms directly: no HTTP, database or storage."""
    from webapp import transforms

    source = transforms.Source(*SOURCE, "jpeg")

    def work(width: int) -> None:
        transforms.apply(photo, transforms.parse(_request(width)["transformations"], source))
    return work


def with_pyvips(pyvips, photo: Path):
    """The reference: libvips' shrink-on-load thumbnail to the same width, WebP quality 80."""
    def work(width: int) -> None:
        pyvips.Image.thumbnail(str(photo), width, height=SOURCE[1]).webpsave_buffer(Q=80)
    return work


def encoders(photo: Path) -> dict:
    """Median ms to encode the same 1200 px picture as AVIF and as WebP with Shoebox's own settings."""
    from PIL import Image

    from webapp import transforms

    with Image.open(photo) as im:
        im.draft("RGB", (1200, 900))
        picture = im.resize((1200, 900))
    times = {"avif": [], "webp": []}
    for _ in range(7):
        for name in times:
            pillow_format = transforms.FORMATS[name][0]
            options = {**transforms.ENCODER_OPTIONS[pillow_format], "quality": transforms.FORMATS[name][3]}
            started = time.perf_counter()
            picture.save(io.BytesIO(), pillow_format, **options)
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: round(median(values[1:]), 1) for name, values in times.items()}  # the first warms up


def _rounds(methods: dict) -> dict:
    """Median transformations/s of each method over ROUNDS rounds, the methods taking turns."""
    for name, work in methods.items():  # warm-up: imports, first connections, page cache
        _throughput(work, [FIRST_WIDTH - 1 - i - 10 * list(methods).index(name) for i in range(WORKERS)])
    figures = {name: [] for name in methods}
    for number in range(ROUNDS):
        for name, work in methods.items():
            figures[name].append(_throughput(work, _widths(number)))
    return {name: round(median(values), 2) for name, values in figures.items()}


NAMES = ("transforms over HTTP vs in-process", "transforms over HTTP vs pyvips", "AVIF encode vs WebP (1200x900)")


def run(work: Path) -> list[dict]:
    """The three result rows, on a server of their own (stopped whatever happens); error rows if it breaks."""
    import fixtures

    server = Shoebox(work / "shoebox-transforms")
    try:
        photo = fixtures.photo_12mp(work / "transforms-12mp.jpg")
        server.start()
        server.create_account()
        return measure(server, server.upload(photo), photo)
    except Exception as error:
        traceback.print_exc()
        return [{"name": name, "error": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"}
                for name in NAMES]
    finally:
        server.stop()


def measure(server: Shoebox, media: dict, photo: Path) -> list[dict]:
    """HTTP vs in-process, HTTP vs pyvips (transformations/s), and AVIF vs WebP encode time."""
    from thumbs import load_pyvips

    say(f"transformations: 12 MP JPEG -> {FIRST_WIDTH}+ px WebP, {WORKERS} at a time, {ROUNDS} rounds of "
        f"{PER_ROUND} each over HTTP, in-process and with pyvips")
    pyvips, missing = load_pyvips()
    methods = {"http": over_http(server, media["id"]), "in_process": in_process(photo)}
    if pyvips is not None:
        methods["pyvips"] = with_pyvips(pyvips, photo)
    rates = _rounds(methods)
    common = {"workers": WORKERS, "rounds": ROUNDS, "per_round": PER_ROUND, "http_per_s": rates["http"],
              "figure": f"HTTP {rates['http']:.2f}/s"}
    vs_process = {"name": NAMES[0], **common, "in_process_per_s": rates["in_process"],
                  "reference": f"in-process {rates['in_process']:.2f}/s",
                  "ratio": round(rates["http"] / rates["in_process"], 3), "goal_min": 0.9,
                  "goal": ">= 0.9 (HTTP transforms/s / in-process transforms/s)",
                  "latency_ms": latencies(methods, media_width=FIRST_WIDTH - 100)}
    vs_vips = {"name": NAMES[1], **common, "goal_min": 1.0, "goal": ">= 1.0 (HTTP transforms/s / pyvips transforms/s)"}
    if pyvips is None:
        vs_vips["skipped"] = missing
    else:
        vs_vips.update(pyvips_per_s=rates["pyvips"], reference=f"pyvips {rates['pyvips']:.2f}/s",
                       ratio=round(rates["http"] / rates["pyvips"], 3))
    encode = encoders(photo)
    avif = {"name": NAMES[2], "avif_ms": encode["avif"], "webp_ms": encode["webp"],
            "figure": f"AVIF {encode['avif']:.0f} ms", "reference": f"WebP {encode['webp']:.0f} ms",
            "ratio": round(encode["avif"] / encode["webp"], 3), "goal_max": 2.0, "goal": "<= 2.0 (AVIF ms / WebP ms)"}
    return [vs_process, vs_vips, avif]


def latencies(methods: dict, media_width: int) -> dict:
    """Median ms of one transformation at a time, per method: what HTTP adds to the work itself."""
    figures = {}
    for index, (name, work) in enumerate(methods.items()):
        times = []
        for number in range(5):
            started = time.perf_counter()
            work(media_width - 10 * index - number)
            times.append((time.perf_counter() - started) * 1000)
        figures[name] = round(median(times), 1)
    return figures
