"""Admin → Plans and /api/v1/admin/plans: plans are listed with their people, made, changed (sizes with
units, one sentence naming a bad field), retired, offered again and deleted only when nobody is on them
and they are not the default; every change is audited and binds on the person's next request."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.fixtures.accounts import STRONG_PASSWORD, csrf_token_from
from tests.fixtures.media import make_jpeg

MiB = 1024 * 1024


@pytest.fixture
def root(app, make_user):
    """An API client as the admin root (on the default plan, free, as everyone made here)."""
    make_user(username="root", role="admin")
    return api_client(app, "root")


def api_client(app, username):
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": username, "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.fixture
def admin_page(app, client, make_user, auth):
    """A browser logged in as the admin root."""
    make_user(username="root", role="admin")
    auth.login("root")
    return client


def audit_actions(app, target_prefix="plan:"):
    from webapp.extensions import db
    from webapp.models import AuditEvent

    with app.app_context():
        return [(e.action, e.details) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.target.startswith(target_prefix)).order_by(AuditEvent.id))]


def plan_named(items, name):
    return next(item for item in items if item["name"] == name)


def put_on(app, username, plan_name):
    from webapp.extensions import db
    from webapp.models import Plan, User

    with app.app_context():
        plan_id = db.session.scalar(select(Plan.id).where(Plan.name == plan_name))
        db.session.execute(db.update(User).where(User.username == username).values(plan_id=plan_id))
        db.session.commit()


def test_the_list_shows_seeded_plans_with_their_people_and_the_default(app, root, make_user):
    make_user(username="kim")
    put_on(app, "root", "unlimited")
    items = root.get("/api/v1/admin/plans").get_json()["items"]
    assert {"free", "pro", "unlimited"} <= {item["name"] for item in items}
    assert plan_named(items, "free")["people"] == 1 and plan_named(items, "free")["is_default"]
    assert plan_named(items, "unlimited")["people"] == 1 and plan_named(items, "pro")["people"] == 0
    assert plan_named(items, "free")["bandwidth_bytes_per_month"] == 50 * 1024 * MiB


def test_a_plan_is_made_with_sizes_in_units_and_audited(app, root):
    response = root.post("/api/v1/admin/plans", json={"name": "family", "description": "For us",
                                                      "max_upload_bytes": "25 MB", "storage_bytes": "1.5 GB",
                                                      "bandwidth_bytes_per_month": 1000, "uploads_per_day": 50})
    assert response.status_code == 201, response.get_json()
    plan = response.get_json()
    assert plan["max_upload_bytes"] == 25 * MiB and plan["storage_bytes"] == 1536 * MiB
    assert plan["bandwidth_bytes_per_month"] == 1000 and plan["transforms_per_day"] == 0 and plan["people"] == 0
    (action, details), = audit_actions(app)
    assert action == "plan_created" and details["name"] == "family" and details["max_upload_bytes"] == 25 * MiB


@pytest.mark.parametrize("body, field, words", [
    ({"name": "x", "storage_bytes": "five gigs"}, "storage_bytes", "storage_bytes must be a size such as 25 MB"),
    ({"name": "x", "max_upload_bytes": "-3 MB"}, "max_upload_bytes", "max_upload_bytes must be a size"),
    ({"name": "x", "bandwidth_bytes_per_month": "3 XB"}, "bandwidth_bytes_per_month", "must be a size"),
    ({"name": "x", "storage_bytes": "99999999 TB"}, "storage_bytes", "storage_bytes must be from 0"),
    ({"name": "   "}, "name", "name must be 1 to 40 characters"),
    ({"name": "free"}, "name", "Another plan is already called free"),
])
def test_a_bad_value_is_refused_in_one_sentence_naming_its_field(app, root, body, field, words):
    response = root.post("/api/v1/admin/plans", json=body)
    assert response.status_code in (400, 409)
    error = response.get_json()["error"]
    assert error["field"] == field and words in error["message"], error
    assert audit_actions(app) == []


def test_a_change_is_audited_with_before_and_after(app, root):
    free = plan_named(root.get("/api/v1/admin/plans").get_json()["items"], "free")
    response = root.patch(f"/api/v1/admin/plans/{free['id']}", json={"uploads_per_day": 7, "storage_bytes": "5 GB"})
    assert response.status_code == 200 and response.get_json()["uploads_per_day"] == 7
    (action, details), = audit_actions(app)
    assert action == "plan_changed"
    assert details["before"] == {"uploads_per_day": 200} and details["after"] == {"uploads_per_day": 7}


def test_renaming_the_default_plan_keeps_it_the_default(app, root):
    from webapp import instance

    free = plan_named(root.get("/api/v1/admin/plans").get_json()["items"], "free")
    assert root.patch(f"/api/v1/admin/plans/{free['id']}", json={"name": "basic"}).get_json()["is_default"]
    with app.app_context():
        assert instance.get("default_plan") == "basic"


def test_a_plan_change_binds_on_the_next_upload(app, root, kim):
    free = plan_named(root.get("/api/v1/admin/plans").get_json()["items"], "free")
    photo = make_jpeg((400, 300))
    assert kim.upload(photo).status_code == 201
    root.patch(f"/api/v1/admin/plans/{free['id']}", json={"max_upload_bytes": 100})
    response = kim.upload(make_jpeg((400, 300), colour=(1, 2, 3)))
    assert response.status_code == 413 and "100 bytes" in response.get_json()["error"]["message"]
    root.patch(f"/api/v1/admin/plans/{free['id']}", json={"max_upload_bytes": "25 MB"})
    assert kim.upload(make_jpeg((400, 300), colour=(4, 5, 6))).status_code == 201


def test_storage_lowered_below_use_refuses_new_uploads_and_deletes_nothing(app, root, kim):
    free = plan_named(root.get("/api/v1/admin/plans").get_json()["items"], "free")
    for colour in ((1, 1, 1), (2, 2, 2)):
        assert kim.upload(make_jpeg((300, 200), colour=colour)).status_code == 201
    assert root.patch(f"/api/v1/admin/plans/{free['id']}", json={"storage_bytes": 10}).status_code == 200
    response = kim.upload(make_jpeg((300, 200), colour=(3, 3, 3)))
    assert response.status_code == 413
    assert "does not fit in your storage allowance of 10 bytes" in response.get_json()["error"]["message"]
    assert len(kim.get("/api/v1/images").get_json()["items"]) == 2
    for item in kim.get("/api/v1/images").get_json()["items"]:
        assert kim.get(f"/i/{item['id']}").status_code == 200


def test_a_retired_plan_is_kept_by_its_people_and_offered_to_nobody_new(app, root, make_user):
    from webapp.admin import plans

    pro = plan_named(root.get("/api/v1/admin/plans").get_json()["items"], "pro")
    make_user(username="kim")
    put_on(app, "kim", "pro")
    with app.app_context():
        from webapp.extensions import db
        from webapp.models import User
        plans.retire_plan(db.session.scalar(select(User).where(User.username == "root")), pro["id"])
        assert "pro" not in {plan.name for plan in plans.offered_plans()}
        assert db.session.scalar(select(User).where(User.username == "kim")).plan.name == "pro"
        plans.restore_plan(db.session.scalar(select(User).where(User.username == "root")), pro["id"])
        assert "pro" in {plan.name for plan in plans.offered_plans()}
    assert [action for action, _ in audit_actions(app)] == ["plan_retired", "plan_restored"]


def test_the_default_plan_cannot_be_retired_or_deleted(root):
    free = plan_named(root.get("/api/v1/admin/plans").get_json()["items"], "free")
    response = root.delete(f"/api/v1/admin/plans/{free['id']}")
    assert response.status_code == 409 and "the plan new people get" in response.get_json()["error"]["message"]


def test_a_plan_with_people_is_not_deleted_but_an_empty_one_is(app, root, make_user):
    pro = plan_named(root.get("/api/v1/admin/plans").get_json()["items"], "pro")
    unlimited = plan_named(root.get("/api/v1/admin/plans").get_json()["items"], "unlimited")
    put_on(app, "root", "unlimited")
    response = root.delete(f"/api/v1/admin/plans/{unlimited['id']}")
    assert response.status_code == 409
    assert response.get_json()["error"]["message"] == \
        "1 person is on unlimited; move them to another plan before deleting it."
    assert root.delete(f"/api/v1/admin/plans/{pro['id']}").status_code == 204
    assert "pro" not in {item["name"] for item in root.get("/api/v1/admin/plans").get_json()["items"]}
    assert [action for action, _ in audit_actions(app)] == ["plan_deleted"]


def test_the_plans_page_lists_makes_and_changes_plans(app, admin_page):
    page = admin_page.get("/admin/plans")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "unlimited" in html and "Default for new people" in html
    token = csrf_token_from(html)
    fields = {"csrf_token": token, "name": "family", "description": "", "max_upload_bytes": "25 MB",
              "uploads_per_day": "0", "storage_bytes": "lots", "transforms_per_day": "0",
              "api_requests_per_hour": "0", "bandwidth_bytes_per_month": "0"}
    refused = admin_page.post("/admin/plans", data=fields)
    assert refused.status_code == 200
    assert "storage_bytes must be a size such as 25 MB or 5 GB" in refused.get_data(as_text=True)
    created = admin_page.post("/admin/plans", data={**fields, "storage_bytes": "2 GB"})
    assert created.status_code == 303
    listed = admin_page.get("/admin/plans").get_data(as_text=True)
    assert "Plan family created." in listed and "2 GB" in listed
    with app.app_context():
        from webapp.extensions import db
        from webapp.models import Plan
        plan_id = db.session.scalar(select(Plan.id).where(Plan.name == "family"))
    edit = admin_page.get(f"/admin/plans/{plan_id}").get_data(as_text=True)
    assert 'value="25 MB"' in edit and 'value="2 GB"' in edit
    saved = admin_page.post(f"/admin/plans/{plan_id}", data={**fields, "storage_bytes": "3 GB"})
    assert saved.status_code == 303
    assert admin_page.post(f"/admin/plans/{plan_id}/retire", data={"csrf_token": token}).status_code == 303
    assert "Retired" in admin_page.get("/admin/plans").get_data(as_text=True)
    assert admin_page.post(f"/admin/plans/{plan_id}/delete", data={"csrf_token": token}).status_code == 303
    assert "Plan family deleted." in admin_page.get("/admin/plans").get_data(as_text=True)


def test_deleting_a_plan_in_use_on_the_page_says_why(app, admin_page):
    with app.app_context():
        from webapp.extensions import db
        from webapp.models import Plan
        unlimited = db.session.scalar(select(Plan.id).where(Plan.name == "unlimited"))
    put_on(app, "root", "unlimited")
    token = csrf_token_from(admin_page.get("/admin/plans").get_data(as_text=True))
    response = admin_page.post(f"/admin/plans/{unlimited}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "1 person is on unlimited; move them to another plan before deleting it." in response.get_data(as_text=True)
