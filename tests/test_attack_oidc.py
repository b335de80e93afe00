"""Attacks on single sign-on, against the real test provider (tests/fixtures/oidc_provider.py): a sign-in
started in one browser finished in another (login CSRF), a code used twice or with another state, ID tokens
that are unsigned, signed with the client secret or the provider's public key, signed by someone else, or that
name another issuer or client; a provider account whose email is changed to, or matches, someone else's (an
administrator's); off-site `next`; blocked accounts; and every password door while password sign-in is off.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests

from tests.fixtures.accounts import STRONG_PASSWORD, AuthActions
from tests.fixtures.oidc_provider import walk_to_callback
from tests.test_oidc import ALICE, BOB, audit_actions, identities, sign_in, who_is_signed_in

MALLORY = {"email": "mallory@example.com", "email_verified": True, "preferred_username": "mallory",
           "name": "Mallory", "groups": []}


@pytest.fixture
def sso_app(make_app, oidc_provider):
    """make(**oidc settings) -> an app signing in through the test provider; root (an admin) exists."""
    def make(**oidc):
        app = make_app(oidc=oidc_provider.settings(**oidc))
        with app.app_context():
            from webapp.auth import service
            service.create_user("root@example.com", "root", STRONG_PASSWORD, role="admin", verified=True)
        return app
    oidc_provider.people({"alice": ALICE, "bob": BOB, "mallory": MALLORY})
    return make


def callback_of(client, provider, sub: str, start: str = "/auth/oidc/login") -> str:
    """Start a sign-in in `client` and walk it at the provider as `sub`: the callback path and query, unused."""
    started = client.get(start)
    assert started.status_code == 302
    parts = urlsplit(walk_to_callback(started.headers["Location"], provider, sub))
    return f"{parts.path}?{parts.query}"


# --- login CSRF and stolen or replayed codes ------------------------------------------------------------

def test_an_attacker_s_callback_opened_in_the_victim_s_browser_signs_nobody_in(sso_app, oidc_provider):
    app = sso_app()
    attacker = app.test_client()
    planted = callback_of(attacker, oidc_provider, "mallory")
    victim = app.test_client()
    fresh = victim.get(planted)  # a link or an <img> in a page the victim opens
    assert fresh.status_code == 400 and who_is_signed_in(victim) is None
    # The victim was signing in themselves at that moment: the planted callback still does not fit their state,
    # and their own sign-in goes on afterwards.
    own = callback_of(victim, oidc_provider, "alice", start="/auth/oidc/login?next=/albums/")
    assert victim.get(planted).status_code == 400 and who_is_signed_in(victim) is None
    finished = victim.get(own)
    assert finished.status_code == 302 and who_is_signed_in(victim) == "alice"
    assert [r[0] for r in identities(app)] == ["alice"]
    assert [d["error"] for d in audit_actions(app, "sso_failed")] == ["MismatchingStateError"] * 2


def test_a_used_code_fails_with_a_new_valid_state_of_the_same_browser(sso_app, oidc_provider):
    """The code is bound to the PKCE verifier of the state it was issued for: a second state cannot spend it."""
    app = sso_app()
    client = app.test_client()
    first = callback_of(client, oidc_provider, "alice")
    assert client.get(first).status_code == 302
    code = dict(part.split("=", 1) for part in urlsplit(first).query.split("&"))["code"]
    AuthActions(client).logout()
    started = client.get("/auth/oidc/login")
    state = dict(part.split("=", 1) for part in urlsplit(started.headers["Location"]).query.split("&"))["state"]
    replay = client.get(f"/auth/oidc/callback?code={code}&state={state}")
    assert replay.status_code == 400 and who_is_signed_in(client) is None


def test_an_unused_code_with_another_browser_s_state_fails(sso_app, oidc_provider):
    """Browser A's code with browser B's own valid state: B's PKCE verifier is not the one A's code needs."""
    app = sso_app()
    a, b = app.test_client(), app.test_client()
    a_callback = callback_of(a, oidc_provider, "mallory")
    a_code = dict(part.split("=", 1) for part in urlsplit(a_callback).query.split("&"))["code"]
    started = b.get("/auth/oidc/login")
    b_state = dict(part.split("=", 1) for part in urlsplit(started.headers["Location"]).query.split("&"))["state"]
    answer = b.get(f"/auth/oidc/callback?code={a_code}&state={b_state}")
    assert answer.status_code == 400 and who_is_signed_in(b) is None
    assert identities(app) == []


# --- forged ID tokens ---------------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _claims_of(id_token: str) -> dict:
    return json.loads(_unb64(id_token.split(".")[1]))


def _unsigned(header: dict, claims: dict) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def _hs256(claims: dict, secret: bytes, kid: str | None = None) -> str:
    header = {"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})}
    signing_input = _unsigned(header, claims)
    return f"{signing_input}.{_b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def _provider_public_key(provider):
    from joserfc.jwk import KeySet

    jwks = requests.get(requests.get(provider.issuer + "/.well-known/openid-configuration", timeout=5)
                        .json()["jwks_uri"], timeout=5).json()
    rsa = [key for key in jwks["keys"] if key["kty"] == "RSA"]
    return KeySet.import_key_set({"keys": rsa}).keys[0], rsa[0].get("kid")


def _attacker_key(kid: str | None):
    from joserfc.jwk import RSAKey

    return RSAKey.generate_key(2048, parameters={"kid": kid} if kid else None, auto_kid=False)


def _rs256(claims: dict, key, kid: str | None) -> str:
    from joserfc import jwt

    return jwt.encode({"alg": "RS256", **({"kid": kid} if kid else {})}, claims, key)


def _replace_id_token(app, monkeypatch, forge) -> None:
    """The provider's real token answer reaches the app with its ID token replaced by forge(real_id_token)."""
    client = app.extensions["shoebox_oidc"]
    real = client.fetch_access_token

    def fetch(**kwargs):
        token = real(**kwargs)
        token["id_token"] = forge(token["id_token"])
        return token

    monkeypatch.setattr(client, "fetch_access_token", fetch)


