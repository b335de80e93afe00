"""Share links as their owner sees them: create, change, revoke, delete, list. No HTTP here.

A link shows one photo, an album or a selection to people without an account. What a recipient
may reach through a link is decided in access.py, the one door of every /s/<token> URL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import delete, func, select, tuple_

from .. import audit
from ..albums import service as albums
from ..auth import permissions
from ..errors import InvalidInput, NotFound
from ..extensions import db
from ..media import service as media_service
from ..models import Album, Media, ShareItem, ShareLink, User, utcnow

STATUSES = ("active", "expired", "used_up", "revoked")
MAX_NOTE, MAX_LABEL = 2000, 80
MAX_SELECTION = media_service.MAX_SELECTION
# Expiry choices the share dialog offers (seconds); the API takes any positive number.
EXPIRY_CHOICES = {"1h": 3600, "1d": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
LONGEST_EXPIRY = timedelta(days=3650)

_hasher = PasswordHasher()


@dataclass(frozen=True)
class Target:
    """What a new link shows: exactly one of a photo, an album or a selection of photos."""

    media_id: str | None = None
    album_id: str | None = None
    media_ids: tuple[str, ...] = ()


@dataclass
class Options:
    """A link's settings. On an update, only the fields that are not UNCHANGED change."""

    label: object = None
    expires_at: object = None
    password: object = None  # "" or None removes the password
    max_views: object = None
    max_downloads: object = None
    allow_download: object = True
    show_metadata: object = False
    allow_upload: object = False
    upload_max_files: object = None
    upload_max_bytes: object = None
    note: object = None


UNCHANGED = object()


def unchanged() -> Options:
    """Options that change nothing: set only the fields an update names."""
    return Options(**{name: UNCHANGED for name in Options.__dataclass_fields__})


def new_token() -> str:
    """The secret of a link: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


def token_hash(token: str) -> str:
    """What a link is looked up by: a request's token never meets the stored one in an index comparison."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def status_of(link: ShareLink, now: datetime | None = None) -> str:
    """active, expired, used_up or revoked (the first that applies, in the order revoked, expired, used up)."""
    now = now or utcnow()
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at is not None and link.expires_at <= now:
        return "expired"
    if link.max_views is not None and link.views >= link.max_views:
        return "used_up"
    return "active"


def get_share_for(owner: User | None, share_id: str) -> ShareLink:
    """The one door to a link for its owner's pages and API: anyone else (and a missing id) is NotFound."""
    link = db.session.get(ShareLink, share_id) if share_id and len(share_id) <= 22 else None
    if link is None or owner is None or not owner.is_authenticated or link.user_id != owner.id:
        raise NotFound(_("There is no such share link."), code="share_not_found")
    return link


def create_share(owner: User, target: Target, options: Options) -> ShareLink:
    """A new link to `target` with `options`; the target must be the owner's, and their groups must allow sharing."""
    permissions.demand(owner, "share")
    link = ShareLink(id=media_service.new_media_id(), user_id=owner.id, views=0, downloads=0,
                     password_failures=0, password_version=0, uploaded_files=0, uploaded_bytes=0)
    link.token = new_token()
    link.token_hash = token_hash(link.token)
    items = _point_at(link, owner, target)
    _apply(link, options)
    db.session.add(link)
    db.session.flush()
    db.session.add_all(ShareItem(share_id=link.id, media_id=media_id, position=n)
                       for n, media_id in enumerate(items))
    audit.record("share_created", owner.id, target=f"share:{link.id}", kind=link.kind)
    db.session.commit()
    return link


