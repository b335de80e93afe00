"""Turning the current request into a view event, without keeping who the visitor is.

record() drops HEAD requests, known preview bots and the owner's own looks, and keeps only a visitor
hash made with a salt that changes every UTC day (never the address). It does no database work:
the event goes to the app's EventWriter, which writes it within about a second.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from urllib.parse import urlsplit

from flask import current_app, request
from flask_login import current_user

from ..models import utcnow
from .agents import LONGEST_AGENT, is_preview_bot
from .writer import Event, writer_of

KINDS = ("view", "download", "password_failed")


def counts_as_view() -> bool:
    """Whether the current request is a person's view: a GET (or POST) that is not a bot."""
    return request.method in ("GET", "POST") and not is_preview_bot(request.user_agent.string)


@lru_cache(maxsize=8)  # a function of its arguments alone: the same on every instance
def _daily_salt(secret_key: str, day: str) -> bytes:
    return hmac.new(secret_key.encode(), day.encode(), hashlib.sha256).digest()


def visitor_hash(address: str, user_agent: str) -> str:
    """The same visitor within one UTC day hashes alike; across days, or without the secret key, nothing links them."""
    salt = _daily_salt(current_app.config["SECRET_KEY"], utcnow().date().isoformat())
    return hmac.new(salt, f"{address}\n{user_agent}".encode(), hashlib.sha256).hexdigest()[:16]


def _is_owner(owner_id: int) -> bool:
    return current_user.is_authenticated and current_user.id == owner_id


def record(kind: str, *, owner_id: int, media_id: str | None = None, share_id: str | None = None) -> None:
    """Keep one event of the current request (kind: view, download, password_failed) for the owner's statistics.

    Views and downloads by bots, by HEAD requests and by the owner are not kept; every wrong password is.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown view event kind {kind!r}")
    if kind != "password_failed" and (not counts_as_view() or _is_owner(owner_id)):
        return
    agent = (request.user_agent.string or "")[:LONGEST_AGENT]
    writer_of(current_app).add(Event(kind, owner_id, media_id, share_id, utcnow(),
                                     visitor_hash(request.remote_addr or "", agent), _referrer_host(), agent))


def _referrer_host() -> str:
    """The host of the Referer header: where the visitor came from, without the page or its query."""
    try:
        return (urlsplit(request.referrer or "").hostname or "")[:253]
    except ValueError:  # a malformed address, such as an unclosed [IPv6 bracket
        return ""