def _as_mallory(id_token: str) -> dict:
    """The real ID token's claims (its nonce, audience, times) for someone else: what a forger wants."""
    return {**_claims_of(id_token), "sub": "root", "email": "root@example.com", "email_verified": True}


FORGERIES = {
    "alg-none": lambda real, provider: _unsigned({"alg": "none", "typ": "JWT"}, _as_mallory(real)) + ".",
    "alg-None": lambda real, provider: _unsigned({"alg": "None"}, _as_mallory(real)) + ".",
    "hs256-with-the-client-secret": lambda real, provider: _hs256(_as_mallory(real), provider.client_secret.encode()),
    "hs256-with-the-provider-public-key-pem": lambda real, provider: _hs256(
        _as_mallory(real), _provider_public_key(provider)[0].as_pem(private=False),
        _provider_public_key(provider)[1]),
    "rs256-attacker-key-with-the-provider-kid": lambda real, provider: _rs256(
        _as_mallory(real), _attacker_key(_provider_public_key(provider)[1]), _provider_public_key(provider)[1]),
    "rs256-attacker-key-no-kid": lambda real, provider: _rs256(_as_mallory(real), _attacker_key(None), None),
    "real-signature-changed-claims": lambda real, provider: ".".join(
        [real.split(".")[0], _b64(json.dumps(_as_mallory(real)).encode()), real.split(".")[2]]),
    "no-id-token-at-all": lambda real, provider: None,
}


