"""Views as events: what counts as a view, what an event keeps, how events are written and forgotten."""

from __future__ import annotations

import logging
import threading
import time
from datetime import date, timedelta

import pytest

from tests.fixtures.accounts import csrf_token_from
from tests.fixtures.media import make_jpeg

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.0 Mobile/15E148 Safari/604.1")
IPAD = ("Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.0 "
        "Mobile/15E148 Safari/604.1")
ANDROID_TABLET = ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/120.0 Safari/537.36")
WINDOWS_EDGE = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0")
PREVIEW_BOTS = {
    "Slackbot": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Discordbot": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "TelegramBot": "TelegramBot (like TwitterBot)",
    "WhatsApp": "WhatsApp/2.23.20.0 A",
    "facebookexternalhit": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot": "Twitterbot/1.0",
}


def events(app, **where) -> list:
    """Every view event written so far (after writing what waits), oldest first."""
    from sqlalchemy import select

    from webapp import analytics
    from webapp.extensions import db
    from webapp.models import ViewEvent

    analytics.flush(app)
    with app.app_context():
        query = select(ViewEvent).filter_by(**where).order_by(ViewEvent.id)
        return [_plain(e) for e in db.session.scalars(query)]


def _plain(event) -> dict:
    return {column: getattr(event, column) for column in ("owner_id", "media_id", "share_id", "kind", "at", "visitor",
                                                           "referrer_host", "device", "browser", "os")}


@pytest.fixture
def public_photo(kim) -> str:
    response = kim.upload(make_jpeg(), is_public="true")
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["id"]


@pytest.fixture
def visitor(app):
    """A browser without an account."""
    return app.test_client()


def make_share(app, owner_id: int, media_id: str, **options) -> tuple[str, str]:
    """A share link to one photo: (id, token)."""
    from webapp.extensions import db
    from webapp.models import User
    from webapp.shares import service

    with app.app_context():
        link = service.create_share(db.session.get(User, owner_id), service.Target(media_id=media_id),
                                    service.Options(**options))
        return link.id, link.token


# --- what counts as a view ---------------------------------------------------------------------

def test_a_visitor_opening_a_public_original_is_recorded_with_device_browser_and_referrer(app, kim, public_photo,
                                                                                        visitor):
    response = visitor.get(f"/i/{public_photo}", headers={"User-Agent": IPHONE,
                                                          "Referer": "https://forum.example.org/t/42?page=2"})
    assert response.status_code == 200
    [event] = events(app, media_id=public_photo)
    assert event["kind"] == "view" and event["owner_id"] == kim.id and event["share_id"] is None
    assert (event["device"], event["browser"], event["os"]) == ("phone", "Mobile Safari", "iOS")
    assert event["referrer_host"] == "forum.example.org"


def test_chat_app_preview_bots_are_not_views(app, public_photo, visitor):
    for name, agent in PREVIEW_BOTS.items():
        for path in (f"/i/{public_photo}", f"/embed/{public_photo}"):
            assert visitor.get(path, headers={"User-Agent": agent}).status_code == 200, name
    assert events(app) == []


def test_preview_bots_fetching_a_share_link_ten_times_each_leave_no_view(app, kim, public_photo, visitor):
    share_id, token = make_share(app, kim.id, public_photo)
    for name, agent in PREVIEW_BOTS.items():
        for _ in range(10):
            assert visitor.get(f"/s/{token}", headers={"User-Agent": agent}).status_code == 200, name
    assert events(app) == []
    assert visitor.get(f"/s/{token}", headers={"User-Agent": FIREFOX}).status_code == 200
    assert [e["kind"] for e in events(app, share_id=share_id)] == ["view"]


def test_a_head_request_is_not_a_view(app, public_photo, visitor):
    assert visitor.head(f"/i/{public_photo}", headers={"User-Agent": FIREFOX}).status_code == 200
    assert visitor.head(f"/embed/{public_photo}", headers={"User-Agent": FIREFOX}).status_code == 200
    assert events(app) == []


def test_the_owners_own_views_are_not_counted(app, client, auth, make_user):
    from tests.fixtures.media import multipart

    make_user(username="owner")
    auth.login("owner")
    body, content_type = multipart({"file": (make_jpeg(), "a.jpg"), "is_public": "true"})
    media_id = client.post("/upload", data=body, content_type=content_type,
                           headers={"X-CSRFToken": auth.csrf("/upload")}).get_json()["id"]
    for path in (f"/i/{media_id}", f"/embed/{media_id}"):
        assert client.get(path, headers={"User-Agent": FIREFOX}).status_code == 200
    assert events(app) == []


