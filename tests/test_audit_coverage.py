"""Every change of consequence is in the audit log: a scripted day of one person leaves the expected trail,
each event with its actor, target, client address, device, browser and the request id of the response."""

from __future__ import annotations

import pyotp
import pytest

from tests.fixtures.accounts import STRONG_PASSWORD, AuthActions
from tests.fixtures.media import make_jpeg, multipart

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Mobile/15E148 Safari/604.1")
ADDRESS = "203.0.113.7"


def events(app, **where):
    from webapp.extensions import db
    from webapp.models import AuditEvent

    with app.app_context():
        query = db.select(AuditEvent).filter_by(**where).order_by(AuditEvent.id)
        return [{"action": e.action, "actor_id": e.actor_id, "target": e.target, "ip": e.ip, "device": e.device,
                 "browser": e.browser, "request_id": e.request_id, "details": e.details}
                for e in db.session.scalars(query)]


@pytest.fixture
def phone(app, make_user):
    """A test client that is an iPhone at 203.0.113.7 (an admin exists, so sign-ups are ordinary)."""
    make_user(username="root", role="admin")
    client = app.test_client()
    client.environ_base.update({"REMOTE_ADDR": ADDRESS, "HTTP_USER_AGENT": IPHONE})
    return client


class Day:
    """The requests of the day, remembering each response's X-Request-ID with the action it should write."""

    def __init__(self, client):
        self.client, self.expected, self.token = client, [], None

    def do(self, action, method, path, target=None, **kwargs):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token and path.startswith("/api/") else {}
        response = getattr(self.client, method)(path, headers=headers, **kwargs)
        assert response.status_code < 400, (path, response.status_code, response.get_data(as_text=True)[:300])
        if action:
            self.expected.append((action, target, response.headers["X-Request-ID"]))
        return response


def test_a_scripted_day_leaves_the_expected_trail(app, phone):
    day = Day(phone)
    signup = day.do("signup", "post", "/api/v1/auth/signup",
                    json={"email": "dana@example.com", "username": "dana", "password": STRONG_PASSWORD})
    dana = signup.get_json()["user"]["id"]
    failed = phone.post("/api/v1/auth/login", json={"identifier": "dana", "password": "not the password"})
    assert failed.status_code == 401
    day.expected.append(("login_failed", "dana", failed.headers["X-Request-ID"]))
    day.token = day.do("login", "post", "/api/v1/auth/login",
                       json={"identifier": "dana", "password": STRONG_PASSWORD}).get_json()["access_token"]

    # Two-factor is set up in the browser: a web sign-in, the QR page, then a code from the app.
    browser = AuthActions(phone)
    day.expected.append(("login", None, browser.login("dana").headers["X-Request-ID"]))
    phone.get("/settings/two-factor")
    from webapp.extensions import db
    from webapp.models import User
    with app.app_context():
        secret = db.session.get(User, dana).totp_pending_secret
    day.do("two_factor_enabled", "post", "/settings/two-factor",
           data={"totp-code": pyotp.TOTP(secret).now(), "csrf_token": browser.csrf("/settings/")})

    body, content_type = multipart({"file": (make_jpeg(), "beach.jpg")})
    photo = day.do("media_uploaded", "post", "/api/v1/images", data=body, content_type=content_type).get_json()["id"]
    day.expected[-1] = ("media_uploaded", f"media:{photo}", day.expected[-1][2])
    day.do("media_made_public", "patch", f"/api/v1/images/{photo}", f"media:{photo}", json={"is_public": True})
    day.do("media_updated", "patch", f"/api/v1/images/{photo}", f"media:{photo}", json={"title": "Beach"})
    album = day.do("album_created", "post", "/api/v1/albums", json={"title": "Summer"}).get_json()["id"]
    day.expected[-1] = ("album_created", f"album:{album}", day.expected[-1][2])
    day.do("album_photos_added", "post", f"/api/v1/albums/{album}/images", f"album:{album}",
           json={"image_ids": [photo]})
    share = day.do("share_created", "post", "/api/v1/shares", json={"album_id": album}).get_json()["id"]
    day.expected[-1] = ("share_created", f"share:{share}", day.expected[-1][2])
    day.do("share_revoked", "patch", f"/api/v1/shares/{share}", f"share:{share}", json={"revoked": True})
    day.do("transformation_saved", "post", f"/api/v1/images/{photo}/transform", f"media:{photo}",
           json={"transformations": {"rotate": 90}})
    day.do("album_photos_removed", "delete", f"/api/v1/albums/{album}/images/{photo}", f"album:{album}")
    day.do("media_deleted", "delete", f"/api/v1/images/{photo}", f"media:{photo}")
    day.do("album_deleted", "delete", f"/api/v1/albums/{album}", f"album:{album}")

    trail = events(app, actor_id=dana)
    assert [e["action"] for e in trail] == [action for action, _target, _rid in day.expected]
    for event, (action, target, request_id) in zip(trail, day.expected):
        assert event["request_id"] == request_id, action
        assert (event["ip"], event["device"], event["browser"]) == (ADDRESS, "phone", "Mobile Safari"), action
        if target is not None:
            assert event["target"] == target, action
    uploaded = next(e for e in trail if e["action"] == "media_uploaded")
    assert uploaded["details"]["kind"] == "image" and uploaded["details"]["size"] > 0
    assert next(e for e in trail if e["action"] == "album_photos_added")["details"]["count"] == 1


