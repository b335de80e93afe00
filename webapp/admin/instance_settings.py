"""The instance settings of Admin → Settings: each value checked, every change audited. No HTTP here.

The values live in the settings table (webapp.instance). Some override the config file while they are
set: the public address (server.base_url), the SMTP server ([mail]) and how long view events are kept
(analytics.retention_days). The page and the API both come through `change()`, so a value is checked
the same way wherever it comes from, and nothing is stored unless every value given is good.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from email.utils import parseaddr
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from .. import audit, cluster, instance, mail
from ..analytics import retention
from ..auth import oidc
from ..errors import InvalidInput, Unavailable
from ..extensions import db
from ..media import hotlinks
from ..media.service import IMAGE_TYPES
from ..models import Plan, User
from ..web import public_base_url, site_name

# The page's sections, each saved by its own form, and the settings each holds.
SECTIONS = {
    "general": ("site_name", "base_url"),
    "accounts": ("default_plan", "signup_per_hour", "login_per_hour"),
    "files": ("allowed_image_types", "allow_any_file", "analytics_retention_days", "audit_retention_days"),
    "email": ("smtp_host", "smtp_port", "smtp_security", "smtp_username", "smtp_password", "smtp_sender"),
}
# Kept on Admin → Registration, but read and changed through the API with the rest.
ELSEWHERE = ("registration", "unverified_may_upload", hotlinks.SETTING)
SECRETS = frozenset({"smtp_password"})  # never shown, returned or written to the audit log
SMTP_SECURITY = ("none", "starttls", "ssl")
SITE_NAME_MAX = 60
RATE_MAX = 10_000
_URL_PATH = re.compile(r"[A-Za-z0-9._~/-]*")
_HOST = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")


# --- reading --------------------------------------------------------------------------------------

def current() -> dict:
    """Every setting as the page and the API show it: values in effect, secrets only as whether they are set."""
    values = {key: instance.get(key) for keys in SECTIONS.values() for key in keys if key not in SECRETS}
    values.update({key: instance.get(key) for key in ELSEWHERE})
    values["analytics_retention_days"] = retention.retention_days()
    values["smtp_password_set"] = bool(instance.get("smtp_password"))
    values["password_login"] = oidc.password_login_on()  # kept on Admin → Registration; None: the config's
    return values


def offered_plans() -> list[Plan]:
    """The plans a new account may be given: those not retired, by name."""
    return list(db.session.scalars(select(Plan).where(Plan.retired_at.is_(None)).order_by(Plan.name)))


def effective_base_url() -> str:
    """The public address links are built on (this page's, else the config file's)."""
    return public_base_url()


def config_base_url() -> str:
    return current_app.config["SHOEBOX"]["server"]["base_url"]


def address_mismatch(browser_url: str) -> tuple[str, str] | None:
    """(the browser's address, the public address) when they name different sites; None when they agree."""
    public = effective_base_url()
    if _origin(browser_url) == _origin(public):
        return None
    return browser_url.rstrip("/"), public


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").rstrip("."), parts.port or default


def mail_source() -> str:
    """Where mail goes: "settings" (this page's SMTP server), "config" (the config file's) or "outbox" (nowhere)."""
    if instance.get("smtp_host"):
        return "settings"
    return "config" if current_app.config["SHOEBOX"]["mail"]["host"] else "outbox"


# --- changing -------------------------------------------------------------------------------------

def change(admin: User, wanted: dict, target: str = "settings") -> dict:
    """Store the settings in `wanted` (key -> value) that differ from now; returns {key: [old, new]}.

    Every value is checked first (InvalidInput naming the first bad one), so either all are stored or
    none. The audit event carries old and new values, except for secrets, which say only "changed".
    """
    clean = {key: check(key, value) for key, value in wanted.items()}
    shown = current()
    changes = {}
    for key, value in clean.items():
        before = instance.get(key) if key in SECRETS else shown[key]
        if value != before:
            changes[key] = [before, value]
    if not changes:
        return {}
    for key, (_old, new) in changes.items():
        instance.put(key, new)
    audit.record("settings_changed", admin.id, target=target,
                 changes={key: "changed" if key in SECRETS else pair for key, pair in changes.items()})
    db.session.commit()
    cluster.announce(cluster.SETTINGS)  # every instance reads the hotlink list and the public address afresh
    return {key: "changed" if key in SECRETS else pair for key, pair in changes.items()}


def form_values(section: str, form) -> dict:
    """A section's settings from its submitted form (a MultiDict of text and checkboxes), ready for `change()`.

    An empty password field keeps the password: the page never shows it, so empty means "not retyped".
    """
    values = {key: form.get(key) for key in SECTIONS[section]}
    if section == "files":
        values["allowed_image_types"] = form.getlist("allowed_image_types")
        values["allow_any_file"] = bool(form.get("allow_any_file"))
    if section == "email" and not values["smtp_password"]:
        del values["smtp_password"]
    return values


def check(key: str, value):
    """`value` cleaned for setting `key`, or InvalidInput with one sentence naming the field."""
    checker = _CHECKS.get(key)
    if checker is None:
        raise InvalidInput(_("There is no setting called %(key)s.", key=key), code="unknown_setting", field=key)
    return checker(value)


def _text(value, field: str, sentence: str, longest: int = 200) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value.strip()) > longest or any(ord(c) < 32 for c in value):
        raise InvalidInput(sentence, field=field)
    return value.strip()


