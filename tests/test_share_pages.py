"""The owner's share pages: the share dialog (photo, album, selection), editing, revoking, deleting,
QR codes, the Shared links page and a photo's or an album's own links; owner only, CSRF always."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.fixtures.accounts import csrf_token_from
from tests.fixtures.media import make_jpeg

HTMX = {"HX-Request": "true"}


@pytest.fixture
def owner(app, client, make_user, auth, tmp_path):
    """kim, logged in through the real form, with two photos and an album holding the first."""
    from webapp.albums import service as albums
    from webapp.extensions import db
    from webapp.media import service as media
    from webapp.models import Media, User

    make_user(email="kim@example.com", username="kim")
    with app.app_context():
        kim = db.session.scalar(db.select(User).where(User.username == "kim"))
        ids = []
        for n, colour in enumerate([(200, 30, 30), (30, 30, 200)]):
            path = tmp_path / f"in-{n}.jpg"
            path.write_bytes(make_jpeg(colour=colour))
            ids.append(media.store_upload(kim, media.Incoming(path, f"photo-{n}.jpg"), title=f"Beach {n}").id)
        album = albums.create_album(kim, "Holiday")
        albums.add_photos(album, [db.session.get(Media, ids[0])])
        album_id = album.id
    auth.login("kim")

    class Owner:
        photos = ids
        album = album_id
        token = csrf_token_from(client.get("/shares").get_data(as_text=True))
    return Owner()


def links(app):
    from webapp.extensions import db
    from webapp.models import ShareLink

    with app.app_context():
        rows = db.session.scalars(db.select(ShareLink).order_by(ShareLink.created_at)).all()
        db.session.expunge_all()
        return rows


def create(client, owner, target: dict, **fields):
    """Post the share dialog's form as htmx does, with `target` (image_id, album_id or ids) and fields."""
    data = {"share-csrf_token": owner.token, "share-expiry": "never", "share-allow_download": "y", **target}
    data.update({f"share-{name}": value for name, value in fields.items()})
    return client.post("/shares", data=data, headers=HTMX)


def test_share_dialog_makes_a_photo_link_and_shows_its_address_with_copy_and_qr_code(app, client, owner):
    dialog = client.get(f"/shares/new?image_id={owner.photos[0]}", headers=HTMX)
    assert dialog.status_code == 200
    html = dialog.get_data(as_text=True)
    assert html.lstrip().startswith("<dialog") and "Beach 0" in html
    assert 'name="share-allow_download" type="checkbox" value="y"' in html and " checked " in html
    assert "location is never shown" in html
    assert "share-allow_upload" not in html  # only album links take uploads

    answer = create(client, owner, {"image_id": owner.photos[0]}, label="Family", expiry="7d", note="For grandma")
    assert answer.status_code == 200
    assert answer.headers["HX-Trigger"] == "shares-changed"
    (link,) = links(app)
    page = answer.get_data(as_text=True)
    assert f"http://shoebox.test/s/{link.token}" in page
    assert f'data-share-copy="http://shoebox.test/s/{link.token}"' in page
    assert f'src="/shares/{link.id}/qr.svg"' in page and "Download QR code" in page
    assert (link.kind, link.media_id, link.label, link.note) == ("photo", owner.photos[0], "Family", "For grandma")
    assert link.allow_download and not link.show_metadata and link.password_hash is None
    assert timedelta(days=7) - timedelta(minutes=1) < link.expires_at - datetime.now(timezone.utc) <= timedelta(days=7)
    assert client.get(f"/s/{link.token}").status_code == 200