def test_bulk_changes_write_one_event_with_a_count(app, kim):
    from webapp.extensions import db
    from webapp.media import selection
    from webapp.models import User

    ids = [kim.upload(make_jpeg(colour=(n * 40, 10, 10))).get_json()["id"] for n in range(3)]
    with app.app_context():
        selection.set_public(db.session.get(User, kim.id), ids, True)
    made_public = events(app, action="media_made_public")
    assert len(made_public) == 1 and made_public[0]["details"]["count"] == 3


def test_a_changed_album_and_a_deleted_transformation_are_written(app, kim):
    photo = kim.upload(make_jpeg()).get_json()["id"]
    client = kim.test_client
    album = client.post("/api/v1/albums", headers=kim.headers, json={"title": "Garden"}).get_json()["id"]
    client.patch(f"/api/v1/albums/{album}", headers=kim.headers, json={"title": "Back garden"})
    variant = client.post(f"/api/v1/images/{photo}/transform", headers=kim.headers,
                          json={"transformations": {"rotate": 180}}).get_json()["id"]
    assert kim.delete(f"/api/v1/images/{photo}/variants/{variant}").status_code == 204
    changed = events(app, action="album_changed")
    assert changed and changed[0]["target"] == f"album:{album}" and changed[0]["details"]["fields"] == ["title"]
    deleted = events(app, action="transformation_deleted")
    assert deleted and deleted[0]["target"] == f"media:{photo}" and deleted[0]["actor_id"] == kim.id


def test_an_unchanged_visibility_writes_no_visibility_event(app, kim):
    photo = kim.upload(make_jpeg()).get_json()["id"]
    kim.test_client.patch(f"/api/v1/images/{photo}", headers=kim.headers, json={"is_public": False})
    assert not events(app, action="media_made_public") and not events(app, action="media_made_private")


def test_a_failed_backup_is_written(app, monkeypatch, make_user):
    from webapp.backups import making, tasks
    from webapp.extensions import db
    from webapp.models import Backup

    user_id = make_user(username="pat")

    def broken(backup, context):
        raise OSError("disk full")

    monkeypatch.setattr(making, "make", broken)
    with app.app_context():
        backup = Backup(id="b" * 16, scope="account", user_id=user_id, created_by=user_id)
        db.session.add(backup)
        db.session.commit()
        with pytest.raises(OSError):
            tasks._make(backup, context=None)
    failed = events(app, action="backup_failed")
    assert failed and failed[0]["target"] == "backup:" + "b" * 16 and "disk full" in failed[0]["details"]["error"]
