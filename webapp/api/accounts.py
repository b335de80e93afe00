"""JSON endpoints for accounts: signing up and in, tokens, the account itself, API keys."""

from __future__ import annotations

from flask import g, request
from flask_babel import gettext as _

from ..auth import api_keys, deletion, limits, logins, service
from ..auth.schemas import (AccountChanges, ApiKey, ApiKeyCreated, ApiKeyList, ChangePassword, DeletionRequest,
                            DeletionScheduled, EmailAddress, EmailedToken, Login, Logout, NewApiKey,
                            PasswordChanged, Refresh, Registered, ResetPassword, Signup, Tokens, User, Verified)
from ..errors import Conflict, NotAuthenticated
from ..extensions import limiter
from ..schemas import Message
from . import bp
from .contract import operation


def _client() -> dict:
    return {"ip": request.remote_addr or "", "user_agent": request.user_agent.string or ""}


# --- auth ------------------------------------------------------------------------------------

@bp.post("/api/v1/auth/signup")
@limiter.limit(limits.SIGNUP_PER_ADDRESS)
@limiter.limit(limits.EMAIL_PER_RECIPIENT, key_func=limits.recipient_key)
@operation("signup", (201, Tokens, "Created; a confirmation link is emailed."), tag="auth", public=True,
           json=Signup, errors={403: "Registration is closed, or needs an invite.", 409: None, 429: None})
def signup(json: Signup):
    """Create an account and log it in.

    The first account of an empty instance becomes its admin. Registration may be open, invite-only or
    closed (403).
    """
    user = _sign_up(json)
    pair = logins.start_api_login(user, **_client())
    return Tokens(user=User.of(user), **pair), 201


@bp.post("/api/v1/auth/register")
@limiter.limit(limits.SIGNUP_PER_ADDRESS)
@limiter.limit(limits.EMAIL_PER_RECIPIENT, key_func=limits.recipient_key)
@operation("register", (201, Registered, "Created; a confirmation link is emailed."), tag="auth", public=True,
           json=Signup, errors={403: "Registration is closed, or needs an invite.", 409: None, 429: None})
def register(json: Signup):
    """Sign up as clients of other APIs do: `first_name`, `last_name`, `username`, `email`, `password`.

    The same as /auth/signup; the answer also carries `success` and the access token as `token`.
    """
    user = _sign_up(json)
    pair = logins.start_api_login(user, **_client())
    return Registered(user=User.of(user), token=pair["access_token"], **pair), 201


def _sign_up(json: Signup):
    username = json.username or service.free_username(json.email)
    user = service.signup(json.email, username, json.password, json.invite or "", first_name=json.first_name or "",
                          last_name=json.last_name or "")
    if user is None:
        # The API has to answer with tokens, so it cannot pretend; the limit above curbs probing.
        raise Conflict(_("An account with that email or username already exists."), code="account_exists")
    return user


@bp.post("/api/v1/auth/login")
@limiter.limit(limits.LOGIN_PER_ADDRESS)
@limiter.shared_limit(limits.LOGIN_PER_ACCOUNT, limits.LOGIN_ACCOUNT_SCOPE, key_func=limits.account_key,
                      deduct_when=limits.failed_login)
@operation("login", (200, Tokens, "Logged in."), tag="auth", public=True, json=Login,
           errors={401: None, 403: "The account is blocked (`account_blocked`).", 429: None})
def login(json: Login):
    """Log in with email or username and password.

    401 codes: `invalid_credentials` (never says which half), `otp_required`, `otp_invalid`.
    403 `account_blocked`.
    """
    user = logins.authenticate(json.identifier, json.password)
    if user is None:
        raise NotAuthenticated(_("That email or username and password do not match an account."),
                               code="invalid_credentials")
    if user.has_two_factor:
        if not json.otp:
            raise NotAuthenticated(_("This account uses two-factor login: send the current code as otp."),
                                   code="otp_required")
        if not logins.check_second_factor(user, json.otp):
            raise NotAuthenticated(_("That two-factor code is not right."), code="otp_invalid")
    pair = logins.start_api_login(user, **_client())
    logins.record_login(user, "api")
    return Tokens(user=User.of(user), **pair)


@bp.post("/api/v1/auth/refresh")
@limiter.limit(limits.LOGIN_PER_ADDRESS)
@operation("refresh", (200, Tokens, "New tokens; the old refresh token is used up."), tag="auth", public=True,
           json=Refresh, errors={401: None, 429: None})
def refresh(json: Refresh):
    """Trade a refresh token for a new pair.

    Refresh tokens rotate on every use. Presenting one a second time (`token_reused`) revokes every token
    of that login.
    """
    user, pair = logins.refresh_api_login(json.refresh_token)
    return Tokens(user=User.of(user), **pair)


@bp.post("/api/v1/auth/logout")
@operation("logout", (204, None, "Logged out."), tag="auth", json=Logout, body_optional=True,
           errors={400: "The body, when there is one, is not a JSON object with a text `refresh_token`."})
def logout(json: Logout):
    """Revoke this login's access and refresh tokens (and those of `refresh_token`, when sent)."""
    logins.end_api_login(g.api_user, g.token_family, json.refresh_token)
    return "", 204


@bp.post("/api/v1/auth/resend-verification")
@limiter.limit(limits.EMAIL_PER_ADDRESS)
@limiter.limit(limits.EMAIL_PER_RECIPIENT, key_func=limits.recipient_key)
@operation("resendVerification", (202, Message, "Answered the same whether or not the address has an account."),
           tag="auth", public=True, json=EmailAddress, errors={429: None})
