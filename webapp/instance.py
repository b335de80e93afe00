"""Instance-wide settings the admin edits, with their defaults. Stored in the settings table."""

from __future__ import annotations

from flask import has_request_context, request
from sqlalchemy import select

from .extensions import db
from .models import Setting

REGISTRATION_MODES = ("open", "invite", "closed")

DEFAULTS = {
    "registration": "open",
    "unverified_may_upload": True,
    "default_plan": "free",
    "allow_any_file": False,
    "hotlink_allowed_sites": [],  # host names whose pages may show public photos; empty: every site
    "audit_retention_days": 0,  # audit events older than this many days are deleted daily; 0: kept forever
    "password_login": None,  # whether non-admins may sign in with a password; None: the config file's oidc.password_login
    # Admin → Settings (webapp/admin/instance_settings.py checks each value).
    "site_name": "Shoebox",
    "base_url": "",  # empty: the config file's server.base_url
    "signup_per_hour": 20,  # sign-ups per client address (a household shares one)
    "login_per_hour": 100,  # login attempts per client address
    "allowed_image_types": ["jpeg", "png", "gif", "webp", "avif", "heic", "bmp", "tiff", "video"],  # video: MP4, WebM, MOV
    "analytics_retention_days": 0,  # 0: the config file's analytics.retention_days
    "smtp_host": "",  # empty: the config file's [mail] section
    "smtp_port": 587,
    "smtp_security": "starttls",
    "smtp_username": "",
    "smtp_password": "",
    "smtp_sender": "",  # empty: the config file's mail.sender
}


def get(key: str):
    """The current value of setting `key` (its default until an admin changes it).

    In a request every setting is read in one query, the first time one is asked for: a page asks for
    several (the public address for each link it builds, the site name, the limits), and a setting an
    admin never changed has no row, which the session's identity map cannot remember.
    """
    if has_request_context():
        stored = request.environ.get(_READ)
        if stored is None:
            stored = request.environ[_READ] = dict(db.session.execute(select(Setting.key, Setting.value)).all())
        return stored.get(key, DEFAULTS[key])
    row = db.session.get(Setting, key)
    return DEFAULTS[key] if row is None else row.value


_READ = "shoebox.settings"  # the request's settings, as get() read them


def put(key: str, value) -> None:
    """Change setting `key`; the caller commits."""
    if key not in DEFAULTS:
        raise KeyError(key)
    if has_request_context() and _READ in request.environ:
        request.environ[_READ][key] = value
    row = db.session.get(Setting, key)
    if row is None:
        db.session.add(Setting(key=key, value=value))
    else:
        row.value = value
