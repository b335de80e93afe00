"""Single sign-on against a real OpenID provider (oidc-provider on Node.js, tests/fixtures/oidc/): accounts are
found by (issuer, subject), linked by email only when verified and allowed, made per the registration setting;
state and nonce are checked; groups follow the provider; password sign-in can be kept for administrators."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.fixtures.accounts import STRONG_PASSWORD, AuthActions
from tests.fixtures.oidc_provider import walk_to_callback

ALICE = {"email": "alice@example.com", "email_verified": True, "preferred_username": "alice", "name": "Alice",
         "groups": ["family"]}
BOB = {"email": "bob@example.com", "email_verified": True, "preferred_username": "bob", "name": "Bob", "groups": []}


@pytest.fixture
def sso_app(make_app, oidc_provider, make_user):
    """make(**oidc settings) -> an app signing in through the test provider; an admin (root) exists."""
    def make(**oidc):
        app = make_app(oidc=oidc_provider.settings(**oidc))
        with app.app_context():
            from webapp.auth import service
            service.create_user("root@example.com", "root", STRONG_PASSWORD, role="admin", verified=True)
        return app
    oidc_provider.people({"alice": ALICE, "bob": BOB})
    return make


def sign_in(client, provider, sub, browser=None, start="/auth/oidc/login"):
    """Walk a whole sign-in as `sub`; the app's answer to the callback."""
    started = client.get(start)
    assert started.status_code == 302, started.get_data(as_text=True)[:300]
    callback = walk_to_callback(started.headers["Location"], provider, sub, browser)
    assert callback.startswith("http://shoebox.test/auth/oidc/callback?"), callback
    parts = urlsplit(callback)
    return client.get(f"{parts.path}?{parts.query}")


def row(app, query):
    from webapp.extensions import db

    with app.app_context():
        return db.session.execute(query).all()


def identities(app):
    from sqlalchemy import select

    from webapp.models import Identity, User

    return row(app, select(User.username, User.email, Identity.subject, User.is_verified)
               .join(Identity, Identity.user_id == User.id).order_by(Identity.id))


def audit_actions(app, action):
    from sqlalchemy import select

    from webapp.models import AuditEvent

    return [r[0] for r in row(app, select(AuditEvent.details).where(AuditEvent.action == action)
                             .order_by(AuditEvent.id))]


def who_is_signed_in(client) -> str | None:
    """The name the page header shows for the signed-in person, None when nobody is."""
    import re

    page = client.get("/settings/")
    if page.status_code != 200:
        return None
    match = re.search(r'<span class="user-name">([^<]+)</span>', page.get_data(as_text=True))
    return match.group(1) if match else None


def test_first_sign_in_creates_a_verified_account_with_its_identity(sso_app, oidc_provider):
    app = sso_app()
    client = app.test_client()
    answer = sign_in(client, oidc_provider, "alice")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/")
    assert identities(app) == [("alice", "alice@example.com", "alice", True)]
    assert who_is_signed_in(client) == "alice"
    assert [d["method"] for d in audit_actions(app, "signup")] == ["sso"]
    assert [d["method"] for d in audit_actions(app, "login")] == ["sso"]


def test_second_sign_in_lands_in_the_same_account(sso_app, oidc_provider):
    app = sso_app()
    browser = requests.Session()  # the provider remembers alice: the second time needs no interaction
    sign_in(app.test_client(), oidc_provider, "alice", browser)
    again = app.test_client()
    assert sign_in(again, oidc_provider, "alice", browser).status_code == 302
    assert who_is_signed_in(again) == "alice"
    assert identities(app) == [("alice", "alice@example.com", "alice", True)]
    assert len(audit_actions(app, "login")) == 2


