"""The language picker's one route: every page's footer posts here, signed in or not."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, request, url_for
from flask_login import current_user

from . import i18n
from .web import local_url

bp = Blueprint("language", __name__)


@bp.post("/language")
def choose():
    """Keep the chosen language (the account when signed in, and this browser's cookie), then go back."""
    code = i18n.keep_choice(current_user, request.form.get("lang", ""))
    response = redirect(local_url(request.form.get("next")) or url_for("media.gallery"), 303)
    response.set_cookie(i18n.LANGUAGE_COOKIE, code, max_age=i18n.LANGUAGE_COOKIE_AGE, samesite="Lax", httponly=True,
                        secure=current_app.session_interface.get_cookie_secure(current_app))
    return response
