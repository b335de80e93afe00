"""Views as events: who looked at a photo page, an original or a share link, without keeping who they are.

record() is called by the routes that serve a view; it drops HEAD requests and known preview bots,
and keeps only a visitor hash made with a salt that changes every UTC day (never the address).
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from flask import current_app, request

from ..extensions import db
from ..models import ViewEvent, utcnow

# Link-preview fetchers of chat apps, social sites and mail gateways: they only GET, and are not people.
PREVIEW_BOTS = ("slackbot", "slack-imgproxy", "discordbot", "telegrambot", "whatsapp", "facebookexternalhit",
                "facebookcatalog", "twitterbot", "linkedinbot", "skypeuripreview", "iframely", "embedly",
                "googlebot", "bingbot", "applebot", "mastodon", "pinterest", "redditbot", "bot/", "bot;",
                "crawler", "spider", "preview", "curl/", "wget/", "python-requests", "go-http-client")


def is_preview_bot(user_agent: str) -> bool:
    """Whether a User-Agent is a known link-preview fetcher or crawler."""
    agent = (user_agent or "").lower()
    return any(marker in agent for marker in PREVIEW_BOTS)


def counts_as_view() -> bool:
    """Whether the current request is a person's view: a GET (or POST) that is not a bot."""
    return request.method in ("GET", "POST") and not is_preview_bot(request.user_agent.string)


def visitor_hash(address: str, user_agent: str) -> str:
    """The same visitor within one UTC day hashes alike; across days, or without the secret key, nothing links them."""
    salt = hmac.new(current_app.config["SECRET_KEY"].encode(), utcnow().date().isoformat().encode(),
                    hashlib.sha256).digest()
    return hmac.new(salt, f"{address}\n{user_agent}".encode(), hashlib.sha256).hexdigest()[:16]


def record(kind: str, *, owner_id: int, media_id: str | None = None, share_id: str | None = None) -> None:
    """Keep one event of the current request (kind: view, download, password_failed) for the owner's statistics."""
    if kind != "password_failed" and not counts_as_view():
        return
    agent = request.user_agent.string or ""
    referrer = urlsplit(request.referrer or "").hostname or ""
    db.session.add(ViewEvent(owner_id=owner_id, media_id=media_id, share_id=share_id, kind=kind, at=utcnow(),
                             visitor=visitor_hash(request.remote_addr or "", agent),
                             referrer_host=referrer[:253], device="", browser="", os=""))
    db.session.commit()
