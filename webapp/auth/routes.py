"""Account pages: first-run setup, log in, log out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, make_response, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user

from ..errors import NotFound, ShoeboxError
from ..extensions import db, limiter, login_manager
from ..models import User
from ..web import render
from . import service
from .forms import EmptyForm, LoginForm, SetupForm

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please log in to see that page.")
login_manager.login_message_category = "info"

# Endpoints an empty instance still answers, so that it can be set up.
SETUP_EXEMPT = {"static", "auth.setup", "health.health", "health.ready"}


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The logged-in account, unless it was blocked or logged out everywhere since."""
    user_id, _sep, epoch = session_id.partition(":")
    if not user_id.isdigit() or not epoch.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.is_blocked or user.session_epoch != int(epoch):
        return None
    return user


@login_manager.unauthorized_handler
def unauthorized():
    flash(str(login_manager.login_message), "info")
    target = url_for("auth.login", next=safe_next(request.full_path))
    if request.htmx:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


@bp.before_app_request
def require_setup():
    """Until the first account exists, every page leads to /setup (the JSON API answers for itself)."""
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
            _attach_error(form, error)
        else:
            current_app.extensions["shoebox_has_users"] = True
            start_session(user)
            flash(_("Welcome to Shoebox, %(name)s. Your admin account is ready.", name=user.username), "success")
            return redirect(url_for("media.gallery"))
    return render("auth/setup.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def login():
    """Log in with email or username and password."""
    if current_user.is_authenticated:
        return redirect(url_for("media.gallery"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        user = service.authenticate(form.identifier.data, form.password.data)
        if user is not None:
            start_session(user)
            return redirect(safe_next(form.next.data) or url_for("media.gallery"))
        form.password.errors.append(_("That email or username and password do not match an account."))
    return render("auth/login.html", form=form)


@bp.post("/logout")
def logout():
    """End this session."""
    if EmptyForm().validate_on_submit():
        logout_user()
        flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


def start_session(user: User) -> None:
    """Log `user` in for the configured session lifetime."""
    session.permanent = True
    login_user(user)


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (no open redirects via ?next=)."""
    if not target:
        return None
    target = target.strip()
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if "\\" in target or any(ord(c) < 32 for c in target):
        return None
    return target.rstrip("?") or None


def _attach_error(form, error: ShoeboxError) -> None:
    field = {"invalid_email": form.email, "invalid_username": form.username,
             "weak_password": form.password}.get(error.code, form.email)
    field.errors = list(field.errors) + [error.message]