def test_grid_thumbnails_and_preset_sizes_are_not_views(app, public_photo, visitor):
    for size in ("thumb", "small", "medium", "large"):
        assert visitor.get(f"/i/{public_photo}?size={size}", headers={"User-Agent": FIREFOX}).status_code == 200
    assert events(app) == []


def test_the_embed_page_counts_as_a_view_of_the_photo(app, public_photo, visitor):
    assert visitor.get(f"/embed/{public_photo}", headers={"User-Agent": WINDOWS_EDGE}).status_code == 200
    [event] = events(app, media_id=public_photo)
    assert (event["device"], event["browser"], event["os"]) == ("desktop", "Edge", "Windows")


def test_a_share_link_view_download_and_wrong_password_are_events_of_the_link(app, kim, public_photo, visitor):
    share_id, token = make_share(app, kim.id, public_photo, password="open sesame 42")
    headers = {"User-Agent": FIREFOX}
    csrf = csrf_token_from(visitor.get(f"/s/{token}", headers=headers).get_data(as_text=True))
    assert visitor.post(f"/s/{token}", data={"password": "wrong", "csrf_token": csrf}, headers=headers) \
        .status_code == 401
    assert visitor.post(f"/s/{token}", data={"password": "open sesame 42", "csrf_token": csrf}, headers=headers) \
        .status_code == 303
    assert visitor.get(f"/s/{token}/p/{public_photo}/original", headers=headers).status_code == 200
    kinds = [e["kind"] for e in events(app, share_id=share_id)]
    assert kinds == ["password_failed", "view", "download"]


def test_no_address_is_stored_only_a_visitor_hash_that_changes_with_the_day(app, public_photo, visitor):
    from webapp.analytics import visitor_hash
    from webapp.analytics import events as recording

    visitor.get(f"/i/{public_photo}", headers={"User-Agent": FIREFOX}, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    [event] = events(app)
    assert "203.0.113.9" not in repr(event) and len(event["visitor"]) == 16
    with app.test_request_context():
        today = visitor_hash("203.0.113.9", FIREFOX)
        assert event["visitor"] == today
        assert visitor_hash("203.0.113.10", FIREFOX) != today
        tomorrow = recording._daily_salt(app.config["SECRET_KEY"], (date.today() + timedelta(days=1)).isoformat())
        assert tomorrow != recording._daily_salt(app.config["SECRET_KEY"], date.today().isoformat())


# --- what a User-Agent says -------------------------------------------------------------------

@pytest.mark.parametrize("agent, device", [
    (FIREFOX, "desktop"), (WINDOWS_EDGE, "desktop"), (IPHONE, "phone"), (IPAD, "tablet"),
    (ANDROID_TABLET, "tablet"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile "
     "Safari/537.36", "phone"),
    ("Googlebot/2.1 (+http://www.google.com/bot.html)", "bot"),
    ("Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0 "
     "Safari/605.1.15", "other"),
    ("", "other"),
])
def test_device_type_is_read_from_the_user_agent(agent, device):
    from webapp.analytics.agents import describe

    assert describe(agent).device == device


# --- writing without slowing serving ---------------------------------------------------------

def test_events_wait_in_memory_and_reach_the_database_within_seconds_by_themselves(app, public_photo, visitor,
                                                                                   monkeypatch):
    from sqlalchemy import func, select

    from webapp.analytics import writer
    from webapp.extensions import db
    from webapp.models import ViewEvent

    monkeypatch.setattr(writer, "FLUSH_SECONDS", 3)  # room to look before the writer wakes, on a busy machine too
    visitor.get(f"/i/{public_photo}", headers={"User-Agent": FIREFOX})
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ViewEvent)) == 0  # not written by the request
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with app.app_context():
            if db.session.scalar(select(func.count()).select_from(ViewEvent)) == 1:
                return
        time.sleep(0.1)
    pytest.fail("the background writer did not write the event within 10 seconds")


