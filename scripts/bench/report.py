"""The summary table on stdout and bench-results/latest.json."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from common import ROOT

HEADERS = ("benchmark", "figure", "reference", "ratio median (min-max)", "load 1m", "goal", "verdict")


def verdict(result: dict) -> str:
    """'meets' or 'misses' the goal, or why there is no answer (skipped, error)."""
    if "error" in result:
        return f"error: {result['error']}"
    if "skipped" in result:
        return f"skipped: {result['skipped']}"
    if "holds" in result:  # a goal about what happened (the bench fails when it does not); the figures inform
        return "meets" if result["holds"] else "misses"
    if "goal_min" not in result and "goal_max" not in result:
        return "no goal (a reference for comparison)"
    if "goal_min" in result:
        return "meets" if result["ratio"] >= result["goal_min"] else "misses"
    return "meets" if result["ratio"] <= result["goal_max"] else "misses"


def row(result: dict) -> tuple[str, ...]:
    """One table row: what was measured, against what, and how it compares."""
    figure, reference = _figures(result)
    ratio = f"{result['ratio']:.2f}" if "ratio" in result else "-"
    if "ratio_spread" in result:
        spread = result["ratio_spread"]
        ratio = f"{spread['median']:.2f} ({spread['min']:.2f}-{spread['max']:.2f}, {len(result['rounds'])} rounds)"
    goal = result.get("goal", "").split(" (")[0]
    return result["name"], figure, reference, ratio, _load(result), goal, _shorten(result["verdict"], 90)


def _load(result: dict) -> str:
    """The 1-minute load averages the row was measured under, lowest-highest."""
    loads = result.get("load_average_1min") or []
    return f"{min(loads):.1f}-{max(loads):.1f}" if loads else "-"


def _shorten(text: str, limit: int) -> str:
    """text cut to `limit` characters, with an ellipsis if it was longer."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _figures(result: dict) -> tuple[str, str]:
    """The measured figure and the reference's, as table cells."""
    if "figure" in result:  # a benchmark that words its own cells
        return result["figure"], result.get("reference", "-")
    if "shoebox_ms" in result:
        return f"Shoebox {result['shoebox_ms']:.1f} ms", _maybe(result, "pyvips_ms", "pyvips {:.1f} ms")
    if "thumb_rps" in result:
        return f"thumb {result['thumb_rps']:,.0f} req/s", f"/health {result['health_rps']:,.0f} req/s"
    if "shoebox_mb_s" in result:
        return f"Shoebox {result['shoebox_mb_s']:,.0f} MB/s", _maybe(result, "nginx_mb_s", "nginx {:,.0f} MB/s")
    if "concurrent" in result:
        many = result["concurrent"]
        return (f"+{many['delta_mb']:.0f} MB (RSS {many['baseline_mb']:.0f} -> {many['peak_mb']:.0f} MB)",
                f"{result['in_flight_mb']:.0f} MB in flight")
    return "-", "-"


def _maybe(result: dict, key: str, form: str) -> str:
    """result[key] formatted, or '-' when it was not measured."""
    return form.format(result[key]) if key in result else "-"


def table(results: list[dict]) -> str:
    """A plain-text table with aligned columns."""
    rows = [HEADERS] + [row(r) for r in results]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def write_json(results: list[dict], environment: dict) -> Path:
    """Everything measured, with the environment it was measured in, as bench-results/latest.json."""
    path = ROOT / "bench-results" / "latest.json"
    path.parent.mkdir(exist_ok=True)
    document = {"finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "environment": environment, "benchmarks": results}
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def notes(results: list[dict]) -> str:
    """Where the time and memory go, for the benchmarks that measured it."""
    lines = []
    for result in results:
        if "shoebox_stages" in result:
            stages = result["shoebox_stages"]
            lines.append(f"- thumbnail, Shoebox's stages: JPEG draft decode {stages['decode_ms']:.1f} ms, "
                         f"resize {stages['resize_ms']:.1f} ms, WebP encode {stages['encode_ms']:.1f} ms")
        if "codecs" in result:
            lines.append("- thumbnail, the codecs each side ran: " +
                         ", ".join(f"{name} {version}" for name, version in result["codecs"].items()))
        if "concurrent_receiving_only" in result:
            single, receiving = result["single_upload"], result["concurrent_receiving_only"]
            lines.append(f"- memory: server RSS {result['rss_at_start_mb']:.0f} MB at start; one upload "
                         f"+{single['delta_mb']:.0f} MB; as many concurrent uploads of a file as big but with "
                         f"64x64 pixels +{receiving['delta_mb']:.0f} MB (receiving alone, no decoding); "
                         f"{result['server_threads']} server threads; RSS {result['rss_60s_after_mb']:.0f} MB "
                         f"a minute after the last upload")
    return "\nNotes:\n" + "\n".join(lines) if lines else ""