def _point_at(link: ShareLink, owner: User, target: Target) -> list[str]:
    """Set what the link shows; returns the photos of a selection, in order."""
    given = [name for name, value in (("image_id", target.media_id), ("album_id", target.album_id),
                                      ("image_ids", target.media_ids)) if value]
    if len(given) != 1:
        raise InvalidInput(_("Share exactly one of a photo, an album or a selection of photos."),
                           code="invalid_target", field=given[1] if len(given) > 1 else "image_id")
    if target.media_id:
        link.kind, link.media_id = "photo", media_service.get_media_for(owner, target.media_id, manage=True).id
        return []
    if target.album_id:
        link.kind, link.album_id = "album", albums.get_album_for(owner, target.album_id).id
        return []
    link.kind = "selection"
    return [media.id for media in media_service.get_many_for(owner, list(target.media_ids))]


def update_share(link: ShareLink, options: Options, *, revoked: bool | None = None) -> ShareLink:
    """Change a link's settings; revoked=True revokes it (from the next request on, everywhere)."""
    _apply(link, options)
    if revoked is not None and revoked != (link.revoked_at is not None):
        link.revoked_at = utcnow() if revoked else None
        # A revoked link's remembered passwords and visits die with it, even if it is restored later.
        link.password_version += 1
    link.updated_at = utcnow()
    audit.record("share_revoked" if revoked else "share_changed", link.user_id, target=f"share:{link.id}")
    db.session.commit()
    return link


def revoke_share(link: ShareLink) -> ShareLink:
    """Revoke a link: it answers 410 from the next request on."""
    return update_share(link, unchanged(), revoked=True)


def delete_share(link: ShareLink) -> None:
    """Delete a link with its statistics; its URL answers 404 from then on."""
    audit.record("share_deleted", link.user_id, target=f"share:{link.id}")
    db.session.execute(delete(ShareLink).where(ShareLink.id == link.id))
    db.session.commit()


def _apply(link: ShareLink, options: Options) -> None:
    """Check and set every option that is not UNCHANGED."""
    if options.label is not UNCHANGED:
        link.label = _text(options.label, MAX_LABEL, "label")
    if options.note is not UNCHANGED:
        link.note = _text(options.note, MAX_NOTE, "note", keep_lines=True)
    if options.expires_at is not UNCHANGED:
        link.expires_at = _expiry(options.expires_at)
    if options.password is not UNCHANGED:
        _set_password(link, options.password)
    for name in ("max_views", "max_downloads", "upload_max_files", "upload_max_bytes"):
        value = getattr(options, name)
        if value is not UNCHANGED:
            setattr(link, name, _limit(value, name))
    for name in ("allow_download", "show_metadata", "allow_upload"):
        value = getattr(options, name)
        if value is not UNCHANGED:
            setattr(link, name, bool(value))
    if link.allow_upload and link.kind != "album":
        raise InvalidInput(_("Only an album link can take uploads from guests."), code="upload_needs_album",
                           field="allow_upload")


def _text(value, limit: int, field: str, keep_lines: bool = False) -> str:
    text = str(value or "").strip()
    if not keep_lines:
        text = " ".join(text.split())
    if len(text) > limit:
        raise InvalidInput(_("This text has at most %(n)s characters.", n=limit), code=f"{field}_too_long",
                           field=field)
    return text


def _expiry(value) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidInput(_("Give the expiry time with its time zone."), code="invalid_expiry", field="expires_at")
    now = utcnow()
    if value <= now:
        raise InvalidInput(_("The expiry time must be in the future."), code="expiry_in_past", field="expires_at")
    if value - now > LONGEST_EXPIRY:
        raise InvalidInput(_("A link can expire at most ten years from now; choose “never” instead."),
                           code="expiry_too_far", field="expires_at")
    return value


