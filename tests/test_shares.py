"""Share links as their owner makes and changes them (the service, without HTTP)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.fixtures.media import make_jpeg


@pytest.fixture
def owner(app, kim):
    """kim, with three photos and an album holding the first two; yields (app context, user, ids, album id)."""
    from webapp.albums import service as albums
    from webapp.extensions import db
    from webapp.media import service as media_service
    from webapp.models import User

    ids = [kim.upload(make_jpeg(colour=(n * 60, 20, 20))).get_json()["id"] for n in range(3)]
    with app.app_context():
        user = db.session.get(User, kim.id)
        album = albums.create_album(user, "Holidays")
        albums.add_photos(album, media_service.get_many_for(user, ids[:2]))
        yield user, ids, album.id


def share(user, options=None, **target):
    from webapp.shares import service

    return service.create_share(user, service.Target(**target), options or service.Options())


def test_a_new_link_has_a_long_random_url_safe_token_and_is_active(owner):
    from webapp.shares import service

    user, ids, _album = owner
    first, second = share(user, media_id=ids[0]), share(user, media_id=ids[0])
    assert len(first.token) >= 22 and first.token != second.token
    assert all(c.isalnum() or c in "-_" for c in first.token)
    assert first.token_hash == service.token_hash(first.token) and first.token not in first.token_hash
    assert service.status_of(first) == "active"


def test_status_says_revoked_before_expired_before_used_up(owner):
    from webapp.shares import service

    user, ids, _album = owner
    link = share(user, service.Options(max_views=1), media_id=ids[0])
    now = datetime.now(timezone.utc)
    link.views = 1
    assert service.status_of(link, now) == "used_up"
    link.expires_at = now - timedelta(seconds=1)
    assert service.status_of(link, now) == "expired"
    link.revoked_at = now
    assert service.status_of(link, now) == "revoked"


def test_exactly_one_target_is_required_and_the_error_names_the_field(owner):
    from webapp.errors import InvalidInput
    from webapp.shares import service

    user, ids, album_id = owner
    with pytest.raises(InvalidInput) as error:
        service.create_share(user, service.Target(media_id=ids[0], album_id=album_id), service.Options())
    assert error.value.field == "album_id"
    with pytest.raises(InvalidInput):
        service.create_share(user, service.Target(), service.Options())


def test_another_persons_photo_or_album_cannot_be_shared(owner, make_user):
    from webapp.errors import NotFound
    from webapp.extensions import db
    from webapp.models import User

    _user, ids, album_id = owner
    other = db.session.get(User, make_user())
    for target in ({"media_id": ids[0]}, {"album_id": album_id}, {"media_ids": (ids[1],)}):
        with pytest.raises(NotFound):
            share(other, **target)


def test_settings_are_checked_and_each_error_names_its_field(owner):
    from webapp.errors import InvalidInput
    from webapp.shares import service

    user, ids, album_id = owner
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    bad = [(service.Options(expires_at=past), "expires_at"),
           (service.Options(max_views=0), "max_views"),
           (service.Options(max_downloads=-3), "max_downloads"),
           (service.Options(note="x" * 2001), "note"),
           (service.Options(allow_upload=True), "allow_upload")]
    for options, field in bad:
        with pytest.raises(InvalidInput) as error:
            share(user, options, media_id=ids[0])
        assert error.value.field == field
    assert share(user, service.Options(allow_upload=True, upload_max_files=5), album_id=album_id).allow_upload


def test_a_new_password_or_a_revocation_voids_every_remembered_visit(owner):
    from webapp.shares import service

    user, ids, _album = owner
    link = share(user, service.Options(password="sesame"), media_id=ids[0])
    assert link.password_hash.startswith("$argon2") and "sesame" not in link.password_hash
    version = link.password_version
    changes = service.unchanged()
    changes.password = "open sesame"
    service.update_share(link, changes)
    assert link.password_version == version + 1
    assert service.password_matches(link, "open sesame") and not service.password_matches(link, "sesame")
    service.revoke_share(link)
    assert link.password_version == version + 2 and service.status_of(link) == "revoked"


def test_an_update_changes_only_the_settings_it_names(owner):
    from webapp.shares import service

    user, ids, _album = owner
    link = share(user, service.Options(note="For grandma", max_views=5, password="pw"), media_id=ids[0])
    changes = service.unchanged()
    changes.max_downloads = 2
    service.update_share(link, changes)
    assert (link.note, link.max_views, link.max_downloads) == ("For grandma", 5, 2)
    assert link.password_hash is not None


def test_a_selection_keeps_the_owners_order_and_the_list_describes_each_link(owner):
    from webapp.shares import service

    user, ids, album_id = owner
    chosen = share(user, media_ids=(ids[2], ids[0]))
    assert service.selection_ids(chosen) == [ids[2], ids[0]]
    share(user, album_id=album_id)
    listed = service.shares_of(user)
    assert [item.link.kind for item in listed] == ["album", "selection"]
    assert listed[0].title == "Holidays" and listed[0].count == 2
    assert listed[1].count == 2 and listed[1].cover.id == ids[2]


def test_deleting_the_photo_deletes_its_link_and_leaves_the_album_link(owner):
    from webapp.extensions import db
    from webapp.media import service as media_service
    from webapp.models import ShareLink

    user, ids, album_id = owner
    photo_link, album_link = share(user, media_id=ids[0]), share(user, album_id=album_id)
    photo_id, album_link_id = photo_link.id, album_link.id
    media_service.delete_media(media_service.get_media_for(user, ids[0], manage=True))
    db.session.expire_all()
    assert db.session.get(ShareLink, photo_id) is None
    assert db.session.get(ShareLink, album_link_id) is not None


def test_the_owner_sees_their_own_one_view_link_without_using_it_up(app, kim, auth, client):
    from webapp.extensions import db
    from webapp.models import ShareLink, User
    from webapp.shares import service

    image_id = kim.upload(make_jpeg()).get_json()["id"]
    with app.app_context():
        link = share(db.session.get(User, kim.id), service.Options(max_views=1, password="pw"), media_id=image_id)
        token, link_id = link.token, link.id
    auth.login("kim")
    page = client.get(f"/s/{token}")
    assert page.status_code == 200 and f"/s/{token}/p/{image_id}/large" in page.get_data(as_text=True)
    assert client.get(f"/s/{token}/p/{image_id}/large").status_code == 200
    with app.app_context():
        assert db.session.get(ShareLink, link_id).views == 0
    stranger = app.test_client()
    assert stranger.get(f"/s/{token}").status_code == 401


def test_a_guest_upload_lands_in_the_album_marked_with_the_guests_name(app, kim, auth, client):
    from tests.fixtures.accounts import csrf_token_from
    from tests.fixtures.media import multipart
    from webapp.albums import service as albums
    from webapp.extensions import db
    from webapp.models import Media, ShareLink, User
    from webapp.shares import service

    with app.app_context():
        user = db.session.get(User, kim.id)
        album = albums.create_album(user, "Party")
        link = share(user, service.Options(allow_upload=True, upload_max_files=2), album_id=album.id)
        token, link_id, album_id = link.token, link.id, album.id
    guest = app.test_client()
    csrf = csrf_token_from(guest.get(f"/s/{token}").get_data(as_text=True))
    body, content_type = multipart({"file": (make_jpeg(), "IMG_0001.jpg"), "name": "Aunt Mia"})
    sent = guest.post(f"/s/{token}/upload", data=body, content_type=content_type, headers={"X-CSRFToken": csrf})
    assert sent.status_code == 201, sent.get_data(as_text=True)
    media_id = sent.get_json()["id"]
    with app.app_context():
        media = db.session.get(Media, media_id)
        assert (media.guest_name, media.guest_share_id, media.is_public) == ("Aunt Mia", link_id, False)
        assert [m.id for m in albums.photos_in(db.session.get(type(album), album_id))] == [media_id]
        assert db.session.get(ShareLink, link_id).uploaded_files == 1
    auth.login("kim")
    assert "Aunt Mia, a guest, through a share link" in client.get(f"/photos/{media_id}").get_data(as_text=True)


def test_a_guest_file_over_the_links_byte_cap_is_refused_from_its_length_before_it_is_read(app, kim):
    from tests.fixtures.accounts import csrf_token_from
    from webapp.albums import service as albums
    from webapp.extensions import db
    from webapp.models import User
    from webapp.shares import service

    with app.app_context():
        user = db.session.get(User, kim.id)
        album = albums.create_album(user, "Party")
        token = share(user, service.Options(allow_upload=True, upload_max_bytes=100_000), album_id=album.id).token
    guest = app.test_client()
    csrf = csrf_token_from(guest.get(f"/s/{token}").get_data(as_text=True))
    # Not even a valid form: the length alone is enough to say no.
    sent = guest.post(f"/s/{token}/upload", data=b"x" * 300_000, content_type="multipart/form-data; boundary=zz",
                      headers={"X-CSRFToken": csrf, "Accept": "application/json"})
    assert sent.status_code == 413 and sent.get_json()["error"]["code"] == "upload_bytes_used_up"
