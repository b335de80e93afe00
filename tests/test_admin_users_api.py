"""/api/v1/admin/users: the same list, facts, changes and deletion as the People pages, for callers holding
manage_users (404 for everyone else), with the same rules and audit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD


def bearer(app, username: str) -> dict:
    token = app.test_client().post("/api/v1/auth/login", json={"identifier": username, "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(app, make_user):
    """An API client as the admin root (kim exists as a plain user): api.get(path), api.patch(path, json)…"""
    make_user(username="kim", email="kim@example.com")
    make_user(username="root", role="admin", email="root@example.com")
    client, headers = app.test_client(), bearer(app, "root")

    class Api:
        def get(self, path, **kwargs):
            return client.get(path, headers=headers, **kwargs)

        def patch(self, path, json):
            return client.patch(path, headers=headers, json=json)

        def delete(self, path):
            return client.delete(path, headers=headers)
    return Api()


def user_id(app, username):
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        return db.session.scalar(db.select(User.id).where(User.username == username))


def row(app, username):
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == username))
        db.session.expunge_all()
        return user


def many_users(app, count):
    from webapp.auth.service import hash_password
    from webapp.extensions import db
    from webapp.models import User, utcnow

    with app.app_context():
        hashed, now = hash_password(STRONG_PASSWORD), utcnow()
        db.session.add_all(User(email=f"bulk{n}@example.com", username=f"bulk{n:02d}", password_hash=hashed,
                                role="user", is_verified=True, storage_used=(n * 31) % 7 * 100, media_count=n % 3,
                                created_at=now - timedelta(minutes=n % 4),
                                last_login_at=None if n % 3 == 0 else now - timedelta(minutes=n % 5))
                           for n in range(count))
        db.session.commit()


def test_without_manage_users_every_operation_is_404(app, make_user):
    make_user(username="kim")
    headers = bearer(app, "kim")
    client = app.test_client()
    target = user_id(app, "kim")
    assert client.get("/api/v1/admin/users", headers=headers).status_code == 404
    assert client.get(f"/api/v1/admin/users/{target}", headers=headers).status_code == 404
    assert client.patch(f"/api/v1/admin/users/{target}", headers=headers, json={"role": "admin"}).status_code == 404
    assert client.delete(f"/api/v1/admin/users/{target}", headers=headers).status_code == 404
    assert row(app, "kim").role == "user" and row(app, "kim").delete_scheduled_for is None
    assert client.get("/api/v1/admin/users").status_code == 401


def test_a_custom_group_with_manage_users_may_use_it(app, make_user):
    from webapp.extensions import db
    from webapp.models import Group, GroupPermission, UserGroup

    make_user(username="mod")
    with app.app_context():
        group = Group(name="Moderators", description="")
        db.session.add(group)
        db.session.flush()
        db.session.add_all([GroupPermission(group_id=group.id, permission="manage_users"),
                            UserGroup(user_id=user_id(app, "mod"), group_id=group.id)])
        db.session.commit()
    answer = app.test_client().get("/api/v1/admin/users", headers=bearer(app, "mod"))
    assert answer.status_code == 200 and [u["username"] for u in answer.get_json()["items"]] == ["mod"]


@pytest.mark.parametrize("sort", ["joined", "last_login", "storage", "photos"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_keyset_pages_neither_overlap_nor_skip(app, api, sort, order):
    many_users(app, 60)
    seen, cursor = [], None
    while True:
        query = {"sort": sort, "order": order, "limit": "7", **({"cursor": cursor} if cursor else {})}
        answer = api.get("/api/v1/admin/users", query_string=query)
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        seen += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    ids = [item["id"] for item in seen]
    assert len(ids) == len(set(ids)) == 62
    key = {"joined": "created_at", "last_login": "last_login_at", "storage": "storage_used", "photos": "photos"}[sort]
    values = [(item[key] is not None, item[key] or 0, item["id"]) for item in seen]
    assert values == sorted(values, reverse=order == "desc")


def test_search_and_filters_as_query_parameters(app, api, make_user):
    make_user(username="alex", email="Alex@Example.org", verified=False)
    answer = api.get("/api/v1/admin/users", query_string={"q": "EXAMPLE.ORG"}).get_json()
    assert [u["username"] for u in answer["items"]] == ["alex"]
    assert [u["username"] for u in api.get("/api/v1/admin/users?unverified=true").get_json()["items"]] == ["alex"]
    assert [u["username"] for u in api.get("/api/v1/admin/users?group=admin").get_json()["items"]] == ["root"]
    assert api.get("/api/v1/admin/users?plan=free").status_code == 200
    refused = api.get("/api/v1/admin/users?plan=platinum")
    assert refused.status_code == 400 and refused.get_json()["error"]["field"] == "plan"
    refused = api.get("/api/v1/admin/users?cursor=garbage")
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "invalid_cursor"
    assert api.get("/api/v1/admin/users?sort=height").status_code == 400


def test_get_one_account_with_keys_but_never_their_secrets(app, api, make_user):
    kim = user_id(app, "kim")
    key = app.test_client().post("/api/v1/api-keys", headers=bearer(app, "kim"), json={"name": "script"}).get_json()
    body = api.get(f"/api/v1/admin/users/{kim}").get_json()
    assert body["username"] == "kim" and body["plan"]["name"] == "free" and body["two_factor"] is False
    assert [k["name"] for k in body["api_keys"]] == ["script"]
    assert key["key"] not in str(body) and body["api_keys"][0]["prefix"] == key["key"][:12]
    assert api.get("/api/v1/admin/users/99999").status_code == 404


@pytest.mark.parametrize("user_id", ["-5", "0", "99999999999999"])
def test_an_id_that_cannot_exist_is_404_for_every_method(api, user_id):
    path = f"/api/v1/admin/users/{user_id}"
    assert api.get(path).status_code == 404
    assert api.patch(path, {"role": "guest"}).status_code == 404
    assert api.delete(path).status_code == 404


def test_patch_blocks_and_the_persons_key_stops_then_unblock(app, api):
    kim = user_id(app, "kim")
    key = app.test_client().post("/api/v1/api-keys", headers=bearer(app, "kim"), json={"name": "script"}) \
        .get_json()["key"]
    answer = api.patch(f"/api/v1/admin/users/{kim}", {"is_blocked": True})
    assert answer.status_code == 200 and answer.get_json()["is_blocked"] is True
    assert app.test_client().get("/api/v1/account", headers={"X-API-Key": key}).status_code == 401
    api.patch(f"/api/v1/admin/users/{kim}", {"is_blocked": False})
    assert app.test_client().get("/api/v1/account", headers={"X-API-Key": key}).status_code == 200


def test_patch_changes_plan_by_name_role_groups_and_verification_all_audited(app, api):
    from webapp.extensions import db
    from webapp.models import AuditEvent, Group

    with app.app_context():
        group = Group(name="Helpers", description="")
        db.session.add(group)
        db.session.commit()
        group_id = group.id
    kim = user_id(app, "kim")
    from webapp.models import User

    with app.app_context():
        db.session.get(User, kim).is_verified = False
        db.session.commit()
    answer = api.patch(f"/api/v1/admin/users/{kim}", {"plan": "pro", "role": "guest", "groups": [group_id],
                                                      "is_verified": True})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert (body["plan"]["name"], body["role"], body["groups"], body["is_verified"]) == \
        ("pro", "guest", [{"id": group_id, "name": "Helpers"}], True)
    with app.app_context():
        actions = set(db.session.scalars(db.select(AuditEvent.action).where(AuditEvent.target == f"user:{kim}")))
    assert {"user_plan_changed", "user_role_changed", "user_groups_changed", "user_verified_by_admin"} <= actions


def test_a_refused_patch_changes_nothing(app, api):
    kim = user_id(app, "kim")
    answer = api.patch(f"/api/v1/admin/users/{kim}", {"role": "guest", "plan": "platinum"})
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == "plan"
    assert row(app, "kim").role == "user"
    answer = api.patch(f"/api/v1/admin/users/{kim}", {"groups": [987654]})
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == "groups"
    assert api.patch(f"/api/v1/admin/users/{kim}", {"is_verified": False}).status_code == 400
    assert api.patch(f"/api/v1/admin/users/{kim}", {"shoe_size": 44}).status_code == 400


def test_the_api_keeps_the_self_and_last_admin_rules(app, api, make_user):
    root = user_id(app, "root")
    answer = api.patch(f"/api/v1/admin/users/{root}", {"is_blocked": True})
    assert answer.status_code == 403 and answer.get_json()["error"]["message"] == "You cannot block your own account."
    assert api.delete(f"/api/v1/admin/users/{root}").status_code == 403
    make_user(username="other", role="admin")
    from webapp.extensions import db
    from webapp.models import User, utcnow

    with app.app_context():
        db.session.get(User, root).delete_scheduled_for = utcnow() + timedelta(days=7)  # root is leaving
        db.session.commit()
    other = user_id(app, "other")
    answer = api.patch(f"/api/v1/admin/users/{other}", {"role": "user"})
    assert answer.status_code == 409 and answer.get_json()["error"]["code"] == "last_admin"
    assert row(app, "other").role == "admin"


def test_delete_schedules_by_default_and_now_queues_the_purge(app, api):
    from webapp import jobs

    kim = user_id(app, "kim")
    answer = api.delete(f"/api/v1/admin/users/{kim}")
    assert answer.status_code == 202 and answer.get_json()["job"] is None
    assert row(app, "kim").delete_scheduled_for is not None and not row(app, "kim").is_blocked
    answer = api.delete(f"/api/v1/admin/users/{kim}?now=true")
    assert answer.status_code == 202 and answer.get_json()["job"]["name"] == "account_purge"
    assert row(app, "kim").is_blocked
    jobs.work_until_idle(app, names=["account_purge"])
    assert row(app, "kim") is None
    assert api.get(f"/api/v1/admin/users/{kim}").status_code == 404


def test_the_operations_are_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert {"get"} <= set(document["paths"]["/api/v1/admin/users"])
    assert {"get", "patch", "delete"} <= set(document["paths"]["/api/v1/admin/users/{user_id}"])
    assert document["paths"]["/api/v1/admin/users/{user_id}"]["patch"]["tags"] == ["admin"]