# Why each is refused: the algorithms the provider's discovery names (RS256 here) are the only ones taken, and
# the key is looked up in the provider's key set, never chosen by the token.
REFUSED_AS = {"alg-none": "UnsupportedAlgorithmError", "alg-None": "UnsupportedAlgorithmError",
              "hs256-with-the-client-secret": "UnsupportedAlgorithmError",
              "hs256-with-the-provider-public-key-pem": "UnsupportedAlgorithmError",
              "rs256-attacker-key-with-the-provider-kid": "BadSignatureError",
              "rs256-attacker-key-no-kid": "BadSignatureError", "real-signature-changed-claims": "BadSignatureError",
              "no-id-token-at-all": "ValueError"}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_id_token_signs_nobody_in(sso_app, oidc_provider, monkeypatch, forgery):
    app = sso_app(allow_linking=True)

    def forge(real):
        return FORGERIES[forgery](real, oidc_provider)

    _replace_id_token(app, monkeypatch, forge)
    if forgery == "no-id-token-at-all":
        client = app.extensions["shoebox_oidc"]
        fetch = client.fetch_access_token
        monkeypatch.setattr(client, "fetch_access_token",
                            lambda **kwargs: {k: v for k, v in fetch(**kwargs).items() if k != "id_token"})
    browser = app.test_client()
    answer = sign_in(browser, oidc_provider, "alice")
    assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
    assert "could not be checked" in answer.get_data(as_text=True)
    assert who_is_signed_in(browser) is None and identities(app) == []
    assert audit_actions(app, "sso_failed") == [{"error": REFUSED_AS[forgery]}] and audit_actions(app, "login") == []


@pytest.fixture
def trusted_forger(sso_app, oidc_provider, monkeypatch):
    """(app, sign(change)) : the app trusts a key of ours as the provider's, so only the claims decide;
    sign(change) makes the next sign-in's ID token the real one's claims with `change(claims)` applied."""
    app = sso_app(allow_linking=True)
    key = _attacker_key("trusted")
    client = app.extensions["shoebox_oidc"]
    monkeypatch.setattr(client, "fetch_jwk_set", lambda force=False: {"keys": [key.as_dict(private=False)]})

    def sign(change):
        _replace_id_token(app, monkeypatch, lambda real: _rs256(change(_claims_of(real)), key, "trusted"))
    return app, sign


def test_the_trusted_key_harness_signs_in_when_the_claims_are_right(trusted_forger, oidc_provider):
    """The control of the next test: the same signing with untouched claims does sign in."""
    app, sign = trusted_forger
    sign(lambda claims: claims)
    browser = app.test_client()
    assert sign_in(browser, oidc_provider, "alice").status_code == 302 and who_is_signed_in(browser) == "alice"