def test_album_link_takes_guest_uploads_with_a_file_count_and_megabytes(app, client, owner):
    dialog = client.get(f"/shares/new?album_id={owner.album}", headers=HTMX).get_data(as_text=True)
    assert "Holiday" in dialog and 'name="share-allow_upload"' in dialog and 'name="share-upload_max_bytes"' in dialog
    answer = create(client, owner, {"album_id": owner.album}, allow_upload="y", upload_max_files="5",
                    upload_max_bytes="20", show_metadata="y", max_views="3")
    assert answer.status_code == 200 and "Your link is ready" in answer.get_data(as_text=True)
    (link,) = links(app)
    assert (link.kind, link.album_id, link.allow_upload, link.upload_max_files) == ("album", owner.album, True, 5)
    assert link.upload_max_bytes == 20 * 1024 * 1024 and link.show_metadata and link.max_views == 3


def test_selection_bar_shares_the_selected_photos_in_their_order(app, client, owner):
    second, first = owner.photos[1], owner.photos[0]
    dialog = client.get(f"/shares/new?ids={second}&ids={first}", headers=HTMX).get_data(as_text=True)
    assert "2 photos" in dialog
    assert dialog.index(f'name="ids" value="{second}"') < dialog.index(f'name="ids" value="{first}"')
    # Without script the selection bar posts its form (with its own fields) to the same place.
    page = client.post("/shares/new", data={"csrf_token": owner.token, "ids": [first], "album_id": owner.album,
                                            "next": "/"})
    assert page.status_code == 200 and "1 photo" in page.get_data(as_text=True)
    assert "<html" in page.get_data(as_text=True)

    assert create(client, owner, {"ids": [second, first]}).status_code == 200
    (link,) = links(app)
    from webapp.shares import service
    with app.app_context():
        assert link.kind == "selection" and service.selection_ids(link) == [second, first]


def test_without_htmx_creating_redirects_to_the_links_page(app, client, owner):
    data = {"share-csrf_token": owner.token, "share-expiry": "1d", "image_id": owner.photos[0]}
    answer = client.post("/shares", data=data)
    (link,) = links(app)
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/shares/{link.id}")
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Link created." in page and f"/s/{link.token}" in page and "<html" in page


@pytest.mark.parametrize("fields, field, message", [
    ({"max_views": "0"}, "max_views", "at least 1"),
    ({"max_downloads": "many"}, "max_downloads", ""),
    ({"label": "x" * 81}, "label", ""),
    ({"expiry": "date"}, "expires_at", "Choose the last day"),
    ({"expiry": "date", "expires_at": "2001-02-03"}, "expires_at", "must be in the future"),
    ({"expiry": "date", "expires_at": (date.today() + timedelta(days=4000)).isoformat()}, "expires_at", "ten years"),
    ({"expiry": "forever"}, "expiry", ""),
])
def test_form_with_a_mistake_comes_back_with_200_and_the_error_beside_its_field(app, client, owner, fields,
                                                                                 field, message):
    answer = create(client, owner, {"image_id": owner.photos[0]}, **fields)
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    errors = re.search(rf'<ul class="field-errors" id="share-{field}-errors">(.*?)</ul>', html, re.S)
    assert errors, f"no error beside {field}"
    assert message in errors.group(1)
    assert html.lstrip().startswith('<form id="share-panel"')  # the dialog's content, swapped in place
    assert links(app) == []


def test_album_uploads_need_an_album_link_even_if_the_form_is_forged(app, client, owner):
    answer = create(client, owner, {"image_id": owner.photos[0]}, allow_upload="y")
    assert answer.status_code == 200 and links(app)[0].allow_upload is False  # a photo's form has no such field


def test_a_date_expiry_ends_with_that_day_in_the_browsers_time_zone(app, client, owner):
    day = date.today() + timedelta(days=30)
    create(client, owner, {"image_id": owner.photos[0]}, expiry="date", expires_at=day.isoformat(),
           tz="Europe/Berlin")
    create(client, owner, {"image_id": owner.photos[0]}, expiry="date", expires_at=day.isoformat(), tz="Mars/Base")
    berlin, unknown = links(app)
    midnight = datetime.combine(day + timedelta(days=1), datetime.min.time())
    assert berlin.expires_at == midnight.replace(tzinfo=ZoneInfo("Europe/Berlin"))
    assert unknown.expires_at == midnight.replace(tzinfo=timezone.utc)