def test_two_provider_people_with_one_email_never_share_an_account(sso_app, oidc_provider):
    app = sso_app(allow_linking=True)
    oidc_provider.people({"alice": ALICE, "mallory": {**ALICE, "preferred_username": "mallory"}})
    sign_in(app.test_client(), oidc_provider, "alice")
    intruder = app.test_client()
    refused = sign_in(intruder, oidc_provider, "mallory")
    assert refused.status_code == 403
    assert "already joined to another account at this single sign-on provider" in refused.get_data(as_text=True)
    assert who_is_signed_in(intruder) is None
    assert identities(app) == [("alice", "alice@example.com", "alice", True)]
    assert [d["reason"] for d in audit_actions(app, "sso_refused")] == ["already_linked"]


def test_a_replayed_state_fails(sso_app, oidc_provider):
    app = sso_app()
    client = app.test_client()
    started = client.get("/auth/oidc/login")
    before = client.get_cookie("shoebox_session").value  # the session that holds this state
    callback = walk_to_callback(started.headers["Location"], oidc_provider, "alice")
    parts = urlsplit(callback)
    assert client.get(f"{parts.path}?{parts.query}").status_code == 302
    # The same callback again, in the same browser: its state was used up.
    again = client.get(f"{parts.path}?{parts.query}")
    assert again.status_code == 400 and "could not be checked" in again.get_data(as_text=True)
    # And with the session from before (a copied cookie): the provider refuses the code a second time.
    thief = app.test_client()
    thief.set_cookie("shoebox_session", before)
    stolen = thief.get(f"{parts.path}?{parts.query}")
    assert stolen.status_code == 400 and who_is_signed_in(thief) is None
    # A state that was never issued.
    assert client.get("/auth/oidc/callback?code=x&state=forged").status_code == 400
    assert len(audit_actions(app, "login")) == 1
    assert [d["error"] for d in audit_actions(app, "sso_failed")] == \
        ["MismatchingStateError", "OAuthError", "MismatchingStateError"]


def test_a_wrong_nonce_fails(sso_app, oidc_provider):
    app = sso_app()
    client = app.test_client()
    started = client.get("/auth/oidc/login")
    state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
    # The browser's session is changed to expect another nonce than the one the provider puts in the ID token.
    serializer = app.session_interface.get_signing_serializer(app)
    session = serializer.loads(client.get_cookie("shoebox_session").value)
    assert session[f"_state_oidc_{state}"]["data"]["nonce"]
    session[f"_state_oidc_{state}"]["data"]["nonce"] = "a-nonce-the-provider-never-saw"
    client.set_cookie("shoebox_session", serializer.dumps(session))
    callback = walk_to_callback(started.headers["Location"], oidc_provider, "alice")
    parts = urlsplit(callback)
    answer = client.get(f"{parts.path}?{parts.query}")
    assert answer.status_code == 400
    assert identities(app) == [] and who_is_signed_in(client) is None
    assert audit_actions(app, "login") == []
    # The ID token's nonce is not this session's.
    assert [d["error"] for d in audit_actions(app, "sso_failed")] == ["InvalidClaimError"]


def test_an_unverified_email_does_not_link(sso_app, oidc_provider, make_user):
    app = sso_app(allow_linking=True)
    make_user(email="bob@example.com", username="bobby")
    oidc_provider.people({"bob": {**BOB, "email_verified": False}})
    refused = sign_in(app.test_client(), oidc_provider, "bob")
    assert refused.status_code == 403
    assert "has not confirmed that the address is yours" in refused.get_data(as_text=True)
    assert identities(app) == []
    assert [d["reason"] for d in audit_actions(app, "sso_refused")] == ["email_unverified"]


def test_linking_off_does_not_link_an_existing_account(sso_app, oidc_provider, make_user):
    app = sso_app()  # allow_linking defaults to off
    make_user(email="bob@example.com", username="bobby")
    refused = sign_in(app.test_client(), oidc_provider, "bob")
    assert refused.status_code == 403
    assert "does not join single sign-on to existing accounts" in refused.get_data(as_text=True)
    assert identities(app) == []


