"""Logging in and out, in the browser and over the API: credentials, the second factor, API tokens.

No HTTP here: plain values in, domain errors out. Accounts themselves are in auth/service.py.
"""

from __future__ import annotations

from flask_babel import gettext as _

from .. import audit
from ..errors import Forbidden
from ..extensions import db
from ..models import TokenFamily, User, utcnow
from . import oidc, tokens, twofactor
from .service import find_by_identifier, hash_password, password_matches, password_needs_rehash


def authenticate(identifier: str, password: str) -> User | None:
    """The account if the password is right, else None (never says which half was wrong).

    A blocked account with the right password gets Forbidden: its owner may know why.
    """
    user = find_by_identifier(identifier)
    if not password_matches(user, password):
        audit.record("login_failed", user.id if user else None, target=identifier[:200])
        db.session.commit()
        return None
    if user.is_blocked:
        audit.record("login_refused_blocked", user.id)
        db.session.commit()
        raise Forbidden(_("This account has been blocked by an administrator."), code="account_blocked")
    if not oidc.password_login_allowed(user):
        audit.record("login_refused_password_off", user.id)
        db.session.commit()
        raise oidc.password_login_refused()
    if password_needs_rehash(user):
        user.password_hash = hash_password(password)
    return user


def check_second_factor(user: User, code: str) -> bool:
    """The second step of a two-factor login, in the browser and the API alike: whether `code` (from the
    app, or a recovery code) is right, using it up. A wrong code is written to the audit log."""
    if twofactor.verify(user, code):
        return True
    audit.record("two_factor_failed", user.id)
    db.session.commit()
    return False


def start_api_login(user: User, ip: str = "", user_agent: str = "") -> dict:
    """Begin an API login for `user` and return its first access and refresh tokens."""
    pair = tokens.start_family(user, ip, user_agent)
    db.session.commit()
    return pair


def refresh_api_login(refresh_token: str) -> tuple[User, dict]:
    """Trade a refresh token for a new pair (a token presented twice ends its whole login)."""
    user, pair = tokens.rotate(refresh_token)
    db.session.commit()
    return user, pair


def end_api_login(user: User, family: TokenFamily | None, refresh_token: str | None = None) -> None:
    """Log out the API login `family` and, when it is `user`'s, the one `refresh_token` belongs to."""
    families = [family] if family is not None else []
    other = tokens.family_of_refresh_token(refresh_token) if refresh_token is not None else None
    if other is not None and other.user_id == user.id:
        families.append(other)
    for each in families:
        tokens.revoke_family(each, "logout")
    audit.record("logout", user.id, method="api")
    db.session.commit()


def record_login(user: User, method: str) -> None:
    """Note a completed login (after any second factor) in the account and the audit log."""
    user.last_login_at = utcnow()
    audit.record("login", user.id, method=method)
    db.session.commit()


def log_out_everywhere(user: User) -> None:
    """End every browser session and API login of `user` (API keys stay)."""
    tokens.revoke_everything(user, "logout_everywhere")
    audit.record("logout_everywhere", user.id)
    db.session.commit()
