"""Who a request speaks for: the browser's logged-in session, or an API token or key it carries."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from ..models import User


def viewer() -> User | None:
    """Who is asking: the browser's session, or an API token/key on the request (ShareX, scripts)."""
    if current_user.is_authenticated:
        return current_user._get_current_object()
    if carries_api_credentials():
        from ..api.auth import authenticate_request

        return authenticate_request()
    return None


def carries_api_credentials() -> bool:
    """Whether the request presents an API token or key (which must then be valid), not a browser session."""
    return "Authorization" in request.headers or "X-API-Key" in request.headers
