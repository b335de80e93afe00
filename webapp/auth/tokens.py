"""Secrets handed to people and programs: emailed links, API access and refresh tokens, API keys.

Only hashes of random secrets are stored. Access and refresh tokens are HS256 JWTs (the
algorithm is pinned); a refresh token is also a database row, used once and then replaced, and
presenting it a second time revokes every token of its family.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import jwt
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from ..errors import Gone, NotAuthenticated
from ..extensions import db
from ..models import AccountToken, ApiKey, BrowserSession, RefreshToken, TokenFamily, User, utcnow

ALGORITHM = "HS256"
ISSUER = "shoebox"
API_KEY_PREFIX = "sbx_"
# Writing last-used times on every request would turn every read into a write.
TOUCH_INTERVAL = timedelta(minutes=1)


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret with `nbytes` of entropy."""
    return secrets.token_urlsafe(nbytes)


def digest(secret: str) -> str:
    """SHA-256 of a high-entropy secret (a slow KDF adds nothing for 256 random bits)."""
    return hashlib.sha256(secret.encode()).hexdigest()


# --- emailed single-use links -----------------------------------------------------------------

def issue_account_token(user: User, purpose: str, lifetime: timedelta, new_email: str | None = None) -> str:
    """A fresh single-use token for `purpose`; older unused ones for the same purpose stop working."""
    now = utcnow()
    db.session.execute(update(AccountToken)
                       .where(AccountToken.user_id == user.id, AccountToken.purpose == purpose,
                              AccountToken.used_at.is_(None))
                       .values(used_at=now))
    raw = new_secret()
    db.session.add(AccountToken(user_id=user.id, purpose=purpose, token_hash=digest(raw), new_email=new_email,
                                created_at=now, expires_at=now + lifetime))
    return raw


def redeem_account_token(raw: str, purpose: str) -> AccountToken:
    """Use up the token (exactly once, even under concurrent clicks) and return it; Gone if it cannot be used."""
    now = utcnow()
    row = db.session.scalar(select(AccountToken).where(AccountToken.token_hash == digest(raw or "")))
    unusable = row is None or row.purpose != purpose or row.used_at is not None or row.expires_at <= now
    if not unusable:
        claimed = db.session.execute(update(AccountToken)
                                     .where(AccountToken.id == row.id, AccountToken.used_at.is_(None))
                                     .values(used_at=now))
        unusable = claimed.rowcount != 1
    if unusable:
        raise Gone(_("This link has expired or was already used. Ask for a new one."), code="token_invalid")
    return row


# --- API access and refresh tokens ------------------------------------------------------------

def _key() -> str:
    return current_app.config["TOKEN_KEY"]


def _encode(claims: dict) -> str:
    return jwt.encode(claims, _key(), algorithm=ALGORITHM)


def _decode(token: str, kind: str) -> dict:
    try:
        claims = jwt.decode(token, _key(), algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["exp", "iat", "sub", "typ", "jti", "fam"]})
    except jwt.ExpiredSignatureError:
        raise NotAuthenticated(_("The token has expired."), code="token_expired") from None
    except jwt.PyJWTError:
        raise NotAuthenticated(_("The token is not valid."), code="token_invalid") from None
    if claims["typ"] != kind:
        raise NotAuthenticated(_("The token is not valid."), code="token_invalid")
    return claims


def _claims(user: User, family_id: str, kind: str, lifetime: timedelta, jti: str | None = None) -> dict:
    now = utcnow()
    return {"iss": ISSUER, "sub": str(user.id), "typ": kind, "fam": family_id, "ep": user.session_epoch,
            "jti": jti or secrets.token_hex(16), "iat": now, "exp": now + lifetime}


def access_lifetime() -> timedelta:
    return timedelta(minutes=current_app.config["SHOEBOX"]["security"]["access_token_minutes"])


def refresh_lifetime() -> timedelta:
    return timedelta(days=current_app.config["SHOEBOX"]["security"]["refresh_token_days"])


def token_pair(user: User, family: TokenFamily) -> dict:
    """A new access token and a new refresh token in `family`, as the API returns them."""
    refresh_jti = secrets.token_hex(16)
    refresh = _encode(_claims(user, family.id, "refresh", refresh_lifetime(), refresh_jti))
    db.session.add(RefreshToken(jti=refresh_jti, family_id=family.id, user_id=user.id,
                                expires_at=utcnow() + refresh_lifetime()))
    return {"access_token": _encode(_claims(user, family.id, "access", access_lifetime())),
            "refresh_token": refresh, "token_type": "Bearer",
            "expires_in": int(access_lifetime().total_seconds())}


