"""Benchmark 8: share links (issue 12) on a real server, each beside a same-run reference, on SQLite and PostgreSQL.

For each database: one server, the 'bench' account with a 12 MP photo and a few corpus photos
uploaded through the API, then photo rows inserted in bulk that reuse their files (as gallery.py
does) up to ALBUM_PHOTOS, all of them in one album, and the links made by
webapp.shares.service.create_share.

- Album page: a recipient's GET /s/<token> (the first 60 tiles) against the owner's GET / on the
  same photos, taking turns on keep-alive connections; p99 of each. Two recipients: one whose
  visit is under way (the cookie its first GET set: a visit counts one view, then no more), and a
  first open without cookies, which takes a view and records an event every time.
- Serving: GET /s/<token>/p/<id>/large against GET /i/<id>?size=large of the same public photo,
  the same load on the same server, in rounds that take turns.
- The max-views race: 50 clients, each holding the Open page's CSRF token and session, POST
  /s/<token> at once on a max_views=1 link. Anything but one 303 and 49 410s fails the bench.
  The wall time from the release to the last answer is set beside the same 50 opens of a link
  with 50 views to give (all 303).

The machine's load average and every round's figures go into the JSON. Run as a script
(`python shares.py seed N ROUNDS`) it is the seeding step, inside the server's own configuration.
"""

from __future__ import annotations

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
from urllib.parse import urlencode

import fixtures
import gallery
import load
import serving
from common import ROOT, guarded, median, say
from gallery import Client, GalleryShoebox, PostgresDatabase, Skip, percentile

ALBUM_PHOTOS = 1000
PAGE = 60  # the share page's and the gallery's page size
ROUNDS = int(os.environ.get("BENCH_SHARES_ROUNDS", "300"))
WARMUP_ROUNDS = 30
SPREAD_PARTS = 3  # the page ratios are also given for each third of the rounds
SERVE_ROUNDS = 3
SERVE_SECONDS = max(2.0, serving.SECONDS / 2)
SERVE_CONNECTIONS = 8
RACERS, RACE_ROUNDS = 50, 5
SERVER_THREADS = 8
PAGE_GOAL, SERVE_GOAL = 1.5, 0.8
VISIT_COOKIE = "shoebox_visit"
# case -> who asks, and for what
PAGE_CASES = {"owner_gallery": "GET / logged in", "recipient_visit": "GET /s/<token>, visit cookie held",
              "recipient_first_open": "GET /s/<token>, no cookies (counts a view)"}


def run(work: Path) -> list[dict]:
    """Both databases; a database that cannot be set up gives skipped (or error) rows, the other still runs."""
    photos = gallery.corpus_photos(work / "shares-photos")
    say("shares: making a 12 MP JPEG")
    big = fixtures.photo_12mp(work / "shares-12mp.jpg")
    results = []
    for database in ("sqlite", "postgresql"):
        try:
            results += _one_database(database, work / f"shares-{database}", [big, *photos])
        except Skip as skip:
            results += [{"name": name, "skipped": str(skip)} for name in _names(database)]
        except Exception as error:
            traceback.print_exc()
            message = f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
            results += [{"name": name, "error": message} for name in _names(database)]
    return results


def _names(database: str) -> tuple[str, str, str, str]:
    return (f"shares, {database}: album page {ALBUM_PHOTOS:,}, visit held, p99",
            f"shares, {database}: album page {ALBUM_PHOTOS:,}, first open, p99",
            f"shares, {database}: large through a link",
            f"shares, {database}: {RACERS}-way max_views=1 race")


def _one_database(database: str, home: Path, photos: list[Path]) -> list[dict]:
    """Set up one server and its links, run the three benchmarks on it, stop it (and drop its database)."""
    postgres = PostgresDatabase("shoebox_bench_shares") if database == "postgresql" else None
    server = GalleryShoebox(home, postgres.create() if postgres else "", threads=SERVER_THREADS)
    try:
        server.start()
        server.create_account()
        photo_id = [server.upload(photo) for photo in photos][0]["id"]
        say(f"shares ({database}): an album of {ALBUM_PHOTOS:,} photos and its links")
        seeded = _seed_through_app(server, photo_id)
        names = _names(database)
        return [*guarded(names[:2], _album_pages, server, database, seeded["album_token"]),
                *guarded(names[2:3], _serving, server, database, seeded, photo_id),
                *guarded(names[3:], _races, server, database, seeded["race_tokens"], seeded["reference_tokens"])]
    finally:
        server.stop()
        if postgres:
            postgres.drop()