def _whole(value, field: str, lowest: int, highest: int, sentence: str) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*\d{1,9}\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
        raise InvalidInput(sentence, field=field)
    return value


def _site_name(value) -> str:
    sentence = _("Enter a site name of 1 to %(n)s characters.", n=SITE_NAME_MAX)
    name = _text(value, "site_name", sentence, SITE_NAME_MAX)
    if not name:
        raise InvalidInput(sentence, field="site_name")
    return name


def _base_url(value) -> str:
    """An http(s) address of a site, perhaps in a folder: no login, port junk, query or fragment."""
    sentence = _("Enter the public address as http:// or https:// and a host name, like "
                 "https://photos.example.com, with no query, fragment or login in it (or leave it empty).")
    url = _text(value, "base_url", sentence, 300).rstrip("/")
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a port that is not a number from 0 to 65535)
    except ValueError:
        raise InvalidInput(sentence, field="base_url") from None
    if (parts.scheme not in ("http", "https") or not parts.hostname or not _HOST.fullmatch(parts.hostname)
            or "@" in parts.netloc or parts.query or parts.fragment or "?" in url or "#" in url
            or not _URL_PATH.fullmatch(parts.path) or "//" in parts.path):
        raise InvalidInput(sentence, field="base_url")
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path}"


def _default_plan(value) -> str:
    name = _text(value, "default_plan", _("Choose the plan new accounts get."), 40)
    plan = db.session.scalar(select(Plan).where(Plan.name == name)) if name else None
    if plan is None:
        raise InvalidInput(_("There is no plan called “%(name)s”; choose one from the list.", name=name[:40]),
                           code="unknown_plan", field="default_plan")
    if plan.retired_at is not None:
        raise InvalidInput(_("The plan “%(name)s” is retired and offered to no one new; choose another.",
                             name=name), code="retired_plan", field="default_plan")
    return name


def _image_types(value) -> list[str]:
    names = ", ".join(str(name) for _format, name in IMAGE_TYPES.values())
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(_("Choose the image types to accept from %(names)s.", names=names),
                           field="allowed_image_types")
    unknown = [v for v in value if v not in IMAGE_TYPES]
    if unknown:
        raise InvalidInput(_("“%(value)s” is not an image type Shoebox knows; choose from %(names)s.",
                             value=unknown[0][:20], names=names), field="allowed_image_types")
    if not value:
        raise InvalidInput(_("Accept at least one image type."), field="allowed_image_types")
    return [key for key in IMAGE_TYPES if key in value]


def _flag(field: str):
    def checked(value) -> bool:
        if not isinstance(value, bool):
            raise InvalidInput(_("%(field)s must be true or false.", field=field), field=field)
        return value
    return checked


def _registration(value) -> str:
    if value not in instance.REGISTRATION_MODES:
        raise InvalidInput(_("Choose open, invite only or closed."), code="invalid_registration",
                           field="registration")
    return value


def _password_login(value) -> bool:
    on = _flag("password_login")(value)
    if not on and not oidc.enabled():
        raise InvalidInput(_("Password sign-in can only be turned off while single sign-on is set up (the "
                             "[oidc] section of the config file): without it nobody but administrators could "
                             "sign in."), code="sso_not_configured", field="password_login")
    return on


def _hotlink_sites(value) -> list[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and "\n" not in v for v in value):
        raise InvalidInput(_("List the sites as host names, like forum.example.com."), field=hotlinks.SETTING)
    return hotlinks.parse_sites("\n".join(value))