def _limit(value, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(_("This limit must be a whole number of at least 1, or empty for none."),
                           code="invalid_limit", field=field)
    return min(value, 2**31 - 1) if field != "upload_max_bytes" else min(value, 2**62)


def _set_password(link: ShareLink, password) -> None:
    if not password:
        if link.password_hash is not None:
            link.password_hash = None
            link.password_version += 1
        return
    if len(password) > 1024:
        raise InvalidInput(_("A password has at most 1024 characters."), code="password_too_long", field="password")
    link.password_hash = _hasher.hash(password)
    link.password_version += 1  # everyone who gave the old password must give the new one


def password_matches(link: ShareLink, password: str) -> bool:
    """Whether `password` opens `link` (an Argon2 check; a link without one needs none)."""
    if link.password_hash is None:
        return True
    try:
        return _hasher.verify(link.password_hash, password or "")
    except Exception:  # argon2 raises VerifyMismatchError, InvalidHashError...: all mean no
        return False


# --- lists -------------------------------------------------------------------------------------

@dataclass
class Listed:
    """A link as the Shared links page shows it: the row, its status, and a name for what it shows."""

    link: ShareLink
    status: str
    title: str
    cover: Media | None
    count: int


def shares_of(owner: User, *, media_id: str | None = None, album_id: str | None = None) -> list[Listed]:
    """Every link of `owner`, newest first; or only those of one photo or one album."""
    query = select(ShareLink).where(ShareLink.user_id == owner.id)
    if media_id:
        query = query.where(ShareLink.media_id == media_id)
    if album_id:
        query = query.where(ShareLink.album_id == album_id)
    links = list(db.session.scalars(query.order_by(ShareLink.created_at.desc(), ShareLink.id.desc())))
    return [describe(link) for link in links]


def shares_page(owner: User, *, limit: int, cursor: str | None = None) -> tuple[list[ShareLink], str | None]:
    """One page of `owner`'s links, newest first, and the cursor of the next page (None on the last)."""
    query = select(ShareLink).where(ShareLink.user_id == owner.id)
    if cursor:
        # A plain tuple on the right, so the time is bound with its column's type (UTC stays UTC).
        query = query.where(tuple_(ShareLink.created_at, ShareLink.id) < _read_cursor(cursor))
    links = list(db.session.scalars(query.order_by(ShareLink.created_at.desc(), ShareLink.id.desc())
                                    .limit(limit + 1)))
    if len(links) <= limit:
        return links, None
    last = links[limit - 1]
    raw = json.dumps([last.created_at.isoformat(), last.id], separators=(",", ":")).encode()
    return links[:limit], base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, share_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None or not isinstance(share_id, str):
            raise ValueError
        return moment.astimezone(timezone.utc), share_id
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, OverflowError):
        raise InvalidInput(_("The cursor is not one this server gave out."), code="invalid_cursor",
                           field="cursor") from None


def describe(link: ShareLink) -> Listed:
    """A link with its status, a title for what it shows, a cover photo and how many photos it holds."""
    now = utcnow()
    if link.kind == "photo":
        media = db.session.get(Media, link.media_id)
        return Listed(link, status_of(link, now), title_for("photo", media, 1), media, 1)
    if link.kind == "album":
        summary = albums.summary(db.session.get(Album, link.album_id))
        return Listed(link, status_of(link, now), summary.album.title, summary.cover, summary.count)
    count = db.session.scalar(select(func.count()).where(ShareItem.share_id == link.id)) or 0
    first = db.session.scalar(select(Media).join(ShareItem, ShareItem.media_id == Media.id)
                              .where(ShareItem.share_id == link.id).order_by(ShareItem.position).limit(1))
    return Listed(link, status_of(link, now), title_for("selection", first, count), first, count)


def title_for(kind: str, first: Media | None, count: int, album_title: str = "") -> str:
    """What a link to a photo, an album or a selection is called, to its owner and its recipients alike."""
    if kind == "photo" and first is not None:
        return first.title or first.original_name
    if kind == "album" and album_title:
        return album_title
    return ngettext("%(num)s photo", "%(num)s photos", count)


def owner_name(user_id: int) -> str:
    """The name a link shows for its owner: the display name (or user name), never the email address."""
    owner = db.session.get(User, user_id)
    return owner.shown_name if owner else ""


def selection_ids(link: ShareLink) -> list[str]:
    """The photos of a selection link, in order."""
    return list(db.session.scalars(select(ShareItem.media_id).where(ShareItem.share_id == link.id)
                                   .order_by(ShareItem.position)))
