"""Single sign-on pages: off to the provider, back from it, and parting a provider account from one's own."""

from __future__ import annotations

import logging

import requests
from authlib.common.errors import AuthlibBaseError
from flask import flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from joserfc.errors import JoseError

from .. import audit
from ..errors import ShoeboxError, Unavailable
from ..extensions import db, limiter
from ..web import absolute_url, is_fragment_request, local_url, render
from . import bp, limits, oidc, sessions
from .permissions import needs
from .forms import EmptyForm

log = logging.getLogger(__name__)
# What a broken or tampered sign-in raises: a wrong or replayed state, a refused code, a bad signature,
# a wrong nonce, issuer, audience or expiry in the ID token.
FAILED_SIGN_IN = (AuthlibBaseError, JoseError, ValueError)


@bp.get("/auth/oidc/login")
@limiter.limit(limits.LOGIN_PER_ADDRESS)
def oidc_login():
    """Send the browser to the provider, with state, nonce and a PKCE challenge kept in this session."""
    client = oidc.client()
    try:
        metadata = oidc.discovered(client)
    except (requests.RequestException, ValueError) as error:
        log.warning("Single sign-on provider unreachable: %s", error)
        raise Unavailable(_("The single sign-on provider cannot be reached right now. Try again in a minute."),
                          code="sso_unreachable") from None
    session["oidc_next"] = local_url(request.args.get("next"))
    session["oidc_invite"] = (request.args.get("invite") or "").strip()[:100]
    # The address the provider sends people back to is built on the public base URL, never the Host header.
    return client.authorize_redirect(absolute_url("auth.oidc_callback"), scope=oidc.scopes(metadata))


@bp.get("/auth/oidc/callback")
@limiter.limit(limits.LOGIN_PER_ADDRESS)
def oidc_callback():
    """Back from the provider: check state and the ID token, then sign in, link or create the account."""
    client = oidc.client()
    next_url, invite = session.pop("oidc_next", None), session.pop("oidc_invite", "")
    try:
        oidc.discovered(client)  # this instance may not have read it at the start of this sign-in
        token = client.authorize_access_token()
        claims = oidc.claims_from(client, token)
    except requests.RequestException as error:
        log.warning("Single sign-on provider unreachable: %s", error)
        raise Unavailable(_("The single sign-on provider cannot be reached right now. Try again in a minute."),
                          code="sso_unreachable") from None
    except FAILED_SIGN_IN as error:
        return _failed(error)
    try:
        user, how = oidc.sign_in(claims, invite)
    except oidc.SignInRefused as refusal:
        return render("auth/message.html", title=_("Single sign-on refused"), message=refusal.message,
                      status=refusal.status)
    sessions.start(user)
    if how == "created":
        flash(_("Welcome to Shoebox, %(name)s. Your account is ready.", name=user.username), "success")
    elif how == "linked":
        flash(_("Your single sign-on account is now joined to your Shoebox account."), "success")
    return redirect(next_url or url_for("media.gallery"))


def _failed(error: Exception):
    log.info("Single sign-on failed: %s: %s", type(error).__name__, error)
    audit.record("sso_failed", None, error=type(error).__name__)
    db.session.commit()
    return render("auth/message.html", title=_("Single sign-on did not work"), message=_(
        "That sign-in could not be checked: it may have been used already, have timed out, or not come from "
        "this browser. Start again from the log-in page."), status=400)


@bp.post("/settings/sso/<int:identity_id>/unlink")
@login_required
def oidc_unlink(identity_id: int):
    """Part a single sign-on account from the signed-in person's account."""
    if not EmptyForm().validate_on_submit():
        return redirect(url_for("settings.index"))
    try:
        oidc.unlink(current_user, identity_id)
    except ShoeboxError as error:
        if error.status == 404:
            raise
        flash(error.message, "error")
    else:
        flash(_("That single sign-on account is no longer joined to yours."), "success")
    return redirect(url_for("settings.index"))


@bp.post("/admin/sso/password-login")
@needs("manage_settings")
def oidc_password_login():
    """Admin → Registration: whether people other than administrators may sign in with a password."""
    oidc.client()  # 404 while single sign-on is not set up: turning passwords off would lock people out
    if EmptyForm().validate_on_submit():
        if oidc.set_password_login(current_user, request.form.get("password_login") == "on"):
            flash(_("Password sign-in setting saved."), "success")
    if is_fragment_request():
        return render("auth/_password_login_setting.html", fragment="auth/_password_login_setting.html")
    return redirect(url_for("admin.registration"), 303)


class _SingleSignOn:
    """What the log-in, sign-up and settings pages show of single sign-on; read only when a page asks."""

    @property
    def enabled(self) -> bool:
        return oidc.enabled()

    @property
    def label(self) -> str:
        return oidc.button_label()

    @property
    def password_login(self) -> bool:
        return oidc.password_login_on()

    def identities(self, user) -> list:
        return oidc.identities_of(user)


def single_sign_on() -> dict:
    """The pages' `sso` (a context processor, registered by auth.init_app)."""
    return {"sso": _SingleSignOn()}