def start_family(user: User, ip: str = "", user_agent: str = "") -> dict:
    """Begin an API login and return its first token pair."""
    family = TokenFamily(id=secrets.token_hex(16), user_id=user.id, ip=ip[:64], user_agent=user_agent[:300])
    db.session.add(family)
    db.session.flush()  # the refresh token row refers to it
    return token_pair(user, family)


def rotate(refresh_token: str) -> tuple[User, dict]:
    """Trade a refresh token for a new pair. A token presented twice revokes its whole family."""
    claims = _decode(refresh_token, "refresh")
    row = db.session.get(RefreshToken, claims["jti"])
    family = db.session.get(TokenFamily, claims["fam"])
    if row is None or family is None or row.family_id != family.id:
        raise NotAuthenticated(_("The token is not valid."), code="token_invalid")
    claimed = db.session.execute(update(RefreshToken)
                                 .where(RefreshToken.jti == row.jti, RefreshToken.used_at.is_(None))
                                 .values(used_at=utcnow()))
    if claimed.rowcount != 1:
        revoke_family(family, "refresh_reuse")
        db.session.commit()
        raise NotAuthenticated(_("This refresh token was already used, so every session of that login was "
                                 "logged out. Log in again."), code="token_reused")
    user = _live_user(claims, family)
    family.last_used_at = utcnow()
    return user, token_pair(user, family)


def revoke_family(family: TokenFamily, reason: str) -> None:
    """End one API login: its refresh tokens and the access tokens they issued stop working."""
    if family.revoked_at is None:
        family.revoked_at, family.revoked_reason = utcnow(), reason


def revoke_everything(user: User, reason: str) -> None:
    """Log `user` out everywhere: browsers, API logins and their tokens. API keys stay."""
    user.session_epoch += 1
    now = utcnow()
    db.session.execute(update(BrowserSession)
                       .where(BrowserSession.user_id == user.id, BrowserSession.revoked_at.is_(None))
                       .values(revoked_at=now))
    db.session.execute(update(TokenFamily)
                       .where(TokenFamily.user_id == user.id, TokenFamily.revoked_at.is_(None))
                       .values(revoked_at=now, revoked_reason=reason))


def user_for_access_token(token: str) -> tuple[User, TokenFamily]:
    """The user an access token speaks for; NotAuthenticated if it is expired, revoked or forged."""
    claims = _decode(token, "access")
    family = db.session.get(TokenFamily, claims["fam"])
    if family is None:
        raise NotAuthenticated(_("The token is not valid."), code="token_invalid")
    return _live_user(claims, family), family


def family_of_refresh_token(token: str) -> TokenFamily | None:
    """The family a (possibly expired) refresh token belongs to, for logging out with it."""
    try:
        claims = jwt.decode(token, _key(), algorithms=[ALGORITHM], issuer=ISSUER, options={"verify_exp": False})
    except jwt.PyJWTError:
        return None
    return db.session.get(TokenFamily, claims.get("fam", ""))


def _live_user(claims: dict, family: TokenFamily) -> User:
    user = db.session.get(User, int(claims["sub"])) if str(claims["sub"]).isdigit() else None
    if (user is None or family.revoked_at is not None or family.user_id != user.id
            or user.session_epoch != claims.get("ep") or user.is_blocked):
        raise NotAuthenticated(_("The token has been revoked. Log in again."), code="token_revoked")
    return user


# --- API keys ---------------------------------------------------------------------------------

def create_api_key(user: User, name: str, rate_limit_per_hour: int) -> tuple[ApiKey, str]:
    """A new key for `user`; the raw key is returned this once and never stored."""
    raw = API_KEY_PREFIX + new_secret()
    key = ApiKey(user_id=user.id, name=name, prefix=raw[:12], key_hash=digest(raw),
                 rate_limit_per_hour=rate_limit_per_hour)
    db.session.add(key)
    return key, raw


def user_for_api_key(raw: str) -> tuple[User, ApiKey]:
    """The owner of an unrevoked key; NotAuthenticated otherwise."""
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == digest(raw or "")))
    user = db.session.get(User, key.user_id) if key is not None else None
    if key is None or key.revoked_at is not None or user is None or user.is_blocked:
        raise NotAuthenticated(_("The API key is not valid or has been revoked."), code="api_key_invalid")
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > TOUCH_INTERVAL:
        key.last_used_at = now
        db.session.commit()
    return user, key


def expired_before(moment: datetime) -> None:
    """Delete refresh tokens and emailed tokens that expired before `moment` (housekeeping)."""
    from sqlalchemy import delete

    db.session.execute(delete(RefreshToken).where(RefreshToken.expires_at < moment))
    db.session.execute(delete(AccountToken).where(AccountToken.expires_at < moment))
