"""Benchmark 1: a 400 px WebP thumbnail of a 12 MP JPEG, Shoebox (Pillow) vs pyvips, one thread each."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

os.environ["VIPS_CONCURRENCY"] = "1"  # read by libvips when pyvips is first imported

from common import median, say, timed

SIDE = 400
WARMUP, RUNS = 3, 21


def shoebox_thumbnail(path: Path) -> bytes:
    """What Shoebox does for ?size=thumb: webapp.imaging.thumbnail, WebP quality 80."""
    from webapp.imaging import thumbnail

    return thumbnail(path, SIDE)[0]


def load_pyvips():
    """pyvips with its operation cache off, or the reason it cannot be used."""
    try:
        import pyvips
    except (ImportError, OSError) as error:
        return None, f"pyvips not available ({error})"
    pyvips.cache_set_max(0)  # every run does the whole work, like Shoebox does
    return pyvips, None


def pyvips_thumbnail(pyvips, data: bytes) -> bytes:
    """The reference: shrink-on-load thumbnail from the JPEG bytes, WebP quality 80."""
    return pyvips.Image.thumbnail_buffer(data, SIDE).webpsave_buffer(Q=80)


def _alternating(first, second) -> tuple[list[float], list[float]]:
    """Seconds of RUNS calls of each, taking turns, after WARMUP unmeasured calls of each."""
    for _ in range(WARMUP):
        first(), second()
    times = [(timed(first), timed(second)) for _ in range(RUNS)]
    return [a for a, _ in times], [b for _, b in times]


def _ms(seconds: list[float]) -> float:
    """The median, in milliseconds."""
    return round(median(seconds) * 1000, 2)


def pillow_stages(path: Path) -> dict:
    """Where Shoebox's time goes: median ms to open+draft-decode, to resize, and to encode WebP."""
    from PIL import Image

    stages = {"decode_ms": [], "resize_ms": [], "encode_ms": []}
    for _ in range(9):
        start = time.perf_counter()
        with Image.open(path) as im:
            im.draft("RGB", (SIDE, SIDE * 3 // 4))
            im.load()
            decoded = time.perf_counter()
            im.thumbnail((SIDE, SIDE), reducing_gap=3.0)
            resized = time.perf_counter()
            im.save(io.BytesIO(), "WEBP", quality=80, method=4)
            encoded = time.perf_counter()
        stages["decode_ms"].append((decoded - start) * 1000)
        stages["resize_ms"].append((resized - decoded) * 1000)
        stages["encode_ms"].append((encoded - resized) * 1000)
    return {name: round(median(values), 2) for name, values in stages.items()}


def run(photo: Path) -> dict:
    """Median ms of each over RUNS alternating runs; ratio pyvips / Shoebox (above 1: Shoebox is faster)."""
    say(f"thumbnail: {photo.stat().st_size / 1e6:.1f} MB JPEG -> {SIDE} px WebP, {RUNS} runs each")
    result = {"name": "thumbnail 12 MP JPEG -> 400 px WebP", "goal": ">= 1.0 (pyvips ms / Shoebox ms)",
              "goal_min": 1.0, "runs": RUNS, "shoebox_input": "the JPEG file (page cache)",
              "pyvips_input": "the JPEG's bytes, already in memory (thumbnail_buffer)",
              "shoebox_webp_bytes": len(shoebox_thumbnail(photo)), "shoebox_stages": pillow_stages(photo)}
    pyvips, missing = load_pyvips()
    if pyvips is None:
        shoebox, _ = _alternating(lambda: shoebox_thumbnail(photo), lambda: None)
        return {**result, "shoebox_ms": _ms(shoebox), "skipped": missing}
    data = photo.read_bytes()
    result["pyvips_webp_bytes"] = len(pyvips_thumbnail(pyvips, data))
    result["libvips_version"] = ".".join(str(pyvips.version(i)) for i in range(3))
    shoebox, reference = _alternating(lambda: shoebox_thumbnail(photo), lambda: pyvips_thumbnail(pyvips, data))
    result["shoebox_ms"], result["pyvips_ms"] = _ms(shoebox), _ms(reference)
    result["ratio"] = round(result["pyvips_ms"] / result["shoebox_ms"], 3)
    return result
