"""Admin → Groups and /api/v1/admin/groups: the built-in groups (Administrators locked; Members' and
Guests' permissions editable) and groups made here, with member counts; every change audited and
effective at once; someone who manages people but is not an administrator cannot grant what they lack."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.fixtures.accounts import AuthActions, csrf_token_from
from tests.test_admin_plans import api_client


@pytest.fixture
def root(app, make_user):
    make_user(username="root", role="admin")
    return api_client(app, "root")


def group_named(client, name):
    return next(item for item in client.get("/api/v1/admin/groups").get_json()["items"] if item["name"] == name)


def join(app, username, group_id):
    from webapp.extensions import db
    from webapp.models import User, UserGroup

    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.username == username))
        db.session.add(UserGroup(user_id=user_id, group_id=group_id))
        db.session.commit()


def audit_actions(app):
    from webapp.extensions import db
    from webapp.models import AuditEvent

    with app.app_context():
        return [(e.action, e.details) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.target.startswith("group:")).order_by(AuditEvent.id))]


def test_the_built_in_groups_come_first_with_their_permissions_and_members(root, make_user):
    make_user(username="kim")
    make_user(username="visitor", role="guest")
    items = root.get("/api/v1/admin/groups").get_json()["items"]
    assert [item["name"] for item in items[:3]] == ["Administrators", "Members", "Guests"]
    admins, members, guests = items[:3]
    assert admins["locked"] and len(admins["permissions"]) == 10 and admins["members"] == 1
    assert set(members["permissions"]) == {"upload", "share", "transform", "use_api"} and members["members"] == 1
    assert guests["permissions"] == [] and guests["members"] == 1 and not guests["locked"]


def test_a_group_is_made_renamed_given_permissions_and_deleted_with_an_audit_trail(app, root, make_user):
    made = root.post("/api/v1/admin/groups", json={"name": "Moderators", "permissions": ["view_audit"]})
    assert made.status_code == 201, made.get_json()
    group = made.get_json()
    assert group["permissions"] == ["view_audit"] and group["builtin"] is None and group["members"] == 0
    make_user(username="kim")
    join(app, "kim", group["id"])
    changed = root.patch(f"/api/v1/admin/groups/{group['id']}",
                         json={"name": "Mods", "permissions": ["view_audit", "view_stats"]}).get_json()
    assert changed["name"] == "Mods" and changed["permissions"] == ["view_audit", "view_stats"]
    assert changed["members"] == 1
    assert root.get(f"/api/v1/admin/groups/{group['id']}").get_json()["name"] == "Mods"
    assert root.delete(f"/api/v1/admin/groups/{group['id']}").status_code == 204
    assert root.get(f"/api/v1/admin/groups/{group['id']}").status_code == 404
    actions = audit_actions(app)
    assert [action for action, _ in actions] == ["group_created", "group_changed", "group_deleted"]
    assert actions[1][1]["before"] == {"name": "Moderators", "permissions": ["view_audit"]}
    assert actions[1][1]["after"] == {"name": "Mods", "permissions": ["view_audit", "view_stats"]}
    assert actions[2][1]["members"] == 1


def test_administrators_are_locked_and_built_in_groups_stay(root):
    admins, guests = group_named(root, "Administrators"), group_named(root, "Guests")
    response = root.patch(f"/api/v1/admin/groups/{admins['id']}", json={"permissions": []})
    assert response.status_code == 409 and "cannot be changed" in response.get_json()["error"]["message"]
    assert root.delete(f"/api/v1/admin/groups/{guests['id']}").status_code == 409
    assert root.patch(f"/api/v1/admin/groups/{guests['id']}", json={"name": "Visitors"}).status_code == 409
    allowed = root.patch(f"/api/v1/admin/groups/{guests['id']}", json={"permissions": ["share"]})
    assert allowed.status_code == 200 and allowed.get_json()["permissions"] == ["share"]


@pytest.mark.parametrize("body, field, words", [
    ({"name": ""}, "name", "name must be 1 to 60 characters"),
    ({"name": "Members"}, "name", "Another group is already called Members"),
    ({"name": "x", "permissions": ["fly"]}, "permissions", None),
])
def test_bad_group_input_is_refused_naming_its_field(app, root, body, field, words):
    response = root.post("/api/v1/admin/groups", json=body)
    assert response.status_code in (400, 409)
    error = response.get_json()["error"]
    assert error["field"].startswith(field) and (words is None or words in error["message"]), error
    assert audit_actions(app) == []


def test_a_people_manager_cannot_grant_what_they_do_not_hold(app, root, make_user):
    managers = root.post("/api/v1/admin/groups", json={"name": "People", "permissions": ["manage_users"]}).get_json()
    make_user(username="pat")
    join(app, "pat", managers["id"])
    pat = api_client(app, "pat")
    refused = pat.post("/api/v1/admin/groups", json={"name": "Sneaky", "permissions": ["manage_settings"]})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["message"] == "You may only grant or remove permissions you hold yourself."
    assert pat.patch(f"/api/v1/admin/groups/{managers['id']}",
                     json={"permissions": ["manage_users", "manage_plans"]}).status_code == 403
    members = group_named(root, "Members")
    more = {"permissions": members["permissions"] + ["view_audit"]}
    assert pat.patch(f"/api/v1/admin/groups/{members['id']}", json=more).status_code == 403
    fine = pat.post("/api/v1/admin/groups", json={"name": "Helpers", "permissions": ["manage_users", "upload"]})
    assert fine.status_code == 201  # pat holds both (upload as a Member)
    assert group_named(root, "People")["permissions"] == ["manage_users"]


def test_the_groups_page_makes_and_changes_groups_with_checkboxes(app, client, make_user):
    make_user(username="root", role="admin")
    AuthActions(client).login("root")
    html = client.get("/admin/groups").get_data(as_text=True)
    assert "Administrators" in html and "Guests" in html and "Read the audit log" in html
    token = csrf_token_from(html)
    response = client.post("/admin/groups", data={"csrf_token": token, "name": "Moderators", "description": "",
                                                   "permissions": ["view_audit", "view_stats"]})
    assert response.status_code == 303
    with app.app_context():
        from webapp.extensions import db
        from webapp.models import Group
        group_id = db.session.scalar(select(Group.id).where(Group.name == "Moderators"))
    page = client.get(f"/admin/groups/{group_id}").get_data(as_text=True)
    assert 'value="view_audit" checked' in page and 'value="manage_users" checked' not in page
    saved = client.post(f"/admin/groups/{group_id}", data={"csrf_token": token, "name": "Moderators",
                                                            "description": "Reads the log",
                                                            "permissions": ["view_audit"]})
    assert saved.status_code == 303
    listed = client.get("/admin/groups").get_data(as_text=True)
    assert "Group Moderators saved." in listed and "Reads the log" in listed
    blank = client.post("/admin/groups", data={"csrf_token": token, "name": " ", "description": ""})
    assert blank.status_code == 200 and "name must be 1 to 60 characters" in blank.get_data(as_text=True)
    assert client.post(f"/admin/groups/{group_id}/delete", data={"csrf_token": token}).status_code == 303
    assert "Group Moderators deleted." in client.get("/admin/groups").get_data(as_text=True)


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_an_id_no_row_can_have_is_404_for_every_method(root, method):
    response = getattr(root, method)("/api/v1/admin/groups/62335398583", json={})
    assert response.status_code == 404
    if method != "get":
        assert getattr(root, method)("/api/v1/admin/plans/62335398583", json={}).status_code == 404
