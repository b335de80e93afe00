"""What a share link's recipient reads: the owner's display name and never their email, the note as
text, camera and date only when allowed, pages that say why a link does not open, German on request."""

from __future__ import annotations

import io
import re

import pytest
from PIL import ExifTags, Image

from tests.fixtures.media import make_jpeg, multipart
from tests.fixtures.shares import change_link, csrf_of, expire_link, make_link, open_link

GERMAN = {"Accept-Language": "de-DE,de;q=0.9"}


def jpeg_from_a_camera() -> bytes:
    """A small JPEG whose EXIF names its camera and the moment it was taken."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Canon"
    exif[ExifTags.Base.Model] = "Canon EOS 40D"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2021:07:14 16:20:00"
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 120, 200)).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


@pytest.fixture
def owner(app, kim):
    """kim, shown to recipients as Kim Lee."""
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        db.session.get(User, kim.id).display_name = "Kim Lee"
        db.session.commit()
    return kim


def make_album(app, owner, photo_ids: list[str], title="Lake weekend") -> str:
    from webapp.albums import service
    from webapp.extensions import db
    from webapp.models import Media, User

    with app.app_context():
        album = service.create_album(db.session.get(User, owner.id), title)
        service.add_photos(album, [db.session.get(Media, media_id) for media_id in photo_ids])
        return album.id


def upload(owner, count: int) -> list[str]:
    return [owner.upload(make_jpeg(colour=(n * 40 % 256, 90, 160)), name=f"p{n}.jpg").get_json()["id"]
            for n in range(count)]


def test_album_page_follows_accept_language_into_german(app, owner, client):
    album = make_album(app, owner, upload(owner, 3))
    link = make_link(app, owner.id, album_id=album, allow_upload=True, note="Viel Spaß!")
    page = client.get(link.url, headers=GERMAN).get_data(as_text=True)
    assert '<html lang="de' in page
    for german in ("Geteilt von Kim Lee", "3 Fotos", "Alle herunterladen", "Eigene Fotos hinzufügen", "Ihr Name",
                   "Fotos auswählen", 'data-position="{n} von {total}"', "Nächstes Foto"):
        assert german in page, german
    assert "Download all" not in page and "Shared by" not in page


def test_view_limited_link_counts_what_is_left_in_german_singular_and_plural(app, owner, client):
    photo = upload(owner, 1)[0]
    once = make_link(app, owner.id, media_id=photo, max_views=1)
    thrice = make_link(app, owner.id, media_id=photo, max_views=3)
    assert "Dieser Link lässt sich noch 1 Mal öffnen" in client.get(once.url, headers=GERMAN).get_data(as_text=True)
    english = client.get(thrice.url).get_data(as_text=True)
    assert "This link can be opened 3 more times: press Open when you are ready to look." in english
    assert "This link can be opened 1 more time:" in client.get(once.url).get_data(as_text=True)


def test_password_page_asks_in_german_and_says_when_the_password_is_wrong(app, owner, client):
    link = make_link(app, owner.id, media_id=upload(owner, 1)[0], password="lake house")
    gate = client.get(link.url, headers=GERMAN)
    assert gate.status_code == 401
    assert "Kim Lee hat ein Foto mit Ihnen geteilt" in gate.get_data(as_text=True)
    wrong = open_link(client, link, password="sea house", headers=GERMAN)
    assert wrong.status_code == 401 and "Dieses Passwort stimmt nicht." in wrong.get_data(as_text=True)
    assert 'aria-invalid="true"' in wrong.get_data(as_text=True)


def test_owner_email_is_on_no_page_a_recipient_can_reach(app, owner, client):
    photos = upload(owner, 3)
    album = make_album(app, owner, photos)
    open_album = make_link(app, owner.id, album_id=album, allow_upload=True)
    guarded = make_link(app, owner.id, album_id=album, password="lake house")
    limited = make_link(app, owner.id, media_id=photos[0], max_views=2)
    gone = make_link(app, owner.id, media_id=photos[1])
    expire_link(app, gone)
    pages = [client.get(open_album.url), client.get(f"{open_album.url}/p/{photos[1]}"),
             client.get(f"{open_album.url}/p/{photos[1]}.json"), client.get(f"{open_album.url}/more"),
             client.get(guarded.url), client.get(limited.url), client.get(gone.url), client.get("/s/no-such-link")]
    for response in pages:
        text = response.get_data(as_text=True)
        assert "kim@example.com" not in text and "kim@" not in text, response.request.path
    assert "Kim Lee" in pages[0].get_data(as_text=True) and "Kim Lee" in pages[4].get_data(as_text=True)


def test_note_with_markup_shows_as_text(app, owner, client):
    note = 'Look! <script>alert("hi")</script> <b>bold</b>\nsecond line'
    link = make_link(app, owner.id, media_id=upload(owner, 1)[0], note=note)
    page = client.get(link.url).get_data(as_text=True)
    assert "<script>alert" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#34;hi&#34;)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;\nsecond line" in page


def test_camera_and_date_show_only_when_the_owner_allowed(app, owner, client):
    photo = owner.upload(jpeg_from_a_camera(), name="jetty.jpg").get_json()["id"]
    hidden = client.get(make_link(app, owner.id, media_id=photo).url).get_data(as_text=True)
    assert "Canon EOS 40D" not in hidden and "2021" not in hidden
    shown = make_link(app, owner.id, media_id=photo, show_metadata=True)
    page = client.get(shown.url).get_data(as_text=True)
    assert "Canon EOS 40D\u00a0· July 14, 2021" in page
    assert "Canon EOS 40D\u00a0· 14. Juli 2021" in client.get(shown.url, headers=GERMAN).get_data(as_text=True)


@pytest.mark.parametrize("state, heading, reason", [
    ("expired", "This link has expired", "Its owner set it to stop working after a while."),
    ("revoked", "This link was withdrawn", "Its owner has turned it off"),
    ("used_up", "This link has been used up", "It could be opened only a set number of times"),
])
def test_a_link_that_no_longer_opens_says_which_and_what_to_do(app, owner, client, state, heading, reason):
    link = make_link(app, owner.id, media_id=upload(owner, 1)[0], max_views=1 if state == "used_up" else None)
    if state == "expired":
        expire_link(app, link)
    elif state == "revoked":
        change_link(app, link, revoked=True)
    else:
        open_link(app.test_client(), link)  # someone else took the one view
    response = client.get(link.url)
    page = response.get_data(as_text=True)
    assert response.status_code == 410
    assert f"<h1 id=\"message-title\">{heading}</h1>" in page and reason in page
    assert "ask the person who sent you this link for a new one" in page
    assert "/login" not in page and "/signup" not in page


def test_a_gone_link_says_which_in_german(app, owner, client):
    link = make_link(app, owner.id, media_id=upload(owner, 1)[0])
    change_link(app, link, revoked=True)
    page = client.get(link.url, headers=GERMAN).get_data(as_text=True)
    assert "Dieser Link wurde zurückgezogen" in page and "um einen neuen" in page


def test_unknown_link_page_says_to_check_the_link_and_leads_nowhere_else(owner, client):
    response = client.get("/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    page = response.get_data(as_text=True)
    assert response.status_code == 404 and "There is nothing at this link" in page
    assert "Check that you opened the whole link" in page and "/login" not in page


def test_recipient_pages_need_no_inline_script_or_style(app, owner, client):
    photos = upload(owner, 2)
    album = make_link(app, owner.id, album_id=make_album(app, owner, photos), allow_upload=True, note="hi")
    photo = make_link(app, owner.id, media_id=photos[0], show_metadata=True)
    for path in (album.url, photo.url, f"{album.url}/p/{photos[1]}", "/s/no-such-link"):
        page = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), path
        assert not re.search(r"\sstyle=|\son[a-z]+=", page), path


def test_guest_upload_without_javascript_comes_back_to_the_album_with_thanks(app, owner, client):
    album = make_album(app, owner, upload(owner, 1))
    link = make_link(app, owner.id, album_id=album, allow_upload=True)
    client.get(link.url)
    body, content_type = multipart({"csrf_token": csrf_of(client), "then": "page", "name": "Aunt Mia",
                                    "file": (make_jpeg(colour=(1, 2, 3)), "mine.jpg")})
    sent = client.post(f"{link.url}/upload", data=body, content_type=content_type)
    assert sent.status_code == 303 and sent.headers["Location"].endswith(f"{link.url}?added=1#guest-upload")
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Thank you: your photo was added to the album." in page and "2 photos" in page


def test_download_buttons_go_once_the_downloads_are_used_up(app, owner, client):
    photo = upload(owner, 1)[0]
    link = make_link(app, owner.id, media_id=photo, max_downloads=1)
    assert "Download original" in client.get(link.url).get_data(as_text=True)
    assert client.get(f"{link.url}/p/{photo}/original").status_code == 200
    page = client.get(link.url).get_data(as_text=True)
    assert "Download original" not in page and f"/p/{photo}/original" not in page
    off = make_link(app, owner.id, media_id=photo, allow_download=False)
    assert "/original" not in client.get(off.url).get_data(as_text=True)


def test_a_sub_page_of_a_password_link_asks_for_the_password_not_a_login(app, kim, client):
    from webapp.extensions import db
    from webapp.models import User
    from webapp.shares import service

    image_id = kim.upload(make_jpeg()).get_json()["id"]
    with app.app_context():
        link = service.create_share(db.session.get(User, kim.id), service.Target(media_id=image_id),
                                    service.Options(password="sesame"))
        token = link.token
    page = client.get(f"/s/{token}/p/{image_id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 401
    assert "Password needed" in text and "log in" not in text.lower()
    assert f'href="/s/{token}"' in text