def test_a_verified_email_links_when_linking_is_allowed(sso_app, oidc_provider, make_user):
    app = sso_app(allow_linking=True)
    make_user(email="bob@example.com", username="bobby")
    client = app.test_client()
    assert sign_in(client, oidc_provider, "bob").status_code == 302
    assert who_is_signed_in(client) == "bobby"
    assert identities(app) == [("bobby", "bob@example.com", "bob", True)]
    assert len(audit_actions(app, "sso_linked")) == 1


def test_closed_registration_refuses_new_accounts(sso_app, oidc_provider):
    from sqlalchemy import func, select

    from webapp import instance
    from webapp.extensions import db
    from webapp.models import User

    app = sso_app()
    with app.app_context():
        instance.put("registration", "closed")
        db.session.commit()
    refused = sign_in(app.test_client(), oidc_provider, "alice")
    assert refused.status_code == 403 and "registration is closed" in refused.get_data(as_text=True)
    assert row(app, select(func.count()).select_from(User)) == [(1,)]  # only root


def test_invite_only_registration_takes_an_invite_through_single_sign_on(sso_app, oidc_provider):
    from webapp import instance
    from webapp.auth import invites
    from webapp.extensions import db
    from webapp.models import User

    app = sso_app()
    with app.app_context():
        instance.put("registration", "invite")
        db.session.commit()
        code = invites.create_invite(db.session.get(User, 1))
    refused = sign_in(app.test_client(), oidc_provider, "alice")
    assert refused.status_code == 403 and "needs an invite" in refused.get_data(as_text=True)
    client = app.test_client()
    assert sign_in(client, oidc_provider, "alice", start=f"/auth/oidc/login?invite={code}").status_code == 302
    assert who_is_signed_in(client) == "alice"
    used = sign_in(app.test_client(), oidc_provider, "bob", start=f"/auth/oidc/login?invite={code}")
    assert used.status_code == 403  # an invite makes one account
    assert [r[0] for r in identities(app)] == ["alice"]


def test_groups_follow_the_provider_at_every_sign_in(sso_app, oidc_provider):
    from sqlalchemy import select

    from webapp.admin import groups
    from webapp.extensions import db
    from webapp.models import Group, User, UserGroup

    app = sso_app(groups_claim="groups")
    with app.app_context():
        root = db.session.get(User, 1)
        groups.create_group(root, "Family", granted=["share"])
        groups.create_group(root, "Friends", granted=["upload"])

    def memberships():
        return sorted(r[0] for r in row(app, select(Group.name).join(UserGroup, UserGroup.group_id == Group.id)
                                         .join(User, User.id == UserGroup.user_id).where(User.username == "alice")))

    oidc_provider.people({"alice": {**ALICE, "groups": ["family", "Administrators", "unknown"]}})
    sign_in(app.test_client(), oidc_provider, "alice")
    assert memberships() == ["Family"]
    oidc_provider.people({"alice": {**ALICE, "groups": ["FRIENDS"]}})
    sign_in(app.test_client(), oidc_provider, "alice")
    assert memberships() == ["Friends"]
    # The claim never makes (or unmakes) an administrator: roles are Shoebox's own.
    assert row(app, select(User.role).where(User.username == "alice")) == [("user",)]
    assert [(d["added"], d["removed"]) for d in audit_actions(app, "sso_groups_synced")] == \
        [(["Family"], []), (["Friends"], ["Family"])]


def test_a_blocked_account_is_refused(sso_app, oidc_provider):
    from webapp.auth import service
    from webapp.extensions import db
    from webapp.models import User

    app = sso_app()
    sign_in(app.test_client(), oidc_provider, "alice")
    with app.app_context():
        service.set_blocked(db.session.scalar(db.select(User).filter_by(username="alice")), True)
    client = app.test_client()
    refused = sign_in(client, oidc_provider, "alice")
    assert refused.status_code == 403 and "blocked" in refused.get_data(as_text=True)
    assert who_is_signed_in(client) is None


