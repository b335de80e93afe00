"""Photos a browser cannot show (an iPhone's HEIC, a TIFF) are opened and embedded as a browser-friendly
rendition, while the original still downloads exactly as it was uploaded."""

from __future__ import annotations

import html
import re

import pytest

from tests.fixtures.media import corpus_file, decode, make_jpeg

BROWSER_FORMATS = {"JPEG", "PNG", "GIF", "WEBP"}


def keep_location(kim) -> None:
    """An iPhone HEIC carries GPS; only a kept location leaves it stored as HEIC (else it becomes a JPEG)."""
    response = kim.test_client.patch("/api/v1/account", headers=kim.headers, json={"keep_location": True})
    assert response.status_code == 200, response.get_json()


def upload_heic(kim) -> tuple[dict, bytes]:
    original = corpus_file("photos", "IMG_5195.HEIC").read_bytes()
    keep_location(kim)
    body = kim.upload(original, "IMG_5195.HEIC", is_public="true").get_json()
    assert body["mime_type"] == "image/heic", "the HEIC must be stored as HEIC for this test to mean anything"
    return body, original


def local(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def embed_codes(client, media_id: str) -> dict:
    page = client.get(f"/embed/{media_id}").get_data(as_text=True)
    values = [html.unescape(value) for value in re.findall(r'id="code-\d" value="([^"]+)"', page)]
    return dict(zip(("direct", "html", "markdown", "bbcode"), values))


def shown_format(client, url: str) -> str:
    response = client.get(local(url))
    assert response.status_code == 200, url
    return decode(response.data).format


def link_titled(page: str, words: str) -> str:
    """The href of the link whose title or text contains `words`."""
    for match in re.finditer(r'<a [^>]*href="([^"]+)"[^>]*>(.*?)</a>', page, re.S):
        if words in match.group(0):
            return html.unescape(match.group(1))
    raise AssertionError(f"no link with {words!r} on the page")


def test_embed_codes_of_an_iphone_heic_point_at_a_picture_browsers_show(kim, client):
    body, _original = upload_heic(kim)
    codes = embed_codes(client, body["id"])
    assert codes["direct"].endswith(f"/i/{body['id']}?size=large")
    assert shown_format(client, codes["direct"]) in BROWSER_FORMATS
    assert f'src="{html.escape(codes["direct"])}"' in codes["html"]
    assert codes["markdown"].endswith(f"({codes['direct']})")
    assert codes["bbcode"] == f"[img]{codes['direct']}[/img]"


def test_the_embed_page_opens_a_large_copy_of_a_heic_and_downloads_the_original(kim, client):
    body, original = upload_heic(kim)
    page = client.get(f"/embed/{body['id']}").get_data(as_text=True)
    assert shown_format(client, link_titled(page, "Open a large copy")) in BROWSER_FORMATS
    download = client.get(local(link_titled(page, "Download original")))
    assert download.data == original
    assert download.headers["Content-Disposition"].startswith("attachment")


def test_open_the_original_on_a_heic_photo_page_shows_a_browser_friendly_copy(kim, auth, client):
    body, original = upload_heic(kim)
    auth.login("kim")
    page = client.get(f"/photos/{body['id']}").get_data(as_text=True)
    opened = link_titled(page, "not every browser can show HEIC files")
    assert opened == link_titled(page, "Large copy")
    assert shown_format(client, opened) in BROWSER_FORMATS
    assert client.get(local(link_titled(page, "Download original"))).data == original


def test_the_heic_original_itself_is_still_served_unchanged(kim, client):
    body, original = upload_heic(kim)
    served = client.get(f"/i/{body['id']}.heic")
    assert served.status_code == 200 and served.mimetype == "image/heic"
    assert served.data == original
    assert body["url"].endswith(f"/i/{body['id']}.heic")


def test_a_tiff_is_embedded_through_its_rendition_too(kim, client):
    body = kim.upload(corpus_file("formats", "hopper.tif").read_bytes(), "hopper.tif", is_public="true").get_json()
    assert body["mime_type"] == "image/tiff"
    direct = embed_codes(client, body["id"])["direct"]
    assert direct.endswith("?size=large")
    assert shown_format(client, direct) == "WEBP"


@pytest.mark.parametrize("name", ["hopper.jpg", "hopper.png", "hopper.webp", "animated-5-frames.gif"])
def test_types_every_browser_shows_keep_their_own_file(kim, client, name):
    body = kim.upload(corpus_file("formats", name).read_bytes(), name, is_public="true").get_json()
    codes = embed_codes(client, body["id"])
    assert codes["direct"] == body["url"]
    page = client.get(f"/embed/{body['id']}").get_data(as_text=True)
    assert local(link_titled(page, "Open the original")) == local(body["url"])


def test_a_jpeg_photo_page_opens_the_original_itself(kim, auth, client):
    body = kim.upload(make_jpeg(), "beach.jpg").get_json()
    auth.login("kim")
    page = client.get(f"/photos/{body['id']}").get_data(as_text=True)
    assert local(link_titled(page, "Open the original")) == local(body["url"])
    assert "Large copy" not in page