def _seed_through_app(server: GalleryShoebox, photo_id: str) -> dict:
    """Run this file as the seeding step inside the server's configuration; its JSON report."""
    done = subprocess.run([sys.executable, __file__, "seed", str(ALBUM_PHOTOS), str(RACE_ROUNDS), photo_id],
                          cwd=ROOT, env=server.env(), capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"seeding failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _load_average() -> float:
    return round(os.getloadavg()[0], 2)


# --- 1. the album page ----------------------------------------------------------------------------

def _album_pages(server: GalleryShoebox, database: str, token: str) -> list[dict]:
    """p99 of the recipient's first page, with a visit and as a first open, against the owner's gallery."""
    say(f"shares ({database}): album page vs gallery, {ROUNDS} rounds of {len(PAGE_CASES)} requests")
    load_average = [_load_average()]
    timings, checks = _page_timings(server, token)
    load_average.append(_load_average())
    p99 = {case: percentile(values, 0.99) for case, values in timings.items()}
    requests = {case: _summary(values) | checks[case] for case, values in timings.items()}
    shared = {"database": database, "photos": ALBUM_PHOTOS, "rounds": ROUNDS, "load_average_1min": load_average,
              "cpus": os.cpu_count(), "requests": requests}
    rows = []
    for name, case in zip(_names(database)[:2], ("recipient_visit", "recipient_first_open"), strict=True):
        parts = [round(percentile(part[case], 0.99) / percentile(part["owner_gallery"], 0.99), 3)
                 for part in _thirds(timings)]
        p50_ratio = round(requests[case]["p50_ms"] / requests["owner_gallery"]["p50_ms"], 3)
        rows.append({"name": name, **shared, "case": case, "ratio_by_third": parts, "p50_ratio": p50_ratio,
                     "figure": f"share page {p99[case]:.1f} ms", "reference": f"gallery {p99['owner_gallery']:.1f} ms",
                     "ratio": round(p99[case] / p99["owner_gallery"], 3), "goal_max": PAGE_GOAL,
                     "goal": f"<= {PAGE_GOAL} (recipient's first page p99 / owner's gallery first page p99)"})
    return rows


def _page_timings(server: GalleryShoebox, token: str) -> tuple[dict[str, list[float]], dict]:
    """ROUNDS rounds of one request per case in a shuffled order, after WARMUP_ROUNDS unmeasured ones."""
    clients = {case: Client(server.url) for case in PAGE_CASES}
    try:
        gallery.browser_login(clients["owner_gallery"])
        clients["recipient_visit"].request("GET", f"/s/{token}")  # the visit starts: one view, and its cookie
        if VISIT_COOKIE not in clients["recipient_visit"].cookies:
            raise RuntimeError(f"GET /s/{token} set no {VISIT_COOKIE} cookie")
        paths = {"owner_gallery": "/", "recipient_visit": f"/s/{token}", "recipient_first_open": f"/s/{token}"}
        checks = {case: _check_page(case, *_page(clients[case], case, paths[case])) for case in PAGE_CASES}
        timings: dict[str, list[float]] = {case: [] for case in PAGE_CASES}
        order, shuffler = list(PAGE_CASES), random.Random(12)
        for round_number in range(WARMUP_ROUNDS + ROUNDS):
            shuffler.shuffle(order)
            for case in order:
                start = time.perf_counter()
                status, _, body = _page(clients[case], case, paths[case])
                elapsed = time.perf_counter() - start
                if status != 200:
                    raise RuntimeError(f"{case} answered {status} in round {round_number}: {body[:300]!r}")
                if round_number >= WARMUP_ROUNDS:
                    timings[case].append(elapsed * 1000)
        return timings, checks
    finally:
        for client in clients.values():
            client.close()


def _page(client: Client, case: str, path: str):
    """GET path; a first open forgets every cookie before it asks, as a new visitor would have none."""
    if case == "recipient_first_open":
        client.cookies.clear()
    return client.request("GET", path)


def _check_page(case: str, status: int, headers, body: bytes) -> dict:
    """The answer is the whole page with 60 tiles and more to come; only a first open starts a visit."""
    html = body.decode(errors="replace")
    tiles = len(re.findall(r'<li class="tile[ "]', html))
    if status != 200 or "<html" not in html or tiles != PAGE or 'class="grid-more' not in html:
        raise RuntimeError(f"{case} answered {status} with {tiles} tiles: {body[:300]!r}")
    counted = any(cookie.startswith(VISIT_COOKIE + "=") for cookie in headers.get_all("Set-Cookie") or [])
    if case != "owner_gallery" and counted != (case == "recipient_first_open"):
        raise RuntimeError(f"{case} {'started' if counted else 'did not start'} a visit")
    return {"tiles": tiles, "bytes": len(body), "counts_a_view": counted}


def _summary(values: list[float]) -> dict:
    return {"p50_ms": round(percentile(values, 0.50), 2), "p90_ms": round(percentile(values, 0.90), 2),
            "p99_ms": round(percentile(values, 0.99), 2), "max_ms": round(max(values), 2)}


def _thirds(timings: dict[str, list[float]]) -> list[dict[str, list[float]]]:
    size = len(next(iter(timings.values()))) // SPREAD_PARTS
    return [{case: values[n * size:(n + 1) * size] for case, values in timings.items()} for n in range(SPREAD_PARTS)]


# --- 2. serving a size through a link -------------------------------------------------------------

def _serving(server: GalleryShoebox, database: str, seeded: dict, photo_id: str) -> list[dict]:
    """Requests/s of the large size through the link (visit cookie held) vs the public URL, rounds taking turns.

    A third figure, the owner's own private copy of the photo, shows what a size costs when it has to be
    looked up in the database: the public one is answered from the in-process cache, a link never is.
    """
    token, private_id = seeded["album_token"], seeded["private_copy_id"]
    visitor, owner = Client(server.url), Client(server.url)
    try:
        visitor.request("GET", f"/s/{token}")
        gallery.browser_login(owner)
        paths = {"public": (f"/i/{photo_id}?size=large", {}),
                 "shared": (f"/s/{token}/p/{photo_id}/large", _cookie_header(visitor)),
                 "owner": (f"/i/{private_id}?size=large", _cookie_header(owner))}
    finally:
        visitor.close()
        owner.close()
    sizes = {kind: _picture_bytes(server, path, headers) for kind, (path, headers) in paths.items()}
    if sizes["public"] != sizes["shared"]:
        raise RuntimeError(f"the public and the shared large size differ: {sizes}")
    say(f"shares ({database}): large size through the link vs public (and the owner's private copy), "
        f"{load.tool()}, {SERVE_CONNECTIONS} connections, {SERVE_ROUNDS} rounds of {SERVE_SECONDS:.0f} s each")
    load_average, rounds = [_load_average()], []
    for number in range(SERVE_ROUNDS):
        order = list(paths)[number % 3:] + list(paths)[:number % 3]  # each kind takes each turn once
        figures = {kind: serving.measured(server.url + paths[kind][0], SERVE_CONNECTIONS, SERVE_SECONDS,
                                          headers=paths[kind][1])["rps"] for kind in order}
        rounds.append({f"{kind}_rps": round(figures[kind], 1) for kind in paths}
                      | {"ratio": round(figures["shared"] / figures["public"], 3)})
    load_average.append(_load_average())
    rps = {kind: sum(r[f"{kind}_rps"] for r in rounds) / len(rounds) for kind in paths}
    return [{"name": _names(database)[2], "database": database, "tool": load.tool(),
             "connections": SERVE_CONNECTIONS, "seconds": SERVE_SECONDS, "large_bytes": sizes["public"],
             "owner_large_bytes": sizes["owner"], "rounds": rounds, "load_average_1min": load_average,
             "cpus": os.cpu_count(), "owner_rps": round(rps["owner"], 1),
             "ratio_to_owner": round(rps["shared"] / rps["owner"], 3),
             "figure": f"link {rps['shared']:,.0f} req/s", "reference": f"public {rps['public']:,.0f} req/s",
             "ratio": round(rps["shared"] / rps["public"], 3), "goal_min": SERVE_GOAL,
             "goal": f">= {SERVE_GOAL} (/s/<token>/p/<id>/large req/s / /i/<id>?size=large req/s, same photo)"}]


def _cookie_header(client: Client) -> dict:
    """The cookies a client holds, as the header a load tool sends."""
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in client.cookies.items())}


