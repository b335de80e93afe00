"""Getting in and out: first-run setup, sign-up, log in (with a second factor), email links, reset."""

from __future__ import annotations

import time

from flask import current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .. import audit, instance
from ..errors import NotFound, ShoeboxError, attach_error
from ..extensions import db, limiter, login_manager
from ..models import User
from ..web import local_url, page_redirect, render
from . import bp, limits, logins, service, sessions
from .forms import EmailForm, EmptyForm, LoginForm, ResetForm, SecondFactorForm, SetupForm, SignupForm

login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please log in to see that page.")
login_manager.login_message_category = "info"

# Endpoints an empty instance still answers, so that it can be set up.
SETUP_EXEMPT = {"static", "auth.setup", "health.health", "health.ready", "backups.setup_restore", "backups.setup_upload",
                "backups.setup_stored", "backups.setup_progress"}
SECOND_FACTOR_SECONDS = 300


def unauthorized():
    """Where Flask-Login sends a visitor who must log in first: the login page, then back."""
    flash(str(login_manager.login_message), "info")
    return page_redirect(url_for("auth.login", next=local_url(request.full_path)))


@bp.before_app_request
def require_setup():
    """Until the first account exists, every page leads to /setup (the JSON API answers for itself)."""
    # Kept per process without the cluster's channel: once an account exists one always does (the last
    # administrator cannot be removed), and /setup asks the database itself.
    if current_app.extensions.get("shoebox_has_users"):
        return None
    if request.endpoint in SETUP_EXEMPT or request.path.startswith("/api/"):
        return None
    if service.has_users():
        current_app.extensions["shoebox_has_users"] = True
        return None
    return redirect(url_for("auth.setup"))


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """Create the first admin account; gone (404) once any account exists."""
    if service.has_users():
        raise NotFound()
    form = SetupForm()
    if form.validate_on_submit():
        try:
            user = service.create_first_admin(form.email.data, form.username.data, form.password.data)
        except ShoeboxError as error:
            attach_error(form, error)
        else:
            current_app.extensions["shoebox_has_users"] = True
            sessions.start(user)
            flash(_("Welcome to Shoebox, %(name)s. Your admin account is ready.", name=user.username), "success")
            return redirect(url_for("media.gallery"))
    return render("auth/setup.html", form=form)


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(limits.SIGNUP_PER_ADDRESS, methods=["POST"])
@limiter.limit(limits.EMAIL_PER_RECIPIENT, methods=["POST"], key_func=limits.recipient_key)
def signup():
    """Create an account (when registration is open, or with an invite code)."""
    if current_user.is_authenticated:
        return redirect(url_for("media.gallery"))
    mode = instance.get("registration")
    form = SignupForm()
    if form.validate_on_submit() and mode != "closed":
        try:
            service.signup(form.email.data, form.username.data, form.password.data, form.invite.data or "")
        except ShoeboxError as error:
            attach_error(form, error)
        else:
            return render("auth/message.html", title=_("Check your inbox"), message=_(
                "We sent a link to %(email)s. Open it to confirm your address, then log in.",
                email=form.email.data))
    return render("auth/signup.html", form=form, mode=mode)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(limits.LOGIN_PER_ADDRESS, methods=["POST"])
@limiter.shared_limit(limits.LOGIN_PER_ACCOUNT, limits.LOGIN_ACCOUNT_SCOPE, methods=["POST"],
                      key_func=limits.account_key, deduct_when=limits.failed_login)
