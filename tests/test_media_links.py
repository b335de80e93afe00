"""A photo's addresses are built in one place: the embed page, the photo page and the JSON agree, and each works."""

from __future__ import annotations

import html
import io
import re

from PIL import Image


def make_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(buffer, "JPEG")
    return buffer.getvalue()


def direct_link_on_embed_page(kim, media_id: str) -> str:
    page = kim.get(f"/embed/{media_id}").get_data(as_text=True)
    return html.unescape(re.search(r'id="code-1" value="([^"]+)"', page).group(1))


def allow_any_file(app) -> None:
    from webapp import instance
    from webapp.extensions import db

    with app.app_context():
        instance.put("allow_any_file", True)
        db.session.commit()


def test_embed_direct_link_of_a_file_without_extension_is_served(app, kim):
    allow_any_file(app)
    body = kim.upload(b"shopping list: eggs, flour\n", name="NOTES").get_json()
    direct = direct_link_on_embed_page(kim, body["id"])
    assert direct.endswith(f"/i/{body['id']}")
    assert direct == body["url"]
    served = kim.get(re.sub(r"^https?://[^/]+", "", direct))
    assert served.status_code == 200
    assert served.data == b"shopping list: eggs, flour\n"


def test_embed_direct_link_of_a_photo_carries_its_extension_and_matches_the_json(kim):
    body = kim.upload(make_jpeg(), name="beach.jpg").get_json()
    direct = direct_link_on_embed_page(kim, body["id"])
    assert direct.endswith(f"/i/{body['id']}.jpg")
    assert direct == body["url"]
