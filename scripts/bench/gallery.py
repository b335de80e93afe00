"""Benchmark 5: the gallery at 100,000 images, first page vs deepest page, on SQLite and PostgreSQL.

For each database: a real server, one account, a few real photos uploaded through the API (so real
thumbnails exist), then IMAGES rows inserted in bulk that reuse those photos' files and thumbnails.
Then, on one keep-alive connection and interleaved so that noise hits every case alike: the full
gallery page, its htmx fragment (first page, and the deepest page by keyset cursor) and
GET /api/v1/images (first and deepest). The query plans of the first and deepest page of every sort
order are checked for an index scan without a sort, and the database's own time for a page is
measured next to the HTTP time, so that a miss can be put on the query or on the rest.

Run as a script (`python gallery.py seed N`) it is the seeding step, inside the server's own
configuration and database; bench.py calls run().
"""

from __future__ import annotations

import functools
import http.client
import json
import math
import os
import random
import re
import subprocess
import sys
import time
import uuid
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from common import ROOT, median, say
from server import PASSWORD, Shoebox

IMAGES = int(os.environ.get("BENCH_GALLERY_IMAGES", "100000"))
ROUNDS = int(os.environ.get("BENCH_GALLERY_ROUNDS", "300"))
WARMUP_ROUNDS = 30
PAGE = 60  # the gallery's and the API's default page size
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
GOAL_RATIO = 1.5  # DESIGN.md: deepest page p99 <= 1.5x first page p99
FIRST_PAGE_BUDGET_MS = 50.0  # issue 5: first page p99 under 50 ms on this machine
CORPUS = ROOT.parent / "shared" / "corpus" / "photos"
CORPUS_PHOTOS = ("DSCN0010.jpg", "45-gps_ifd.jpg", "Nikon_D70.jpg", "Canon_40D.jpg", "no_exif.jpg")
SORTS = ("uploaded", "taken", "name", "size")
# case -> (API or browser, deepest?, htmx fragment?)
CASES = {"html_full_first": ("html", False, False), "html_fragment_first": ("html", False, True),
         "html_fragment_deepest": ("html", True, True), "json_first": ("json", False, False),
         "json_deepest": ("json", True, False)}


def run(work: Path) -> list[dict]:
    """Both databases; a database that cannot be set up gives an error (or skipped) row, the other still runs."""
    results = []
    for database in ("sqlite", "postgresql"):
        try:
            results += _one_database(database, work / f"gallery-{database}", corpus_photos(work / "gallery-photos"))
        except Skip as skip:
            results += [{"name": name, "skipped": str(skip)} for name in _names(database)]
        except Exception as error:
            import traceback

            traceback.print_exc()
            message = f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
            results += [{"name": name, "error": message} for name in _names(database)]
    return results


class Skip(Exception):
    """The database is not there to be measured."""


def _names(database: str) -> tuple[str, str]:
    return (f"gallery {IMAGES // 1000}k, {database}: deepest vs first page p99",
            f"gallery {IMAGES // 1000}k, {database}: first page p99")


def corpus_photos(folder: Path) -> list[Path]:
    """A few real photos from the shared corpus; made with Pillow when it is missing."""
    found = [CORPUS / name for name in CORPUS_PHOTOS if (CORPUS / name).is_file()]
    if len(found) >= 3:
        return found
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for number, colour in enumerate(("teal", "tomato", "gold")):
        picture = Image.new("RGB", (1600, 1200), colour)
        ImageDraw.Draw(picture).ellipse((300 + 100 * number, 200, 1300, 1000), fill="white")
        made.append(folder / f"photo-{number}.jpg")
        picture.save(made[-1], "JPEG", quality=88)
    return made


# --- one database ------------------------------------------------------------------------------