def _picture_bytes(server: GalleryShoebox, path: str, headers: dict) -> int:
    """GET path once with these headers only (the first request makes the size); its length in bytes."""
    client = Client(server.url)
    try:
        status, answer, body = client.request("GET", path, headers=headers)
    finally:
        client.close()
    if status != 200 or answer.get("Content-Type") != "image/webp":
        raise RuntimeError(f"{path} answered {status} {answer.get('Content-Type')}: {body[:200]!r}")
    return len(body)


# --- 3. the max-views race ------------------------------------------------------------------------

def _races(server: GalleryShoebox, database: str, race_tokens: list[str], reference_tokens: list[str]) -> list[dict]:
    """RACE_ROUNDS races on fresh max_views=1 links, each beside the same opens of a link that has enough."""
    say(f"shares ({database}): {RACE_ROUNDS} rounds of {RACERS} simultaneous opens, max_views=1 vs "
        f"max_views={RACERS}")
    load_average, rounds = [_load_average()], []
    for number, (race, reference) in enumerate(zip(race_tokens, reference_tokens, strict=True)):
        turns = ((race, 1), (reference, RACERS)) if number % 2 == 0 else ((reference, RACERS), (race, 1))
        walls = {views: _race(server, token, views) for token, views in turns}
        rounds.append({"race_ms": walls[1], "reference_ms": walls[RACERS]})
    load_average.append(_load_average())
    race, reference = median([r["race_ms"] for r in rounds]), median([r["reference_ms"] for r in rounds])
    return [{"name": _names(database)[3], "database": database, "racers": RACERS, "server_threads": SERVER_THREADS,
             "rounds": rounds, "race_ms_median": race, "reference_ms_median": reference,
             "race_ms_range": [min(r["race_ms"] for r in rounds), max(r["race_ms"] for r in rounds)],
             "load_average_1min": load_average, "cpus": os.cpu_count(), "holds": True,
             "figure": f"1x303 49x410 in {race:.0f} ms", "reference": f"50x303 in {reference:.0f} ms",
             "ratio": round(race / reference, 3),
             "goal": f"exactly one of {RACERS} simultaneous opens of a max_views=1 link succeeds (every round)"}]


