"""Admin → People: the list (search, filters, sorts, keyset pages), a person's page, and each action as the
affected person notices it; who may open the pages and who may act on whom; CSRF, audit, escaping."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD, AuthActions, csrf_token_from

HTMX = {"HX-Request": "true"}


@pytest.fixture
def admin_client(app, client, make_user, auth):
    """A client logged in as the admin "root"; kim exists as a plain user."""
    make_user(username="kim", email="kim@example.com")
    make_user(username="root", role="admin", email="root@example.com")
    auth.login("root")
    return client


def user_id(app, username: str) -> int:
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        return db.session.scalar(db.select(User.id).where(User.username == username))


def account(app, username: str):
    """The account row as it is now (detached)."""
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == username))
        db.session.expunge_all()
        return user


def change(app, username: str, **fields) -> None:
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == username))
        for name, value in fields.items():
            setattr(user, name, value)
        db.session.commit()


def audit_actions(app, target: str) -> list[str]:
    from webapp.extensions import db
    from webapp.models import AuditEvent

    with app.app_context():
        return list(db.session.scalars(db.select(AuditEvent.action).where(AuditEvent.target == target)
                                       .order_by(AuditEvent.id)))


def make_group(app, name: str, *granted: str, members=()) -> int:
    from webapp.extensions import db
    from webapp.models import Group, GroupPermission, User, UserGroup

    with app.app_context():
        group = Group(name=name, description="")
        db.session.add(group)
        db.session.flush()
        db.session.add_all(GroupPermission(group_id=group.id, permission=p) for p in granted)
        for username in members:
            member = db.session.scalar(db.select(User).where(User.username == username))
            db.session.add(UserGroup(user_id=member.id, group_id=group.id))
        db.session.commit()
        return group.id


def many_users(app, count: int) -> None:
    """`count` accounts written straight to the table (one password hash for all: hashing each is slow)."""
    from webapp.auth.service import hash_password
    from webapp.extensions import db
    from webapp.models import User, utcnow

    with app.app_context():
        hashed = hash_password(STRONG_PASSWORD)
        now = utcnow()
        for n in range(count):
            db.session.add(User(email=f"bulk{n}@example.com", username=f"bulk{n:02d}", password_hash=hashed,
                                display_name=f"Bulk Person {n}", role="user", is_verified=True,
                                storage_used=(n * 7919) % 13 * 1000, media_count=n % 5,
                                created_at=now - timedelta(minutes=n % 9),  # ties: the id breaks them
                                last_login_at=None if n % 4 == 0 else now - timedelta(hours=n % 6)))
        db.session.commit()


def post(client, path: str, page: str, **data):
    token = csrf_token_from(client.get(page).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def act(client, app, username: str, action: str, confirm=True, **data):
    uid = user_id(app, username)
    extra = {"confirm": "1"} if confirm else {}
    return post(client, f"/admin/users/{uid}/{action}", f"/admin/users/{uid}", **extra, **data)


def listed(html: str) -> list[str]:
    return re.findall(r'class="muted small">@([^<]+)</span>', html)


# --- who may open the pages -----------------------------------------------------------------------

def test_a_member_gets_404_on_people_pages_and_actions(app, client, make_user, auth):
    make_user(username="kim")
    make_user(username="root", role="admin")
    auth.login("kim")
    root = user_id(app, "root")
    assert client.get("/admin/users").status_code == 404
    assert client.get(f"/admin/users/{root}").status_code == 404
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    assert client.post(f"/admin/users/{root}/block", data={"csrf_token": token, "confirm": "1"}).status_code == 404
    assert not account(app, "root").is_blocked


def test_someone_in_a_group_with_manage_users_gets_in(app, client, make_user, auth):
    make_user(username="kim")
    make_user(username="mod")
    make_group(app, "Moderators", "manage_users", members=["mod"])
    auth.login("mod")
    page = client.get("/admin/users")
    assert page.status_code == 200
    assert "kim" in listed(page.get_data(as_text=True))
    assert client.get(f"/admin/users/{user_id(app, 'kim')}").status_code == 200


def test_someone_who_may_only_read_the_audit_log_gets_404_on_people(app, client, make_user, auth):
    make_user(username="kim")
    make_user(username="auditor")
    make_group(app, "Auditors", "view_audit", members=["auditor"])
    auth.login("auditor")
    assert client.get("/admin/users").status_code == 404
    assert client.get(f"/admin/users/{user_id(app, 'kim')}").status_code == 404


def test_an_unknown_person_or_action_is_404(admin_client, app):
    assert admin_client.get("/admin/users/999999").status_code == 404
    assert act(admin_client, app, "kim", "promote_to_emperor").status_code == 404


# --- the list -------------------------------------------------------------------------------------

def test_search_matches_display_name_username_and_email_in_any_case(admin_client, app, make_user):
    make_user(username="alex", email="Alex.Morgan@Example.org")
    change(app, "kim", display_name="Kimberly Jensen")
    assert listed(admin_client.get("/admin/users?q=JENSEN").get_data(as_text=True)) == ["kim"]
    assert listed(admin_client.get("/admin/users?q=ale").get_data(as_text=True)) == ["alex"]
    assert listed(admin_client.get("/admin/users?q=morgan@example").get_data(as_text=True)) == ["alex"]
    assert "Nobody matches" in admin_client.get("/admin/users?q=%25").get_data(as_text=True)


def test_filters_by_role_group_plan_state_and_recent_sign_in(admin_client, app, make_user):
    from webapp.models import utcnow

    for name in ("blocked1", "unverified1", "leaving1", "guest1", "recent1"):
        make_user(username=name, verified=name != "unverified1", role="guest" if name == "guest1" else "user")
    change(app, "blocked1", is_blocked=True)
    change(app, "leaving1", delete_scheduled_for=utcnow() + timedelta(days=3))
    change(app, "recent1", last_login_at=utcnow() - timedelta(hours=2))
    change(app, "kim", last_login_at=utcnow() - timedelta(days=40))
    group = make_group(app, "Helpers", "view_stats", members=["guest1", "kim"])

    def names(query: str) -> set[str]:
        return set(listed(admin_client.get("/admin/users?" + query).get_data(as_text=True)))

    assert names("blocked=true") == {"blocked1"}
    assert names("unverified=true") == {"unverified1"}
    assert names("deletion_pending=true") == {"leaving1"}
    assert names("group=guest") == {"guest1"}
    assert names("group=admin") == {"root"}
    assert names(f"group={group}") == {"guest1", "kim"}
    assert names("active_within_days=7") >= {"recent1"} and "kim" not in names("active_within_days=7")
    assert "kim" in names("active_within_days=90")
    pro = _plan_id(app, "pro")
    change(app, "kim", plan_id=pro)
    assert names(f"plan={pro}") == {"kim"}
    # An empty field of the GET form means "any".
    assert "kim" in names("q=&group=&plan=&active_within_days=&sort=joined&order=desc")


def _plan_id(app, name: str) -> int:
    from webapp.extensions import db
    from webapp.models import Plan

    with app.app_context():
        return db.session.scalar(db.select(Plan.id).where(Plan.name == name))


@pytest.mark.parametrize("sort", ["joined", "last_login", "storage", "photos"])
def test_next_links_walk_every_person_exactly_once_in_order(admin_client, app, sort):
    many_users(app, 60)
    seen, url, pages = [], f"/admin/users?sort={sort}&order=desc", 0
    while url:
        html = admin_client.get(url.replace("&amp;", "&")).get_data(as_text=True)
        seen += listed(html)
        found = re.search(r'<a href="([^"]+)" rel="next">', html)
        url = found.group(1) if found else None
        pages += 1
    assert pages == 2  # 50 to a page
    assert len(seen) == len(set(seen)) == 62


def test_a_bad_cursor_says_so_in_one_sentence(admin_client):
    page = admin_client.get("/admin/users?cursor=bm9wZQ")
    assert page.status_code == 200
    assert "The cursor is not one this server gave out for this order." in page.get_data(as_text=True)


def test_the_filter_form_gets_only_the_results_with_htmx(admin_client):
    response = admin_client.get("/admin/users?q=kim", headers=HTMX)
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="users-results"') and "<nav" not in html.split("users-results")[0]
    assert "HX-Request" in response.headers.get("Vary", "")
    full = admin_client.get("/admin/users?q=kim").get_data(as_text=True)
    assert 'method="get"' in full and 'hx-get="/admin/users"' in full  # works without JavaScript too


def test_names_and_emails_are_escaped(admin_client, app):
    change(app, "kim", display_name='<script>alert("x")</script>')
    for path in ("/admin/users", f"/admin/users/{user_id(app, 'kim')}"):
        html = admin_client.get(path).get_data(as_text=True)
        assert '<script>alert("x")</script>' not in html
        assert "&lt;script&gt;alert(" in html


def test_the_list_shows_role_plan_storage_photos_and_badges(admin_client, app):
    change(app, "kim", storage_used=3 * 1024**3, media_count=1234, is_verified=False, totp_secret="A" * 32)
    html = admin_client.get("/admin/users?q=kim").get_data(as_text=True)
    for text in ("kim@example.com", "Member", "free", "3 GB", "1,234", "Unverified", "2FA", "Never"):
        assert text in html, text


# --- a person's page ------------------------------------------------------------------------------

def test_a_persons_page_shows_storage_counts_keys_sessions_sign_in_and_events(admin_client, app, client):
    other = app.test_client()
    AuthActions(other).login("kim")
    kim_api = app.test_client().post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD})
    headers = {"Authorization": f"Bearer {kim_api.get_json()['access_token']}"}
    app.test_client().post("/api/v1/api-keys", headers=headers, json={"name": "backup script"})
    change(app, "kim", storage_used=1024**3)
    html = admin_client.get(f"/admin/users/{user_id(app, 'kim')}").get_data(as_text=True)
    assert "<meter" in html and "1 GB of 5 GB" in html
    assert "backup script" in html and "sbx_" in html
    assert "Browser sessions" in html and "Not signed in on any browser." not in html
    assert "2FA off" in html
    assert "from 127.0.0.1" in html
    assert f'href="/admin/audit?target=user:{user_id(app, "kim")}"' in html
    assert "<code>login</code>" in html


# --- actions and their effect ---------------------------------------------------------------------

def test_block_asks_first_then_blocks_and_the_person_is_signed_out(admin_client, app):
    kim_browser = app.test_client()
    AuthActions(kim_browser).login("kim")
    assert kim_browser.get("/settings/").status_code == 200
    question = act(admin_client, app, "kim", "block", confirm=False)
    assert question.status_code == 200 and "Block kim?" in question.get_data(as_text=True)
    assert not account(app, "kim").is_blocked
    done = act(admin_client, app, "kim", "block")
    assert done.status_code == 303
    assert account(app, "kim").is_blocked
    assert kim_browser.get("/settings/").status_code in (302, 401)
    assert audit_actions(app, f"user:{user_id(app, 'kim')}")[-1] == "user_blocked"
    act(admin_client, app, "kim", "unblock")
    assert not account(app, "kim").is_blocked
    assert audit_actions(app, f"user:{user_id(app, 'kim')}")[-1] == "user_unblocked"


def test_an_action_with_htmx_comes_back_as_the_persons_fragment(admin_client, app):
    uid = user_id(app, "kim")
    token = csrf_token_from(admin_client.get(f"/admin/users/{uid}").get_data(as_text=True))
    asked = admin_client.post(f"/admin/users/{uid}/block", data={"csrf_token": token}, headers=HTMX)
    html = asked.get_data(as_text=True)
    assert asked.status_code == 200 and html.lstrip().startswith('<div id="user-detail"')
    assert 'name="confirm" value="1"' in html
    done = admin_client.post(f"/admin/users/{uid}/block", data={"csrf_token": token, "confirm": "1"}, headers=HTMX)
    assert "The account is blocked." in done.get_data(as_text=True)


def test_a_post_without_the_csrf_token_is_refused(admin_client, app):
    uid = user_id(app, "kim")
    response = admin_client.post(f"/admin/users/{uid}/block", data={"confirm": "1"})
    assert response.status_code == 400
    assert not account(app, "kim").is_blocked


def test_an_admin_cannot_block_demote_or_delete_themselves(admin_client, app, make_user):
    make_user(username="second", role="admin")
    for action, data in (("block", {}), ("role", {"role": "user"}), ("schedule_deletion", {}), ("delete_now", {})):
        response = act(admin_client, app, "root", action, **data)
        assert response.status_code == 403, action
        assert any(s in response.get_data(as_text=True) for s in
                   ("You cannot block your own account.", "You cannot take away your own administrator role.",
                    "You cannot delete your own account from here; use your settings."))
    root = account(app, "root")
    assert root.role == "admin" and not root.is_blocked and root.delete_scheduled_for is None


def test_someone_who_is_not_an_admin_cannot_act_on_an_admin_nor_make_one(app, client, make_user, auth):
    make_user(username="root", role="admin")
    make_user(username="kim")
    make_user(username="mod")
    make_group(app, "Moderators", "manage_users", members=["mod"])
    auth.login("mod")
    response = act(client, app, "root", "block")
    assert response.status_code == 403
    assert "Only an administrator can change an administrator&#39;s account." in response.get_data(as_text=True)
    assert not account(app, "root").is_blocked
    response = act(client, app, "kim", "role", role="admin")
    assert response.status_code == 403
    assert "Only an administrator can make someone an administrator." in response.get_data(as_text=True)
    assert account(app, "kim").role == "user"
    assert act(client, app, "kim", "plan", plan=str(_plan_id(app, "pro"))).status_code == 303
    assert account(app, "kim").plan_id == _plan_id(app, "pro")


def test_a_moderator_cannot_hand_out_permissions_they_do_not_hold(app, client, make_user, auth):
    make_user(username="kim")
    make_user(username="mod")
    make_group(app, "Moderators", "manage_users", members=["mod"])
    settings = make_group(app, "Settings people", "manage_settings")
    auth.login("mod")
    response = act(client, app, "mod", "groups", groups=str(settings))
    assert response.status_code == 403
    assert "groups whose permissions you hold yourself" in response.get_data(as_text=True)


def test_the_last_admin_cannot_be_demoted(app, client, make_user, auth):
    make_user(username="root", role="admin")
    make_user(username="exadmin", role="admin")
    auth.login("root")
    assert act(client, app, "exadmin", "role", role="user").status_code == 303
    assert account(app, "exadmin").role == "user"
    # root alone now: another admin who is blocked does not count, and root cannot demote itself.
    make_user(username="sleepy", role="admin")
    change(app, "sleepy", is_blocked=True)
    response = act(client, app, "root", "role", role="guest")
    assert response.status_code == 403


def test_the_last_active_admin_cannot_be_blocked_by_another_admin(app, client, make_user, auth):
    make_user(username="root", role="admin")
    make_user(username="other", role="admin")
    auth.login("root")
    change(app, "other", delete_scheduled_for=None)
    # root acts on other while root itself is pending deletion: other is the last active admin.
    from webapp.models import utcnow
    change(app, "root", delete_scheduled_for=utcnow() + timedelta(days=7))
    for action, data in (("block", {}), ("role", {"role": "user"}), ("schedule_deletion", {}), ("delete_now", {})):
        response = act(client, app, "other", action, **data)
        assert response.status_code == 409, action
        assert "other is the last active administrator" in response.get_data(as_text=True)
    other = account(app, "other")
    assert other.role == "admin" and not other.is_blocked and other.delete_scheduled_for is None


def test_change_plan_offers_only_plans_in_use_and_keeps_a_retired_current_one(admin_client, app):
    from webapp.models import utcnow

    pro = _plan_id(app, "pro")
    change(app, "kim", plan_id=pro)
    from webapp.extensions import db
    from webapp.models import Plan

    with app.app_context():
        db.session.get(Plan, pro).retired_at = utcnow()
        db.session.commit()
    html = admin_client.get(f"/admin/users/{user_id(app, 'kim')}").get_data(as_text=True)
    assert re.search(rf'<option value="{pro}" selected>pro \(retired\)', html)
    root_page = admin_client.get(f"/admin/users/{user_id(app, 'root')}").get_data(as_text=True)
    assert f'<option value="{pro}"' not in root_page
    response = act(admin_client, app, "root", "plan", plan=str(pro))
    assert response.status_code == 400 and "The plan pro is retired; choose another." in response.get_data(as_text=True)
    free = _plan_id(app, "free")
    assert act(admin_client, app, "kim", "plan", plan=str(free)).status_code == 303
    assert account(app, "kim").plan_id == free
    assert audit_actions(app, f"user:{user_id(app, 'kim')}")[-1] == "user_plan_changed"


def test_role_and_groups_change_what_the_person_may_do(admin_client, app):
    group = make_group(app, "Statisticians", "view_stats")
    kim_browser = app.test_client()
    AuthActions(kim_browser).login("kim")
    assert kim_browser.get("/admin/").status_code == 404
    assert act(admin_client, app, "kim", "groups", groups=str(group)).status_code == 303
    assert kim_browser.get("/admin/").status_code == 200  # on the next request
    assert act(admin_client, app, "kim", "groups").status_code == 303  # none ticked: out of every group
    assert kim_browser.get("/admin/").status_code == 404
    assert act(admin_client, app, "kim", "role", role="guest").status_code == 303
    assert account(app, "kim").role == "guest"
    actions = audit_actions(app, f"user:{user_id(app, 'kim')}")
    assert actions[-3:] == ["user_groups_changed", "user_groups_changed", "user_role_changed"]


def test_mark_verified_password_reset_and_two_factor_off(admin_client, app):
    from webapp.extensions import db
    from webapp.models import OutboxMessage, RecoveryCode

    change(app, "kim", is_verified=False, totp_secret="JBSWY3DPEHPK3PXP")
    with app.app_context():
        db.session.add(RecoveryCode(user_id=user_id(app, "kim"), code_hash="x" * 64))
        db.session.commit()
    assert act(admin_client, app, "kim", "verify").status_code == 303
    assert account(app, "kim").is_verified
    assert act(admin_client, app, "kim", "password_reset").status_code == 303
    asked = act(admin_client, app, "kim", "two_factor_off", confirm=False)
    assert "Turn off two-factor login for kim?" in asked.get_data(as_text=True)
    assert act(admin_client, app, "kim", "two_factor_off").status_code == 303
    assert account(app, "kim").totp_secret is None
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(RecoveryCode)) == 0
        subjects = list(db.session.scalars(db.select(OutboxMessage.subject)
                                           .where(OutboxMessage.to == "kim@example.com")))
    assert "Reset your password" in subjects and "Two-factor login changed on your account" in subjects
    assert audit_actions(app, f"user:{user_id(app, 'kim')}")[-3:] == [
        "user_verified_by_admin", "password_reset_sent_by_admin", "two_factor_disabled_by_admin"]


def test_the_emailed_reset_link_sets_a_new_password(admin_client, app):
    from webapp.extensions import db
    from webapp.models import OutboxMessage

    act(admin_client, app, "kim", "password_reset")
    with app.app_context():
        body = db.session.scalar(db.select(OutboxMessage.text_body).where(OutboxMessage.to == "kim@example.com"))
    link = re.search(r"http://shoebox\.test(/\S*reset\S*)", body)
    assert link, body
    kim_browser = app.test_client()
    token = csrf_token_from(kim_browser.get(link.group(1)).get_data(as_text=True))
    new_password = "a brand new tortoise umbrella"
    kim_browser.post(link.group(1), data={"csrf_token": token, "password": new_password, "confirm": new_password})
    assert AuthActions(kim_browser).login("kim", new_password).status_code == 302


def test_sign_out_everywhere_ends_browser_and_api_logins_but_not_keys(admin_client, app):
    kim_browser = app.test_client()
    AuthActions(kim_browser).login("kim")
    api = app.test_client()
    tokens = api.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}).get_json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    key = api.post("/api/v1/api-keys", headers=bearer, json={"name": "script"}).get_json()["key"]
    assert act(admin_client, app, "kim", "sign_out").status_code == 303
    assert kim_browser.get("/settings/").status_code in (302, 401)
    assert api.get("/api/v1/account", headers=bearer).status_code == 401
    assert api.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
    assert api.get("/api/v1/account", headers={"X-API-Key": key}).status_code == 200
    assert audit_actions(app, f"user:{user_id(app, 'kim')}")[-1] == "user_signed_out_by_admin"


def test_schedule_and_cancel_deletion(admin_client, app):
    from webapp.models import utcnow

    asked = act(admin_client, app, "kim", "schedule_deletion", confirm=False)
    assert "Delete the account of kim in 7 days?" in asked.get_data(as_text=True)
    assert act(admin_client, app, "kim", "schedule_deletion").status_code == 303
    when = account(app, "kim").delete_scheduled_for
    assert timedelta(days=6, hours=23) < when - utcnow() <= timedelta(days=7)
    html = admin_client.get(f"/admin/users/{user_id(app, 'kim')}").get_data(as_text=True)
    assert "Deletion pending" in html and "Cancel deletion" in html
    assert act(admin_client, app, "kim", "cancel_deletion").status_code == 303
    assert account(app, "kim").delete_scheduled_for is None
    assert audit_actions(app, f"user:{user_id(app, 'kim')}")[-2:] == [
        "user_deletion_scheduled_by_admin", "user_deletion_cancelled_by_admin"]


def test_delete_now_blocks_at_once_and_the_purge_job_removes_the_account(admin_client, app):
    from webapp import jobs

    uid = user_id(app, "kim")
    kim_browser = app.test_client()
    AuthActions(kim_browser).login("kim")
    response = act(admin_client, app, "kim", "delete_now")
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/users")
    assert account(app, "kim").is_blocked
    assert kim_browser.get("/settings/").status_code in (302, 401)
    jobs.work_until_idle(app, names=["account_purge"])
    assert account(app, "kim") is None
    assert admin_client.get(f"/admin/users/{uid}").status_code == 404
    assert {"user_deleted_by_admin", "account_deleted"} <= set(audit_actions(app, f"user:{uid}"))