class GalleryShoebox(Shoebox):
    """A Shoebox on a given database URL (the base class always uses SQLite in its data dir)."""

    def __init__(self, home: Path, database_url: str = "", threads: int = 4):
        super().__init__(home, threads=threads)
        self.database_url = database_url

    def env(self) -> dict:
        environment = super().env()
        if self.database_url:
            environment["SHOEBOX_DATABASE__URL"] = self.database_url
        return environment


def _one_database(database: str, home: Path, photos: list[Path]) -> list[dict]:
    started = time.monotonic()
    postgres = PostgresDatabase() if database == "postgresql" else None
    server = GalleryShoebox(home, postgres.create() if postgres else "")
    try:
        server.start()
        server.create_account()
        for photo in photos:
            server.upload(photo)
        say(f"gallery ({database}): seeding {IMAGES:,} rows reusing {len(photos)} uploaded photos")
        seeded = _seed_through_app(server)
        say(f"gallery ({database}): seeded in {seeded['seed_seconds']:.1f} s; {ROUNDS} rounds of "
            f"{len(CASES)} requests on one keep-alive connection")
        load = [round(os.getloadavg()[0], 2)]  # the machine's 1-minute load average before and after
        timings, checks = _measure(server, seeded["cursors"]["uploaded"])
        load.append(round(os.getloadavg()[0], 2))
    finally:
        server.stop()
        if postgres:
            postgres.drop()
    return _results(database, seeded, timings, checks, load, time.monotonic() - started)


class PostgresDatabase:
    """A scratch database next to POSTGRES_URL's, created for one run and dropped afterwards."""

    def __init__(self, prefix: str = "shoebox_bench"):
        from sqlalchemy.engine import make_url

        self.admin = make_url(re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", POSTGRES_URL))
        self.name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.created = False

    def _connect(self):
        import psycopg

        url = self.admin.set(drivername="postgresql")
        return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True, connect_timeout=5)

    def create(self) -> str:
        """CREATE DATABASE; the app's URL for it. Skip when PostgreSQL cannot be reached."""
        try:
            connection = self._connect()
        except Exception as error:
            raise Skip(f"PostgreSQL not reachable at {self.admin.render_as_string()} "
                        f"(set BENCH_POSTGRES_URL): {str(error).splitlines()[0][:120]}") from None
        with connection:
            connection.execute(f'CREATE DATABASE "{self.name}"')
        self.created = True
        url = self.admin.set(drivername="postgresql+psycopg", database=self.name)
        return url.render_as_string(hide_password=False)

    def drop(self) -> None:
        if self.created:
            with self._connect() as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.created = False