def _smtp_host(value) -> str:
    sentence = _("Enter the SMTP server's host name, like smtp.example.com (or leave it empty).")
    host = _text(value, "smtp_host", sentence, 253)
    if host and not _HOST.fullmatch(host):
        raise InvalidInput(sentence, field="smtp_host")
    return host


def _smtp_security(value) -> str:
    if value not in SMTP_SECURITY:
        raise InvalidInput(_("Choose none, STARTTLS or TLS as the connection security."), field="smtp_security")
    return value


def _smtp_sender(value) -> str:
    sentence = _("Enter the sender as an email address, like Photos <photos@example.com> (or leave it empty).")
    sender = _text(value, "smtp_sender", sentence, 200)
    if sender and "@" not in parseaddr(sender)[1]:
        raise InvalidInput(sentence, field="smtp_sender")
    return sender


_CHECKS = {
    "site_name": _site_name,
    "base_url": _base_url,
    "default_plan": _default_plan,
    "signup_per_hour": lambda value: _whole(value, "signup_per_hour", 1, RATE_MAX, _(
        "Enter the sign-ups allowed per hour from one address as a whole number from 1 to 10000.")),
    "login_per_hour": lambda value: _whole(value, "login_per_hour", 1, RATE_MAX, _(
        "Enter the logins allowed per hour from one address as a whole number from 1 to 10000.")),
    "allowed_image_types": _image_types,
    "allow_any_file": _flag("allow_any_file"),
    "analytics_retention_days": lambda value: _whole(value, "analytics_retention_days", 1, 3650, _(
        "Enter how many days views are kept as a whole number from 1 to 3650.")),
    "audit_retention_days": lambda value: _whole(value, "audit_retention_days", 0, 36500, _(
        "Enter how many days audit events are kept as a whole number from 0 (forever) to 36500.")),
    "smtp_host": _smtp_host,
    "smtp_port": lambda value: _whole(value, "smtp_port", 1, 65535, _(
        "Enter the SMTP port as a whole number from 1 to 65535.")),
    "smtp_security": _smtp_security,
    "smtp_username": lambda value: _text(value, "smtp_username", _(
        "Enter the SMTP user name in at most 200 characters.")),
    "smtp_password": lambda value: _text(value, "smtp_password", _(
        "Enter the SMTP password in at most 200 characters.")),
    "smtp_sender": _smtp_sender,
    "registration": _registration,
    "unverified_may_upload": _flag("unverified_may_upload"),
    "password_login": _password_login,
    hotlinks.SETTING: _hotlink_sites,
}


# --- the test email ---------------------------------------------------------------------------------

def send_test_email(admin: User) -> str:
    """Send a test email to `admin` through the SMTP server in effect; returns the sentence saying so.

    Unavailable, with one sentence, when there is no server or it fails (waits at most a few seconds).
    """
    settings = mail.smtp_settings()
    if not settings["host"]:
        raise Unavailable(_("No SMTP server is set, so mail stays in the outbox: enter a host first."),
                          code="smtp_not_set", field="smtp_host")
    where = f"{settings['host']}:{settings['port']}"
    name = site_name()
    try:
        mail.send_test(admin.email, _("Test email from %(site)s", site=name),
                       _("This is a test email from %(site)s (%(address)s). If you can read it, email works.",
                         site=name, address=effective_base_url()))
    except Exception as error:  # whatever the connection raises, the admin gets one sentence
        raise Unavailable(_smtp_failure(error, where, settings), code="smtp_failed", field="smtp_host") from None
    return _("A test email went to %(email)s through %(server)s.", email=admin.email, server=where)


def _smtp_failure(error: Exception, where: str, settings: dict) -> str:
    """One sentence for what went wrong while sending the test email."""
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return _("%(server)s refused the user name or password.", server=where)
    if isinstance(error, socket.gaierror):
        return _("The host name %(host)s could not be found.", host=settings["host"])
    if isinstance(error, ConnectionRefusedError):
        return _("Nothing accepts connections at %(server)s: check the host and the port.", server=where)
    if isinstance(error, (socket.timeout, TimeoutError)):
        return _("%(server)s did not answer within %(seconds)s seconds.", server=where,
                 seconds=mail.TEST_TIMEOUT_SECONDS)
    if isinstance(error, (ssl.SSLError, smtplib.SMTPNotSupportedError)):
        return _("The secure connection to %(server)s failed; check the connection security (%(detail)s).",
                 server=where, detail=_one_line(error))
    return _("Sending through %(server)s failed: %(detail)s", server=where, detail=_one_line(error))


def _one_line(error: Exception) -> str:
    return (" ".join(str(error).split()) or type(error).__name__)[:200]
