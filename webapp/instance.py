"""Instance-wide settings the admin edits, with their defaults. Stored in the settings table."""

from __future__ import annotations

from .extensions import db
from .models import Setting

REGISTRATION_MODES = ("open", "invite", "closed")

DEFAULTS = {
    "registration": "open",
    "unverified_may_upload": True,
    "default_plan": "free",
    "allow_any_file": False,
    "hotlink_allowed_sites": [],  # host names whose pages may show public photos; empty: every site
}


def get(key: str):
    """The current value of setting `key` (its default until an admin changes it)."""
    row = db.session.get(Setting, key)
    return DEFAULTS[key] if row is None else row.value


def put(key: str, value) -> None:
    """Change setting `key`; the caller commits."""
    if key not in DEFAULTS:
        raise KeyError(key)
    row = db.session.get(Setting, key)
    if row is None:
        db.session.add(Setting(key=key, value=value))
    else:
        row.value = value
