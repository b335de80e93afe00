"""oEmbed 1.0 at /oembed: public photos embed as photos, share links as cards; a link with a password or a
view limit gets a card with no picture, and asking never uses up one of its views."""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from PIL import Image

from tests.fixtures.media import decode, make_jpeg

BASE = "http://shoebox.test"


def oembed(client, url: str, **params):
    return client.get("/oembed?" + urlencode({"url": url, **params}))


def local(url: str) -> str:
    assert url.startswith(BASE + "/"), url
    return url.removeprefix(BASE)


@pytest.fixture
def kim_named(kim):
    """kim, shown to others as "Kim Lee" (her email is kim@example.com)."""
    response = kim.test_client.patch("/api/v1/account", headers=kim.headers, json={"display_name": "Kim Lee"})
    assert response.status_code == 200, response.get_json()
    return kim


def upload(kim, data: bytes | None = None, name="beach.jpg", public=True, title="") -> dict:
    form = {"is_public": "true" if public else "false", **({"title": title} if title else {})}
    response = kim.upload(data or make_jpeg(), name, **form)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def share(app, kim, *, media_id=None, album_id=None, media_ids=(), **options):
    """A share link made by kim; returns (token, link id)."""
    from webapp.extensions import db
    from webapp.models import User
    from webapp.shares import service

    with app.app_context():
        owner = db.session.get(User, kim.id)
        link = service.create_share(owner, service.Target(media_id=media_id, album_id=album_id,
                                                          media_ids=tuple(media_ids)), service.Options(**options))
        return link.token, link.id


def views_of(app, link_id: str) -> int:
    from webapp.extensions import db
    from webapp.models import ShareLink

    with app.app_context():
        return db.session.get(ShareLink, link_id).views


def album_of(app, kim, title: str, photos: list[dict]) -> str:
    from webapp.albums import service as albums
    from webapp.extensions import db
    from webapp.media import service as media
    from webapp.models import User

    with app.app_context():
        owner = db.session.get(User, kim.id)
        album = albums.create_album(owner, title)
        albums.add_photos(album, media.get_many_for(owner, [photo["id"] for photo in photos]))
        return album.id


def served_size(client, url: str) -> tuple[int, int]:
    response = client.get(local(url))
    assert response.status_code == 200, url
    return decode(response.data).size


def assert_is_a_photo(client, answer: dict) -> None:
    assert answer["version"] == "1.0" and answer["type"] == "photo"
    assert answer["provider_name"] == "Shoebox" and answer["provider_url"] == BASE + "/"
    assert served_size(client, answer["url"]) == (answer["width"], answer["height"])


# --- public photos ------------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["/embed/{id}", "/i/{id}.jpg", "/i/{id}", "/i/{id}?size=thumb", "/photos/{id}"])
def test_every_address_of_a_public_photo_embeds_it_as_a_photo(client, kim_named, form):
    photo = upload(kim_named, title="Beach at noon")
    response = oembed(client, BASE + form.format(id=photo["id"]))
    assert response.status_code == 200 and response.mimetype == "application/json"
    answer = response.get_json()
    assert_is_a_photo(client, answer)
    assert answer["title"] == "Beach at noon"
    assert answer["author_name"] == "Kim Lee"
    assert "kim@example.com" not in response.get_data(as_text=True)


def test_a_photo_is_given_at_its_largest_size_within_maxwidth_and_maxheight(client, kim):
    photo = upload(kim, make_jpeg(size=(3000, 2000)))
    url = f"{BASE}/embed/{photo['id']}"
    unbounded = oembed(client, url).get_json()
    assert (unbounded["width"], unbounded["height"]) == (2560, 1707)
    assert_is_a_photo(client, unbounded)
    bounded = oembed(client, url, maxwidth=1000, maxheight=900).get_json()
    assert bounded["width"] <= 1000 and bounded["height"] <= 900 and bounded["width"] == 800
    assert_is_a_photo(client, bounded)
    tall_and_narrow = oembed(client, url, maxheight=300).get_json()
    assert tall_and_narrow["height"] <= 300 or tall_and_narrow["type"] == "link"


