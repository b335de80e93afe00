"""Benchmark 1: a 400 px WebP thumbnail of a 12 MP JPEG, Shoebox (Pillow) vs pyvips, one thread each.

The reference does what Shoebox does, with libvips: the JPEG decoded at the same scale as Pillow's draft
(libjpeg's shrink-on-load), resized to 400 px, turned upright, WebP quality 80 at effort 4 (Pillow's method 4),
from the same file. The codec libraries each side uses are recorded: they are not the same builds.
"""

from __future__ import annotations

import io
import os
import subprocess
import time
from pathlib import Path

os.environ["VIPS_CONCURRENCY"] = "1"  # read by libvips when pyvips is first imported

from common import in_rounds, median, say, summary, timed

SIDE = 400
WARMUP, RUNS = 3, 7  # RUNS alternating calls of each per round


def shoebox_thumbnail(path: Path) -> bytes:
    """What Shoebox does for ?size=thumb: webapp.imaging.thumbnail, WebP quality 80."""
    from webapp.imaging import thumbnail

    return thumbnail(path, SIDE)[0]


def load_pyvips():
    """pyvips with its operation cache off, or the reason it cannot be used."""
    _load_pillow_codecs()
    try:
        import pyvips
    except (ImportError, OSError) as error:
        return None, f"pyvips not available ({error})"
    pyvips.cache_set_max(0)  # every run does the whole work, like Shoebox does
    return pyvips, None


def _load_pillow_codecs() -> None:
    """Load Pillow's and pillow-heif's own codec libraries before libvips: libvips brings the system's libjpeg,
    libwebp and libheif into the process's global symbols, and whatever loads after it binds to those (Pillow's
    WebP then reports libvips' libwebp; pillow-heif opening a HEIC crashes)."""
    from PIL import features
    from pillow_heif import register_heif_opener

    register_heif_opener()
    for codec in ("jpg", "webp", "avif"):
        features.check(codec)


def draft_shrink(path: Path) -> int:
    """The scale Pillow's draft decodes the JPEG at for a SIDE thumbnail (1, 2, 4 or 8)."""
    from PIL import Image

    with Image.open(path) as im:
        width = im.width
        im.draft("RGB", (SIDE, SIDE * im.height // im.width))
        return round(width / im.width)


def pyvips_thumbnail(pyvips, path: Path, shrink: int) -> bytes:
    """The reference: a plain scaled load (libjpeg shrink-on-load by `shrink`), resize, upright, WebP 80."""
    scaled = pyvips.Image.new_from_file(str(path), shrink=shrink, access="sequential")
    return scaled.thumbnail_image(SIDE).autorot().webpsave_buffer(Q=80, effort=4)


def codec_versions(pyvips) -> dict:
    """The libvips, libjpeg(-turbo) and libwebp each side runs (Pillow's wheel bundles its own)."""
    from PIL import features

    versions = {"pillow_libjpeg_turbo": features.version("libjpeg_turbo"), "pillow_libwebp": features.version("webp")}
    if pyvips is not None:
        versions["libvips"] = ".".join(str(pyvips.version(i)) for i in range(3))
        versions |= {f"vips_{name}": version for name, version in _system_libraries(("libjpeg", "libwebp")).items()}
    return versions


def _system_libraries(names: tuple[str, ...]) -> dict:
    """{Debian package: version} of the system libraries of these names mapped into this process."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if any(f"/{name}" in line for name in names)}
    found = {}
    for path in sorted(p for p in paths if "/site-packages/" not in p):
        owner = subprocess.run(["dpkg-query", "-S", os.path.realpath(path)], capture_output=True, text=True)
        package = owner.stdout.split(":")[0] if owner.returncode == 0 else ""
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
        if package and version.returncode == 0:
            found[package] = version.stdout
        else:
            found[os.path.basename(path)] = "(not from a Debian package)"
    return found


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
    """Rounds of RUNS alternating runs of each; ratio pyvips / Shoebox by round (above 1: Shoebox is faster)."""
    say(f"thumbnail: {photo.stat().st_size / 1e6:.1f} MB JPEG -> {SIDE} px WebP, rounds of {RUNS} runs each")
    result = {"name": "thumbnail 12 MP JPEG -> 400 px WebP", "goal": ">= 1.0 (pyvips ms / Shoebox ms)",
              "goal_min": 1.0, "runs": RUNS, "shoebox_input": "the JPEG file (page cache)",
              "shoebox_webp_bytes": len(shoebox_thumbnail(photo)), "shoebox_stages": pillow_stages(photo)}
    pyvips, missing = load_pyvips()
    if pyvips is None:
        shoebox, _ = _alternating(lambda: shoebox_thumbnail(photo), lambda: None)
        return {**result, "codecs": codec_versions(None), "shoebox_ms": _ms(shoebox), "skipped": missing}
    shrink = draft_shrink(photo)
    result |= {"pyvips_input": f"the same file, JPEG shrink-on-load 1/{shrink} as Pillow's draft",
               "shrink_on_load": shrink, "pyvips_webp_bytes": len(pyvips_thumbnail(pyvips, photo, shrink))}

    def one_round(_: int) -> dict:
        """RUNS alternating calls of each: the medians and their ratio."""
        shoebox, reference = _alternating(lambda: shoebox_thumbnail(photo),
                                          lambda: pyvips_thumbnail(pyvips, photo, shrink))
        return {"shoebox_ms": _ms(shoebox), "pyvips_ms": _ms(reference),
                "ratio": round(median(reference) / median(shoebox), 3)}

    result |= summary(in_rounds(one_round))
    result["codecs"] = codec_versions(pyvips)  # after the runs: the libraries are loaded by then
    for side in ("shoebox_ms", "pyvips_ms"):
        result[side] = round(median([one[side] for one in result["rounds"]]), 2)
    return result