def test_edit_changes_settings_and_an_empty_password_keeps_the_password(app, client, owner):
    create(client, owner, {"image_id": owner.photos[0]}, label="Forum", expiry="30d", password="sesame")
    (link,) = links(app)
    form = client.get(f"/shares/{link.id}/edit", headers=HTMX).get_data(as_text=True)
    assert 'value="Forum"' in form and "sesame" not in form and link.password_hash not in form
    assert "Leave this empty to keep it" in form and 'name="share-remove_password"' in form
    assert '<option selected value="keep">' in form

    def edit(**fields):
        data = {"share-csrf_token": owner.token, "share-expiry": "keep", "share-allow_download": "y",
                **{f"share-{k}": v for k, v in fields.items()}}
        return client.post(f"/shares/{link.id}/edit", data=data, headers=HTMX)

    answer = edit(label="Forum friends", max_views="10", max_downloads="2", note="Hello")
    assert answer.status_code == 200 and "Link saved" in answer.get_data(as_text=True)
    assert answer.headers["HX-Trigger"] == "shares-changed"
    (saved,) = links(app)
    assert (saved.label, saved.max_views, saved.max_downloads, saved.note) == ("Forum friends", 10, 2, "Hello")
    assert saved.password_hash == link.password_hash and saved.expires_at == link.expires_at

    edit(password="open sesame", expiry="never")
    (renewed,) = links(app)
    assert renewed.password_hash != link.password_hash and renewed.expires_at is None
    edit(remove_password="y", expiry="never", max_views="")  # a browser sends empty fields
    (open_link,) = links(app)
    assert open_link.password_hash is None and open_link.max_views is None  # emptied fields lift limits
    assert client.get(f"/s/{link.token}").status_code == 200


def test_without_htmx_editing_is_a_page_and_saving_redirects_to_the_link(app, client, owner):
    create(client, owner, {"image_id": owner.photos[0]}, label="Family")
    (link,) = links(app)
    page = client.get(f"/shares/{link.id}/edit").get_data(as_text=True)
    assert "<html" in page and 'value="Family"' in page and "data-close-dialog" not in page
    answer = client.post(f"/shares/{link.id}/edit", data={"share-csrf_token": owner.token, "share-expiry": "1h",
                                                          "share-label": "Friends"})
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/shares/{link.id}")
    assert "Link saved." in client.get(answer.headers["Location"]).get_data(as_text=True)
    (saved,) = links(app)
    assert saved.label == "Friends" and saved.allow_download is False  # an unticked box is a no


def test_an_edit_with_a_mistake_keeps_the_link_as_it_was(app, client, owner):
    create(client, owner, {"image_id": owner.photos[0]}, label="Family")
    (link,) = links(app)
    answer = client.post(f"/shares/{link.id}/edit", headers=HTMX, data={
        "share-csrf_token": owner.token, "share-expiry": "date", "share-expires_at": "2001-02-03",
        "share-label": "Changed"})
    assert answer.status_code == 200 and 'id="share-expires_at-errors"' in answer.get_data(as_text=True)
    assert links(app)[0].label == "Family"


def test_revoked_link_answers_410_and_its_row_says_revoked(app, client, owner):
    create(client, owner, {"image_id": owner.photos[0]})
    (link,) = links(app)
    answer = client.post(f"/shares/{link.id}/revoke", data={"csrf_token": owner.token}, headers=HTMX)
    assert answer.status_code == 200
    row = answer.get_data(as_text=True)
    assert f'id="share-{link.id}"' in row and "Revoked" in row and "/revoke" not in row
    assert client.get(f"/s/{link.token}").status_code == 410