def _seed_through_app(server: Shoebox) -> dict:
    """Run this file as the seeding step inside the server's configuration; its JSON report."""
    done = subprocess.run([sys.executable, __file__, "seed", str(IMAGES)], cwd=ROOT, env=server.env(),
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"seeding failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- HTTP -------------------------------------------------------------------------------------

class Client:
    """One keep-alive HTTP/1.1 connection that keeps the cookies it is given."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
                if attempt == 2:
                    raise
        for header in response.msg.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response.status, response.msg, data

    def close(self) -> None:
        self.connection.close()


def browser_login(client: Client) -> None:
    """GET /login for its CSRF token, POST the form: the client then holds a logged-in session cookie."""
    status, _, body = client.request("GET", "/login")
    html = body.decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', html)
    if status != 200 or not token:
        raise RuntimeError(f"GET /login answered {status} without a CSRF token")
    form = urlencode({"csrf_token": token[1], "identifier": "bench", "password": PASSWORD, "next": ""}).encode()
    status, _, _ = client.request("POST", "/login", form,
                                        {"Content-Type": "application/x-www-form-urlencoded"})
    if status not in (302, 303):
        raise RuntimeError(f"POST /login answered {status}, not a redirect")


def _api_token(client: Client) -> str:
    body = json.dumps({"identifier": "bench", "password": PASSWORD}).encode()
    status, _, data = client.request("POST", "/api/v1/auth/login", body, {"Content-Type": "application/json"})
    if status != 200:
        raise RuntimeError(f"POST /api/v1/auth/login answered {status}: {data[:300]!r}")
    return json.loads(data)["access_token"]


def _requests(cursor: str, token: str) -> dict[str, tuple[str, dict]]:
    """Each case's path and headers."""
    hx = {"HX-Request": "true", "HX-Current-URL": "http://127.0.0.1/"}
    bearer = {"Authorization": f"Bearer {token}"}
    return {"html_full_first": ("/", {}),
            "html_fragment_first": ("/", hx),
            "html_fragment_deepest": ("/?" + urlencode({"cursor": cursor}), hx),
            "json_first": ("/api/v1/images", bearer),
            "json_deepest": ("/api/v1/images?" + urlencode({"cursor": cursor}), bearer)}


def _check(case: str, status: int, body: bytes) -> dict:
    """The answer is the page it should be: 60 tiles or items, a next cursor only on the first page."""
    if status != 200:
        raise RuntimeError(f"{case} answered {status}: {body[:300]!r}")
    deepest = CASES[case][1]
    if CASES[case][0] == "json":
        document = json.loads(body)
        items, more = len(document["items"]), document["next_cursor"] is not None
    else:
        html = body.decode()
        items, more = len(re.findall(r'<li class="tile[ "]', html)), 'class="grid-more"' in html
        if CASES[case][2] and "<html" in html:
            raise RuntimeError(f"{case} answered a whole page, not the htmx fragment")
    if items != PAGE or more == deepest:
        raise RuntimeError(f"{case}: {items} items, next page {'given' if more else 'missing'}")
    return {"items": items, "bytes": len(body), "next_cursor": more}


def _measure(server: Shoebox, deepest_cursor: str) -> tuple[dict[str, list[float]], dict]:
    """ROUNDS rounds, each one request of every case in turn, after WARMUP_ROUNDS unmeasured ones."""
    html, api = Client(server.url), Client(server.url)
    try:
        browser_login(html)
        token = _api_token(api)
        plan = _requests(deepest_cursor, token)
        clients = {case: html if kind == "html" else api for case, (kind, _, _) in CASES.items()}
        checks = {case: _check(case, *_get(clients[case], *plan[case])) for case in CASES}
        timings: dict[str, list[float]] = {case: [] for case in CASES}
        order, shuffler = list(CASES), random.Random(5)
        for round_number in range(WARMUP_ROUNDS + ROUNDS):
            shuffler.shuffle(order)  # no case always follows the same one (the JSON after the HTML, say)
            for case in order:
                start = time.perf_counter()
                status, _ = _get(clients[case], *plan[case])
                elapsed = time.perf_counter() - start
                if status != 200:
                    raise RuntimeError(f"{case} answered {status} in round {round_number}")
                if round_number >= WARMUP_ROUNDS:
                    timings[case].append(elapsed * 1000)
        return timings, checks
    finally:
        html.close()
        api.close()


def _get(client: Client, path: str, headers: dict) -> tuple[int, bytes]:
    status, _, body = client.request("GET", path, headers=headers)
    return status, body


# --- figures ------------------------------------------------------------------------------------

def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `share` of them at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _results(database: str, seeded: dict, timings: dict, checks: dict, load: list[float],
             seconds: float) -> list[dict]:
    cases = {case: {"p50_ms": round(percentile(values, 0.50), 2), "p90_ms": round(percentile(values, 0.90), 2),
                    "p99_ms": round(percentile(values, 0.99), 2), "max_ms": round(max(values), 2), **checks[case]}
             for case, values in timings.items()}
    fragment = cases["html_fragment_deepest"]["p99_ms"] / cases["html_fragment_first"]["p99_ms"]
    api = cases["json_deepest"]["p99_ms"] / cases["json_first"]["p99_ms"]
    firsts = {case: cases[case]["p99_ms"] for case in CASES if not CASES[case][1]}
    worst_first = max(firsts, key=firsts.get)
    plans_ok = all(plan["uses_index"] and not plan["sorts"] for plan in seeded["plans"].values())
    shared = {"database": database, "images": seeded["rows"], "rounds": ROUNDS, "cases": cases,
              "load_average_1min": load, "cpus": os.cpu_count(),
              "db_page_ms": seeded["db_page_ms"], "plans_ok": plans_ok, "plans": seeded["plans"],
              "seed_seconds": seeded["seed_seconds"], "wall_seconds": round(seconds, 1)}
    ratio_name, first_name = _names(database)
    deepest_p99 = max(cases["html_fragment_deepest"]["p99_ms"], cases["json_deepest"]["p99_ms"])
    first_p99 = max(cases["html_fragment_first"]["p99_ms"], cases["json_first"]["p99_ms"])
    return [{"name": ratio_name, **shared, "fragment_ratio": round(fragment, 3), "json_ratio": round(api, 3),
             "figure": f"deepest p99 {deepest_p99:.1f} ms", "reference": f"first p99 {first_p99:.1f} ms",
             "ratio": round(max(fragment, api), 3), "goal_max": GOAL_RATIO,
             "goal": f"<= {GOAL_RATIO} (deepest page p99 / first page p99, the worse of HTML fragment and JSON)"},
            {"name": first_name, "database": database, "first_page_p99_ms": firsts, "worst_case": worst_first,
             "figure": f"{worst_first} p99 {firsts[worst_first]:.1f} ms", "reference": f"{FIRST_PAGE_BUDGET_MS:.0f} ms",
             "ratio": round(firsts[worst_first] / FIRST_PAGE_BUDGET_MS, 3), "goal_max": 1.0,
             "goal": f"<= 1.0 (first page p99 / {FIRST_PAGE_BUDGET_MS:.0f} ms, the worst of full page, "
                     "fragment and JSON)"}]


def notes(results: list[dict]) -> str:
    """The per-case figures and the plans' verdict, under the table."""
    lines = []
    for result in results:
        if "cases" not in result:
            continue
        cases = result["cases"]
        figures = ", ".join(f"{case} {c['p50_ms']:.1f}/{c['p99_ms']:.1f}" for case, c in cases.items())
        database = result["db_page_ms"]
        lines.append(f"- gallery, {result['database']} ({result['images']:,} images, p50/p99 ms over "
                     f"{result['rounds']} rounds): {figures}; deepest/first p99: fragment "
                     f"{result['fragment_ratio']:.2f}, JSON {result['json_ratio']:.2f}; the page query alone "
                     f"(median) first {database['first']:.2f} ms, deepest {database['deepest']:.2f} ms; plans "
                     f"{'index scans, no sort' if result['plans_ok'] else 'NOT all index scans: see plans'}; "
                     f"load average {result['load_average_1min'][0]}-{result['load_average_1min'][1]} "
                     f"on {result['cpus']} CPUs")
    return "\nGallery:\n" + "\n".join(lines) if lines else ""


# --- seeding (run as a script, inside the app) ---------------------------------------------------

def seed(count: int) -> dict:
    """Insert `count` photo rows for 'bench' copying its uploaded photos; cursors, plans and query times."""
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import func, select, text, update

    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Media, User, Variant

    app = create_app()
    with app.app_context():
        started = time.monotonic()
        user = db.session.scalar(select(User).where(User.username == "bench"))
        templates = db.session.scalars(select(Media).where(Media.user_id == user.id).order_by(Media.id)).all()
        thumbs = {v.media_id: v for v in db.session.scalars(
            select(Variant).where(Variant.spec == "thumb", Variant.media_id.in_([m.id for m in templates])))}
        media_rows, variant_rows = photo_rows(count, templates, thumbs, Media, Variant)
        insert_rows(db, Media.__table__, media_rows)
        insert_rows(db, Variant.__table__, variant_rows)
        finish_bulk_load(db, user)
        seeded_seconds = time.monotonic() - started
        report = _inspect(db, user)
    return {"rows": report.pop("rows"), "seed_seconds": round(seeded_seconds, 1), **report}


def photo_rows(count: int, templates: list, thumbs: dict, Media, Variant) -> tuple[list[dict], list[dict]]:
    """Photo rows spread like a real library: uploads in bursts over 6 years, most with a date taken."""
    import random
    import secrets
    from datetime import datetime, timedelta, timezone

    rng = random.Random(5)
    media_columns = [c.name for c in Media.__table__.columns]
    variant_columns = [c.name for c in Variant.__table__.columns if c.name != "id"]
    now = datetime.now(timezone.utc).replace(microsecond=0)
    span = 6 * 365 * 86400
    prefixes = ("IMG_", "DSC", "PXL_", "DSCN", "P", "Screenshot ")
    words = ("Beach", "Birthday", "Hike", "Snow", "Garden", "Cat", "Dinner", "Concert", "Trip", "Family")
    media_rows, variant_rows = [], []
    when = now - timedelta(seconds=span)
    while len(media_rows) < count:
        when += timedelta(seconds=rng.expovariate(count / span / 40))  # a burst every so often...
        burst = min(count - len(media_rows), int(rng.paretovariate(1.2) * 8))  # ...of a few to hundreds
        taken = when - timedelta(days=rng.uniform(0, 30))
        for _ in range(burst):
            template = rng.choice(templates)
            row = {column: getattr(template, column) for column in media_columns}
            created = min(when + timedelta(seconds=rng.randint(0, 120)), now)  # several may share a second
            taken += timedelta(seconds=rng.expovariate(1 / 90))
            has_date = rng.random() < 0.85
            prefix = rng.choice(prefixes)
            row.update(id=secrets.token_urlsafe(16), created_at=created, captured_at=taken if has_date else created,
                       taken_at=taken if has_date else None, original_name=f"{prefix}{rng.randint(1, 9999):04d}.jpg",
                       size=int(rng.lognormvariate(14.8, 0.6)), views=rng.randint(0, 50),
                       title=f"{rng.choice(words)} {rng.randint(1, 99)}" if rng.random() < 0.1 else "",
                       is_public=rng.random() < 0.3)
            media_rows.append(row)
            thumb = thumbs.get(template.id)
            if thumb is not None:
                variant_rows.append({**{column: getattr(thumb, column) for column in variant_columns},
                                     "media_id": row["id"], "created_at": created})
    return media_rows, variant_rows


def finish_bulk_load(db, user) -> None:
    """After inserting rows directly: the account's counters as uploads would have kept them, fresh planner stats."""
    from sqlalchemy import func, select, text, update

    from webapp.models import Media, User

    db.session.execute(update(User).where(User.id == user.id).values(
        storage_used=select(func.coalesce(func.sum(Media.size), 0)).where(Media.user_id == user.id)
        .scalar_subquery(),
        media_count=select(func.count()).where(Media.user_id == user.id).scalar_subquery()))
    db.session.commit()
    if db.engine.dialect.name == "postgresql":  # what autovacuum does soon after a bulk load
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    else:
        db.session.execute(text("ANALYZE"))
        db.session.commit()


def insert_rows(db, table, rows: list[dict], chunk: int = 10_000) -> None:
    """Bulk INSERT (executemany through SQLAlchemy, so types are stored as the app stores them)."""
    for start in range(0, len(rows), chunk):
        db.session.execute(table.insert(), rows[start:start + chunk])
    db.session.commit()


def _inspect(db, user) -> dict:
    """The deepest-page cursor of every sort, the plans of its first and deepest page, and query times."""
    from dataclasses import replace

    from webapp.media import library

    db.session.refresh(user)
    total = user.media_count  # what the gallery shows in its header; kept with each upload and delete
    cursors, plans = {}, {}
    for sort in SORTS:
        view = library.View(sort=sort, order=library.SORTS[sort][1])
        ordered = library._ordered(library._filtered(user, view), view)
        row = db.session.execute(ordered.offset(total - PAGE - 1).limit(1)).first()  # 60 rows come after it
        cursors[sort] = library._encode(view, row)
        deepest = replace(view, cursor=cursors[sort])
        page = library.page(user, deepest)
        if len(page.items) != PAGE or page.next_cursor is not None:
            raise RuntimeError(f"the deepest {sort} page has {len(page.items)} items and a next cursor: "
                               f"{page.next_cursor is not None}")
        first = ordered.limit(view.limit + 1)
        deep = library._ordered(library._filtered(user, view).where(
            library._after(view, library._decode(view, cursors[sort]))), view).limit(view.limit + 1)
        plans[f"{sort}_first"] = _plan(db, first, f"ix_media_user_{_index_suffix(sort)}")
        plans[f"{sort}_deepest"] = _plan(db, deep, f"ix_media_user_{_index_suffix(sort)}")
    view = library.View()
    db_page_ms = {"first": _median_ms(lambda: library.page(user, view)),
                  "deepest": _median_ms(lambda: library.page(user, replace(view, cursor=cursors["uploaded"])))}
    db.session.rollback()
    return {"rows": total, "cursors": cursors, "plans": plans, "db_page_ms": db_page_ms}


def _index_suffix(sort: str) -> str:
    return {"uploaded": "created", "taken": "captured", "name": "name", "size": "size"}[sort]


def _median_ms(function, runs: int = 51) -> float:
    from webapp.extensions import db

    times = []
    for _ in range(runs):
        db.session.expunge_all()  # as in a request: the rows are loaded into fresh objects
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return round(median(times), 3)


def _plan(db, statement, index: str) -> dict:
    """EXPLAIN QUERY PLAN (SQLite) or EXPLAIN (ANALYZE, BUFFERS) (PostgreSQL) of a statement, judged."""
    if db.engine.dialect.name == "postgresql":
        lines = [row[0] for row in db.session.execute(_explain(statement, "EXPLAIN (ANALYZE, BUFFERS)"))]
        uses_index = any(("Index Scan" in line or "Index Only Scan" in line) and index in line for line in lines)
        sorts = any(re.match(r"\s*(->\s*)?(Incremental )?Sort\b", line) for line in lines)
        # The keyset condition must be in the index condition, not a filter over the rows before it.
        filtered = [line.strip() for line in lines if "Rows Removed by Filter" in line]
    else:
        lines = [row[3] for row in db.session.execute(_explain(statement, "EXPLAIN QUERY PLAN"))]
        uses_index = any(index in line and "INDEX" in line for line in lines)
        sorts = any("TEMP B-TREE" in line for line in lines)
        filtered = []
    return {"uses_index": uses_index, "sorts": sorts, "rows_removed_by_filter": filtered,
            "plan": [line.rstrip() for line in lines][:14]}


@functools.cache
def _explain_class():
    """A statement with EXPLAIN ... in front, its parameters bound as the app binds them."""
    from sqlalchemy.ext.compiler import compiles
    from sqlalchemy.sql.expression import ClauseElement, Executable

    class Explain(Executable, ClauseElement):
        inherit_cache = False

        def __init__(self, statement, prefix: str):
            self.statement, self.prefix = statement, prefix

    @compiles(Explain)
    def _compile(element, compiler, **kw):
        return f"{element.prefix} {compiler.process(element.statement, **kw)}"

    return Explain


def _explain(statement, prefix: str):
    return _explain_class()(statement, prefix)


if __name__ == "__main__":
    if sys.argv[1:2] != ["seed"]:
        sys.exit("usage: gallery.py seed COUNT  (bench.py runs the benchmark)")
    print(json.dumps(seed(int(sys.argv[2]))))
