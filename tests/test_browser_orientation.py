"""A JPEG keeps its EXIF orientation as uploaded (imaging.normalise): real Chromium shows the original
upright, as well as its sizes, on the owner's photo page and as a public file."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageStat

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.browser import logged_in_page, wait_for_images
from tests.fixtures.media import corpus_file, multipart

pytestmark = pytest.mark.browser


def upload(live_server, path, **form) -> dict:
    client = live_server.app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    body, content_type = multipart({"file": (path.read_bytes(), path.name), **form})
    response = client.post("/api/v1/images", headers={"Authorization": f"Bearer {token}"}, data=body,
                           content_type=content_type)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_turned_jpeg_is_shown_upright_as_the_original_and_on_its_page(live_server, page_for, orientation):
    page = logged_in_page(page_for, live_server)
    photo = upload(live_server, corpus_file("orientation", f"Landscape_{orientation}.jpg"), is_public="true")

    page.goto(live_server.url + f"/i/{photo['id']}.jpg")
    size = page.evaluate("() => [document.images[0].naturalWidth, document.images[0].naturalHeight]")
    assert size == [1800, 1200]
    shown = Image.open(io.BytesIO(page.screenshot())).convert("RGB").resize((90, 60))
    reference = upload(live_server, corpus_file("orientation", "Landscape_1.jpg"), is_public="true")
    page.goto(live_server.url + f"/i/{reference['id']}.jpg")
    expected = Image.open(io.BytesIO(page.screenshot())).convert("RGB").resize((90, 60))
    assert sum(ImageStat.Stat(ImageChops.difference(shown, expected)).mean) / 3 < 6

    page.goto(live_server.url + f"/photos/{photo['id']}")
    wait_for_images(page)
    shown = page.evaluate("() => { const i = document.querySelector('img.photo-image'); "
                          "return [i.naturalWidth, i.naturalHeight]; }")
    assert shown[0] > shown[1]