def test_redirect_uri_comes_from_base_url_not_the_host_header(sso_app):
    app = sso_app()
    started = app.test_client().get("/auth/oidc/login", headers={"Host": "evil.example"})
    query = parse_qs(urlsplit(started.headers["Location"]).query)
    assert query["redirect_uri"] == ["http://shoebox.test/auth/oidc/callback"]
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0]
    assert query["scope"][0].split() == ["openid", "email", "profile"]


def test_password_login_off_refuses_everyone_but_administrators(sso_app, oidc_provider, make_user):
    app = sso_app(password_login=False)
    make_user(email="kim@example.com", username="kim")
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert page.index("Sign in with single sign-on") < page.index('name="password"')
    assert "kept for administrators" in page
    refused = AuthActions(client).login("kim")
    assert refused.status_code == 200 and "Password sign-in is turned off" in refused.get_data(as_text=True)
    assert who_is_signed_in(client) is None
    api = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD})
    assert api.status_code == 403
    assert api.get_json()["error"] == {"code": "password_login_off", "field": "password", "message":
                                       "Password sign-in is turned off on this Shoebox: sign in with single sign-on "
                                       "instead."}
    signup = client.post("/api/v1/auth/signup", json={"email": "new@example.com", "username": "newbie",
                                                      "password": STRONG_PASSWORD})
    assert signup.status_code == 403 and signup.get_json()["error"]["code"] == "password_signup_off"
    assert AuthActions(client).login("root").status_code == 302
    assert who_is_signed_in(client) == "root"
    admin_api = app.test_client().post("/api/v1/auth/login", json={"identifier": "root", "password": STRONG_PASSWORD})
    assert admin_api.status_code == 200
    assert [r[0] for r in identities(app)] == []
    assert sign_in(app.test_client(), oidc_provider, "alice").status_code == 302  # the way in for everyone


def test_login_page_offers_the_configured_button_only_when_configured(sso_app, make_app):
    page = sso_app(button_label="Sign in with Authelia").test_client().get("/login").get_data(as_text=True)
    assert "Sign in with Authelia" in page and 'href="/auth/oidc/login"' in page and 'hx-boost="false"' in page
    plain = make_app()  # the same database, with root in it, and no [oidc] issuer
    assert "single sign-on" not in plain.test_client().get("/login").get_data(as_text=True)
    assert plain.test_client().get("/auth/oidc/login").status_code == 404


def test_settings_list_identities_and_unlink_needs_a_password(sso_app, oidc_provider, make_user):
    from sqlalchemy import select

    from tests.fixtures.accounts import csrf_token_from
    from webapp.models import Identity

    app = sso_app(allow_linking=True)
    make_user(email="bob@example.com", username="bobby")
    bob = app.test_client()
    sign_in(bob, oidc_provider, "bob")
    alice = app.test_client()
    sign_in(alice, oidc_provider, "alice")
    (bob_identity,), (alice_identity,) = row(app, select(Identity.id).order_by(Identity.id))
    page = alice.get("/settings/").get_data(as_text=True)
    assert "alice@example.com" in page and "has no password" in page and "/unlink" not in page
    token = csrf_token_from(page)
    # No password: unlinking would leave no way in.
    assert alice.post(f"/settings/sso/{alice_identity}/unlink", data={"csrf_token": token}).status_code == 302
    # Somebody else's identity is not found; without the CSRF token nothing happens.
    assert alice.post(f"/settings/sso/{bob_identity}/unlink", data={"csrf_token": token}).status_code == 404
    assert bob.post(f"/settings/sso/{bob_identity}/unlink").status_code == 400
    assert len(identities(app)) == 2
    bob_page = bob.get("/settings/").get_data(as_text=True)
    assert f"/settings/sso/{bob_identity}/unlink" in bob_page
    bob.post(f"/settings/sso/{bob_identity}/unlink", data={"csrf_token": csrf_token_from(bob_page)})
    assert [r[0] for r in identities(app)] == ["alice"]
    assert len(audit_actions(app, "sso_unlinked")) == 1