def _race(server: GalleryShoebox, token: str, views: int) -> float:
    """RACERS clients POST /s/<token> at once; the milliseconds until the last answer. Fails on a wrong count."""
    clients = [Client(server.url) for _ in range(RACERS)]
    try:
        forms = [_open_form(client, token) for client in clients]
        statuses, starts, ends = [0] * RACERS, [0.0] * RACERS, [0.0] * RACERS
        barrier = threading.Barrier(RACERS)

        def racer(number: int) -> None:
            barrier.wait()
            starts[number] = time.perf_counter()
            statuses[number] = clients[number].request(
                "POST", f"/s/{token}", forms[number], {"Content-Type": "application/x-www-form-urlencoded"})[0]
            ends[number] = time.perf_counter()

        threads = [threading.Thread(target=racer, args=(number,)) for number in range(RACERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        clients.append(Client(server.url))  # a newcomer: no visit under way
        after = clients[-1].request("GET", f"/s/{token}")[0]
    finally:
        for client in clients:
            client.close()
    wanted = {303: views, 410: RACERS - views} if views < RACERS else {303: RACERS}
    counted = {status: statuses.count(status) for status in sorted(set(statuses))}
    if counted != wanted or after != 410:
        raise RuntimeError(f"{RACERS} opens of a max_views={views} link answered {counted}, not {wanted}; "
                           f"then GET answered {after}, not 410")
    return round((max(ends) - min(starts)) * 1000, 1)


def _open_form(client: Client, token: str) -> bytes:
    """GET the Open page (it gives the client a session and a CSRF token); the form body its button posts."""
    status, _, body = client.request("GET", f"/s/{token}")
    html = body.decode(errors="replace")
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    if status != 200 or not found or f'action="/s/{token}"' not in html:
        raise RuntimeError(f"GET /s/{token} answered {status} without the Open button's form")
    return urlencode({"csrf_token": found[1]}).encode()


# --- figures ------------------------------------------------------------------------------------

def notes(results: list[dict]) -> str:
    """Each benchmark's per-case and per-round figures and the load they were measured under."""
    lines = []
    for result in results:
        if "error" in result or "skipped" in result or not result["name"].startswith("shares"):
            continue
        load_average = f"load average {result['load_average_1min'][0]}-{result['load_average_1min'][1]} " \
                       f"on {result['cpus']} CPUs"
        if result.get("case") == "recipient_visit":
            figures = ", ".join(f"{case} {c['p50_ms']:.1f}/{c['p99_ms']:.1f}" for case, c in result["requests"].items())
            lines.append(f"- shares, {result['database']}, album page (p50/p99 ms over {result['rounds']} rounds): "
                         f"{figures}; visit held / gallery: p50 {result['p50_ratio']:.2f}, p99 by third of the "
                         f"rounds {result['ratio_by_third']}; {load_average}")
        elif result.get("case") == "recipient_first_open":
            lines.append(f"- shares, {result['database']}, first open / gallery: p50 {result['p50_ratio']:.2f}, "
                         f"p99 by third of the rounds {result['ratio_by_third']}")
        elif "large_bytes" in result:
            ratios = ", ".join(f"{r['ratio']:.2f}" for r in result["rounds"])
            lines.append(f"- shares, {result['database']}, large ({result['large_bytes'] / 1000:.0f} kB) through "
                         f"a link / public, by round: {ratios}; the owner's private copy (looked up in the "
                         f"database, as a link's always is) {result['owner_rps']:,.0f} req/s, link / owner "
                         f"{result['ratio_to_owner']:.2f}; {load_average}")
        elif "race_ms_median" in result:
            walls = ", ".join(f"{r['race_ms']:.0f}/{r['reference_ms']:.0f}" for r in result["rounds"])
            lines.append(f"- shares, {result['database']}, {RACERS} opens at once on {result['server_threads']} "
                         f"server threads, max_views=1 / max_views={RACERS} wall ms by round: {walls}; "
                         f"{load_average}")
    return "\nShare links:\n" + "\n".join(lines) if lines else ""


# --- seeding (run as a script, inside the app) ---------------------------------------------------

def seed(count: int, rounds: int, photo_id: str) -> dict:
    """Fill 'bench''s library up to `count` photos, all in one album; that album's link and the race links.

    `photo_id` (the 12 MP upload) comes first in the album, and a private row reusing its file is found
    for the owner's figure.
    """
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import select

    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Media, User
    from webapp.shares import service as shares

    app = create_app()
    with app.app_context():
        started = time.monotonic()
        user = db.session.scalar(select(User).where(User.username == "bench"))
        uploaded = sorted(db.session.scalars(select(Media).where(Media.user_id == user.id)),
                          key=lambda media: media.id != photo_id)
        album_id = _album_of_everything(db, user, uploaded, count)
        private_copy = db.session.scalar(select(Media.id).where(  # the first upload's file, in a private row
            Media.user_id == user.id, Media.storage_key == uploaded[0].storage_key, Media.is_public.is_(False))
            .limit(1))
        album_link = shares.create_share(user, shares.Target(album_id=album_id), shares.Options())
        photo = shares.Target(media_id=photo_id)
        race = [shares.create_share(user, photo, shares.Options(max_views=1)).token for _ in range(rounds)]
        reference = [shares.create_share(user, photo, shares.Options(max_views=RACERS)).token for _ in range(rounds)]
        return {"album_token": album_link.token, "private_copy_id": private_copy, "race_tokens": race,
                "reference_tokens": reference,
                "seed_seconds": round(time.monotonic() - started, 1)}


def _album_of_everything(db, user, uploaded: list, count: int) -> str:
    """Photo rows copying the uploaded ones up to `count`, then one album of them all, uploads first."""
    from datetime import datetime, timezone

    from sqlalchemy import select

    from webapp.albums import service as albums
    from webapp.models import AlbumItem, Media, Variant

    thumbs = {v.media_id: v for v in db.session.scalars(
        select(Variant).where(Variant.spec == "thumb", Variant.media_id.in_([m.id for m in uploaded])))}
    media_rows, variant_rows = gallery.photo_rows(count - len(uploaded), uploaded, thumbs, Media, Variant)
    gallery.insert_rows(db, Media.__table__, media_rows)
    gallery.insert_rows(db, Variant.__table__, variant_rows)
    album = albums.create_album(user, "Summer")
    now = datetime.now(timezone.utc)
    ids = [media.id for media in uploaded] + [row["id"] for row in media_rows]
    gallery.insert_rows(db, AlbumItem.__table__, [
        {"album_id": album.id, "media_id": media_id, "position": (n + 1) * albums.POSITION_STEP, "added_at": now}
        for n, media_id in enumerate(ids)])
    album.cover_media_id = ids[0]
    db.session.commit()
    gallery.finish_bulk_load(db, user)
    return album.id


if __name__ == "__main__":
    if sys.argv[1:2] != ["seed"]:
        sys.exit("usage: shares.py seed COUNT ROUNDS PHOTO_ID  (bench.py runs the benchmark)")
    print(json.dumps(seed(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])))