def login():
    """Log in with email or username and password; a second step follows for two-factor accounts."""
    if current_user.is_authenticated:
        return redirect(url_for("media.gallery"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = local_url(request.args.get("next"))
    if form.validate_on_submit():
        try:
            user = logins.authenticate(form.identifier.data, form.password.data)
        except ShoeboxError as error:
            user = None
            form.password.errors.append(error.message)
        else:
            if user is None:
                form.password.errors.append(_("That email or username and password do not match an account."))
        if user is not None:
            return _after_password(user, local_url(form.next.data))
    return render("auth/login.html", form=form, registration=instance.get("registration"))


def _after_password(user: User, next_url: str | None):
    if not user.has_two_factor:
        return _complete_login(user, next_url, "password")
    session["second_factor"] = {"uid": user.id, "ep": user.session_epoch, "next": next_url,
                                "until": time.time() + SECOND_FACTOR_SECONDS}
    return redirect(url_for("auth.second_factor"))


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(limits.SECOND_FACTOR, methods=["POST"])
@limiter.limit(limits.SECOND_FACTOR, methods=["POST"], key_func=lambda: f"2fa:{_pending_user_id()}")
def second_factor():
    """The second step of a two-factor login: a code from the app, or a recovery code."""
    pending = session.get("second_factor") or {}
    user = db.session.get(User, pending.get("uid", 0)) if pending.get("until", 0) > time.time() else None
    if user is None or user.session_epoch != pending.get("ep") or user.is_blocked:
        session.pop("second_factor", None)
        flash(_("Log in again: the two-factor step timed out."), "info")
        return redirect(url_for("auth.login"))
    form = SecondFactorForm()
    if form.validate_on_submit():
        if logins.check_second_factor(user, form.code.data):
            session.pop("second_factor", None)
            return _complete_login(user, pending.get("next"), "password+totp")
        form.code.errors.append(_("That code is not right. Use the newest code from your app."))
    return render("auth/second_factor.html", form=form)


def _pending_user_id() -> str:
    return str((session.get("second_factor") or {}).get("uid", "none"))


def _complete_login(user: User, next_url: str | None, method: str):
    sessions.start(user)
    logins.record_login(user, method)
    return redirect(next_url or url_for("media.gallery"))


@bp.post("/logout")
def logout():
    """End this browser's session."""
    if EmptyForm().validate_on_submit() and current_user.is_authenticated:
        audit.record("logout", current_user.id, method="browser")
        sessions.end()
        flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.get("/verify/<token>")
def verify_email(token: str):
    """The link from the confirmation email."""
    user = service.verify_email(token)
    flash(_("Thank you, %(email)s is confirmed.", email=user.email), "success")
    return redirect(url_for("media.gallery") if current_user.is_authenticated else url_for("auth.login"))


@bp.get("/email/confirm/<token>")
def confirm_email_change(token: str):
    """The link sent to a new address when someone changes their email."""
    user = service.confirm_email_change(token)
    flash(_("Your email address is now %(email)s.", email=user.email), "success")
    return redirect(url_for("settings.index") if current_user.is_authenticated else url_for("auth.login"))


@bp.route("/verify/resend", methods=["GET", "POST"])
@limiter.limit(limits.EMAIL_PER_ADDRESS, methods=["POST"])
@limiter.limit(limits.EMAIL_PER_RECIPIENT, methods=["POST"], key_func=limits.recipient_key)
def resend_verification():
    """Ask for a new confirmation link."""
    form = EmailForm()
    if request.method == "GET" and current_user.is_authenticated:
        form.email.data = current_user.email
    if form.validate_on_submit():
        service.resend_verification(form.email.data)
        return render("auth/message.html", title=_("Check your inbox"), message=_(
            "If %(email)s has an account that still needs confirming, a new link is on its way.",
            email=form.email.data))
    return render("auth/email_form.html", form=form, title=_("Send the confirmation link again"),
                  submit=_("Send link"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(limits.EMAIL_PER_ADDRESS, methods=["POST"])
@limiter.limit(limits.EMAIL_PER_RECIPIENT, methods=["POST"], key_func=limits.recipient_key)
def forgot_password():
    """Ask for a password reset link."""
    form = EmailForm()
    if form.validate_on_submit():
        service.forgot_password(form.email.data)
        return render("auth/message.html", title=_("Check your inbox"), message=_(
            "If %(email)s has an account, a link to reset its password is on its way. It works once, "
            "for one hour.", email=form.email.data))
    return render("auth/email_form.html", form=form, title=_("Reset your password"), submit=_("Send reset link"),
                  intro=_("Enter the email address of your account and we will send you a link."))


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(limits.EMAIL_PER_ADDRESS, methods=["POST"])
def reset_password(token: str):
    """Choose a new password with the link from the reset email."""
    form = ResetForm()
    if form.validate_on_submit():
        try:
            service.reset_password(token, form.password.data)
        except ShoeboxError as error:
            if error.status == 410:
                raise
            attach_error(form, error)
        else:
            if current_user.is_authenticated:
                sessions.end()
            flash(_("Your password was changed. Log in with the new one."), "success")
            return redirect(url_for("auth.login"))
    return render("auth/reset.html", form=form)

