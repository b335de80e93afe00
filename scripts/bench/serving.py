"""Benchmarks 2 and 3: cached thumbnails vs /health on the same server, originals vs nginx."""

from __future__ import annotations

import os
from pathlib import Path

import load
import nginx
from common import MB, say
from server import Shoebox

SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
WARMUP_SECONDS = 2
THUMB_CONNECTIONS, FILE_CONNECTIONS = 16, 4


def measured(url: str, connections: int, seconds: float = SECONDS, headers: dict | None = None) -> dict:
    """A short unmeasured warm-up, then the measured run; fails on error responses."""
    load.measure(url, connections=connections, seconds=WARMUP_SECONDS, headers=headers)
    figures = load.measure(url, connections=connections, seconds=seconds, headers=headers)
    if figures["non_2xx"] or figures["socket_errors"] > figures["requests"] // 100:
        raise RuntimeError(f"{url} gave {figures['non_2xx']} error responses and "
                           f"{figures['socket_errors']} socket errors")
    return figures


def cached_thumbnails(server: Shoebox, media: dict) -> dict:
    """Requests/s of GET /i/<id>?size=thumb (already made) vs GET /health, same load, same server."""
    path = f"/i/{media['id']}?size=thumb"
    status, content_type, body = server.get(path)  # made at upload; this makes sure it is there
    if status != 200 or content_type != "image/webp":
        raise RuntimeError(f"{path} answered {status} {content_type}")
    say(f"cached thumbnail ({len(body)} bytes) vs /health: {load.tool()}, {THUMB_CONNECTIONS} connections, "
        f"{SECONDS:.0f} s each")
    health = measured(server.url + "/health", THUMB_CONNECTIONS)
    thumb = measured(server.url + path, THUMB_CONNECTIONS)
    return {"name": "cached thumbnail serving", "tool": load.tool(), "connections": THUMB_CONNECTIONS,
            "seconds": SECONDS, "thumb_bytes": len(body), "thumb_rps": round(thumb["rps"], 1),
            "health_rps": round(health["rps"], 1), "ratio": round(thumb["rps"] / health["rps"], 3),
            "goal": ">= 0.8 (thumb req/s / /health req/s)", "goal_min": 0.8}


def originals(server: Shoebox, media: dict, source: Path, home: Path) -> dict:
    """MB/s of GET /i/<id> for a large original vs nginx serving the same file from disk."""
    size = source.stat().st_size
    status, _, body = server.get(f"/i/{media['id']}")
    if status != 200 or len(body) != size:
        raise RuntimeError(f"/i/{media['id']} answered {status} with {len(body)} of {size} bytes")
    result = {"name": f"originals ({size / MB:.0f} MB file)", "tool": load.tool(), "connections": FILE_CONNECTIONS,
              "seconds": SECONDS, "file_mb": round(size / MB, 1), "goal": ">= 0.5 (Shoebox MB/s / nginx MB/s)",
              "goal_min": 0.5}
    say(f"originals: {size / MB:.0f} MB file, {load.tool()}, {FILE_CONNECTIONS} connections, {SECONDS:.0f} s each")
    shoebox = measured(f"{server.url}/i/{media['id']}", FILE_CONNECTIONS)
    result["shoebox_mb_s"] = round(shoebox["bytes_per_s"] / MB, 1)
    if nginx.binary() is None:
        return {**result, "skipped": "nginx not available (apt-get install nginx-light)"}
    try:
        reference = _nginx(source, home)
    except Exception as error:  # keep Shoebox's figure; the row says what broke
        return {**result, "error": f"nginx: {error}".splitlines()[0][:200]}
    result["nginx_version"] = reference["version"]
    result["nginx_mb_s"] = round(reference["bytes_per_s"] / MB, 1)
    result["ratio"] = round(shoebox["bytes_per_s"] / reference["bytes_per_s"], 3)
    return result


def _nginx(source: Path, home: Path) -> dict:
    """The same load on nginx serving `source` from disk; nginx is stopped afterwards."""
    web = nginx.Nginx(home)
    try:
        url = web.publish(source)
        web.start()
        return {**measured(url, FILE_CONNECTIONS), "version": web.version()}
    finally:
        web.stop()