def test_a_database_error_while_writing_is_logged_and_the_batch_dropped(app, public_photo, visitor, caplog,
                                                                        monkeypatch):
    from webapp.analytics import writer

    visitor.get(f"/i/{public_photo}", headers={"User-Agent": FIREFOX})

    def broken(_event):
        raise RuntimeError("database went away")

    monkeypatch.setattr(writer, "_row", broken)
    with caplog.at_level(logging.ERROR, logger="webapp.analytics.writer"):
        assert writer.writer_of(app).flush() == 1
    assert "Could not write 1 view events" in caplog.text
    monkeypatch.undo()
    assert events(app) == []  # dropped, not retried for ever
    assert visitor.get(f"/i/{public_photo}", headers={"User-Agent": FIREFOX}).status_code == 200
    assert len(events(app)) == 1


def test_many_requests_at_once_lose_no_event(app, public_photo):
    def browse():
        client = app.test_client()
        for _ in range(10):
            client.get(f"/i/{public_photo}", headers={"User-Agent": FIREFOX})

    threads = [threading.Thread(target=browse) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(events(app, media_id=public_photo)) == 80


# --- forgetting ---------------------------------------------------------------------------------

def _add_event(app, owner_id: int, media_id: str, days_ago: float) -> None:
    from webapp.extensions import db
    from webapp.models import ViewEvent, utcnow

    with app.app_context():
        db.session.add(ViewEvent(owner_id=owner_id, media_id=media_id, kind="view", visitor="v" * 16,
                                 at=utcnow() - timedelta(days=days_ago)))
        db.session.commit()


def test_events_older_than_the_retention_period_are_pruned(make_app, app, kim, public_photo):
    from webapp.analytics.retention import prune_view_events
    from webapp.models import utcnow

    for days_ago in (0, 10, 29.9, 30.1, 45, 400):
        _add_event(app, kim.id, public_photo, days_ago)
    keeps_a_month = make_app(analytics={"retention_days": 30})  # the same database
    with keeps_a_month.app_context():
        assert prune_view_events() == 3
    now = utcnow()
    assert sorted(round((now - e["at"]) / timedelta(days=1), 1) for e in events(app)) == [0.0, 10.0, 29.9]


def test_events_within_the_default_90_days_are_kept(app, kim, public_photo):
    from webapp.analytics.retention import prune_view_events

    for days_ago in (1, 89):
        _add_event(app, kim.id, public_photo, days_ago)
    with app.app_context():
        assert prune_view_events() == 0
    assert len(events(app)) == 2


def test_pruning_is_a_daily_scheduled_job(app):
    from webapp import jobs

    job = jobs.REGISTRY["prune_view_events"]
    assert job.trigger == "cron" and job.trigger_args == {"hour": 4, "minute": 23}


def test_retention_days_is_checked_at_start_up(make_app):
    from webapp.config import ConfigError

    with pytest.raises(ConfigError, match="analytics.retention_days"):
        make_app(analytics={"retention_days": 0})


# --- unique visitors per day -----------------------------------------------------------------

def test_unique_visitors_are_counted_per_day(app, kim, public_photo):
    from webapp.analytics import stats
    from webapp.extensions import db
    from webapp.models import Media, ViewEvent, utcnow

    now = utcnow()
    today = now.date()
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
    rows = [(0, "alice"), (0, "alice"), (0, "bob"), (1, "alice"), (1, "alice"), (3, "carol")]
    with app.app_context():
        for days_ago, who in rows:
            db.session.add(ViewEvent(owner_id=kim.id, media_id=public_photo, kind="view",
                                     visitor=who.ljust(16, "."), at=noon - timedelta(days=days_ago)))
        db.session.add(ViewEvent(owner_id=kim.id, media_id=public_photo, kind="view", visitor="old".ljust(16, "."),
                                 at=noon - timedelta(days=8)))
        db.session.commit()
        found = stats.photo_stats(db.session.get(Media, public_photo), days=7, today=today)
    assert [d.day for d in found.days] == [today - timedelta(days=n) for n in range(6, -1, -1)]
    by_day = {d.day: (d.views, d.visitors) for d in found.days}
    assert by_day[today] == (3, 2)
    assert by_day[today - timedelta(days=1)] == (2, 1)
    assert by_day[today - timedelta(days=2)] == (0, 0)
    assert by_day[today - timedelta(days=3)] == (1, 1)
    assert (found.views, found.visitors) == (6, 4)
    assert found.busiest.day == today
