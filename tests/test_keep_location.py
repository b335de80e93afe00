"""The account setting that keeps the location of new uploads: the settings page, and what it changes."""

from __future__ import annotations

import io
import re

import pytest

from tests.fixtures.accounts import csrf_token_from
from tests.fixtures.media import corpus_file

HTMX = {"HX-Request": "true"}


def keep_location_of(app, user_id) -> bool:
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        return db.session.get(User, user_id).keep_location


def audit_actions(app) -> list[str]:
    from webapp.extensions import db
    from webapp.models import AuditEvent

    with app.app_context():
        return [e.action for e in db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id))]


def save(client, **form):
    token = csrf_token_from(client.get("/settings/").get_data(as_text=True))
    return client.post("/settings/photos", data={"csrf_token": token, **form}, headers={**HTMX, "X-CSRFToken": token})


def test_settings_page_explains_the_setting_unticked_by_default(client, make_user, auth):
    make_user(username="kim")
    auth.login("kim")
    page = client.get("/settings/").get_data(as_text=True)
    assert "Keep the location of photos I upload" in page
    assert "Photos you have already uploaded do not change." in page
    [box] = re.findall(r'<input[^>]*id="photos-keep_location"[^>]*>', page)
    assert 'type="checkbox"' in box and "checked" not in box


def test_ticking_the_box_keeps_locations_and_unticking_removes_them_again(app, client, make_user, auth):
    user_id = make_user(username="kim")
    auth.login("kim")
    response = save(client, **{"photos-keep_location": "y"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.startswith('<section id="photos"')  # only the section comes back
    assert "Photo settings saved." in html
    assert "checked" in re.search(r'<input[^>]*id="photos-keep_location"[^>]*>', html).group(0)
    assert keep_location_of(app, user_id) is True
    save(client)  # an unticked box is not sent at all
    assert keep_location_of(app, user_id) is False
    assert audit_actions(app).count("keep_location_changed") == 2


def test_without_javascript_saving_goes_back_to_the_settings_page(app, client, make_user, auth):
    user_id = make_user(username="kim")
    auth.login("kim")
    token = csrf_token_from(client.get("/settings/").get_data(as_text=True))
    response = client.post("/settings/photos", data={"csrf_token": token, "photos-keep_location": "y"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/settings/")
    assert keep_location_of(app, user_id) is True


def test_a_post_without_csrf_changes_nothing(app, client, make_user, auth):
    user_id = make_user(username="kim")
    auth.login("kim")
    response = client.post("/settings/photos", data={"photos-keep_location": "y"})
    assert response.status_code == 400
    assert keep_location_of(app, user_id) is False


@pytest.mark.parametrize("keep", [False, True])
def test_the_setting_decides_whether_a_new_upload_keeps_its_gps_position(app, kim, keep):
    from PIL import Image

    from webapp.extensions import db
    from webapp.models import Media

    kim.test_client.patch("/api/v1/account", json={"keep_location": keep}, headers=kim.headers)
    body = kim.upload(corpus_file("photos", "DSCN0010.jpg").read_bytes(), "DSCN0010.jpg").get_json()
    stored = Image.open(io.BytesIO(kim.get(f"/i/{body['id']}").data))
    assert bool(set(stored.getexif().get_ifd(0x8825)) - {0}) is keep  # 0 is only the GPS version
    with app.app_context():
        media = db.session.get(Media, body["id"])
        assert (media.latitude is not None) is keep  # what the photo page shows its owner
