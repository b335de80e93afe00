"""An owner's gallery in real Chromium: its thumbnails come at signed, immutable addresses, so a second
visit shows every one of them from the browser's cache without asking the server again."""

from __future__ import annotations

import re

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.browser import logged_in_page, wait_for_images
from tests.fixtures.media import make_jpeg, multipart

pytestmark = pytest.mark.browser

SIGNED = re.compile(r"/i/[A-Za-z0-9_-]+/thumb\.\d+\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}\.webp")
PHOTOS = 60  # one gallery page


def upload_private_photos(live_server, count: int) -> None:
    """Store `count` private photos for kim through the API, each a different colour."""
    client = live_server.app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    for n in range(count):
        body, content_type = multipart({"file": (make_jpeg((96, 64), (n * 4, 120, 255 - n * 4)), f"p{n}.jpg")})
        response = client.post("/api/v1/images", headers={"Authorization": f"Bearer {token}"}, data=body,
                               content_type=content_type)
        assert response.status_code == 201, response.get_data(as_text=True)


def count_thumbnail_requests(live_server) -> list[str]:
    """The signed thumbnail paths the server is asked for from now on (the browser's own cache hits are not)."""
    asked, wsgi_app = [], live_server.app.wsgi_app

    def counting(environ, start_response):
        if SIGNED.fullmatch(environ.get("PATH_INFO", "")):
            asked.append(environ["PATH_INFO"])
        return wsgi_app(environ, start_response)

    live_server.app.wsgi_app = counting
    return asked


def test_a_second_visit_to_the_gallery_asks_the_server_for_no_thumbnail(live_server, page_for):
    page = logged_in_page(page_for, live_server, height=3000)  # every tile in view: lazy loading fetches all
    upload_private_photos(live_server, PHOTOS)
    asked = count_thumbnail_requests(live_server)
    shown = []
    page.on("request", lambda request: SIGNED.search(request.url) and shown.append(request.url))

    page.goto(live_server.url + "/")
    wait_for_images(page)
    assert page.locator(".tile-image").count() == PHOTOS
    assert len(set(asked)) == PHOTOS and len(shown) == PHOTOS

    asked.clear()
    shown.clear()
    page.goto(live_server.url + "/albums")  # away, and back as people do
    page.goto(live_server.url + "/")
    wait_for_images(page)
    assert len(shown) == PHOTOS  # the page wanted every thumbnail again...
    assert asked == []  # ...and the browser's cache had every one
