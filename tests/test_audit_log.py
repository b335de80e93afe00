"""Admin → Audit log: newest first, filtered by actor, action, target, dates and address, keyset pages that
never overlap, CSV and JSON Lines exports of the filter (streamed, spreadsheet-safe), nothing that edits or
deletes an event but the retention job, a person's own security events on Settings, and the permission matrix."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.fixtures.accounts import AuthActions

HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def quick_passwords(monkeypatch):
    """Logins hash with a cheap argon2 (what a hash costs is not what these tests are about)."""
    from argon2 import PasswordHasher

    from webapp.auth import service

    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    dummy = hasher.hash("not a real password")
    monkeypatch.setattr(service, "_hasher", hasher)
    monkeypatch.setattr(service, "_dummy_hash", lambda: dummy)


def add_event(app, action, actor_id=None, target="", ip="", at=None, user_agent="", **details):
    """An audit event as audit.record() writes it, at the moment `at` (UTC); returns its id."""
    from webapp.analytics.agents import describe
    from webapp.extensions import db
    from webapp.models import AuditEvent, utcnow

    agent = describe(user_agent) if user_agent else None
    with app.app_context():
        event = AuditEvent(action=action, actor_id=actor_id, target=target, ip=ip, user_agent=user_agent,
                           device=agent.device if agent else "", browser=agent.browser if agent else "",
                           request_id="", details=details, at=at or utcnow())
        db.session.add(event)
        db.session.commit()
        return event.id


def event_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'id="audit-event-(\d+)"', html)]


def all_ids(app, **where) -> list[int]:
    from webapp.extensions import db
    from webapp.models import AuditEvent

    with app.app_context():
        return list(db.session.scalars(db.select(AuditEvent.id).filter_by(**where).order_by(AuditEvent.id.desc())))


@pytest.fixture
def people(app, make_user):
    """root (admin), kim and lee (members); their ids."""
    return {name: make_user(username=name, role="admin" if name == "root" else "user")
            for name in ("root", "kim", "lee")}


@pytest.fixture
def admin(client, people):
    AuthActions(client).login("root")
    return client


@pytest.fixture
def day_of_events(app, people):
    """A handful of events over three days from two addresses; returns their ids by name."""
    now = datetime.now(timezone.utc)
    return {
        "kim_login": add_event(app, "login", people["kim"], ip="192.168.1.20", at=now - timedelta(days=2)),
        "lee_failed": add_event(app, "login_failed", people["lee"], target="lee", ip="10.0.0.5",
                                at=now - timedelta(days=1)),
        "kim_share": add_event(app, "share_created", people["kim"], target="share:abc", ip="192.168.1.20"),
        "kim_blocked": add_event(app, "user_blocked", people["root"], target=f"user:{people['kim']}",
                                 ip="192.168.1.21"),
        "pruned": add_event(app, "audit_pruned", None, target="audit", count=3),
    }


# --- the viewer ---------------------------------------------------------------------------------

def test_viewer_shows_events_newest_first_with_who_what_and_where(app, admin, people, day_of_events):
    add_event(app, "login", people["lee"], ip="198.51.100.9",
              user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                         "Chrome/124.0 Safari/537.36", method="password")
    page = admin.get("/admin/audit")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    ids = event_ids(html)
    assert ids == sorted(ids, reverse=True) and len(ids) >= 6
    assert f'href="/admin/users/{people["lee"]}"' in html
    assert "Signed in" in html and "<code class=\"audit-code\">login</code>" in html
    assert "198.51.100.9" in html and "Chrome" in html and "Computer" in html
    assert "system" in html  # the pruning had no actor
    assert "&#34;method&#34;: &#34;password&#34;" in html or '"method": "password"' in html


def test_an_event_of_a_deleted_account_says_so(app, admin, people):
    from webapp.extensions import db
    from webapp.models import User

    event = add_event(app, "login", people["lee"])
    with app.app_context():
        db.session.delete(db.session.get(User, people["lee"]))
        db.session.commit()
    html = admin.get("/admin/audit").get_data(as_text=True)
    assert event in event_ids(html)
    assert "deleted account" in html or "system" in html  # SET NULL on delete: the actor is gone either way


FILTERS = (  # (query, the events it shows, newest first)
    ({"actor": "kim"}, ["kim_share", "kim_login"]),
    ({"actor": "KIM"}, ["kim_share", "kim_login"]),
    ({"actor": "system"}, ["pruned"]),
    ({"action": "login_failed"}, ["lee_failed"]),
    ({"action": "login_"}, ["lee_failed"]),
    ({"action": "share*"}, ["kim_share"]),
    ({"target": "share:abc"}, ["kim_share"]),
    ({"target": "user:"}, ["kim_blocked"]),
    ({"address": "192.168.1.20"}, ["kim_share", "kim_login"]),
    ({"address": "192.168.1."}, ["kim_blocked", "kim_share", "kim_login"]),
    ({"address": "10.0.0.5"}, ["lee_failed"]),
)


def test_each_filter_narrows_the_events(app, admin, day_of_events):
    for query, expected in FILTERS:
        html = admin.get("/admin/audit", query_string=query).get_data(as_text=True)
        assert event_ids(html) == [day_of_events[name] for name in expected], query


def test_the_actor_filter_takes_an_account_id(admin, people, day_of_events):
    html = admin.get("/admin/audit", query_string={"actor": str(people["lee"])}).get_data(as_text=True)
    assert event_ids(html) == [day_of_events["lee_failed"]]


def test_the_date_range_is_inclusive_in_utc(admin, day_of_events):
    today = datetime.now(timezone.utc).date()
    yesterday = (today - timedelta(days=1)).isoformat()
    html = admin.get("/admin/audit", query_string={"from": yesterday, "to": yesterday}).get_data(as_text=True)
    assert event_ids(html) == [day_of_events["lee_failed"]]
    html = admin.get("/admin/audit", query_string={"from": yesterday}).get_data(as_text=True)
    assert day_of_events["kim_login"] not in event_ids(html) and day_of_events["pruned"] in event_ids(html)


def test_a_bad_filter_is_named_beside_its_field(admin, day_of_events):
    for query, field, sentence in [
        ({"from": "yesterday"}, "from", "from must be a date like 2025-05-01."),
        ({"from": "2025-05-02", "to": "2025-05-01"}, "to", "The end of the date range is before its start."),
        ({"actor": "nobody-here"}, "actor", "No account is called nobody-here."),
    ]:
        page = admin.get("/admin/audit", query_string=query)
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and event_ids(html) == [], query
        assert f'id="audit-{field}-error"><li>{sentence}</li>' in html, query
        assert admin.get("/admin/audit/export.csv", query_string=query).status_code == 400, query


def test_keyset_pages_do_not_overlap_and_cover_everything(app, admin, people):
    for n in range(120):
        add_event(app, "media_uploaded", people["kim"], target=f"media:m{n}")
    seen, url, pages = [], "/admin/audit?actor=kim", 0
    while url:
        html = admin.get(url).get_data(as_text=True)
        seen += event_ids(html)
        pages += 1
        match = re.search(r'href="([^"]+)" rel="next"', html)
        url = match.group(1).replace("&amp;", "&") if match else None
    assert pages == 3
    assert len(seen) == len(set(seen)) == 120
    assert seen == all_ids(app, actor_id=people["kim"])


def test_htmx_gets_the_results_with_the_filters_out_of_band(admin, day_of_events):
    page = admin.get("/admin/audit", query_string={"actor": "kim"}, headers=HTMX)
    html = page.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="audit-results"') and "<html" not in html
    assert '<section id="audit-filters" class="card admin-section" aria-labelledby="audit-title" hx-swap-oob="true">' \
        in html and 'value="kim"' in html
    assert event_ids(html) == [day_of_events["kim_share"], day_of_events["kim_login"]]
    assert "HX-Request" in page.headers["Vary"]
    bad = admin.get("/admin/audit", query_string={"to": "later"}, headers=HTMX).get_data(as_text=True)
    assert 'id="audit-to-error"><li>to must be a date like 2025-05-01.</li>' in bad


def test_the_filter_form_works_without_javascript(admin, day_of_events):
    html = admin.get("/admin/audit").get_data(as_text=True)
    form = re.search(r'<form method="get" action="/admin/audit"[^>]*>', html).group(0)
    assert 'hx-get="/admin/audit"' in form and 'hx-push-url="true"' in form
    for name in ("actor", "action", "target", "address", "from", "to"):
        assert f'name="{name}"' in html
    assert '<option value="login_failed">' in html


def test_hostile_user_agents_targets_and_details_are_escaped(app, admin, people):
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    add_event(app, "login_failed", None, target=hostile, user_agent=hostile, note=hostile)
    html = admin.get("/admin/audit").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- exports ------------------------------------------------------------------------------------

def test_csv_export_streams_the_whole_filter_as_a_dated_attachment(app, admin, people, day_of_events):
    response = admin.get("/admin/audit/export.csv", query_string={"actor": "kim"})
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    today = datetime.now(timezone.utc).date().isoformat()
    assert response.headers["Content-Disposition"] == f'attachment; filename="shoebox-audit-{today}.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [int(row["id"]) for row in rows] == [day_of_events["kim_share"], day_of_events["kim_login"]]
    assert rows[0]["actor"] == "kim" and rows[0]["action"] == "share_created" and rows[0]["target"] == "share:abc"
    assert rows[0]["address"] == "192.168.1.20" and rows[0]["time"].startswith(today)


def test_csv_export_cannot_smuggle_a_formula_into_a_spreadsheet(app, admin):
    for start in ("=HYPERLINK(\"http://evil\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        add_event(app, "login_failed", None, target=start, user_agent=start)
    export = admin.get("/admin/audit/export.csv?action=login_failed").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(export)))
    assert len(rows) == 6
    for row in rows:
        for value in (row["target"], row["user_agent"]):
            assert value.startswith("'") and value[1] in "=+-@\t\r"


def test_csv_export_reads_in_batches(app, admin, people, monkeypatch):
    from webapp.admin import auditlog

    monkeypatch.setattr(auditlog, "BATCH", 7)
    reads = []
    query = auditlog._query
    monkeypatch.setattr(auditlog, "_query", lambda *args: reads.append(args[2]) or query(*args))
    for n in range(30):
        add_event(app, "media_deleted", people["kim"], target=f"media:m{n}")
    rows = list(csv.DictReader(io.StringIO(admin.get("/admin/audit/export.csv?action=media_deleted")
                                           .get_data(as_text=True))))
    assert len(rows) == 30 and len({row["id"] for row in rows}) == 30
    assert reads == [7] * 5  # 7, 7, 7, 7, then the last 2


def test_jsonl_export_has_one_event_a_line(app, admin, day_of_events):
    response = admin.get("/admin/audit/export.jsonl", query_string={"target": "share:abc"})
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    assert response.headers["Content-Disposition"].endswith('.jsonl"')
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [line["id"] for line in lines] == [day_of_events["kim_share"]]
    assert lines[0]["action"] == "share_created" and lines[0]["actor"] == "kim" and lines[0]["details"] == {}


def test_export_links_carry_the_current_filter(admin, day_of_events):
    html = admin.get("/admin/audit", query_string={"actor": "kim", "action": "login"}).get_data(as_text=True)
    assert 'href="/admin/audit/export.csv?actor=kim&amp;action=login"' in html
    assert 'href="/admin/audit/export.jsonl?actor=kim&amp;action=login"' in html


# --- append-only, retention ---------------------------------------------------------------------

def test_no_route_edits_or_deletes_an_event(app):
    for rule in app.url_map.iter_rules():
        if "audit" in rule.rule:
            assert rule.methods - {"GET", "HEAD", "OPTIONS"} == set(), rule.rule


def test_edit_and_delete_requests_to_the_audit_log_are_refused(admin, day_of_events):
    event = day_of_events["kim_share"]
    for method in ("put", "patch", "delete", "post"):
        for path in ("/admin/audit", f"/admin/audit/{event}", "/api/v1/admin/audit"):
            assert getattr(admin, method)(path).status_code in (404, 405), (method, path)


def set_retention(app, days):
    from webapp import instance
    from webapp.extensions import db

    with app.app_context():
        instance.put("audit_retention_days", days)
        db.session.commit()


def run_retention(app):
    from webapp.admin import auditlog

    with app.app_context():
        return auditlog.prune_old_events()


def test_retention_keeps_everything_by_default(app, people):
    add_event(app, "login", people["kim"], at=datetime.now(timezone.utc) - timedelta(days=4000))
    assert run_retention(app) == 0
    assert len(all_ids(app)) == 1


def test_retention_prunes_only_events_older_than_the_setting(app, people, monkeypatch):
    from webapp.admin import auditlog

    monkeypatch.setattr(auditlog, "PRUNE_SLICE", 4)
    now = datetime.now(timezone.utc)
    old = [add_event(app, "login", people["kim"], at=now - timedelta(days=31, hours=n)) for n in range(9)]
    kept = [add_event(app, "login", people["kim"], at=now - timedelta(days=29)),
            add_event(app, "login", people["lee"], at=now)]
    set_retention(app, 30)
    assert run_retention(app) == 9
    left = all_ids(app, action="login")
    assert sorted(left) == sorted(kept) and not set(old) & set(left)
    pruned = all_ids(app, action="audit_pruned")
    assert len(pruned) == 1  # the log says that it was pruned, and how much
    assert run_retention(app) == 0


def test_retention_is_a_daily_scheduled_job(app):
    from webapp.jobs import registry

    job = registry.REGISTRY["prune_audit_events"]
    assert job.trigger == "cron" and "hour" in job.trigger_args


# --- a person's own security events -------------------------------------------------------------

def test_settings_show_my_latest_security_events_only(app, client, people):
    add_event(app, "login_failed", people["kim"], target="kim", ip="203.0.113.50",
              user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                         "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
    add_event(app, "user_blocked", people["root"], target=f"user:{people['kim']}")
    add_event(app, "media_uploaded", people["kim"], target="media:x")  # not a security event
    add_event(app, "login", people["lee"], ip="198.51.100.77")  # someone else's
    for _ in range(25):
        add_event(app, "api_key_created", people["kim"], target="api_key:1")
    AuthActions(client).login("kim")
    html = client.get("/settings/").get_data(as_text=True)
    section = html[html.index('id="security-events"'):]
    section = section[:section.index("</section>")]
    assert section.count("<li>") == 20
    assert "Signed in" in section  # the login just now, newest first
    assert "198.51.100.77" not in section and "Photo or file uploaded" not in section
    AuthActions(client).logout()


def test_security_events_include_what_was_done_to_my_account(app, people):
    from webapp.admin import auditlog
    from webapp.extensions import db
    from webapp.models import User

    add_event(app, "login_failed", people["kim"], target="kim", ip="203.0.113.50",
              user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                         "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
    add_event(app, "user_blocked", people["root"], target=f"user:{people['kim']}")
    add_event(app, "media_uploaded", people["kim"], target="media:x")
    add_event(app, "user_unblocked", people["kim"], target=f"user:{people['lee']}")  # lee's event, not kim's
    with app.app_context():
        mine = auditlog.security_events_for(db.session.get(User, people["kim"]))
    assert [e.action for e in mine] == ["user_blocked", "login_failed"]
    assert (mine[1].ip, mine[1].device, mine[1].browser) == ("203.0.113.50", "phone", "Mobile Safari")


# --- who may look -------------------------------------------------------------------------------

def test_a_member_gets_404_everywhere_in_the_audit_log(client, people, day_of_events):
    AuthActions(client).login("kim")
    for path in ("/admin/audit", "/admin/audit/export.csv", "/admin/audit/export.jsonl"):
        assert client.get(path).status_code == 404, path


def test_a_stranger_gets_404(client, day_of_events):
    assert client.get("/admin/audit").status_code == 404


def test_a_group_with_view_audit_sees_the_audit_log_but_not_people(app, client, people, day_of_events):
    from webapp.auth import permissions
    from webapp.extensions import db
    from webapp.models import Group, GroupPermission, UserGroup

    with app.app_context():
        group = Group(name="Moderators", description="Read the log")
        db.session.add(group)
        db.session.flush()
        db.session.add_all([GroupPermission(group_id=group.id, permission="view_audit"),
                            UserGroup(user_id=people["lee"], group_id=group.id)])
        db.session.commit()
        permissions.forget()
    AuthActions(client).login("lee")
    page = client.get("/admin/audit")
    assert page.status_code == 200 and day_of_events["kim_share"] in event_ids(page.get_data(as_text=True))
    assert client.get("/admin/audit/export.csv").status_code == 200
    assert client.get("/admin/users").status_code == 404
    assert client.get("/admin/settings").status_code == 404


# --- in a browser -------------------------------------------------------------------------------

def test_the_viewer_in_chromium_filters_with_htmx_and_fits_a_phone(page_for, live_server):
    from playwright.sync_api import expect

    from tests.fixtures.accounts import STRONG_PASSWORD
    from tests.fixtures.browser import PHONE, screenshot
    from webapp.auth import service

    app = live_server.app
    with app.app_context():
        root = service.create_user("root@example.com", "root", STRONG_PASSWORD, role="admin", verified=True).id
        kim = service.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True).id
    iphone = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.4 Mobile/15E148 Safari/604.1")
    add_event(app, "login_failed", kim, target="kim", ip="203.0.113.50", user_agent=iphone)
    add_event(app, "share_created", kim, target="share:Xy12abCD", ip="2001:db8:85a3::8a2e:370:7334",
              user_agent=iphone, kind="album")
    add_event(app, "user_blocked", root, target=f"user:{kim}", ip="192.168.1.2", reason="<b>spam</b>" * 6)
    for size, scheme in (("desktop", "light"), ("phone", "dark")):
        page = page_for(color_scheme=scheme, **(PHONE if size == "phone" else {}))
        page.goto(live_server.url + "/login")
        page.fill("#identifier", "root")
        page.fill("#password", STRONG_PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(live_server.url + "/")
        page.goto(live_server.url + "/admin/audit")
        page.click(".audit-details summary >> nth=0")
        assert page.evaluate("document.documentElement.scrollWidth") <= (PHONE["width"] if size == "phone" else 1280)
        screenshot(page, f"admin-audit-{size}-{scheme}")
        page.fill("#audit-actor", "kim")
        page.click("#audit-filters button[type=submit]")
        page.wait_for_url("**/admin/audit?actor=kim**")
        expect(page.locator(".audit-event")).to_have_count(2)
        assert page.locator("#audit-filters").count() == 1