def test_deleted_link_answers_404_and_leaves_the_list(app, client, owner):
    create(client, owner, {"image_id": owner.photos[0]})
    create(client, owner, {"image_id": owner.photos[1]})
    first, second = links(app)
    answer = client.post(f"/shares/{first.id}/delete", data={"csrf_token": owner.token})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/shares")
    assert client.get(f"/s/{first.token}").status_code == 404
    assert client.get(f"/shares/{first.id}").status_code == 404
    htmx = client.post(f"/shares/{second.id}/delete", data={"csrf_token": owner.token}, headers=HTMX)
    assert htmx.status_code == 200 and f"share-{second.id}" not in htmx.get_data(as_text=True)
    assert links(app) == []
    assert "No shared links" in client.get("/shares").get_data(as_text=True)


def test_qr_code_is_an_svg_file_of_the_link_for_its_owner_only(app, client, owner, make_user, auth):
    create(client, owner, {"image_id": owner.photos[0]}, label="Family")
    (link,) = links(app)
    answer = client.get(f"/shares/{link.id}/qr.svg")
    assert answer.status_code == 200 and answer.mimetype == "image/svg+xml"
    assert answer.headers["Content-Disposition"] == 'attachment; filename="qr-Family.svg"'
    assert "no-store" in answer.headers["Cache-Control"]
    svg = answer.get_data(as_text=True)
    assert "<svg" in svg and "<path" in svg and "<script" not in svg
    assert client.get("/shares/NoSuchLinkAtAll000000/qr.svg").status_code == 404
    auth.logout()
    assert client.get(f"/shares/{link.id}/qr.svg").status_code == 302  # to the login form
    make_user(email="eve@example.com", username="eve")
    auth.login("eve")
    assert client.get(f"/shares/{link.id}/qr.svg").status_code == 404


def test_another_user_gets_404_on_every_owner_route(app, client, owner, make_user, auth):
    create(client, owner, {"album_id": owner.album})
    (link,) = links(app)
    auth.logout()
    make_user(email="eve@example.com", username="eve")
    auth.login("eve")
    token = csrf_token_from(client.get("/shares").get_data(as_text=True))
    form = {"csrf_token": token, "share-csrf_token": token, "share-expiry": "never", "share-label": "Mine now"}
    answers = {
        "show": client.get(f"/shares/{link.id}"),
        "edit form": client.get(f"/shares/{link.id}/edit"),
        "edit": client.post(f"/shares/{link.id}/edit", data=form),
        "revoke": client.post(f"/shares/{link.id}/revoke", data=form),
        "delete": client.post(f"/shares/{link.id}/delete", data=form),
        "qr": client.get(f"/shares/{link.id}/qr.svg"),
        "photo's links": client.get(f"/photos/{owner.photos[0]}/shares"),
        "album's links": client.get(f"/albums/{owner.album}/shares"),
        "dialog for a photo": client.get(f"/shares/new?image_id={owner.photos[0]}"),
        "dialog for an album": client.get(f"/shares/new?album_id={owner.album}"),
        "dialog for a selection": client.get(f"/shares/new?ids={owner.photos[0]}"),
        "create for a photo": client.post("/shares", data={**form, "image_id": owner.photos[0]}),
        "create for an album": client.post("/shares", data={**form, "album_id": owner.album}),
    }
    assert {name: answer.status_code for name, answer in answers.items()} == {name: 404 for name in answers}
    assert link.token not in client.get("/shares").get_data(as_text=True)
    (still,) = links(app)
    assert still.label == "" and still.revoked_at is None


@pytest.mark.parametrize("path", ["/shares", "/shares/{id}/edit", "/shares/{id}/revoke", "/shares/{id}/delete"])
def test_every_post_needs_the_csrf_token(app, client, owner, path):
    create(client, owner, {"image_id": owner.photos[0]}, label="Family")
    (link,) = links(app)
    answer = client.post(path.format(id=link.id), data={"share-expiry": "never", "share-label": "Forged",
                                                        "image_id": owner.photos[0]})
    assert answer.status_code == 400
    (still,) = links(app)
    assert (still.label, still.revoked_at) == ("Family", None)
    assert client.get(f"/s/{link.token}").status_code == 200


