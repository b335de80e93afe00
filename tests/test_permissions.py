"""Member permissions where the work happens: upload, share, transform and use_api refuse with 403 and
one sentence, on pages and in the API alike, and the pages hide the controls; guests may sign in, see
their (empty) gallery and open share links. The plans and groups pages and API each need their one
permission and answer 404 without it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.fixtures.accounts import AuthActions, csrf_token_from
from tests.fixtures.media import make_jpeg, multipart
from tests.fixtures.shares import make_link
from tests.test_admin_plans import api_client

UPLOAD_REFUSED = "Your account may not upload; ask an administrator."


def set_group(app, name, granted):
    """Give group `name` exactly `granted` (making it when missing); returns its id."""
    from webapp.auth import permissions
    from webapp.extensions import db
    from webapp.models import Group, GroupPermission

    with app.app_context():
        group = db.session.scalar(select(Group).where(Group.name == name))
        if group is None:
            group = Group(name=name, description="")
            db.session.add(group)
            db.session.flush()
        db.session.execute(db.delete(GroupPermission).where(GroupPermission.group_id == group.id))
        db.session.add_all(GroupPermission(group_id=group.id, permission=p) for p in granted)
        db.session.commit()
        permissions.forget()
        return group.id


def join(app, user_id, group_id):
    from webapp.extensions import db
    from webapp.models import UserGroup

    with app.app_context():
        db.session.add(UserGroup(user_id=user_id, group_id=group_id))
        db.session.commit()


# --- the admin pages and API ---------------------------------------------------------------------

ADMIN_PAGES = {"plans": ["/admin/plans", "/admin/plans/1"], "groups": ["/admin/groups", "/admin/groups/1"]}
ADMIN_API = {"plans": ["/api/v1/admin/plans"], "groups": ["/api/v1/admin/groups", "/api/v1/admin/groups/1"]}


@pytest.mark.parametrize("granted, may", [
    ((), set()),
    (("view_audit",), set()),
    (("view_audit", "manage_plans"), {"plans"}),
    (("manage_users",), {"groups"}),
])
def test_plans_and_groups_answer_only_to_their_permission(app, make_user, granted, may):
    user_id = make_user(username="mod")
    if granted:
        join(app, user_id, set_group(app, "moderator", granted))
    browser = app.test_client()
    AuthActions(browser).login("mod")
    api = api_client(app, "mod")
    for section in ("plans", "groups"):
        expected = 200 if section in may else 404
        for path in ADMIN_PAGES[section]:
            assert browser.get(path).status_code == expected, path
        for path in ADMIN_API[section]:
            assert api.get(path).status_code == expected, path
    token = csrf_token_from(browser.get("/").get_data(as_text=True))
    created = browser.post("/admin/plans", data={"csrf_token": token, "name": "sneaky"})
    assert created.status_code == (200 if "plans" in may else 404)
    assert api.post("/api/v1/admin/groups", json={"name": "x"}).status_code == (201 if "groups" in may else 404)
    for section in may:
        nav = browser.get(f"/admin/{section}").get_data(as_text=True)
        assert all((f'href="/admin/{other}"' in nav) == (other in may) for other in ("plans", "groups"))


def test_the_caller_learns_their_role_groups_and_permissions(app, kim):
    join(app, kim.id, set_group(app, "moderator", ["view_audit"]))
    answer = kim.get("/api/v1/account/permissions").get_json()
    assert answer == {"role": "user", "groups": ["Members", "moderator"],
                      "permissions": ["share", "transform", "upload", "use_api", "view_audit"]}


# --- guests --------------------------------------------------------------------------------------

@pytest.fixture
def guest(app, make_user):
    user_id = make_user(username="visitor", role="guest")
    browser = app.test_client()
    assert AuthActions(browser).login("visitor").status_code in (302, 303)
    browser.user_id = user_id
    return browser


def test_a_guest_sees_an_empty_gallery_without_an_upload_button(guest):
    page = guest.get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'href="/upload"' not in html and "may not upload" in html


def test_a_guest_may_not_upload_on_the_page(guest):
    assert UPLOAD_REFUSED in guest.get("/upload").get_data(as_text=True)
    assert guest.get("/upload").status_code == 403
    token = csrf_token_from(guest.get("/").get_data(as_text=True))
    body, content_type = multipart({"file": (make_jpeg(), "a.jpg"), "csrf_token": token})
    response = guest.post("/upload", data=body, content_type=content_type, headers={"Accept": "application/json"})
    assert response.status_code == 403 and response.get_json()["error"]["message"] == UPLOAD_REFUSED


def test_a_guest_may_not_use_the_api_but_may_ask_what_they_may_do(app, guest):
    api = api_client(app, "visitor")
    response = api.post("/api/v1/images", json={"url": "https://example.com/a.jpg"})
    assert response.status_code == 403
    assert response.get_json()["error"] == {"code": "api_not_allowed",
                                            "message": "Your account may not use the API; ask an administrator."}
    assert api.get("/api/v1/images").status_code == 403
    assert api.get("/api/v1/account/permissions").get_json() == {"role": "guest", "groups": ["Guests"],
                                                                 "permissions": []}
    assert api.get("/api/v1/account").status_code == 200


def test_a_guest_opens_a_share_link(app, kim, guest):
    media_id = kim.upload(make_jpeg()).get_json()["id"]
    link = make_link(app, kim.id, media_id=media_id)
    opened = guest.get(link.url)
    assert opened.status_code == 200 and media_id in opened.get_data(as_text=True)
    assert guest.get(f"/s/{link.token}/p/{media_id}/small").status_code == 200


def test_a_guest_may_not_share_or_transform(app, guest):
    from webapp.errors import Forbidden
    from webapp.extensions import db
    from webapp.media import variants
    from webapp.models import User
    from webapp.shares import service

    with app.app_context():
        visitor = db.session.get(User, guest.user_id)
        with pytest.raises(Forbidden, match="may not make share links"):
            service.create_share(visitor, service.Target(media_id="x"), service.Options())
        with pytest.raises(Forbidden, match="may not transform photos"):
            variants.create_variant(visitor, None, None)


# --- members whose groups lose a permission -----------------------------------------------------

def test_members_without_upload_are_refused_on_the_api_and_the_page(app, kim, auth):
    set_group(app, "Members", ["share", "transform", "use_api"])
    response = kim.upload(make_jpeg())
    assert response.status_code == 403 and response.get_json()["error"]["message"] == UPLOAD_REFUSED
    url = kim.upload_json({"url": "https://example.com/a.jpg"})
    assert url.status_code == 403 and url.get_json()["error"]["code"] == "upload_not_allowed"
    auth.login("kim")
    assert 'href="/upload"' not in auth._client.get("/").get_data(as_text=True)


def test_members_without_share_or_transform_are_refused_and_not_offered_the_buttons(app, kim, auth):
    media_id = kim.upload(make_jpeg((200, 150))).get_json()["id"]
    set_group(app, "Members", ["upload", "use_api"])
    shared = kim.test_client.post("/api/v1/shares", headers=kim.headers, json={"image_id": media_id})
    assert shared.status_code == 403
    assert shared.get_json()["error"]["message"] == "Your account may not make share links; ask an administrator."
    made = kim.test_client.post(f"/api/v1/images/{media_id}/transform", headers=kim.headers,
                                json={"transformations": {"rotate": 90}})
    assert made.status_code == 403
    assert made.get_json()["error"]["message"] == "Your account may not transform photos; ask an administrator."
    auth.login("kim")
    page = auth._client.get(f"/photos/{media_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and f"/i/{media_id}/edit" not in html and "data-share-open" not in html
    assert auth._client.get(f"/i/{media_id}/edit").status_code == 403


def test_members_without_use_api_are_refused_with_tokens_and_keys(app, kim):
    set_group(app, "Members", ["upload", "share", "transform"])
    response = kim.get("/api/v1/images")
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "api_not_allowed"
    assert kim.get("/api/v1/account/permissions").status_code == 200
