"""JSON endpoints for accounts: signing up and in, tokens, the account itself, API keys."""

from __future__ import annotations

import re

from flask import g, jsonify, request
from flask_babel import gettext as _

from ..auth import api_keys, limits, service
from ..errors import Conflict, Forbidden, InvalidInput, NotAuthenticated
from ..extensions import db, limiter
from ..models import ApiKey, User
from . import bp
from .auth import api_login_required, json_body, optional_json_body, refuse_long

ACCOUNT_FIELDS = {"display_name", "username", "locale"}
PROTECTED_FIELDS = {"role", "plan", "plan_id", "is_verified", "is_blocked", "storage_used", "id", "email_verified",
                    "quota", "totp_secret", "session_epoch", "created_at"}


def user_json(user: User) -> dict:
    """An account as the API shows it to its owner."""
    return {
        "id": user.id, "email": user.email, "username": user.username, "display_name": user.display_name,
        "role": user.role, "plan": user.plan.name if user.plan else None, "is_verified": user.is_verified,
        "two_factor": user.has_two_factor, "locale": user.locale, "keep_location": user.keep_location,
        "created_at": user.created_at.isoformat(),
        "deletion_scheduled_for": user.delete_scheduled_for.isoformat() if user.delete_scheduled_for else None,
    }


def _client() -> dict:
    return {"ip": request.remote_addr or "", "user_agent": request.user_agent.string or ""}


def _username_from(email: str) -> str:
    """A free username made from the address, for sign-ups that do not choose one."""
    base = re.sub(r"[^A-Za-z0-9_.-]", "", email.split("@")[0])[:30].lstrip("._-") or "user"
    base = base if len(base) >= 3 else base + "user"
    candidate, n = base, 1
    while db.session.scalar(db.select(User.id).where(db.func.lower(User.username) == candidate.lower())):
        n += 1
        candidate = f"{base}{n}"
    return candidate


# --- auth ------------------------------------------------------------------------------------

@bp.post("/api/v1/auth/signup")
@limiter.limit(limits.SIGNUP_PER_ADDRESS)
@limiter.limit(limits.EMAIL_PER_RECIPIENT, key_func=limits.recipient_key)
def signup():
    body = json_body("email", "password")
    for field in ("username", "invite"):
        if field in body and not isinstance(body[field], str):
            raise InvalidInput(_("%(field)s must be text.", field=field), code="invalid_field", field=field)
    username = body.get("username") or _username_from(service.normalise_email(body["email"]))
    user = service.signup(body["email"], username, body["password"], body.get("invite", ""))
    if user is None:
        # The API has to answer with tokens, so it cannot pretend; the limit above curbs probing.
        raise Conflict(_("An account with that email or username already exists."), code="account_exists")
    pair = service.start_api_login(user, **_client())
    return jsonify(user=user_json(user), **pair), 201


@bp.post("/api/v1/auth/login")
@limiter.limit(limits.LOGIN_PER_ADDRESS)
@limiter.shared_limit(limits.LOGIN_PER_ACCOUNT, limits.LOGIN_ACCOUNT_SCOPE, key_func=limits.account_key,
                      deduct_when=limits.failed_login)
def login():
    body = json_body("identifier", "password")
    user = service.authenticate(body["identifier"], body["password"])
    if user is None:
        raise NotAuthenticated(_("That email or username and password do not match an account."),
                               code="invalid_credentials")
    if user.has_two_factor:
        otp = str(body.get("otp") or "")
        if not otp:
            raise NotAuthenticated(_("This account uses two-factor login: send the current code as otp."),
                                   code="otp_required")
        if not service.check_second_factor(user, otp):
            raise NotAuthenticated(_("That two-factor code is not right."), code="otp_invalid")
    pair = service.start_api_login(user, **_client())
    service.record_login(user, "api")
    return jsonify(user=user_json(user), **pair)


@bp.post("/api/v1/auth/refresh")
@limiter.limit(limits.LOGIN_PER_ADDRESS)
def refresh():
    body = json_body("refresh_token")
    user, pair = service.refresh_api_login(body["refresh_token"])
    return jsonify(user=user_json(user), **pair)


@bp.post("/api/v1/auth/logout")
@api_login_required
def logout():
    body = optional_json_body()
    if "refresh_token" in body and not isinstance(body["refresh_token"], str):
        raise InvalidInput(_("%(field)s must be text.", field="refresh_token"), code="invalid_field",
                           field="refresh_token")
    service.end_api_login(g.api_user, g.token_family, body.get("refresh_token"))
    return "", 204