CLAIM_CHANGES = {
    "another-issuer": lambda c: {**c, "iss": "https://evil.example"},
    "issuer-with-a-trailing-slash": lambda c: {**c, "iss": c["iss"] + "/"},
    "no-issuer": lambda c: {k: v for k, v in c.items() if k != "iss"},
    "another-audience": lambda c: {**c, "aud": "another-client"},
    "audience-list-without-this-client": lambda c: {**c, "aud": ["another-client", "third"]},
    "expired": lambda c: {**c, "exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
    "another-nonce": lambda c: {**c, "nonce": "not-this-browser-s"},
    "no-nonce": lambda c: {k: v for k, v in c.items() if k != "nonce"},
    "access-token-hash-of-another-token": lambda c: {**c, "at_hash": _b64(b"0123456789abcdef")},
}


@pytest.mark.parametrize("change", list(CLAIM_CHANGES))
def test_an_id_token_for_another_issuer_client_or_browser_is_refused(trusted_forger, oidc_provider, change):
    app, sign = trusted_forger
    sign(CLAIM_CHANGES[change])
    browser = app.test_client()
    answer = sign_in(browser, oidc_provider, "alice")
    assert answer.status_code == 400 and who_is_signed_in(browser) is None
    assert identities(app) == []


# --- emails: changed at the provider, or an administrator's --------------------------------------------

def test_an_email_changed_at_the_provider_keeps_the_person_in_their_own_account(sso_app, oidc_provider, make_user):
    from sqlalchemy import select

    from tests.test_oidc import row
    from webapp.models import User

    app = sso_app(allow_linking=True)
    make_user(email="bob@example.com", username="bobby")
    sign_in(app.test_client(), oidc_provider, "alice")
    for taken in ("bob@example.com", "root@example.com"):
        oidc_provider.people({"alice": {**ALICE, "email": taken, "email_verified": True}})
        browser = app.test_client()
        assert sign_in(browser, oidc_provider, "alice").status_code == 302
        assert who_is_signed_in(browser) == "alice"
    assert [r[0] for r in identities(app)] == ["alice"]  # no identity joined to bobby's or root's account
    assert row(app, select(User.username, User.email).order_by(User.id)) == \
        [("root", "root@example.com"), ("bobby", "bob@example.com"), ("alice", "alice@example.com")]


@pytest.mark.parametrize("verified", [None, False, "false", "no", 1, "1", ["true"], {"value": True}],
                         ids=["missing", "false", "false-string", "no", "one", "one-string", "list", "object"])
def test_a_provider_account_with_an_administrator_s_email_links_only_when_verified(sso_app, oidc_provider,
                                                                                    verified):
    app = sso_app(allow_linking=True)
    person = {"email": "ROOT@Example.com", "preferred_username": "eve", "name": "Eve", "groups": ["Administrators"]}
    if verified is not None:
        person["email_verified"] = verified
    oidc_provider.people({"eve": person})
    browser = app.test_client()
    refused = sign_in(browser, oidc_provider, "eve")
    assert refused.status_code == 403 and who_is_signed_in(browser) is None
    assert identities(app) == []
    assert [d["reason"] for d in audit_actions(app, "sso_refused")] == ["email_unverified"]


def test_a_verified_administrator_email_does_not_link_while_linking_is_off(sso_app, oidc_provider):
    app = sso_app()
    oidc_provider.people({"eve": {"email": "root@example.com", "email_verified": True, "preferred_username": "eve"}})
    browser = app.test_client()
    assert sign_in(browser, oidc_provider, "eve").status_code == 403 and who_is_signed_in(browser) is None
    assert identities(app) == []


def test_a_blocked_account_is_not_linked_and_keeps_no_identity(sso_app, oidc_provider, make_user):
    from webapp.auth import service
    from webapp.extensions import db
    from webapp.models import User

    app = sso_app(allow_linking=True)
    make_user(email="bob@example.com", username="bobby")
    with app.app_context():
        service.set_blocked(db.session.scalar(db.select(User).filter_by(username="bobby")), True)
    browser = app.test_client()
    refused = sign_in(browser, oidc_provider, "bob")
    assert refused.status_code == 403 and "blocked" in refused.get_data(as_text=True)
    assert who_is_signed_in(browser) is None and identities(app) == []
    assert audit_actions(app, "sso_linked") == []


# --- where a sign-in goes back to ---------------------------------------------------------------------

@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "/%5Cevil.example",
                                    "/\t/evil.example", "\\\\evil.example", "javascript:alert(1)",
                                    "/%0d%0aSet-Cookie:x=1", "http:/evil.example", " //evil.example"])
def test_sign_in_never_goes_back_off_site(sso_app, oidc_provider, target):
    from urllib.parse import quote

    app = sso_app()
    back = sign_in(app.test_client(), oidc_provider, "alice", start=f"/auth/oidc/login?next={quote(target)}")
    location = back.headers["Location"]
    assert back.status_code == 302 and "\r" not in location and "\n" not in location
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc and location.startswith("/") and not location.startswith("//")
    assert "\\" not in location


# --- accounts made through single sign-on, and password doors while passwords are off ----------------