def test_admins_switch_password_sign_in_off_on_the_registration_page(sso_app, make_user):
    from tests.fixtures.accounts import csrf_token_from

    app = sso_app()
    make_user(email="kim@example.com", username="kim")
    kim = app.test_client()
    AuthActions(kim).login("kim")
    token = csrf_token_from(kim.get("/settings/").get_data(as_text=True))
    assert kim.post("/admin/sso/password-login", data={"csrf_token": token}).status_code == 404
    kim.post("/logout", data={"csrf_token": token})
    admin = app.test_client()
    AuthActions(admin).login("root")
    page = admin.get("/admin/registration").get_data(as_text=True)
    assert 'name="password_login" value="on"' in page and "checked" in page.split('name="password_login"')[1][:80]
    assert admin.post("/admin/sso/password-login", data={}).status_code == 400  # no CSRF token: nothing changes
    assert AuthActions(app.test_client()).login("kim").status_code == 302
    answer = admin.post("/admin/sso/password-login", data={"csrf_token": csrf_token_from(page)},
                        headers={"HX-Request": "true"})
    assert answer.status_code == 200 and 'id="password-login-setting"' in answer.get_data(as_text=True)
    assert "Password sign-in setting saved." in answer.get_data(as_text=True)
    refused = AuthActions(app.test_client()).login("kim")
    assert "Password sign-in is turned off" in refused.get_data(as_text=True)
    assert AuthActions(app.test_client()).login("root").status_code == 302
    assert [d["changes"] for d in audit_actions(app, "settings_changed")] == [{"password_login": [True, False]}]


def test_an_issuer_without_client_credentials_stops_start_up(make_app):
    from webapp.config import ConfigError

    with pytest.raises(ConfigError, match="oidc.client_secret must be set when oidc.issuer is"):
        make_app(oidc={"issuer": "https://sso.example.com", "client_id": "shoebox"})


def test_sign_in_returns_to_the_page_asked_for_and_never_off_site(sso_app, oidc_provider):
    app = sso_app()
    browser = requests.Session()
    back = sign_in(app.test_client(), oidc_provider, "alice", browser, start="/auth/oidc/login?next=/settings/")
    assert back.headers["Location"] == "/settings/"
    off_site = sign_in(app.test_client(), oidc_provider, "alice", browser,
                       start="/auth/oidc/login?next=//evil.example/")
    assert off_site.headers["Location"] == "/"
    page = app.test_client().get("/login?next=/albums/").get_data(as_text=True)
    assert 'href="/auth/oidc/login?next=/albums/"' in page


def test_sign_up_page_offers_single_sign_on_and_carries_an_invite(sso_app):
    from webapp import instance
    from webapp.extensions import db

    app = sso_app()
    page = app.test_client().get("/signup").get_data(as_text=True)
    assert 'href="/auth/oidc/login"' in page and 'name="password"' in page
    with app.app_context():
        instance.put("registration", "invite")
        db.session.commit()
    page = app.test_client().get("/signup").get_data(as_text=True)
    assert 'action="/auth/oidc/login"' in page and 'name="invite"' in page


def test_password_login_off_stops_password_sign_up_and_reset_links_for_people(sso_app, make_user):
    from sqlalchemy import select

    from tests.test_accounts_api import outbox
    from webapp.models import User

    app = sso_app(password_login=False)
    make_user(email="kim@example.com", username="kim")
    client = app.test_client()
    page = client.get("/signup").get_data(as_text=True)
    assert 'name="password"' not in page and "made the first time you sign in" in page
    form = client.post("/signup", data={"email": "new@example.com", "username": "newbie", "password": STRONG_PASSWORD,
                                        "confirm": STRONG_PASSWORD, "csrf_token": AuthActions(client).csrf("/signup")})
    assert form.status_code == 200 and "not with a password" in form.get_data(as_text=True)
    assert [r[0] for r in row(app, select(User.username).order_by(User.id))] == ["root", "kim"]
    for email in ("kim@example.com", "root@example.com"):
        client.post("/api/v1/auth/forgot-password", json={"email": email})
    assert [m[0] for m in outbox(app)] == ["root@example.com"]  # the administrator's way back in stays


