"""GET/PUT /api/v1/admin/settings: every setting read, a partial change checked and audited, 404 without
the permission."""

from __future__ import annotations

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD

URL = "/api/v1/admin/settings"


def api_client(app, make_user, username: str, role: str = "user"):
    """A test client and headers with an access token of a new account."""
    make_user(username=username, role=role)
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": username, "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    return client, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(app, make_user):
    return api_client(app, make_user, "root", role="admin")


def put(admin, body):
    client, headers = admin
    return client.put(URL, json=body, headers=headers)


def events(app) -> list[dict]:
    from webapp.extensions import db
    from webapp.models import AuditEvent

    with app.app_context():
        return [event.details["changes"] for event in db.session.scalars(
            db.select(AuditEvent).where(AuditEvent.action == "settings_changed").order_by(AuditEvent.id))]


def test_an_admin_reads_every_setting(admin):
    client, headers = admin
    response = client.get(URL, headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["site_name"] == "Shoebox" and body["base_url"] == ""
    assert body["effective_base_url"] == "http://shoebox.test"
    assert body["registration"] == "open" and body["default_plan"] == "free"
    assert body["signup_per_hour"] == 20 and body["login_per_hour"] == 100
    assert body["allowed_image_types"] == ["jpeg", "png", "gif", "webp", "avif", "heic", "bmp", "tiff", "video"]
    assert body["analytics_retention_days"] == 90 and body["audit_retention_days"] == 0
    assert body["smtp_password_set"] is False and "smtp_password" not in body


def test_a_partial_change_is_stored_audited_and_returned(app, admin):
    response = put(admin, {"site_name": "Family Photos", "base_url": "https://photos.example.com",
                           "signup_per_hour": 40, "hotlink_allowed_sites": ["Forum.example.com"]})
    assert response.status_code == 200
    body = response.get_json()
    assert body["site_name"] == "Family Photos" and body["effective_base_url"] == "https://photos.example.com"
    assert body["signup_per_hour"] == 40 and body["hotlink_allowed_sites"] == ["forum.example.com"]
    assert body["login_per_hour"] == 100  # left out, left alone
    assert events(app) == [{"site_name": ["Shoebox", "Family Photos"], "base_url": ["", "https://photos.example.com"],
                            "signup_per_hour": [20, 40], "hotlink_allowed_sites": [[], ["forum.example.com"]]}]
    assert put(admin, {"site_name": "Family Photos"}).status_code == 200
    assert len(events(app)) == 1  # nothing changed, nothing written


def test_the_smtp_password_is_write_only(app, admin):
    client, headers = admin
    body = put(admin, {"smtp_host": "smtp.example.com", "smtp_password": "hunter2-secret"}).get_json()
    assert body["smtp_password_set"] is True and "hunter2-secret" not in str(body)
    assert "hunter2-secret" not in client.get(URL, headers=headers).get_data(as_text=True)
    assert events(app)[-1]["smtp_password"] == "changed" and "hunter2-secret" not in str(events(app))
    assert put(admin, {"smtp_password": ""}).get_json()["smtp_password_set"] is False


@pytest.mark.parametrize("body, field", [
    ({"base_url": "photos.example.com"}, "base_url"),
    ({"base_url": "https://example.com/?q=1"}, "base_url"),
    ({"signup_per_hour": 0}, "signup_per_hour"),
    ({"login_per_hour": "50"}, "login_per_hour"),
    ({"default_plan": "gold"}, "default_plan"),
    ({"allowed_image_types": ["jpeg", "svg"]}, "allowed_image_types.1"),  # a dotted path to the item
    ({"smtp_security": "tls13"}, "smtp_security"),
    ({"hotlink_allowed_sites": ["https://forum.example.com/"]}, "hotlink_allowed_sites"),
    ({"colour": "teal"}, "colour"),
])
def test_a_bad_value_or_unknown_key_is_refused_by_name_and_nothing_is_stored(app, admin, body, field):
    response = put(admin, {"site_name": "Should not stick", **body})
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field
    assert admin[0].get(URL, headers=admin[1]).get_json()["site_name"] == "Shoebox"
    assert events(app) == []


def test_a_retired_plan_is_refused(app, admin):
    from webapp.extensions import db
    from webapp.models import Plan, utcnow

    with app.app_context():
        db.session.scalar(db.select(Plan).where(Plan.name == "pro")).retired_at = utcnow()
        db.session.commit()
    response = put(admin, {"default_plan": "pro"})
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "default_plan"
    assert "retired" in response.get_json()["error"]["message"]
    assert put(admin, {"default_plan": "unlimited"}).get_json()["default_plan"] == "unlimited"


def test_a_group_with_manage_settings_may_and_view_audit_alone_may_not(app, make_user):
    from webapp.extensions import db
    from webapp.models import Group, GroupPermission, UserGroup

    clients = {}
    for name, permission in (("keeper", "manage_settings"), ("reader", "view_audit")):
        client, headers = api_client(app, make_user, name)
        with app.app_context():
            group = Group(name=f"{name}s", description="")
            db.session.add(group)
            db.session.flush()
            user_id = db.session.scalar(db.text("SELECT id FROM users WHERE username = :u"), {"u": name})
            db.session.add_all([GroupPermission(group_id=group.id, permission=permission),
                                UserGroup(user_id=user_id, group_id=group.id)])
            db.session.commit()
        clients[name] = (client, headers)
    keeper, reader = clients["keeper"], clients["reader"]
    assert keeper[0].get(URL, headers=keeper[1]).status_code == 200
    assert put(keeper, {"site_name": "Kept"}).status_code == 200
    assert reader[0].get(URL, headers=reader[1]).status_code == 404
    assert put(reader, {"site_name": "Mine"}).status_code == 404


def test_a_member_gets_404_and_a_stranger_401(app, make_user):
    member = api_client(app, make_user, "pat")
    assert member[0].get(URL, headers=member[1]).status_code == 404
    assert put(member, {"site_name": "Mine"}).status_code == 404
    assert app.test_client().get(URL).status_code == 401


def test_share_links_and_oembed_follow_the_public_address(app, admin, kim):
    from tests.fixtures.media import make_jpeg

    put(admin, {"base_url": "https://photos.example.com"})
    photo = kim.upload(make_jpeg(), "photo.jpg").get_json()
    link = kim.test_client.post("/api/v1/shares", headers=kim.headers, json={"image_id": photo["id"]}).get_json()
    assert link["url"].startswith("https://photos.example.com/s/")
    card = app.test_client().get("/oembed", query_string={"url": link["url"], "format": "json"})
    assert card.status_code == 200 and card.get_json()["provider_url"] == "https://photos.example.com/"
