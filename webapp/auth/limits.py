"""Rate limits for the ways in: per client address and per account or email address."""

from __future__ import annotations

import hashlib

from flask import request

def login_per_address() -> str:
    """Login attempts per client address: a burst limit, and the admin's hourly one (Admin → Settings)."""
    from .. import instance

    return f"10 per minute; {instance.get('login_per_hour')} per hour"


def signup_per_address() -> str:
    """Sign-ups per client address an hour, as the admin set it; a household behind one router shares it."""
    from .. import instance

    return f"{instance.get('signup_per_hour')} per hour"


# Flask-Limiter calls these for each request, so a changed setting applies to the next one.
LOGIN_PER_ADDRESS = login_per_address
LOGIN_PER_ACCOUNT = "5 per minute; 30 per hour"
# One bucket per account for the browser form and the API together (Flask-Limiter's shared scope).
LOGIN_ACCOUNT_SCOPE = "login-per-account"
SIGNUP_PER_ADDRESS = signup_per_address
EMAIL_PER_ADDRESS = "10 per hour"
EMAIL_PER_RECIPIENT = "3 per hour"
SECOND_FACTOR = "5 per minute"


def failed_login(response) -> bool:
    """Whether a login attempt failed: only failures count against the per-account limit."""
    return response.status_code in (200, 401, 403) and not (response.is_json and "access_token" in (response.json or {}))


def submitted(field: str) -> str:
    """A field from the form or the JSON body, lower-cased, for keying a limit on what was typed."""
    value = request.form.get(field)
    if value is None and request.is_json:
        body = request.get_json(silent=True)
        value = body.get(field) if isinstance(body, dict) else None
    return str(value or "").strip().lower()


def _hashed(prefix: str, value: str) -> str:
    # Keys end up in Redis; they need not spell out people's addresses.
    return f"{prefix}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


def account_key() -> str:
    """The account being logged into, however it is typed (email or username, any case), from any address.

    An identifier that names no account is keyed on its own; the lookup runs either way, so the
    time taken says nothing about whether the account exists.
    """
    from .service import find_by_identifier

    identifier = submitted("identifier")
    user = find_by_identifier(identifier)
    return f"login:account:{user.id}" if user is not None else _hashed("login", identifier)


def recipient_key() -> str:
    """The email address a message is asked for."""
    return _hashed("mailto", submitted("email"))