def resend_verification(json: EmailAddress):
    """Email a new confirmation link."""
    service.resend_verification(json.email)
    return Message(message=_("If that address has an unconfirmed account, a new link is on its way.")), 202


@bp.post("/api/v1/auth/verify-email")
@limiter.limit(limits.EMAIL_PER_ADDRESS)
@operation("verifyEmail", (200, Verified, "Confirmed."), tag="auth", public=True, json=EmailedToken,
           errors={410: None, 429: None})
def verify_email(json: EmailedToken):
    """Confirm an address with the emailed token."""
    return Verified(user=User.of(service.verify_email(json.token)))


@bp.post("/api/v1/auth/forgot-password")
@limiter.limit(limits.EMAIL_PER_ADDRESS)
@limiter.limit(limits.EMAIL_PER_RECIPIENT, key_func=limits.recipient_key)
@operation("forgotPassword", (202, Message, "Answered the same whether or not the address has an account."),
           tag="auth", public=True, json=EmailAddress, errors={429: None})
def forgot_password(json: EmailAddress):
    """Email a password reset link (valid 1 hour, once)."""
    service.forgot_password(json.email)
    return Message(message=_("If that address has an account, a reset link is on its way.")), 202


@bp.post("/api/v1/auth/reset-password")
@limiter.limit(limits.EMAIL_PER_ADDRESS)
@operation("resetPassword", (200, Message, "Changed; every session and token of the account ended."),
           tag="auth", public=True, json=ResetPassword, errors={410: None, 429: None})
def reset_password(json: ResetPassword):
    """Set a new password with the emailed token."""
    # A password that could never be set is refused as such, whatever the token turns out to be.
    service.check_password_strength(json.password)
    service.reset_password(json.token, json.password)
    return Message(message=_("Your password was changed. Log in with the new one."))


@bp.post("/api/v1/auth/change-password")
@operation("changePassword", (200, PasswordChanged, "Changed; every other session and token ended. New tokens "
                                                    "for this client."), tag="auth", json=ChangePassword)
def change_password(json: ChangePassword):
    """Change the password."""
    service.change_password(g.api_user, json.current_password, json.new_password)
    pair = logins.start_api_login(g.api_user, **_client())  # the caller stays logged in; nobody else does
    return PasswordChanged(message=_("Your password was changed; every other session was logged out."), **pair)


# --- the account -----------------------------------------------------------------------------

@bp.get("/api/v1/account")
@operation("getAccount", (200, User, "The account."), tag="account")
def account():
    """The authenticated account."""
    return User.of(g.api_user)


@bp.patch("/api/v1/account")
@operation("updateAccount", (200, User, "The account as it is now."), tag="account", json=AccountChanges,
           errors={403: "A protected field (`field_not_allowed`).", 409: None})
def update_account(json: AccountChanges):
    """Change the profile (or start an email change).

    `role`, `plan`, `is_verified` and other protected fields answer 403 `field_not_allowed`.
    """
    return _change_account(json)


@bp.put("/api/v1/account")
@operation("replaceAccount", (200, User, "The account as it is now."), tag="account", json=AccountChanges,
           errors={403: "A protected field (`field_not_allowed`).", 409: None})
def put_account(json: AccountChanges):
    """The same as PATCH, for clients that send PUT: only the fields sent change."""
    return _change_account(json)


def _change_account(json: AccountChanges) -> User:
    service.update_account(g.api_user, json.profile(), keep_location=json.keep_location, email=json.email,
                           password=json.password)
    return User.of(g.api_user)


@bp.post("/api/v1/account/delete-request")
@operation("requestDeletion", (202, DeletionScheduled, "Scheduled."), tag="account", json=DeletionRequest)
def request_deletion(json: DeletionRequest):
    """Schedule the account's deletion (7-day grace)."""
    return DeletionScheduled(deletion_scheduled_for=deletion.request_deletion(g.api_user, json.password)
                             .isoformat()), 202


@bp.post("/api/v1/account/delete-cancel")
@operation("cancelDeletion", (200, User, "The account."), tag="account")
def cancel_deletion():
    """Keep the account after all."""
    deletion.cancel_deletion(g.api_user)
    return User.of(g.api_user)


# --- API keys --------------------------------------------------------------------------------

@bp.get("/api/v1/api-keys")
@operation("listApiKeys", (200, ApiKeyList, "Keys (never the keys themselves)."), tag="api-keys")
def list_api_keys():
    """The account's working API keys."""
    return ApiKeyList(items=[ApiKey.of(k) for k in api_keys.list_api_keys(g.api_user)], next_cursor=None)


@bp.post("/api/v1/api-keys")
@operation("createApiKey", (201, ApiKeyCreated, "Created."), tag="api-keys", json=NewApiKey,
           errors={409: "Too many keys already (`too_many_keys`)."})
def create_api_key(json: NewApiKey):
    """Make a key; it is shown only in this answer.

    A key's `scope` limits what it may do: an `upload` key may only upload and read the upload quota, a `read`
    key may only GET; anything else answers 403 `insufficient_scope`.
    """
    key, raw = api_keys.create_api_key(g.api_user, json.key_label, json.rate_limit_per_hour, scope=json.scope,
                                       uploads_public=json.uploads_public)
    return ApiKeyCreated.of(key, key=raw), 201


@bp.delete("/api/v1/api-keys/<int(min=0, max=2147483647):key_id>")
@operation("revokeApiKey", (204, None, "Revoked."), tag="api-keys", errors={404: None})
def revoke_api_key(key_id: int):
    """Revoke a key at once."""
    api_keys.revoke_api_key(g.api_user, key_id)
    return "", 204