def test_an_account_made_by_single_sign_on_has_no_password_that_works(sso_app, oidc_provider):
    app = sso_app()
    sign_in(app.test_client(), oidc_provider, "alice")
    for identifier, password in (("alice", ""), ("alice@example.com", STRONG_PASSWORD)):  # within the login limit
        browser = app.test_client()
        assert AuthActions(browser).login(identifier, password).status_code == 200
        assert who_is_signed_in(browser) is None
        api = browser.post("/api/v1/auth/login", json={"identifier": identifier, "password": password})
        assert api.status_code in (400, 401, 422) and "access_token" not in (api.get_json() or {})


def test_password_login_off_closes_every_password_door_for_people(sso_app, make_user):
    from tests.test_accounts_api import outbox
    from webapp.auth import tokens
    from webapp.extensions import db
    from webapp.models import User

    app = sso_app(password_login=False)
    kim = make_user(email="kim@example.com", username="kim")
    client = app.test_client()
    # the web form, by username and by email
    for identifier in ("KIM@EXAMPLE.COM",):  # (the username is tried below, within the login limit)
        assert "Password sign-in is turned off" in AuthActions(client).login(identifier).get_data(as_text=True)
        assert who_is_signed_in(client) is None
    # the API, with identifier or the reference API's email
    for body in ({"email": "kim@example.com"},):
        refused = client.post("/api/v1/auth/login", json={**body, "password": STRONG_PASSWORD})
        assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "password_login_off"
    # sign-up, through the API's two names for it
    for path in ("/api/v1/auth/signup", "/api/v1/auth/register"):
        made = client.post(path, json={"email": "new@example.com", "username": "newbie", "password": STRONG_PASSWORD,
                                       "first_name": "New", "last_name": "Person"})
        assert made.status_code == 403, (path, made.get_json())
    # a reset link issued before the switch was turned off sets a password that still signs nobody in
    with app.app_context():
        raw = tokens.issue_account_token(db.session.get(User, kim), "reset", timedelta(hours=1))
        db.session.commit()
    new_password = STRONG_PASSWORD + "-changed"
    client.post("/api/v1/auth/reset-password", json={"token": raw, "password": new_password})
    assert "Password sign-in is turned off" in AuthActions(client).login("kim", new_password).get_data(as_text=True)
    sent_before = outbox(app)  # (the notice that the password was changed)
    client.post("/api/v1/auth/forgot-password", json={"email": "kim@example.com"})
    assert outbox(app) == sent_before and not any("/reset" in m[2] for m in sent_before)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 2


@pytest.mark.parametrize("forgery", ["alg-none", "hs256-with-the-client-secret", "hs256-with-the-provider-public-key-pem"])
def test_a_provider_that_also_lists_hs256_and_none_still_takes_no_such_forgery(sso_app, oidc_provider, monkeypatch,
                                                                              forgery):
    """Keycloak's discovery lists HS256 among its ID token algorithms, and OIDC Discovery lets a provider list
    "none" (joserfc then took an unsigned ID token: a 500 here, where warnings are errors, and a sign-in as
    anyone in production). The key comes from the provider's key set (RSA only), so neither the client secret
    nor the public key read as an HMAC secret signs anything, and "none" is struck from the document."""
    app = sso_app(allow_linking=True)
    client = app.extensions["shoebox_oidc"]
    with app.test_request_context():
        client.load_server_metadata()  # read once and kept, as the provider's own document would be
    client.server_metadata["id_token_signing_alg_values_supported"] = ["none", "HS256", "RS256"]
    _replace_id_token(app, monkeypatch, lambda real: FORGERIES[forgery](real, oidc_provider))
    browser = app.test_client()
    answer = sign_in(browser, oidc_provider, "alice")
    assert answer.status_code == 400 and who_is_signed_in(browser) is None and identities(app) == []
    # no key for it in the set (by its kid), or only a key of another type: either way, a refusal
    refused_as = {"UnsupportedAlgorithmError"} if forgery == "alg-none" else {"InvalidKeyIdError", "InvalidKeyTypeError"}
    assert [d["error"] for d in audit_actions(app, "sso_failed")] in ([name] for name in refused_as)
