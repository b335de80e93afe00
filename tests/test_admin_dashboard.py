"""Admin → Dashboard and GET /api/v1/admin/stats: the instance's totals, its days, who uses the most
storage, who signed in, and its health; only for people holding view_stats."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, time, timedelta, timezone

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD, AuthActions

HTMX = {"HX-Request": "true"}
GiB = 1024 ** 3


@pytest.fixture(autouse=True)
def quick_passwords(monkeypatch):
    """Accounts hash with a cheap argon2 (what a hash costs is not what these tests are about)."""
    from argon2 import PasswordHasher

    from webapp.auth import service

    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    dummy = hasher.hash("not a real password")
    monkeypatch.setattr(service, "_hasher", hasher)
    monkeypatch.setattr(service, "_dummy_hash", lambda: dummy)


def today():
    return datetime.now(timezone.utc).date()


def at(day, hour=12):
    return datetime.combine(day, time(hour), tzinfo=timezone.utc)


def api_token(client, username) -> dict:
    token = client.post("/api/v1/auth/login", json={"identifier": username, "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def change_users(app, **by_username):
    """Set columns on accounts: change_users(app, kim={"is_blocked": True})."""
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        for username, values in by_username.items():
            user = db.session.scalar(db.select(User).where(User.username == username))
            for name, value in values.items():
                setattr(user, name, value)
        db.session.commit()


def add_rows(app, *rows):
    from webapp.extensions import db

    with app.app_context():
        db.session.add_all(rows)
        db.session.commit()


def user_id(app, username):
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        return db.session.scalar(db.select(User.id).where(User.username == username))


def share_link(owner_id, **fields):
    from webapp.models import ShareLink

    token = secrets.token_urlsafe(16)
    return ShareLink(id=secrets.token_urlsafe(12)[:16], token=token, token_hash=secrets.token_hex(32),
                     user_id=owner_id, kind="photo", **fields)


def view(owner_id, moment, kind="view"):
    from webapp.models import ViewEvent

    return ViewEvent(owner_id=owner_id, kind=kind, at=moment)


def audit_event(action, actor_id, moment, **fields):
    from webapp.models import AuditEvent

    return AuditEvent(action=action, actor_id=actor_id, at=moment, details={}, **fields)


def stats(client, headers, days=None):
    response = client.get("/api/v1/admin/stats" + (f"?days={days}" if days else ""), headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


@pytest.fixture
def seeded(app, make_user):
    """A small instance: root (admin), ann and bob active, cat blocked, dan waiting for deletion; share links
    active, revoked, expired and out of views; views today and yesterday; usage on two days."""
    from webapp.models import DailyUsage, utcnow

    make_user(username="root", role="admin")
    for name in ("ann", "bob", "cat", "dan"):
        make_user(username=name)
    change_users(app, dan={"delete_scheduled_for": utcnow() + timedelta(days=7)},
                 ann={"storage_used": 3 * GiB, "media_count": 30}, bob={"storage_used": 5 * GiB, "media_count": 7},
                 cat={"is_blocked": True, "storage_used": GiB, "media_count": 2})
    ann, bob = user_id(app, "ann"), user_id(app, "bob")
    now, day = utcnow(), today()
    add_rows(app, share_link(ann), share_link(ann, expires_at=now + timedelta(days=1), max_views=5, views=4),
             share_link(ann, revoked_at=now), share_link(bob, expires_at=now - timedelta(minutes=1)),
             share_link(bob, max_views=3, views=3),
             view(ann, at(day, 0) + timedelta(seconds=1)), view(ann, now), view(bob, now),
             view(bob, now, kind="download"), view(ann, at(day) - timedelta(hours=13)),
             DailyUsage(user_id=ann, day=day, uploads=3, bytes_in=3000, api_requests=40),
             DailyUsage(user_id=bob, day=day, uploads=2, bytes_in=500, api_requests=2),
             DailyUsage(user_id=bob, day=day - timedelta(days=2), uploads=1, bytes_in=100, api_requests=0),
             DailyUsage(user_id=bob, day=day - timedelta(days=40), uploads=9, bytes_in=900, api_requests=9))
    return {"ann": ann, "bob": bob}


# --- totals ---------------------------------------------------------------------------------------

def test_totals_count_people_storage_links_and_todays_views(app, client, seeded):
    totals = stats(client, api_token(client, "root"))["totals"]
    assert totals["users"] == {"active": 3, "blocked": 1, "pending_deletion": 1}  # root, ann and bob are active
    assert totals["media"] == 39
    assert totals["storage_bytes"] == 9 * GiB
    assert totals["storage_backend"] == "memory"
    assert totals["share_links_active"] == 2  # not the revoked, the expired nor the one out of views
    assert totals["views_today"] == 4  # today's download through a link counts, yesterday's view does not


def test_dashboard_page_shows_the_totals_as_cards(app, client, seeded):
    AuthActions(client).login("root")
    response = client.get("/admin/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    totals = html[html.index('class="stats-totals dashboard-totals"'):html.index("</dl>")]
    assert "1 blocked" in totals and "1 to be deleted" in totals
    assert ">39<" in totals and "9 GB" in totals and "in memory" in totals
    assert re.search(r"Active share links</dt><dd>2<", totals)
    assert re.search(r"Views today</dt><dd>4 ", totals)


# --- series ---------------------------------------------------------------------------------------

def test_series_give_every_day_of_the_period_with_zero_days(app, client, seeded):
    from webapp.models import User

    root = user_id(app, "root")
    day = today()
    add_rows(app, audit_event("login_failed", None, at(day)), audit_event("two_factor_failed", root, at(day)),
             audit_event("login_failed", None, at(day - timedelta(days=3))), audit_event("login", root, at(day)))
    change_users(app, bob={"created_at": at(day - timedelta(days=5))}, cat={"created_at": at(day - timedelta(days=60))})
    body = stats(client, api_token(client, "root"), days=7)
    series = body["series"]
    assert body["days"] == 7 and body["until"] == day.isoformat()
    assert body["since"] == (day - timedelta(days=6)).isoformat()
    for name in ("signups", "uploads", "storage_added", "views", "api_requests", "failed_sign_ins"):
        assert [p["day"] for p in series[name]] == [(day - timedelta(days=n)).isoformat() for n in range(6, -1, -1)]

    def values(name):
        return [p["value"] for p in series[name]]

    assert values("uploads") == [0, 0, 0, 0, 1, 0, 5]
    assert values("storage_added") == [0, 0, 0, 0, 100, 0, 3500]
    assert values("api_requests") == [0, 0, 0, 0, 0, 0, 42]
    assert values("views") == [0, 0, 0, 0, 0, 1, 4]
    assert values("failed_sign_ins") == [0, 0, 0, 1, 0, 0, 2]
    assert values("signups") == [0, 1, 0, 0, 0, 0, 3]  # root, ann and dan today; bob five days ago
    assert User  # (imported for the columns changed above)


def test_ninety_days_reach_back_to_older_usage(app, client, seeded):
    headers = api_token(client, "root")
    assert sum(p["value"] for p in stats(client, headers, days=30)["series"]["uploads"]) == 6
    ninety = stats(client, headers, days=90)["series"]["uploads"]
    assert len(ninety) == 90 and sum(p["value"] for p in ninety) == 15


def test_range_switch_renders_the_charts_alone_for_htmx_and_the_page_without(app, client, seeded):
    AuthActions(client).login("root")
    page = client.get("/admin/?days=7").get_data(as_text=True)
    assert '<a href="?days=7" hx-get="?days=7"' in page and 'aria-current="page">7 days' in page
    assert page.count('class="card dashboard-chart"') == 6
    assert page.count("<rect x=") >= 6 * 7  # a column per day in each chart
    fragment = client.get("/admin/?days=90", headers=HTMX)
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "HX-Request" in fragment.headers["Vary"]
    assert html.lstrip().startswith('<section id="dashboard-charts"') and "<html" not in html
    assert 'aria-current="page">90 days' in html
    assert 'Storage added <span class="dashboard-chart-total">4.4 KB</span>' in html  # 4,500 bytes
    assert "<title id=\"chart-uploads-title\">Uploads per day" in html
    assert "15 in all" in html  # the uploads chart's summary for people who cannot see it


def test_an_unknown_period_falls_back_to_30_days_on_the_page_and_is_refused_by_the_api(app, client, seeded):
    AuthActions(client).login("root")
    assert 'aria-current="page">30 days' in client.get("/admin/?days=12").get_data(as_text=True)
    response = client.get("/api/v1/admin/stats?days=12", headers=api_token(client, "root"))
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "days"


# --- people ---------------------------------------------------------------------------------------

def test_top_users_are_ordered_by_storage_most_first(app, client, seeded):
    top = stats(client, api_token(client, "root"))["top_users"]
    assert [u["username"] for u in top[:3]] == ["bob", "ann", "cat"]
    assert top[0]["storage_used"] == 5 * GiB and top[0]["media_count"] == 7


def test_recent_sign_ins_are_newest_first_and_escaped(app, client, make_user):
    make_user(username="root", role="admin")
    make_user(username="eve")
    change_users(app, eve={"display_name": "<b>Eve</b>"})
    eve = user_id(app, "eve")
    day = today()
    add_rows(app, audit_event("login", eve, at(day, 9), ip="203.0.113.9", device="phone",
                              browser="<script>alert(1)</script>", user_agent='"><img src=x onerror=alert(1)>'))
    client.post("/api/v1/auth/login", json={"identifier": "root", "password": STRONG_PASSWORD})
    AuthActions(client).login("root")
    html = client.get("/admin/").get_data(as_text=True)
    section = html[html.index('id="dashboard-sign-ins-heading"'):]
    assert "&lt;b&gt;Eve&lt;/b&gt;" in section and "<b>Eve</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section and "<script>alert(1)" not in html
    assert "<img src=x" not in html
    assert section.index("root") < section.index("&lt;b&gt;Eve")  # root's sign-in just now comes first
    sign_ins = stats(client, api_token(client, "root"))["recent_sign_ins"]
    assert sign_ins[0]["username"] == "root"
    assert {"username": "eve", "ip": "203.0.113.9", "device": "phone"}.items() <= sign_ins[-1].items()


# --- health ---------------------------------------------------------------------------------------

def test_health_lists_the_checks_each_scheduled_job_disk_and_version(app, client, make_user):
    from webapp import __version__, jobs
    from webapp.models import Job, utcnow

    make_user(username="root", role="admin")
    slot = utcnow().replace(microsecond=0)
    add_rows(app, Job(name="token_cleanup", slot=f"token_cleanup@{(slot - timedelta(days=1)).isoformat()}",
                      state="done", finished_at=slot - timedelta(days=1), payload={}, detail={}, error=""),
             Job(name="token_cleanup", slot=f"token_cleanup@{slot.isoformat()}", state="failed",
                 finished_at=slot, payload={}, detail={}, error="Could not <reach> the database."))
    health = stats(client, api_token(client, "root"))["health"]
    assert health["database"]["status"] == "ok" and health["storage"]["status"] == "ok"
    assert health["scheduler"] == {"status": "warning", "state": "disabled", "detail": ""}  # tests run none
    assert health["disk"]["status"] in {"ok", "warning"} and health["disk_free_bytes"] > 0
    assert health["version"] == __version__
    by_name = {job["name"]: job for job in health["jobs"]}
    assert set(by_name) == set(jobs.REGISTRY)
    assert by_name["token_cleanup"]["state"] == "failed" and by_name["token_cleanup"]["status"] == "failed"
    assert by_name["integrity_check"]["status"] == "none"
    assert health["status"] == "failed"
    AuthActions(client).login("root")
    html = client.get("/admin/").get_data(as_text=True)
    section = html[html.index('id="dashboard-health-heading"'):]
    assert "Could not &lt;reach&gt; the database." in section and "<reach>" not in html
    assert 'class="badge health-failed"' in section and __version__ in section


def test_dashboard_health_is_what_health_ready_reports(app, client, make_user):
    make_user(username="root", role="admin")
    ready = client.get("/health/ready").get_json()["checks"]
    health = stats(client, api_token(client, "root"))["health"]
    for name in ("database", "storage", "scheduler"):
        assert health[name]["state"] == ready[name]["status"]


def test_another_instance_leading_the_scheduler_is_named_and_ok(app, client, make_user):
    from webapp.models import JobRun, utcnow

    make_user(username="root", role="admin")
    now = utcnow()
    add_rows(app, JobRun(name="heartbeat", instance="photos-2:4242", started_at=now, finished_at=now, status="ok",
                         error=""))
    health = stats(client, api_token(client, "root"))["health"]
    assert health["scheduler"]["status"] == "ok" and health["leader"] == "photos-2:4242"
    AuthActions(client).login("root")
    assert "led by photos-2:4242" in client.get("/admin/").get_data(as_text=True)


def test_a_failing_storage_shows_failed(app, client, make_user, monkeypatch):
    from webapp.extensions import blob_store
    from webapp.storage import StorageUnavailable

    make_user(username="root", role="admin")
    headers = api_token(client, "root")
    with app.app_context():
        store = blob_store()

    def unreachable():
        raise StorageUnavailable("The bucket does not answer.")

    monkeypatch.setattr(store, "check", unreachable)
    health = stats(client, headers)["health"]
    assert health["storage"] == {"status": "failed", "state": "unreachable", "detail": "The bucket does not answer."}
    assert health["status"] == "failed"
    assert client.get("/health/ready").status_code == 503
    AuthActions(client).login("root")
    html = client.get("/admin/").get_data(as_text=True)
    storage = html[html.index('<span class="health-name">Storage</span>'):][:300]
    assert 'health-failed' in storage and "The bucket does not answer." in storage


# --- who may see it -------------------------------------------------------------------------------

def grant(app, username, *codenames):
    """Put the account in a new group holding these permissions."""
    from webapp.auth import permissions
    from webapp.extensions import db
    from webapp.models import Group, GroupPermission, UserGroup

    with app.app_context():
        group = Group(name=f"group-{secrets.token_hex(3)}", description="")
        db.session.add(group)
        db.session.flush()
        db.session.add_all(GroupPermission(group_id=group.id, permission=name) for name in codenames)
        db.session.add(UserGroup(user_id=user_id(app, username), group_id=group.id))
        db.session.commit()
        permissions.forget()


def test_a_member_gets_404_from_the_page_the_fragment_and_the_api(app, client, make_user):
    make_user(username="kim")
    headers = api_token(client, "kim")
    AuthActions(client).login("kim")
    assert client.get("/admin/").status_code == 404
    assert client.get("/admin/?days=7", headers=HTMX).status_code == 404
    response = client.get("/api/v1/admin/stats", headers=headers)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_anonymous_gets_404_from_the_page_and_401_from_the_api(app, client, make_user):
    make_user(username="root", role="admin")  # (before anyone, every address leads to the setup page)
    assert client.get("/admin/").status_code == 404
    assert client.get("/api/v1/admin/stats").status_code == 401


def test_a_custom_group_with_view_stats_sees_the_dashboard(app, client, make_user):
    make_user(username="sam")
    grant(app, "sam", "view_stats")
    AuthActions(client).login("sam")
    response = client.get("/admin/")
    assert response.status_code == 200 and 'id="dashboard-charts"' in response.get_data(as_text=True)
    assert stats(client, api_token(client, "sam"))["totals"]["users"]["active"] == 1
    assert "All jobs" not in response.get_data(as_text=True)  # the jobs page needs manage_backups


def test_someone_without_view_stats_is_sent_to_their_first_admin_page(app, client, make_user):
    make_user(username="pat")
    grant(app, "pat", "manage_users", "manage_backups")
    AuthActions(client).login("pat")
    response = client.get("/admin/")
    expected = "/admin/users" if "admin.users" in app.view_functions else "/admin/jobs"
    assert response.status_code == 303 and response.headers["Location"].endswith(expected)
    assert client.get("/api/v1/admin/stats", headers=api_token(client, "pat")).status_code == 404


# --- the API's shape ------------------------------------------------------------------------------

def test_api_answers_in_its_documented_shape(app, client, seeded):
    body = stats(client, api_token(client, "root"), days=30)
    assert set(body) == {"days", "since", "until", "totals", "series", "top_users", "recent_sign_ins", "health"}
    assert body["days"] == 30 and all(len(points) == 30 for points in body["series"].values())
    assert set(body["health"]) >= {"status", "database", "storage", "scheduler", "disk", "leader", "jobs",
                                   "disk_free_bytes", "version"}
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/admin/stats"]["get"]
    assert operation["tags"] == ["admin"] and {"200", "404"} <= set(operation["responses"])


# --- in Chromium ----------------------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_dashboard_fits_a_phone_and_switches_period_in_place(live_server, page_for, scheme):
    from webapp.auth import service
    from webapp.models import DailyUsage
    from tests.fixtures.browser import PHONE, screenshot

    app = live_server.app
    with app.app_context():
        root = service.create_user("root@example.com", "root", STRONG_PASSWORD, role="admin", verified=True).id
        ann = service.create_user("ann@example.com", "ann", STRONG_PASSWORD, verified=True).id
    day = today()
    add_rows(app, *[DailyUsage(user_id=ann, day=day - timedelta(days=n), uploads=n % 7, bytes_in=n * 3_000_000,
                               api_requests=n * 11) for n in range(60)],
             *[view(ann, at(day - timedelta(days=n % 20), 8 + n % 10)) for n in range(120)],
             audit_event("login_failed", None, at(day - timedelta(days=2))))
    change_users(app, ann={"storage_used": 180_000_000, "media_count": 420, "display_name": "Ann Example"})
    page = page_for(color_scheme=scheme, **PHONE)
    page.goto(live_server.url + "/login")
    page.fill("#identifier", "root")
    page.fill("#password", STRONG_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    page.goto(live_server.url + "/admin/")
    assert page.locator(".dashboard-chart").count() == 6
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), \
        page.evaluate("document.documentElement.scrollWidth")
    first_card = page.locator(".dashboard-totals .card").nth(0).bounding_box()
    second_card = page.locator(".dashboard-totals .card").nth(1).bounding_box()
    assert first_card["y"] == second_card["y"]  # two cards to a row on a phone
    screenshot(page, f"admin-dashboard-phone-{scheme}")
    loads = []
    page.on("load", lambda loaded: loads.append(loaded.url))
    page.click(".stats-periods a:text('7 days')")
    page.wait_for_url(live_server.url + "/admin/?days=7")
    page.locator(".stats-periods a[aria-current=page]:text('7 days')").wait_for()
    assert page.locator("#chart-uploads-title").text_content().startswith("Uploads per day")
    assert page.locator(".dashboard-chart").first.locator(".chart-hits rect").count() == 7
    assert not loads, "the period switch reloaded the page instead of swapping the charts"
    assert root
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot(page, f"admin-dashboard-desktop-{scheme}")