def test_a_provider_that_is_down_gets_a_clear_503(make_app):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe is closed
    app = make_app(oidc={"issuer": f"http://127.0.0.1:{port}", "client_id": "shoebox", "client_secret": "s"})
    with app.app_context():
        from webapp.auth import service
        service.create_user("root@example.com", "root", STRONG_PASSWORD, role="admin", verified=True)
    answer = app.test_client().get("/auth/oidc/login")
    assert answer.status_code == 503 and "cannot be reached right now" in answer.get_data(as_text=True)


def test_a_discovery_document_naming_another_issuer_is_refused(sso_app, oidc_provider):
    app = sso_app(issuer=oidc_provider.issuer.replace("127.0.0.1", "localhost"))
    answer = app.test_client().get("/auth/oidc/login")
    assert answer.status_code == 403 and "another issuer than the one configured" in answer.get_data(as_text=True)


# --- everyone at once -----------------------------------------------------------------------------

def all_at_once(count: int, act) -> list:
    """`act(n)` in `count` threads released together; their answers in order (the first error is raised)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    start = threading.Barrier(count)

    def go(n):
        start.wait(timeout=60)
        return act(n)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(go, range(count)))


def meet_before_making(monkeypatch, count: int) -> None:
    """Hold each of `count` threads' first attempt to link or make an account until all of them have found no
    identity, so that every one of them tries to make it (the race, every time rather than by chance)."""
    import threading

    from webapp.auth import oidc
    from webapp.extensions import db

    meeting, held = threading.Barrier(count), threading.local()
    original = oidc._link_or_create

    def link_or_create(*args):
        if not getattr(held, "once", False):
            held.once = True
            # Waiting threads give their connection back (nothing is written yet), or 50 would need 50.
            assert not (db.session.new or db.session.dirty or db.session.deleted)
            db.session.rollback()
            meeting.wait(timeout=60)
        return original(*args)

    monkeypatch.setattr(oidc, "_link_or_create", link_or_create)


def users(app) -> list[str]:
    from sqlalchemy import select

    from webapp.models import User

    return [r[0] for r in row(app, select(User.username).order_by(User.id))]


def test_fifty_first_sign_ins_at_once_make_one_account_with_one_identity(sso_app, oidc_provider, monkeypatch):
    from webapp.auth import oidc

    app = sso_app()
    claims = {"iss": oidc_provider.issuer, "sub": "alice", **ALICE}
    meet_before_making(monkeypatch, 50)

    def sign_in_as_alice(_n):
        with app.app_context():
            user, how = oidc.sign_in(dict(claims))
            return user.id, user.username, how

    answers = all_at_once(50, sign_in_as_alice)
    assert {(user_id, name) for user_id, name, _how in answers} == {(2, "alice")}
    assert sorted(how for _id, _name, how in answers) == ["created"] + ["signed_in"] * 49
    assert users(app) == ["root", "alice"]
    assert identities(app) == [("alice", "alice@example.com", "alice", True)]
    assert len(audit_actions(app, "signup")) == 1 and len(audit_actions(app, "login")) == 50


def test_two_callbacks_of_one_first_sign_in_at_once_both_land_in_one_new_account(sso_app, oidc_provider,
                                                                                 monkeypatch):
    app = sso_app()
    browser = requests.Session()  # two tabs of one browser, signed in at the provider once
    tabs, callbacks = [app.test_client(), app.test_client()], []
    for tab in tabs:
        started = tab.get("/auth/oidc/login")
        parts = urlsplit(walk_to_callback(started.headers["Location"], oidc_provider, "alice", browser))
        callbacks.append(f"{parts.path}?{parts.query}")
    meet_before_making(monkeypatch, 2)
    answers = all_at_once(2, lambda n: tabs[n].get(callbacks[n]))
    assert [a.status_code for a in answers] == [302, 302], [a.get_data(as_text=True)[:300] for a in answers]
    assert [who_is_signed_in(tab) for tab in tabs] == ["alice", "alice"]
    assert users(app) == ["root", "alice"]
    assert identities(app) == [("alice", "alice@example.com", "alice", True)]


@pytest.mark.parametrize("existing_account", [False, True])
def test_two_provider_people_with_one_email_at_once_never_share_an_account(sso_app, oidc_provider, monkeypatch,
                                                                           make_user, existing_account):
    from webapp.auth import oidc

    app = sso_app(allow_linking=True)
    if existing_account:
        make_user(email="alice@example.com", username="alice")
    meet_before_making(monkeypatch, 2)

    def sign_in_as(n):
        claims = {"iss": oidc_provider.issuer, "sub": ["alice", "mallory"][n], **ALICE}
        with app.app_context():
            try:
                return oidc.sign_in(claims)[1]
            except oidc.SignInRefused as refusal:
                return refusal.code

    answers = all_at_once(2, sign_in_as)
    assert sorted(answers) == sorted(["linked" if existing_account else "created", "sso_already_linked"])
    assert users(app) == ["root", "alice"]
    assert len(identities(app)) == 1
    assert [d["reason"] for d in audit_actions(app, "sso_refused")] == ["already_linked"]


def test_two_first_sign_ins_with_one_invite_at_once_make_one_account(sso_app, oidc_provider, monkeypatch):
    from webapp import instance
    from webapp.auth import invites, oidc
    from webapp.extensions import db
    from webapp.models import User

    app = sso_app()
    with app.app_context():
        instance.put("registration", "invite")
        db.session.commit()
        code = invites.create_invite(db.session.get(User, 1))
    meet_before_making(monkeypatch, 3)

    def sign_in_as(n):  # alice twice at once (two tabs), and bob with the same code
        person = [ALICE, ALICE, BOB][n]
        claims = {"iss": oidc_provider.issuer, "sub": person["preferred_username"], **person}
        with app.app_context():
            try:
                return person["preferred_username"], oidc.sign_in(claims, code)[1]
            except oidc.SignInRefused as refusal:
                return person["preferred_username"], refusal.code

    answers = sorted(all_at_once(3, sign_in_as))
    made = [name for name, how in answers if how == "created"]
    assert len(made) == 1 and users(app) == ["root", made[0]]
    if made == ["alice"]:
        assert answers == [("alice", "created"), ("alice", "signed_in"), ("bob", "sso_invite_required")]
    else:  # bob's sign-in took the invite first: both of alice's are refused, and told why
        assert answers == [("alice", "sso_invite_required"), ("alice", "sso_invite_required"), ("bob", "created")]
    assert [r[0] for r in identities(app)] == made


# --- where a sign-in goes back to -----------------------------------------------------------------

@pytest.mark.parametrize("target, kept", [
    ("/albums/?sort=name", "/albums/?sort=name"), ("/settings/?", "/settings/"), ("//evil.example/", None),
    ("https://evil.example/", None), ("/\\evil.example", None), ("\\\\evil.example", None), ("http:evil.example", None),
    ("/\t/evil.example", None), (" //evil.example", None), ("/\x7f/evil.example", None), ("evil.example", None),
    ("javascript:alert(1)", None), ("", None)])
def test_sign_in_log_in_and_the_picker_follow_one_rule_for_going_back(sso_app, make_user, target, kept):
    """The same next= is kept, or dropped, by single sign-on, the password log-in page and the language picker."""
    from tests.fixtures.accounts import csrf_token_from

    app = sso_app()
    client = app.test_client()
    client.get("/auth/oidc/login", query_string={"next": target})
    serializer = app.session_interface.get_signing_serializer(app)
    assert serializer.loads(client.get_cookie("shoebox_session").value)["oidc_next"] == kept
    page = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    assert f'name="next" type="hidden" value="{kept or ""}"' in page.replace("&amp;", "&")
    picked = client.post("/language", data={"lang": "fr", "next": target, "csrf_token": csrf_token_from(page)})
    assert picked.status_code == 303 and picked.headers["Location"] == (kept or "/")


# --- the password sign-in switch in the settings API ----------------------------------------------

SETTINGS = "/api/v1/admin/settings"


def bearer(app, username: str) -> dict:
    token = app.test_client().post("/api/v1/auth/login", json={"identifier": username, "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_the_settings_api_reads_and_switches_password_sign_in(sso_app, make_user):
    app = sso_app()
    make_user(email="kim@example.com", username="kim")
    root, kim, api = bearer(app, "root"), bearer(app, "kim"), app.test_client()
    assert api.get(SETTINGS, headers=root).get_json()["password_login"] is True
    assert api.put(SETTINGS, json={"password_login": False}, headers=kim).status_code == 404  # not an admin
    refused = api.put(SETTINGS, json={"password_login": "off"}, headers=root)
    assert refused.status_code == 400 and refused.get_json()["error"]["field"] == "password_login"
    assert audit_actions(app, "settings_changed") == []
    answer = api.put(SETTINGS, json={"password_login": False}, headers=root)
    assert answer.status_code == 200 and answer.get_json()["password_login"] is False
    assert "Password sign-in is turned off" in AuthActions(app.test_client()).login("kim").get_data(as_text=True)
    assert AuthActions(app.test_client()).login("root").status_code == 302  # administrators keep their way in
    admin = app.test_client()
    AuthActions(admin).login("root")
    switch = admin.get("/admin/registration").get_data(as_text=True).split('name="password_login"')[1][:80]
    assert "checked" not in switch  # the page shows what the API set
    assert api.put(SETTINGS, json={"password_login": True}, headers=root).get_json()["password_login"] is True
    assert AuthActions(app.test_client()).login("kim").status_code == 302
    assert audit_actions(app, "settings_changed") == [{"changes": {"password_login": [True, False]}},
                                                      {"changes": {"password_login": [False, True]}}]


def test_the_settings_api_follows_the_config_file_until_the_switch_is_used(sso_app):
    app = sso_app(password_login=False)
    root, api = bearer(app, "root"), app.test_client()
    assert api.get(SETTINGS, headers=root).get_json()["password_login"] is False
    assert api.put(SETTINGS, json={"password_login": True}, headers=root).get_json()["password_login"] is True
    assert audit_actions(app, "settings_changed") == [{"changes": {"password_login": [False, True]}}]


def test_password_sign_in_cannot_be_turned_off_without_single_sign_on(make_app):
    from webapp.auth import service

    app = make_app()  # no [oidc] issuer
    with app.app_context():
        service.create_user("root@example.com", "root", STRONG_PASSWORD, role="admin", verified=True)
    root, api = bearer(app, "root"), app.test_client()
    assert api.get(SETTINGS, headers=root).get_json()["password_login"] is True
    refused = api.put(SETTINGS, json={"password_login": False, "site_name": "Not kept"}, headers=root)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["field"] == "password_login"
    assert "only be turned off while single sign-on is set up" in refused.get_json()["error"]["message"]
    assert api.get(SETTINGS, headers=root).get_json()["site_name"] == "Shoebox"
    assert audit_actions(app, "settings_changed") == []


def test_a_sign_in_that_keeps_losing_races_gets_a_503_and_no_account(sso_app, oidc_provider, monkeypatch):
    from sqlalchemy.exc import IntegrityError

    from webapp.auth import oidc

    app = sso_app()
    tries = []

    def always_beaten(*args):
        tries.append(args)
        raise IntegrityError("INSERT INTO identities ...", {}, Exception("UNIQUE constraint failed"))

    monkeypatch.setattr(oidc, "_sign_in_once", always_beaten)
    client = app.test_client()
    answer = sign_in(client, oidc_provider, "alice")
    assert answer.status_code == 503 and "Too many sign-ins arrived" in answer.get_data(as_text=True)
    assert len(tries) == oidc.SIGN_IN_ATTEMPTS and who_is_signed_in(client) is None
    assert users(app) == ["root"] and identities(app) == []
