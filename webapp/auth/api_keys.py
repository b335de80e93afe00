"""API keys as their owner manages them: list, create (the key is shown once), revoke.

get_api_key_for() is the one door to a key; the secrets themselves are made and checked in tokens.py.
A key has a scope: "upload" (add photos and files, read the upload quota: screenshot tools), "read" (look,
never change) or "full"; the API enforces it where it authenticates (api/auth.py).
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from .. import audit
from ..errors import Conflict, InvalidInput, NotFound
from ..extensions import db
from ..models import ApiKey, User, utcnow
from . import tokens

MAX_KEYS = 50
SCOPES = ("upload", "read", "full")


def list_api_keys(user: User, scope: str | None = None) -> list[ApiKey]:
    """The user's keys that still work (only those of `scope`, when given), newest first."""
    query = select(ApiKey).where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
    if scope is not None:
        query = query.where(ApiKey.scope == scope)
    return db.session.scalars(query.order_by(ApiKey.id.desc())).all()


def get_api_key_for(user: User, key_id: int) -> ApiKey:
    """One of `user`'s working keys; NotFound if it is someone else's, revoked, or does not exist."""
    key = db.session.get(ApiKey, key_id)
    if key is None or key.user_id != user.id or key.revoked_at is not None:
        raise NotFound(_("There is no such API key."), code="api_key_not_found")
    return key


def create_api_key(user: User, name: str, rate_limit_per_hour=0, *, scope: str = "full",
                   uploads_public: bool | None = None) -> tuple[ApiKey, str]:
    """A new key named `name` that may do what `scope` allows; uploads through it are public or private as
    `uploads_public` says when a request does not (None: as the account's setting). The raw key is returned
    this once."""
    name = " ".join(str(name).split())
    if not 1 <= len(name) <= 80:
        raise InvalidInput(_("Give the key a name of 1 to 80 characters."), code="invalid_name", field="name")
    if isinstance(rate_limit_per_hour, bool) or not isinstance(rate_limit_per_hour, int) \
            or not 0 <= rate_limit_per_hour <= 1_000_000:
        raise InvalidInput(_("rate_limit_per_hour must be a whole number from 0 (the plan's limit) to 1000000."),
                           code="invalid_rate_limit", field="rate_limit_per_hour")
    if scope not in SCOPES:
        raise InvalidInput(_("scope must be upload, read or full."), code="invalid_scope", field="scope")
    if uploads_public is not None and not isinstance(uploads_public, bool):
        raise InvalidInput(_("uploads_public must be true, false or null (as the account's setting)."),
                           code="invalid_uploads_public", field="uploads_public")
    if len(list_api_keys(user)) >= MAX_KEYS:
        raise Conflict(_("You have %(count)s keys already; revoke one first.", count=MAX_KEYS), code="too_many_keys")
    key, raw = tokens.create_api_key(user, name, rate_limit_per_hour)
    key.scope, key.uploads_public = scope, uploads_public
    db.session.flush()
    audit.record("api_key_created", user.id, target=f"api_key:{key.id}", name=name, scope=scope)
    db.session.commit()
    return key, raw


def revoke_api_key(user: User, key_id: int) -> None:
    """Revoke one of the user's keys at once; NotFound if it is not theirs or already revoked."""
    key = get_api_key_for(user, key_id)
    key.revoked_at = utcnow()
    audit.record("api_key_revoked", user.id, target=f"api_key:{key.id}")
    db.session.commit()
