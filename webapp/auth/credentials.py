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
    """Whether the request presents an API key or a bearer token (which must then be valid).

    Another Authorization (a reverse proxy's Basic sign-in, which a browser repeats on every request) is
    not Shoebox's: it leaves the request to the browser's session, or to no one.
    """
    return "X-API-Key" in request.headers or is_bearer(request.headers.get("Authorization"))


def is_bearer(header: str | None) -> bool:
    """Whether an Authorization header carries a bearer token."""
    return header is not None and header.split(" ", 1)[0].lower() == "bearer"