def test_shared_links_page_shows_every_link_with_its_status_in_words(app, client, owner):
    from webapp.extensions import db
    from webapp.models import ShareLink

    for label in ("Open", "Old", "Once", "Closed"):
        create(client, owner, {"image_id": owner.photos[0]}, label=label, max_views="1" if label == "Once" else "")
    with app.app_context():
        rows = {row.label: row for row in db.session.scalars(db.select(ShareLink))}
        rows["Old"].expires_at = datetime.now(timezone.utc) - timedelta(hours=1)
        rows["Once"].views = 1
        rows["Closed"].revoked_at = datetime.now(timezone.utc)
        db.session.commit()
        open_id = rows["Open"].id
    page = client.get("/shares").get_data(as_text=True)
    status = dict(re.findall(r'<h3 class="share-title">(\w+)</h3>\s*<span class="badge[^"]*">([^<]+)</span>', page))
    assert status == {"Open": "Active", "Old": "Expired", "Once": "Used up", "Closed": "Revoked"}
    assert "1 of 1" in page and "/shares/" in page and "/stats" in page and "Beach 0" in page
    assert f'href="/shares/{open_id}/stats"' in page
    german = client.get("/shares", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Widerrufen" in german and "Abgelaufen" in german and "Aufgebraucht" in german


def test_main_navigation_leads_to_the_shared_links_page(client, owner):
    page = client.get("/").get_data(as_text=True)
    assert re.search(r'<a href="/shares"\s*>Shared</a>', page)


def test_photo_and_album_pages_open_the_dialog_and_list_their_own_links(app, client, owner):
    photo_page = client.get(f"/photos/{owner.photos[0]}").get_data(as_text=True)
    assert f'hx-get="/shares/new?image_id={owner.photos[0]}"' in photo_page
    assert f'hx-get="/photos/{owner.photos[0]}/shares"' in photo_page
    album_page = client.get(f"/albums/{owner.album}").get_data(as_text=True)
    assert f'hx-get="/shares/new?album_id={owner.album}"' in album_page
    assert f'hx-get="/albums/{owner.album}/shares"' in album_page

    empty = client.get(f"/photos/{owner.photos[0]}/shares", headers=HTMX).get_data(as_text=True)
    assert 'id="item-shares"' in empty and " hidden" in empty  # there, so a new link can appear in it
    create(client, owner, {"image_id": owner.photos[0]}, label="Family")
    create(client, owner, {"album_id": owner.album}, label="Club")
    photo_links = client.get(f"/photos/{owner.photos[0]}/shares", headers=HTMX).get_data(as_text=True)
    assert "Family" in photo_links and "Club" not in photo_links and "1 share link" in photo_links
    album_links = client.get(f"/albums/{owner.album}/shares", headers=HTMX).get_data(as_text=True)
    assert "Club" in album_links and "Family" not in album_links
    assert "<html" in client.get(f"/albums/{owner.album}/shares").get_data(as_text=True)  # a page without htmx


def test_qr_dialog_of_a_listed_link_shows_its_address(app, client, owner):
    create(client, owner, {"image_id": owner.photos[0]}, label="Family")
    (link,) = links(app)
    dialog = client.get(f"/shares/{link.id}", headers=HTMX).get_data(as_text=True)
    assert dialog.lstrip().startswith("<dialog") and f"/s/{link.token}" in dialog and "qr.svg" in dialog


def test_login_is_needed_for_the_owner_pages(client):
    assert client.get("/shares").status_code == 302
    assert client.get("/shares/new?image_id=x").status_code == 302
