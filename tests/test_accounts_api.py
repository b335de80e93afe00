"""Accounts over the JSON API: sign-up, tokens, two-factor, keys, email links, deletion, abuse."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import jwt
import pyotp
import pytest

from tests.fixtures.accounts import STRONG_PASSWORD

NEW_PASSWORD = "a completely different sentence"


@pytest.fixture
def api(client):
    """JSON calls: api.post(path, json, token=..., key=...) -> response."""
    class Api:
        def call(self, method, path, json=None, token=None, key=None, headers=None):
            headers = dict(headers or {})
            if token:
                headers["Authorization"] = f"Bearer {token}"
            if key:
                headers["X-API-Key"] = key
            return client.open(f"/api/v1{path}", method=method, json=json, headers=headers)

        def post(self, path, json=None, **kw):
            return self.call("POST", path, json, **kw)

        def get(self, path, **kw):
            return self.call("GET", path, **kw)

        def patch(self, path, json=None, **kw):
            return self.call("PATCH", path, json, **kw)

        def delete(self, path, **kw):
            return self.call("DELETE", path, **kw)
    return Api()


def outbox(app, to=None):
    """Every message written so far (after the background work that writes them has run)."""
    from webapp import mail
    from webapp.extensions import db
    from webapp.models import OutboxMessage

    mail.wait_for_delivery()
    with app.app_context():
        query = db.select(OutboxMessage).order_by(OutboxMessage.id)
        if to:
            query = query.where(OutboxMessage.to == to)
        return [(m.to, m.subject, m.text_body) for m in db.session.scalars(query)]


def link_in(text: str) -> str:
    return re.search(r"https?://\S+", text).group(0)


def token_from_last_mail(app, to, path_part):
    link = link_in(outbox(app, to)[-1][2])
    assert path_part in link
    return link.rsplit("/", 1)[1]


def audit_actions(app):
    from webapp.extensions import db
    from webapp.models import AuditEvent

    with app.app_context():
        return [e.action for e in db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id))]


@pytest.fixture
def admin(make_user):
    return make_user(email="admin@example.com", username="admin", role="admin")


def signup(api, email="kim@example.com", username="kim", password=STRONG_PASSWORD, **extra):
    return api.post("/auth/signup", {"email": email, "username": username, "password": password, **extra})


def login(api, identifier="kim", password=STRONG_PASSWORD, **extra):
    return api.post("/auth/login", {"identifier": identifier, "password": password, **extra})


# --- sign-up ---------------------------------------------------------------------------------

def test_signup_returns_tokens_and_sends_a_confirmation_link(app, api, admin):
    response = signup(api, headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["user"]["email"] == "kim@example.com" and body["user"]["is_verified"] is False
    assert body["user"]["role"] == "user" and body["user"]["plan"] == "free"
    to, subject, text = outbox(app, "kim@example.com")[-1]
    assert subject == "Confirm your email address"
    assert link_in(text).startswith("http://shoebox.test/verify/")  # the base URL, never the Host header
    assert api.get("/account", token=body["access_token"]).get_json()["username"] == "kim"


def test_first_signup_on_an_empty_instance_becomes_the_admin(api):
    body = signup(api).get_json()
    assert body["user"]["role"] == "admin" and body["user"]["is_verified"] is True


def test_signup_without_username_makes_one_from_the_address(api, admin):
    body = api.post("/auth/signup", {"email": "Jo.Smith@Example.com", "password": STRONG_PASSWORD}).get_json()
    assert body["user"]["username"] == "jo.smith" and body["user"]["email"] == "jo.smith@example.com"


@pytest.mark.parametrize("fields, code", [
    ({"email": "nope"}, "invalid_email"),
    ({"password": "password1234"}, "weak_password"),
    ({"password": "short"}, "weak_password"),
    ({"username": "no spaces"}, "invalid_username"),
])
def test_signup_refuses_bad_input_with_a_sentence(api, admin, fields, code):
    response = signup(api, **fields)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"].endswith(".")


def test_signup_with_a_taken_address_creates_nothing(app, api, admin):
    signup(api)
    response = signup(api, username="someone-else")
    assert response.status_code == 409
    assert outbox(app, "kim@example.com")[-1][1] == "Someone tried to sign up with your email address"


@pytest.mark.parametrize("email", ["admin@nas.home.arpa", "me@box.local", "me@home.lan"])
def test_home_network_addresses_are_accepted(api, admin, email):
    assert signup(api, email=email, username="homelab").status_code == 201


def test_malformed_json_is_a_clear_400(api):
    response = api.call("POST", "/auth/login", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"


def test_closed_registration_refuses_signup(app, api, admin):
    from webapp import instance
    from webapp.extensions import db

    with app.app_context():
        instance.put("registration", "closed")
        db.session.commit()
    response = signup(api)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "registration_closed"


def test_invite_only_registration_takes_each_code_once(app, api, admin):
    from webapp import instance
    from webapp.auth import invites
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        instance.put("registration", "invite")
        db.session.commit()
        code = invites.create_invite(db.session.get(User, admin))
    assert signup(api).get_json()["error"]["code"] == "invite_required"
    assert signup(api, invite=code).status_code == 201
    again = signup(api, email="lee@example.com", username="lee", invite=code)
    assert again.status_code == 403 and again.get_json()["error"]["code"] == "invite_required"


# --- logging in and tokens -------------------------------------------------------------------

def test_login_with_email_or_username(api, make_user):
    make_user(email="kim@example.com", username="kim")
    assert login(api, "kim").status_code == 200
    assert login(api, "KIM@example.com").status_code == 200


def test_wrong_password_and_unknown_user_are_told_the_same(api, make_user):
    make_user(username="kim")
    wrong, unknown = login(api, "kim", "wrong wrong wrong"), login(api, "nobody", "wrong wrong wrong")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    assert wrong.get_json()["error"]["code"] == "invalid_credentials"
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")


def test_blocked_user_cannot_log_in_and_loses_tokens_and_keys(app, api, make_user):
    from webapp.auth import service
    from webapp.extensions import db
    from webapp.models import User

    user_id = make_user(username="kim")
    tokens = login(api).get_json()
    key = api.post("/api-keys", {"name": "script"}, token=tokens["access_token"]).get_json()["key"]
    with app.app_context():
        service.set_blocked(db.session.get(User, user_id), True)
    assert login(api).status_code == 403
    assert api.get("/account", token=tokens["access_token"]).status_code == 401
    assert api.get("/account", key=key).status_code == 401
    assert api.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]}).status_code == 401


def _forge(app, claims_change=None, key=None, algorithm="HS256"):
    with app.app_context():
        now = int(time.time())
        claims = {"iss": "shoebox", "sub": "1", "typ": "access", "fam": "x", "ep": 0, "jti": "j",
                  "iat": now, "exp": now + 60}
        claims.update(claims_change or {})
        return jwt.encode(claims, key or app.config["TOKEN_KEY"], algorithm=algorithm) if algorithm != "none" \
            else jwt.encode(claims, None, algorithm="none")


def test_expired_tampered_forged_and_unsigned_tokens_are_refused(app, api, make_user):
    make_user(username="kim")
    good = login(api).get_json()["access_token"]
    claims = jwt.decode(good, options={"verify_signature": False})
    expired = _forge(app, {**claims, "exp": int(time.time()) - 5, "iat": int(time.time()) - 100})
    wrong_key = _forge(app, claims, key="not-the-key" * 4)
    unsigned = _forge(app, claims, algorithm="none")
    header, payload, signature = good.split(".")
    tampered = ".".join([header, payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1], signature])
    refresh_as_access = login(api).get_json()["refresh_token"]
    assert api.get("/account", token=good).status_code == 200
    for bad in (expired, wrong_key, unsigned, tampered, refresh_as_access, "garbage"):
        response = api.get("/account", token=bad)
        assert response.status_code == 401, bad
    assert api.get("/account", token=expired).get_json()["error"]["code"] == "token_expired"


def test_refresh_rotates_and_reuse_revokes_the_whole_family(app, api, make_user):
    make_user(username="kim")
    first = login(api).get_json()
    second = api.post("/auth/refresh", {"refresh_token": first["refresh_token"]}).get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert api.get("/account", token=second["access_token"]).status_code == 200

    stolen = api.post("/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert stolen.status_code == 401 and stolen.get_json()["error"]["code"] == "token_reused"
    # Everything descended from that login is dead now, including the legitimate newer tokens.
    assert api.post("/auth/refresh", {"refresh_token": second["refresh_token"]}).status_code == 401
    assert api.get("/account", token=second["access_token"]).status_code == 401
    other_login = login(api).get_json()
    assert api.get("/account", token=other_login["access_token"]).status_code == 200


def test_refresh_tokens_are_used_once_even_when_raced(app, api, make_user):
    from concurrent.futures import ThreadPoolExecutor

    make_user(username="kim")
    refresh = login(api).get_json()["refresh_token"]

    def use(_):
        with app.test_client() as client:
            return client.post("/api/v1/auth/refresh", json={"refresh_token": refresh}).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(use, range(4)))
    assert statuses.count(200) <= 1


def test_logout_revokes_the_access_token_and_its_refresh_family(api, make_user):
    make_user(username="kim")
    tokens = login(api).get_json()
    assert api.post("/auth/logout", token=tokens["access_token"]).status_code == 204
    assert api.get("/account", token=tokens["access_token"]).status_code == 401
    assert api.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]}).status_code == 401


def test_change_password_revokes_every_other_token(app, api, make_user):
    make_user(username="kim")
    other = login(api).get_json()
    mine = login(api).get_json()
    response = api.post("/auth/change-password", {"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
                        token=mine["access_token"])
    assert response.status_code == 200
    fresh = response.get_json()
    assert api.get("/account", token=other["access_token"]).status_code == 401
    assert api.get("/account", token=mine["access_token"]).status_code == 401
    assert api.get("/account", token=fresh["access_token"]).status_code == 200
    assert login(api, "kim", NEW_PASSWORD).status_code == 200
    assert outbox(app, "user1@example.com")[-1][1] == "Your Shoebox password was changed"


def test_change_password_needs_the_current_one(api, make_user):
    make_user(username="kim")
    token = login(api).get_json()["access_token"]
    response = api.post("/auth/change-password", {"current_password": "nope nope nope", "new_password": NEW_PASSWORD},
                        token=token)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "wrong_password"


# --- email links -----------------------------------------------------------------------------

def test_verify_email_with_the_mailed_token_once(app, api, admin):
    signup(api)
    token = token_from_last_mail(app, "kim@example.com", "/verify/")
    response = api.post("/auth/verify-email", {"token": token})
    assert response.status_code == 200 and response.get_json()["user"]["is_verified"] is True
    assert api.post("/auth/verify-email", {"token": token}).status_code == 410


def test_resend_and_forgot_answer_the_same_for_unknown_addresses(app, api, make_user):
    make_user(email="kim@example.com", username="kim", verified=False)
    for path in ("/auth/resend-verification", "/auth/forgot-password"):
        known = api.post(path, {"email": "kim@example.com"})
        unknown = api.post(path, {"email": "nobody@example.com"})
        assert known.status_code == unknown.status_code == 202
        assert known.get_json() == unknown.get_json()
    assert [m[0] for m in outbox(app)] == ["kim@example.com", "kim@example.com"]


def test_reset_password_works_once_and_ends_every_session(app, api, make_user):
    make_user(email="kim@example.com", username="kim")
    old = login(api).get_json()
    api.post("/auth/forgot-password", {"email": "kim@example.com"})
    token = token_from_last_mail(app, "kim@example.com", "/password/reset/")
    assert api.post("/auth/reset-password", {"token": token, "password": NEW_PASSWORD}).status_code == 200
    assert api.get("/account", token=old["access_token"]).status_code == 401
    assert login(api, "kim", NEW_PASSWORD).status_code == 200
    again = api.post("/auth/reset-password", {"token": token, "password": "yet another fine sentence"})
    assert again.status_code == 410 and again.get_json()["error"]["code"] == "token_invalid"


def test_a_weak_new_password_does_not_use_up_the_reset_link(app, api, make_user):
    make_user(email="kim@example.com", username="kim")
    api.post("/auth/forgot-password", {"email": "kim@example.com"})
    token = token_from_last_mail(app, "kim@example.com", "/password/reset/")
    weak = api.post("/auth/reset-password", {"token": token, "password": "password123"})
    assert weak.status_code == 400 and weak.get_json()["error"]["code"] == "weak_password"
    assert api.post("/auth/reset-password", {"token": token, "password": NEW_PASSWORD}).status_code == 200


def test_expired_reset_token_is_refused(app, api, make_user):
    from webapp.extensions import db
    from webapp.models import AccountToken, utcnow

    make_user(email="kim@example.com", username="kim")
    api.post("/auth/forgot-password", {"email": "kim@example.com"})
    token = token_from_last_mail(app, "kim@example.com", "/password/reset/")
    with app.app_context():
        for row in db.session.scalars(db.select(AccountToken)):
            row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert api.post("/auth/reset-password", {"token": token, "password": NEW_PASSWORD}).status_code == 410
    assert login(api, "kim", NEW_PASSWORD).status_code == 401


def test_only_the_newest_reset_link_works(app, api, make_user):
    make_user(email="kim@example.com", username="kim")
    api.post("/auth/forgot-password", {"email": "kim@example.com"})
    first = token_from_last_mail(app, "kim@example.com", "/password/reset/")
    api.post("/auth/forgot-password", {"email": "kim@example.com"})
    # The link is made and mailed after the request answers; once the new one is out, the old one is dead.
    assert token_from_last_mail(app, "kim@example.com", "/password/reset/") != first
    assert api.post("/auth/reset-password", {"token": first, "password": NEW_PASSWORD}).status_code == 410


def test_forgot_password_is_limited_per_address(api, make_user):
    make_user(email="kim@example.com", username="kim")
    statuses = [api.post("/auth/forgot-password", {"email": "kim@example.com"}).status_code for _ in range(4)]
    assert statuses == [202, 202, 202, 429]
    limited = api.post("/auth/forgot-password", {"email": "kim@example.com"})
    assert int(limited.headers["Retry-After"]) > 0
    assert api.post("/auth/forgot-password", {"email": "lee@example.com"}).status_code == 202


def test_signup_is_limited_per_address_across_client_addresses(api, admin):
    statuses = [signup(api, username=f"kim{n}", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
                for n in range(4)]
    assert statuses[:1] == [201] and statuses[3] == 429


def test_unverified_accounts_can_log_in(api, make_user):
    make_user(username="kim", verified=False)
    body = login(api).get_json()
    assert body["user"]["is_verified"] is False and body["access_token"]


def test_login_is_limited_per_account_across_addresses(api, make_user):
    make_user(username="kim")
    statuses = [api.post("/auth/login", {"identifier": "kim", "password": "wrong wrong wrong"},
                         headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code for n in range(6)]
    assert statuses == [401] * 5 + [429]


# --- the account ------------------------------------------------------------------------------

def test_account_patch_changes_profile_but_never_role_plan_or_verification(app, api, make_user):
    make_user(username="kim", verified=False)
    token = login(api).get_json()["access_token"]
    for field, value in (("role", "admin"), ("plan", "unlimited"), ("is_verified", True), ("plan_id", 3)):
        response = api.patch("/account", {field: value}, token=token)
        assert response.status_code == 403 and field in response.get_json()["error"]["message"]
    body = api.get("/account", token=token).get_json()
    assert (body["role"], body["plan"], body["is_verified"]) == ("user", "free", False)
    updated = api.patch("/account", {"display_name": "<b>Kim</b>", "locale": "de"}, token=token).get_json()
    assert updated["display_name"] == "<b>Kim</b>" and updated["locale"] == "de"
    assert api.patch("/account", {"colour": "red"}, token=token).status_code == 400


def test_email_change_needs_the_password_and_the_new_address_confirms_it(app, api, make_user):
    make_user(email="kim@example.com", username="kim")
    token = login(api).get_json()["access_token"]
    assert api.patch("/account", {"email": "new@example.com", "password": "wrong"}, token=token).status_code == 400
    assert api.patch("/account", {"email": "new@example.com", "password": STRONG_PASSWORD}, token=token).status_code == 200
    assert api.get("/account", token=token).get_json()["email"] == "kim@example.com"
    assert outbox(app, "kim@example.com")[-1][1] == "Your Shoebox email address is being changed"
    link = link_in(outbox(app, "new@example.com")[-1][2])
    assert "/email/confirm/" in link
    from urllib.parse import urlsplit

    app.test_client().get(urlsplit(link).path)
    assert api.get("/account", token=token).get_json()["email"] == "new@example.com"


def test_deletion_can_be_requested_cancelled_and_then_purges(app, api, make_user):
    from webapp.auth import deletion
    from webapp.extensions import db
    from webapp.models import User, utcnow

    user_id = make_user(username="kim")
    token = login(api).get_json()["access_token"]
    assert api.post("/account/delete-request", {"password": "wrong"}, token=token).status_code == 400
    response = api.post("/account/delete-request", {"password": STRONG_PASSWORD}, token=token)
    assert response.status_code == 202 and response.get_json()["deletion_scheduled_for"]
    assert api.post("/account/delete-cancel", token=token).get_json()["deletion_scheduled_for"] is None
    api.post("/account/delete-request", {"password": STRONG_PASSWORD}, token=token)
    with app.app_context():
        assert deletion.purge_due_accounts(utcnow() + timedelta(days=6)) == 0
        assert deletion.purge_due_accounts(utcnow() + timedelta(days=8)) == 1
        assert db.session.get(User, user_id) is None
    assert api.get("/account", token=token).status_code == 401


# --- API keys --------------------------------------------------------------------------------

def test_api_key_is_shown_once_works_and_dies_when_revoked(app, api, make_user):
    make_user(username="kim")
    token = login(api).get_json()["access_token"]
    created = api.post("/api-keys", {"name": "ShareX"}, token=token)
    assert created.status_code == 201
    key = created.get_json()["key"]
    assert key.startswith("sbx_")
    listed = api.get("/api-keys", token=token).get_json()
    assert listed["next_cursor"] is None and "key" not in listed["items"][0]
    assert listed["items"][0]["prefix"] == key[:12]
    assert api.get("/account", key=key).get_json()["username"] == "kim"
    assert api.get("/api-keys", token=token).get_json()["items"][0]["last_used_at"] is not None
    assert api.delete(f"/api-keys/{created.get_json()['id']}", token=token).status_code == 204
    assert api.get("/account", key=key).status_code == 401
    assert api.delete(f"/api-keys/{created.get_json()['id']}", token=token).status_code == 404


def test_api_key_hourly_limit_answers_429_with_retry_after(api, make_user):
    make_user(username="kim")
    token = login(api).get_json()["access_token"]
    key = api.post("/api-keys", {"name": "tight", "rate_limit_per_hour": 3}, token=token).get_json()["key"]
    statuses = [api.get("/account", key=key).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = api.get("/account", key=key)
    assert 0 < int(limited.headers["Retry-After"]) <= 3600
    assert limited.get_json()["error"]["code"] == "rate_limited"


def test_other_users_keys_cannot_be_revoked(api, make_user):
    make_user(username="kim")
    make_user(username="lee")
    kim = login(api, "kim").get_json()["access_token"]
    lee = login(api, "lee").get_json()["access_token"]
    key_id = api.post("/api-keys", {"name": "mine"}, token=kim).get_json()["id"]
    assert api.delete(f"/api-keys/{key_id}", token=lee).status_code == 404
    assert len(api.get("/api-keys", token=kim).get_json()["items"]) == 1


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "x" * 81}, {"name": "ok", "rate_limit_per_hour": -1},
                                  {"name": "ok", "rate_limit_per_hour": "lots"}])
def test_bad_api_key_requests_are_refused(api, make_user, body):
    make_user(username="kim")
    token = login(api).get_json()["access_token"]
    assert api.post("/api-keys", body, token=token).status_code == 400


def test_a_bad_credential_is_never_ignored_because_another_is_good(api, make_user):
    make_user(username="kim")
    token = login(api).get_json()["access_token"]
    key = api.post("/api-keys", {"name": "k"}, token=token).get_json()["key"]
    assert api.get("/account", key=key, headers={"Authorization": "Bearer forged"}).status_code == 401
    assert api.get("/account", token=token, headers={"X-API-Key": "sbx_forged"}).status_code == 401
    assert api.get("/account", headers={"Authorization": f"Basic {token}"}).status_code == 401


def test_api_without_credentials_is_401(api):
    response = api.get("/account")
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


# --- two-factor ------------------------------------------------------------------------------

def enable_two_factor(app, user_id):
    from webapp.auth import twofactor
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        user = db.session.get(User, user_id)
        secret = twofactor.begin_enrolment(user)
        codes = twofactor.confirm_enrolment(user, pyotp.TOTP(secret).now())
        user.totp_last_step = 0  # let the test use the current code again
        db.session.commit()
    return secret, codes


def test_two_factor_applies_to_api_login(app, api, make_user):
    user_id = make_user(username="kim")
    secret, codes = enable_two_factor(app, user_id)
    assert login(api).get_json()["error"]["code"] == "otp_required"
    assert login(api, otp="000000").get_json()["error"]["code"] == "otp_invalid"
    code = pyotp.TOTP(secret).now()
    assert login(api, otp=code).status_code == 200
    assert login(api, otp=code).status_code == 401  # the same code never works twice
    assert login(api, otp=codes[0]).status_code == 200
    assert login(api, otp=codes[0]).status_code == 401


# --- the audit log ---------------------------------------------------------------------------

def test_auth_events_are_audited(app, api, make_user):
    make_user(username="kim")
    login(api, "kim", "wrong wrong wrong")
    tokens = login(api).get_json()
    key_id = api.post("/api-keys", {"name": "k"}, token=tokens["access_token"]).get_json()["id"]
    api.delete(f"/api-keys/{key_id}", token=tokens["access_token"])
    api.post("/account/delete-request", {"password": STRONG_PASSWORD}, token=tokens["access_token"])
    api.post("/account/delete-cancel", token=tokens["access_token"])
    fresh = api.post("/auth/change-password", {"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
                     token=tokens["access_token"]).get_json()
    api.post("/auth/logout", token=fresh["access_token"])
    actions = audit_actions(app)
    for expected in ("login_failed", "login", "api_key_created", "api_key_revoked", "deletion_requested",
                     "deletion_cancelled", "password_changed", "logout"):
        assert expected in actions


def test_ids_beyond_any_column_are_404_not_a_crash(api, make_user):
    make_user(username="kim")
    token = login(api).get_json()["access_token"]
    for key_id in ("4263876729298632704", "2147483648", "99999999999999999999999"):
        assert api.delete(f"/api-keys/{key_id}", token=token).status_code == 404


# --- keeping photo locations -----------------------------------------------------------------

def test_keep_location_is_off_until_patched_on_and_each_change_is_audited(app, api, make_user):
    make_user(username="kim")
    token = login(api).get_json()["access_token"]
    assert api.get("/account", token=token).get_json()["keep_location"] is False
    assert api.patch("/account", {"keep_location": True}, token=token).get_json()["keep_location"] is True
    assert api.get("/account", token=token).get_json()["keep_location"] is True
    api.patch("/account", {"keep_location": True}, token=token)  # no change, nothing to record
    assert api.patch("/account", {"keep_location": False}, token=token).get_json()["keep_location"] is False
    actions = audit_actions(app)
    assert actions.count("keep_location_changed") == 2 and "profile_updated" not in actions


@pytest.mark.parametrize("value", ["true", 1, None, [], {"on": True}])
def test_keep_location_must_be_true_or_false(app, api, make_user, value):
    make_user(username="kim")
    token = login(api).get_json()["access_token"]
    response = api.patch("/account", {"keep_location": value, "display_name": "Kim"}, token=token)
    assert response.status_code == 400
    assert response.get_json()["error"] == {"code": "invalid_field", "message": "keep_location must be true or false."}
    body = api.get("/account", token=token).get_json()
    assert body["keep_location"] is False and body["display_name"] != "Kim"  # nothing half-applied