def test_when_no_size_fits_the_answer_is_a_link_without_a_picture(client, kim):
    photo = upload(kim, make_jpeg(size=(3000, 2000)), title="Wide")
    answer = oembed(client, f"{BASE}/embed/{photo['id']}", maxwidth=100).get_json()
    assert answer["type"] == "link" and answer["title"] == "Wide"
    assert "url" not in answer and "thumbnail_url" not in answer


def test_an_animation_is_embedded_as_its_own_file_so_it_keeps_moving(client, kim):
    frames = [Image.new("RGB", (40, 30), colour) for colour in ("red", "green", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    photo = upload(kim, buffer.getvalue(), "spin.gif")
    answer = oembed(client, f"{BASE}/embed/{photo['id']}").get_json()
    assert answer["url"] == photo["url"]
    assert_is_a_photo(client, answer)
    assert decode(client.get(local(answer["url"])).data).n_frames == 3


@pytest.mark.parametrize("form", ["/embed/{id}", "/i/{id}.jpg", "/photos/{id}"])
def test_a_private_photo_is_404(client, kim, form):
    photo = upload(kim, public=False)
    assert oembed(client, BASE + form.format(id=photo["id"])).status_code == 404


def test_xml_is_not_offered(client, kim):
    photo = upload(kim)
    assert oembed(client, f"{BASE}/embed/{photo['id']}", format="xml").status_code == 501


@pytest.mark.parametrize("url", ["https://elsewhere.net/embed/{id}", "https://shoebox.test/embed/{id}",
                                 "http://shoebox.test.evil.net/embed/{id}", "http://shoebox.test/albums",
                                 "http://shoebox.test/embed/nope", "http://shoebox.test/s/no-such-token",
                                 "http://shoebox.test/i/{id}/edit", "not a url", "http://["])
def test_an_unknown_or_foreign_address_is_404(client, kim, url):
    photo = upload(kim)
    assert oembed(client, url.format(id=photo["id"])).status_code == 404


def test_the_url_and_sizes_are_checked_naming_the_parameter(client, kim):
    photo = upload(kim)
    missing = client.get("/oembed", headers={"Accept": "application/json"})
    assert missing.status_code == 400 and missing.get_json()["error"]["field"] == "url"
    bad = client.get("/oembed?" + urlencode({"url": f"{BASE}/embed/{photo['id']}", "maxwidth": "wide"}),
                     headers={"Accept": "application/json"})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "maxwidth"


def test_the_embed_page_announces_its_oembed_and_preview_tags(client, kim):
    photo = upload(kim, title="Beach at noon")
    page = client.get(f"/embed/{photo['id']}").get_data(as_text=True)
    discovery = re.search(r'<link rel="alternate" type="application/json\+oembed" href="([^"]+)"', page)
    assert discovery, "no oEmbed discovery tag"
    answer = client.get(local(html.unescape(discovery.group(1)))).get_json()
    assert answer["type"] == "photo" and answer["title"] == "Beach at noon"
    image = re.search(r'<meta property="og:image" content="([^"]+)"', page).group(1)
    assert client.get(local(html.unescape(image))).status_code == 200
    assert '<meta name="twitter:card" content="summary_large_image">' in page
    assert re.search(r'<meta name="twitter:image" content="[^"]+"', page)


def test_a_private_photos_embed_page_announces_no_oembed(kim):
    photo = upload(kim, public=False)
    page = kim.get(f"/embed/{photo['id']}").get_data(as_text=True)
    assert "json+oembed" not in page and "og:image" not in page


# --- share links --------------------------------------------------------------------------------

def test_a_plain_one_photo_link_embeds_its_photo_without_using_a_view(app, client, kim_named):
    photo = upload(kim_named, public=False, title="Our cat")
    token, link_id = share(app, kim_named, media_id=photo["id"])
    answer = oembed(client, f"{BASE}/s/{token}").get_json()
    assert_is_a_photo(client, answer)
    assert answer["url"].startswith(f"{BASE}/s/{token}/p/{photo['id']}/")
    assert answer["title"] == "Our cat" and answer["author_name"] == "Kim Lee"
    assert views_of(app, link_id) == 0


def test_an_album_link_is_a_card_with_its_title_owner_and_a_picture(app, client, kim_named):
    photos = [upload(kim_named, public=False), upload(kim_named, public=False)]
    token, _link_id = share(app, kim_named, album_id=album_of(app, kim_named, "Summer 2024", photos))
    response = oembed(client, f"{BASE}/s/{token}", maxwidth=500)
    answer = response.get_json()
    assert answer["type"] == "link" and answer["title"] == "Summer 2024"
    assert answer["author_name"] == "Kim Lee" and answer["provider_name"] == "Shoebox"
    assert "kim@example.com" not in response.get_data(as_text=True)
    assert answer["thumbnail_width"] <= 500
    assert served_size(client, answer["thumbnail_url"]) == (answer["thumbnail_width"], answer["thumbnail_height"])


def test_a_selection_link_is_a_card_that_says_how_many_photos(app, client, kim):
    photos = [upload(kim, public=False) for _ in range(3)]
    token, _link_id = share(app, kim, media_ids=[photo["id"] for photo in photos])
    answer = oembed(client, f"{BASE}/s/{token}").get_json()
    assert answer["type"] == "link" and answer["title"] == "3 photos"
    assert "thumbnail_url" in answer


@pytest.mark.parametrize("protection", [{"password": "open sesame"}, {"max_views": 1}],
                         ids=["password", "view-limit"])
@pytest.mark.parametrize("kind", ["photo", "album"])
def test_a_protected_link_is_a_card_with_no_picture_and_nothing_about_its_photos(app, client, kim_named,
                                                                                  protection, kind):
    photo = upload(kim_named, public=False, title="Our cat")
    target = {"media_id": photo["id"]} if kind == "photo" else \
        {"album_id": album_of(app, kim_named, "Family only", [photo])}
    token, link_id = share(app, kim_named, **target, **protection)
    response = oembed(client, f"{BASE}/s/{token}")
    answer = response.get_json()
    assert response.status_code == 200 and answer["type"] == "link"
    assert answer["author_name"] == "Kim Lee" and answer["title"] == "Shared with you by Kim Lee"
    text = response.get_data(as_text=True)
    assert not {"url", "thumbnail_url", "width", "height"} & answer.keys()
    for secret in (photo["id"], "Our cat", "Family only", "beach.jpg"):
        assert secret not in text
    assert response.headers["Cache-Control"] == "private, no-store"
    assert views_of(app, link_id) == 0


def test_asking_ten_times_about_a_one_view_link_leaves_its_view_to_the_recipient(app, client, kim):
    photo = upload(kim, public=False)
    token, link_id = share(app, kim, media_id=photo["id"], max_views=1)
    for _ in range(10):
        answer = oembed(client, f"{BASE}/s/{token}").get_json()
        assert answer["type"] == "link" and "thumbnail_url" not in answer
    assert views_of(app, link_id) == 0
    recipient = app.test_client()
    gate = recipient.get(f"/s/{token}").get_data(as_text=True)
    from tests.fixtures.accounts import csrf_token_from

    opened = recipient.post(f"/s/{token}", data={"csrf_token": csrf_token_from(gate)})
    assert opened.status_code == 303
    assert recipient.get(f"/s/{token}").status_code == 200
    assert views_of(app, link_id) == 1


@pytest.mark.parametrize("state", ["revoked", "expired", "used_up"])
def test_a_link_that_no_longer_opens_is_404(app, client, kim, state):
    from webapp.extensions import db
    from webapp.models import ShareLink, utcnow
    from webapp.shares import service

    photo = upload(kim, public=False)
    token, link_id = share(app, kim, media_id=photo["id"], max_views=1 if state == "used_up" else None)
    with app.app_context():
        link = db.session.get(ShareLink, link_id)
        if state == "revoked":
            service.revoke_share(link)
        elif state == "expired":
            link.expires_at = utcnow() - timedelta(minutes=1)
        else:
            link.views = 1
        db.session.commit()
    assert oembed(client, f"{BASE}/s/{token}").status_code == 404


def test_the_recipients_page_announces_its_oembed(app, client, kim):
    photo = upload(kim, public=False, title="Our cat")
    token, _link_id = share(app, kim, media_id=photo["id"])
    page = client.get(f"/s/{token}").get_data(as_text=True)
    discovery = re.search(r'<link rel="alternate" type="application/json\+oembed" href="([^"]+)"', page)
    assert discovery, "no oEmbed discovery tag"
    answer = client.get(local(html.unescape(discovery.group(1)))).get_json()
    assert answer["type"] == "photo" and answer["title"] == "Our cat"