@bp.post("/api/v1/auth/resend-verification")
@limiter.limit(limits.EMAIL_PER_ADDRESS)
@limiter.limit(limits.EMAIL_PER_RECIPIENT, key_func=limits.recipient_key)
def resend_verification():
    body = json_body("email")
    refuse_long(body, email=254)
    service.resend_verification(body["email"])
    return jsonify(message=_("If that address has an unconfirmed account, a new link is on its way.")), 202


@bp.post("/api/v1/auth/verify-email")
@limiter.limit(limits.EMAIL_PER_ADDRESS)
def verify_email():
    user = service.verify_email(json_body("token")["token"])
    return jsonify(user=user_json(user))


@bp.post("/api/v1/auth/forgot-password")
@limiter.limit(limits.EMAIL_PER_ADDRESS)
@limiter.limit(limits.EMAIL_PER_RECIPIENT, key_func=limits.recipient_key)
def forgot_password():
    body = json_body("email")
    refuse_long(body, email=254)
    service.forgot_password(body["email"])
    return jsonify(message=_("If that address has an account, a reset link is on its way.")), 202


@bp.post("/api/v1/auth/reset-password")
@limiter.limit(limits.EMAIL_PER_ADDRESS)
def reset_password():
    body = json_body("token", "password")
    # A password that could never be set is refused as such, whatever the token turns out to be.
    service.check_password_strength(body["password"])
    service.reset_password(body["token"], body["password"])
    return jsonify(message=_("Your password was changed. Log in with the new one."))


@bp.post("/api/v1/auth/change-password")
@api_login_required
def change_password():
    body = json_body("current_password", "new_password")
    service.change_password(g.api_user, body["current_password"], body["new_password"])
    pair = service.start_api_login(g.api_user, **_client())  # the caller stays logged in; nobody else does
    return jsonify(message=_("Your password was changed; every other session was logged out."), **pair)


# --- the account -----------------------------------------------------------------------------

@bp.get("/api/v1/account")
@api_login_required
def account():
    return jsonify(user_json(g.api_user))


@bp.patch("/api/v1/account")
@api_login_required
def update_account():
    body = json_body()
    forbidden = sorted(set(body) & PROTECTED_FIELDS)
    if forbidden:
        raise Forbidden(_("You cannot change %(fields)s on your own account.", fields=", ".join(forbidden)),
                        code="field_not_allowed")
    unknown = sorted(set(body) - ACCOUNT_FIELDS - {"keep_location", "email", "password"})
    if unknown:
        raise InvalidInput(_("Unknown fields: %(fields)s.", fields=", ".join(unknown)), code="unknown_field")
    changes = {k: body[k] for k in ACCOUNT_FIELDS & set(body)}
    if any(not isinstance(body[k], str) for k in (ACCOUNT_FIELDS | {"email", "password"}) & set(body)):
        raise InvalidInput(_("Every field must be text."), code="invalid_field")
    if "keep_location" in body and not isinstance(body["keep_location"], bool):
        raise InvalidInput(_("keep_location must be true or false."), code="invalid_field")
    if changes:
        service.update_profile(g.api_user, **changes)
    if "keep_location" in body:
        service.set_keep_location(g.api_user, body["keep_location"])
    if "email" in body:
        service.request_email_change(g.api_user, str(body["email"]), str(body.get("password", "")))
    return jsonify(user_json(g.api_user))


@bp.post("/api/v1/account/delete-request")
@api_login_required
def request_deletion():
    when = service.request_deletion(g.api_user, json_body("password")["password"])
    return jsonify(deletion_scheduled_for=when.isoformat()), 202


@bp.post("/api/v1/account/delete-cancel")
@api_login_required
def cancel_deletion():
    service.cancel_deletion(g.api_user)
    return jsonify(user_json(g.api_user))


# --- API keys --------------------------------------------------------------------------------

def key_json(key: ApiKey) -> dict:
    return {"id": key.id, "name": key.name, "prefix": key.prefix, "rate_limit_per_hour": key.rate_limit_per_hour,
            "created_at": key.created_at.isoformat(),
            "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None}


@bp.get("/api/v1/api-keys")
@api_login_required
def list_api_keys():
    keys = api_keys.list_api_keys(g.api_user)
    return jsonify(items=[key_json(k) for k in keys], next_cursor=None)


@bp.post("/api/v1/api-keys")
@api_login_required
def create_api_key():
    body = json_body("name")
    limit = body.get("rate_limit_per_hour", 0)
    key, raw = api_keys.create_api_key(g.api_user, body["name"], limit)
    return jsonify(key=raw, **key_json(key)), 201


@bp.delete("/api/v1/api-keys/<int(max=2147483647):key_id>")
@api_login_required
def revoke_api_key(key_id: int):
    api_keys.revoke_api_key(g.api_user, key_id)
    return "", 204
