"""The owner's statistics: the pages of a photo and of a share link, their chart, and the same as JSON."""

from __future__ import annotations

import re
from datetime import timedelta
from xml.etree import ElementTree

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.media import make_jpeg, multipart

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.0 Mobile/15E148 Safari/604.1")
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def owner(app, make_user, client, auth):
    """Ann, logged in in `client`, with one public photo: (user id, photo id)."""
    user_id = make_user(email="ann@example.com", username="ann")
    auth.login("ann")
    body, content_type = multipart({"file": (make_jpeg(), "harbour.jpg"), "title": "Harbour at dusk",
                                    "is_public": "true"})
    response = client.post("/upload", data=body, content_type=content_type,
                           headers={"X-CSRFToken": auth.csrf("/upload")})
    assert response.status_code == 201, response.get_data(as_text=True)
    return user_id, response.get_json()["id"]


@pytest.fixture
def stranger(app, make_user):
    """Bob, another account, logged in in a browser of his own."""
    make_user(email="bob@example.com", username="bob")
    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    browser.post("/login", data={"identifier": "bob", "password": STRONG_PASSWORD, "csrf_token": token})
    return browser


def api_headers(app, username: str) -> dict:
    token = app.test_client().post("/api/v1/auth/login", json={"identifier": username, "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def make_share(app, owner_id: int, media_id: str) -> tuple[str, str]:
    from webapp.extensions import db
    from webapp.models import User
    from webapp.shares import service

    with app.app_context():
        link = service.create_share(db.session.get(User, owner_id), service.Target(media_id=media_id),
                                    service.Options(label="Family"))
        return link.id, link.token


def visit(app, path: str, agent: str = FIREFOX, address: str = "198.51.100.7", referrer: str | None = None):
    """A visitor without an account opens `path`; the event is written before this returns."""
    from webapp import analytics

    headers = {"User-Agent": agent, **({"Referer": referrer} if referrer else {})}
    response = app.test_client().get(path, headers=headers, environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 200
    analytics.flush(app)


def chart_of(html: str) -> ElementTree.Element:
    svg = re.search(r'<svg class="chart-plot".*?</svg>', html, re.S)
    assert svg, "no chart on the page"
    return ElementTree.fromstring(svg.group(0).replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))


# --- who may see them ---------------------------------------------------------------------------

def test_the_owner_sees_a_photos_statistics_page(client, owner):
    _user_id, media_id = owner
    page = client.get(f"/stats/{media_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Statistics" in html and "Harbour at dusk" in html


def test_another_account_gets_404_for_a_photos_statistics_even_when_the_photo_is_public(app, owner, stranger):
    _user_id, media_id = owner
    assert stranger.get(f"/stats/{media_id}").status_code == 404
    assert stranger.get("/stats/no-such-photo").status_code == 404


def test_a_visitor_without_an_account_gets_404_for_a_photos_statistics(app, owner):
    _user_id, media_id = owner
    assert app.test_client().get(f"/stats/{media_id}").status_code == 404


def test_a_share_links_statistics_are_its_owners_alone(app, client, owner, stranger):
    user_id, media_id = owner
    share_id, _token = make_share(app, user_id, media_id)
    page = client.get(f"/shares/{share_id}/stats")
    assert page.status_code == 200 and "Family" in page.get_data(as_text=True)
    assert stranger.get(f"/shares/{share_id}/stats").status_code == 404
    assert app.test_client().get(f"/shares/{share_id}/stats").status_code == 404
    assert client.get("/shares/nothing-here/stats").status_code == 404


def test_the_photo_page_links_to_its_statistics(client, owner):
    _user_id, media_id = owner
    html = client.get(f"/photos/{media_id}").get_data(as_text=True)
    assert f'href="/stats/{media_id}"' in html


# --- what they show ---------------------------------------------------------------------------

def test_views_show_per_day_with_visitors_devices_browsers_and_referrers(app, client, owner):
    _user_id, media_id = owner
    visit(app, f"/i/{media_id}", referrer="https://forum.example.org/thread/1")
    visit(app, f"/i/{media_id}", referrer="https://forum.example.org/thread/2")
    visit(app, f"/embed/{media_id}", agent=IPHONE, address="198.51.100.8")
    html = client.get(f"/stats/{media_id}").get_data(as_text=True)
    totals = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", html))
    assert totals["Views"] == "3" and totals["Visitors"] == "2"
    for shown in ("forum.example.org", "Direct, or not said", "Desktop", "Phone", "Firefox", "Mobile Safari",
                  "Linux", "iOS"):
        assert shown in html, shown


def test_a_share_links_page_counts_its_downloads_and_wrong_passwords(app, client, owner):
    from webapp.extensions import db
    from webapp.models import ViewEvent, utcnow

    user_id, media_id = owner
    share_id, _token = make_share(app, user_id, media_id)
    with app.app_context():
        for kind in ("view", "download", "download", "password_failed"):
            db.session.add(ViewEvent(owner_id=user_id, share_id=share_id, kind=kind, visitor="x" * 16, at=utcnow(),
                                     device="phone", browser="Firefox", os="Android"))
        db.session.commit()
    html = client.get(f"/shares/{share_id}/stats").get_data(as_text=True)
    totals = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", html))
    assert (totals["Views"], totals["Downloads"], totals["Wrong passwords"]) == ("1", "2", "1")


def test_the_chart_has_a_bar_per_day_with_views_and_a_visitors_line(app, client, owner):
    _user_id, media_id = owner
    visit(app, f"/i/{media_id}")
    visit(app, f"/i/{media_id}", address="198.51.100.9")
    html = client.get(f"/stats/{media_id}?days=7").get_data(as_text=True)
    svg = chart_of(html)
    assert svg.get("role") == "img"
    assert svg.find(f"{SVG}title").text.startswith("Views and visitors per day")
    assert "2 views, 2 visitors" in svg.find(f"{SVG}desc").text
    bars = svg.findall(f".//{SVG}g[@class='chart-bars']/{SVG}rect")
    assert len(bars) == 1 and float(bars[0].get("height")) > 0  # only today had views
    assert svg.find(f".//{SVG}path[@class='chart-line']") is not None
    hits = svg.findall(f".//{SVG}g[@class='chart-hits']/{SVG}rect")
    assert len(hits) == 7 and hits[-1].find(f"{SVG}title").text.endswith("2 views, 2 visitors")
    assert "No views in this period." not in html


def test_the_chart_without_any_view_says_so(client, owner):
    _user_id, media_id = owner
    html = client.get(f"/stats/{media_id}").get_data(as_text=True)
    svg = chart_of(html)
    assert svg.find(f"{SVG}desc").text == "No views in this period."
    assert svg.findall(f".//{SVG}g[@class='chart-bars']/{SVG}rect") == []
    assert len(svg.findall(f".//{SVG}g[@class='chart-hits']/{SVG}rect")) == 30
    assert '<p class="chart-empty"><span>No views in this period.</span></p>' in html
    assert "Came from" not in html  # no empty lists of referrers, devices, browsers


def test_the_period_can_be_chosen_and_an_unknown_one_falls_back_to_30_days(client, owner):
    _user_id, media_id = owner
    for asked, shown in (("7", 7), ("90", 90), ("12", 30), ("lots", 30)):
        svg = chart_of(client.get(f"/stats/{media_id}?days={asked}").get_data(as_text=True))
        assert len(svg.findall(f".//{SVG}g[@class='chart-hits']/{SVG}rect")) == shown, asked


def test_the_page_is_in_german_for_a_german_browser(client, owner):
    _user_id, media_id = owner
    html = client.get(f"/stats/{media_id}", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Statistik" in html and "Aufrufe pro Tag" in html


def test_the_chart_scale_steps_are_round_numbers():
    from webapp.analytics.chart import nice_top

    assert [nice_top(n) for n in (0, 1, 4, 5, 8, 9, 20, 21, 41, 199, 201)] == \
        [4, 4, 4, 8, 8, 20, 20, 40, 80, 200, 400]


# --- JSON ---------------------------------------------------------------------------------------

def test_the_api_gives_a_photos_statistics_to_its_owner_only(app, owner, stranger):
    _user_id, media_id = owner
    visit(app, f"/i/{media_id}", referrer="https://blog.example.net/post")
    response = app.test_client().get(f"/api/v1/images/{media_id}/stats?days=7", headers=api_headers(app, "ann"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["days"] == 7 and len(body["daily"]) == 7 and body["daily"][-1]["views"] == 1
    assert body["daily"][0]["views"] == 0 and body["until"] == body["daily"][-1]["date"]
    assert (body["views"], body["visitors"], body["downloads"]) == (1, 1, 0)
    assert body["referrers"] == [{"name": "blog.example.net", "count": 1}]
    assert body["devices"] == [{"name": "desktop", "count": 1}]
    assert body["browsers"] == [{"name": "Firefox", "count": 1}] and body["os"] == [{"name": "Linux", "count": 1}]
    other = app.test_client().get(f"/api/v1/images/{media_id}/stats", headers=api_headers(app, "bob"))
    assert other.status_code == 404 and other.get_json()["error"]["code"] == "not_found"
    assert app.test_client().get(f"/api/v1/images/{media_id}/stats").status_code == 401


def test_the_api_gives_a_share_links_statistics_to_its_owner_only(app, owner, stranger):
    user_id, media_id = owner
    share_id, token = make_share(app, user_id, media_id)
    visit(app, f"/s/{token}", agent=IPHONE)
    response = app.test_client().get(f"/api/v1/shares/{share_id}/stats", headers=api_headers(app, "ann"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["days"] == 30 and body["views"] == 1 and body["devices"] == [{"name": "phone", "count": 1}]
    assert app.test_client().get(f"/api/v1/shares/{share_id}/stats", headers=api_headers(app, "bob")) \
        .status_code == 404


def test_the_api_refuses_a_period_out_of_range_by_name(app, owner):
    _user_id, media_id = owner
    response = app.test_client().get(f"/api/v1/images/{media_id}/stats?days=0", headers=api_headers(app, "ann"))
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "days"


def test_old_views_fall_out_of_the_period(app, owner):
    from webapp.extensions import db
    from webapp.models import ViewEvent, utcnow

    user_id, media_id = owner
    with app.app_context():
        db.session.add(ViewEvent(owner_id=user_id, media_id=media_id, kind="view", visitor="x" * 16,
                                 at=utcnow() - timedelta(days=8)))
        db.session.commit()
    headers = api_headers(app, "ann")
    assert app.test_client().get(f"/api/v1/images/{media_id}/stats?days=7", headers=headers).get_json()["views"] == 0
    assert app.test_client().get(f"/api/v1/images/{media_id}/stats?days=9", headers=headers).get_json()["views"] == 1


# --- /info/<id> -------------------------------------------------------------------------------

def test_info_gives_dimensions_and_upload_time(app, owner):
    _user_id, media_id = owner
    body = app.test_client().get(f"/info/{media_id}").get_json()
    assert body["dimensions"] == "64x48"
    assert body["uploaded_at"] == body["created_at"] and body["uploaded_at"].startswith("20")
