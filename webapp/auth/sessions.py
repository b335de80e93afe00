"""Browser logins: each one is a BrowserSession row named in the signed session cookie."""

from __future__ import annotations

from datetime import timedelta

from flask import request, session
from flask_login import login_user, logout_user
from sqlalchemy import select, update

from .. import audit
from ..extensions import db
from ..models import BrowserSession, User, utcnow
from .tokens import new_secret

# Writing last-seen on every page view would turn every read into a write.
TOUCH_INTERVAL = timedelta(minutes=1)


def start(user: User) -> BrowserSession:
    """Log `user` in on this browser for the configured session lifetime."""
    row = BrowserSession(id=new_secret(), user_id=user.id, ip=(request.remote_addr or "")[:64],
                         user_agent=(request.user_agent.string or "")[:300])
    db.session.add(row)
    db.session.commit()
    session.clear()  # a fresh session on login: nothing from before carries over
    session.permanent = True
    session["sid"] = row.id
    login_user(user)
    return row


def end() -> None:
    """Log this browser out and forget its session."""
    sid = session.get("sid")
    if sid:
        db.session.execute(update(BrowserSession).where(BrowserSession.id == sid).values(revoked_at=utcnow()))
        db.session.commit()
    logout_user()
    session.clear()


def current_id() -> str | None:
    """The id of this browser's session row."""
    return session.get("sid")


def active(user: User) -> list[BrowserSession]:
    """The user's browser sessions that are still logged in, most recently seen first."""
    return db.session.scalars(select(BrowserSession).where(
        BrowserSession.user_id == user.id, BrowserSession.revoked_at.is_(None))
        .order_by(BrowserSession.last_seen_at.desc())).all()


def revoke(user: User, session_id: str) -> bool:
    """Log one of the user's browsers out (audited); False if there was no such session."""
    revoked = db.session.execute(update(BrowserSession).where(
        BrowserSession.id == session_id, BrowserSession.user_id == user.id, BrowserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())).rowcount == 1
    if revoked:
        audit.record("session_revoked", user.id)
        db.session.commit()
    return revoked


def load_user(session_id: str) -> User | None:
    """The logged-in account, unless its session was revoked or it was blocked or logged out everywhere."""
    user_id, _sep, epoch = session_id.partition(":")
    row = db.session.get(BrowserSession, session.get("sid", ""))
    if not user_id.isdigit() or not epoch.isdigit() or row is None or row.revoked_at is not None:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.is_blocked or user.session_epoch != int(epoch) or row.user_id != user.id:
        return None
    now = utcnow()
    if now - row.last_seen_at > TOUCH_INTERVAL:
        row.last_seen_at, row.ip = now, (request.remote_addr or "")[:64]
        db.session.commit()
    return user


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Chromium/", "Chromium"), ("Safari/", "Safari"))
_SYSTEMS = (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("Linux", "Linux"))


def device_label(user_agent: str) -> str:
    """"Firefox on Linux" from a User-Agent header, for people to recognise their own devices."""
    browser = next((name for token, name in _BROWSERS if token in (user_agent or "")), None)
    system = next((name for token, name in _SYSTEMS if token in (user_agent or "")), None)
    if browser and system:
        return f"{browser} · {system}"
    return browser or system or (user_agent or "?")[:40]
