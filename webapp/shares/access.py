"""The one door of every /s/<token> URL: what a recipient may reach through a link, and when.

No HTTP here. A request brings the token from its URL and the visit it holds (a signed cookie
scoped to /s/<token>, read and written by the routes); `enter()` decides, every time, from the
database, so a revoked or changed link is refused from the next request on, on every instance.

A visit is one recipient's look at a link: it starts with a counted view and lasts VISIT_SECONDS,
however many photos and sizes it loads. It also remembers the password, bound to the link's
password version, so a new password or a revocation voids every visit at once.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import and_, bindparam, exists, func, null, or_, select, update

from ..errors import Forbidden, Gone, NotAuthenticated, NotFound
from ..extensions import db
from ..models import AlbumItem, Media, ShareItem, ShareLink, User, Variant, utcnow
from . import service

VISIT_SECONDS = 3600
MAX_TOKEN = 64


class LinkGone(Gone):
    """The link exists but no longer opens: revoked, expired or used up (`reason` says which)."""

    def __init__(self, reason: str):
        messages = {"revoked": _("The owner has withdrawn this link."),
                    "expired": _("This link has expired."),
                    "used_up": _("This link has been opened as many times as its owner allowed."),
                    "unavailable": _("This link is not available at the moment.")}
        super().__init__(messages[reason], code=f"link_{reason}")
        self.reason = reason


class PasswordRequired(NotAuthenticated):
    code = "password_required"


class NotOpened(Forbidden):
    code = "link_not_opened"


@dataclass(frozen=True)
class Visit:
    """What a recipient's cookie says: the link, the password version it was given for, when it began."""

    share_id: str
    password_version: int
    started: float
    unlocked: bool  # the password was given (always True for a link without one)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="shoebox-share-visit")


def sign_visit(link: ShareLink, started: float, unlocked: bool) -> str:
    """The cookie value for a visit to `link` that began at `started` (a Unix time)."""
    return _serializer().dumps([link.id, link.password_version, started, unlocked])


def read_visit(link: ShareLink, cookie: str | None, now: float) -> Visit | None:
    """The visit `cookie` holds for `link`, or None when absent, forged, stale or for another link/password."""
    if not cookie:
        return None
    try:
        share_id, version, started, unlocked = _serializer().loads(cookie, max_age=VISIT_SECONDS)
    except (BadSignature, ValueError, TypeError):
        return None
    if share_id != link.id or version != link.password_version or not 0 <= now - started < VISIT_SECONDS:
        return None
    return Visit(share_id, version, started, bool(unlocked))


def find(token: str) -> ShareLink:
    """The link a token names, whatever its state; NotFound for an unknown token."""
    if not token or len(token) > MAX_TOKEN:
        raise NotFound(_("There is no such link."), code="link_not_found")
    link = db.session.scalar(select(ShareLink).where(ShareLink.token_hash == service.token_hash(token)))
    if link is None or not hmac.compare_digest(link.token.encode(), token.encode("utf-8", "surrogatepass")):
        raise NotFound(_("There is no such link."), code="link_not_found")
    return link


@dataclass(frozen=True)
class Entry:
    """A recipient at a link: the link, and the visit under way (None when none is)."""

    link: ShareLink
    visit: Visit | None

    @property
    def unlocked(self) -> bool:
        return self.link.password_hash is None or (self.visit is not None and self.visit.unlocked)

    @property
    def needs_open(self) -> bool:
        """A view-limited link shows an Open button until a POST has taken a view for this visitor."""
        return self.link.max_views is not None and self.visit is None


def enter(token: str, cookie: str | None, now: float, *, link=None) -> Entry:
    """The link and the visit, for the share page: NotFound or LinkGone when it does not open at all.

    A visitor whose visit is under way keeps it even when the last view went to them (used up).
    `link` is the link when the caller has already found it by this token (see size_of()).
    """
    link = find(token) if link is None else link
    visit = read_visit(link, cookie, now)
    _refuse_if_gone(link, visit)
    return Entry(link, visit)


def _refuse_if_gone(link, visit: Visit | None) -> None:
    """LinkGone unless the link opens: active, or used up by a visit still under way, and its owner not blocked."""
    if owner_blocked(link):
        raise LinkGone("unavailable")
    reason = service.status_of(link)
    if reason != "active" and not (reason == "used_up" and visit is not None):
        raise LinkGone(reason)


def admit(token: str, cookie: str | None, now: float, *, link=None) -> ShareLink:
    """The check every sub-resource makes (sizes, originals, zip, metadata, upload): the link, or an error.

    401 until the password was given on this visit; 403 for a view-limited link not yet opened.
    """
    link = find(token) if link is None else link
    if not is_protected(link):  # neither a password nor a view limit: the visit does not matter
        _refuse_if_gone(link, None)
        return link
    entry = enter(token, cookie, now, link=link)
    if not entry.unlocked:
        raise PasswordRequired(_("This link is protected by a password."))
    if entry.needs_open:
        raise NotOpened(_("Open the link first."))
    return entry.link


def owner_blocked(link) -> bool:
    """Whether an administrator blocked the link's owner: their links answer as unavailable until unblocked.

    size_of()'s row carries the answer; a ShareLink's owner is loaded into the request's session, where the
    page's other uses of the owner (their name, say) then find it.
    """
    blocked = getattr(link, "owner_blocked", None)
    if blocked is None:
        blocked = link.owner.is_blocked
    return bool(blocked)


def take_view(link: ShareLink) -> None:
    """Count one view, if the link still has one to give (one conditional UPDATE: races cannot overdraw)."""
    now = utcnow()
    taken = db.session.execute(
        update(ShareLink)
        .where(ShareLink.id == link.id, ShareLink.revoked_at.is_(None),
               or_(ShareLink.expires_at.is_(None), ShareLink.expires_at > now),
               or_(ShareLink.max_views.is_(None), ShareLink.views < ShareLink.max_views))
        .values(views=ShareLink.views + 1, last_viewed_at=now)
        .returning(ShareLink.views)).scalar()
    db.session.commit()
    if taken is None:  # a racing request took the last view, or the link changed since it was read
        db.session.refresh(link)
        reason = service.status_of(link, now)
        raise LinkGone("used_up" if reason == "active" else reason)


def check_download(link: ShareLink) -> None:
    """Refuse as take_download() would, without counting one (a HEAD request downloads nothing)."""
    if not link.allow_download:
        raise Forbidden(_("The owner has not allowed downloads through this link."), code="download_not_allowed")
    if link.max_downloads is not None and link.downloads >= link.max_downloads:
        raise _downloads_used_up()


def _downloads_used_up() -> Gone:
    return Gone(_("This link has been downloaded from as many times as its owner allowed."),
                code="downloads_used_up")


def take_download(link: ShareLink) -> None:
    """Count one download the same way; Forbidden when downloads are off, Gone when none are left."""
    check_download(link)
    taken = db.session.execute(
        update(ShareLink)
        .where(ShareLink.id == link.id,
               or_(ShareLink.max_downloads.is_(None), ShareLink.downloads < ShareLink.max_downloads))
        .values(downloads=ShareLink.downloads + 1)
        .returning(ShareLink.downloads)).scalar()
    db.session.commit()
    if taken is None:
        raise _downloads_used_up()


def count_password_failure(link: ShareLink) -> None:
    """Note a wrong password in the link's statistics."""
    db.session.execute(update(ShareLink).where(ShareLink.id == link.id)
                       .values(password_failures=ShareLink.password_failures + 1))
    db.session.commit()


# --- what a link shows -------------------------------------------------------------------------

def _shows():
    """A condition on Media and ShareLink: the link shows the photo (and the photo is still its owner's)."""
    return or_(and_(ShareLink.kind == "photo", ShareLink.media_id == Media.id),
               and_(ShareLink.kind == "album", Media.user_id == ShareLink.user_id,
                    exists().where(AlbumItem.album_id == ShareLink.album_id, AlbumItem.media_id == Media.id)),
               and_(ShareLink.kind == "selection", Media.user_id == ShareLink.user_id,
                    exists().where(ShareItem.share_id == ShareLink.id, ShareItem.media_id == Media.id)))


def _size_query():
    """The one statement of size_of(), built once: only its parameters change between requests."""
    columns = (ShareLink.id, ShareLink.token, ShareLink.user_id, ShareLink.password_hash,
               ShareLink.password_version, ShareLink.revoked_at, ShareLink.expires_at, ShareLink.max_views,
               ShareLink.max_downloads, ShareLink.views, Media.sha256, Media.original_name, Variant.storage_key,
               Variant.size, Variant.mime_type, Variant.created_at, User.is_blocked.label("owner_blocked"))
    return (select(*columns).select_from(ShareLink)
            .join(User, User.id == ShareLink.user_id)
            .join(Media, Media.id == bindparam("media_id"))
            .join(Variant, and_(Variant.media_id == Media.id, Variant.spec == bindparam("preset")))
            .where(ShareLink.token_hash == bindparam("token_hash"), _shows()))


_SIZE_QUERY = _size_query()


def size_of(token: str, cookie: str | None, now: float, media_id: str, preset: str):
    """The hot path of a recipient's page: one cached size of one photo, found and checked in one query.

    Returns a row with the link's state (checked exactly as admit() checks it, raising the same
    errors) and the size's storage facts; None when the token, the photo or the cached size is not
    there, and the caller takes the slow path, which says exactly what is missing or makes the size.
    Nothing is remembered between requests: a revoked link is refused on the next one.
    """
    if not token or len(token) > MAX_TOKEN or not media_id or len(media_id) > 22:
        return None
    # Its own short connection: the request's session (and its teardown) is never touched.
    with db.engine.connect() as connection:
        row = connection.execute(_SIZE_QUERY, {"media_id": media_id, "preset": preset,
                                               "token_hash": service.token_hash(token)}).first()
    if row is None or not hmac.compare_digest(row.token.encode(), token.encode("utf-8", "surrogatepass")):
        return None
    admit(token, cookie, now, link=row)
    return row


def photo_of(link: ShareLink, media_id: str, preset: str | None = None) -> tuple[Media, Variant | None]:
    """A photo that `link` shows (with its cached preset `preset`, when asked), or NotFound."""
    if not media_id or len(media_id) > 22:
        raise NotFound(_("This link shows no such photo."), code="image_not_found")
    query = select(Media, Variant).outerjoin(Variant, and_(Variant.media_id == Media.id, Variant.spec == preset)) \
        if preset else select(Media, null())
    row = db.session.execute(query.join(ShareLink, ShareLink.id == link.id)
                             .where(Media.id == media_id, _shows())).first()
    if row is None:
        raise NotFound(_("This link shows no such photo."), code="image_not_found")
    return row[0], row[1]


def _ordered(link: ShareLink):
    """(query over Media with a position column, position column) in the link's order."""
    if link.kind == "album":
        position = AlbumItem.position
        query = select(Media, position).join(AlbumItem, AlbumItem.media_id == Media.id) \
            .where(AlbumItem.album_id == link.album_id, Media.user_id == link.user_id)
    elif link.kind == "selection":
        position = ShareItem.position
        query = select(Media, position).join(ShareItem, ShareItem.media_id == Media.id) \
            .where(ShareItem.share_id == link.id, Media.user_id == link.user_id)
    else:
        position = null()
        query = select(Media, null()).where(Media.id == link.media_id)
    return query, position


def photos(link: ShareLink, *, after: tuple[int, str] | None = None,
           limit: int = 60) -> tuple[list[Media], tuple | None]:
    """One page of the link's photos in order, and the key to ask for the next (None at the end)."""
    query, position = _ordered(link)
    if after is not None and link.kind != "photo":
        query = query.where(or_(position > after[0], and_(position == after[0], Media.id > after[1])))
    if link.kind != "photo":
        query = query.order_by(position, Media.id)
    rows = db.session.execute(query.limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_key = (rows[-1][1], rows[-1][0].id) if more else None
    return [row[0] for row in rows], next_key


def all_photos(link: ShareLink) -> list[Media]:
    """Every photo the link shows, in order (for the zip)."""
    query, position = _ordered(link)
    if link.kind != "photo":
        query = query.order_by(position, Media.id)
    return [row[0] for row in db.session.execute(query)]


def count(link: ShareLink) -> int:
    """How many photos the link shows now."""
    query, _position = _ordered(link)
    return db.session.scalar(select(func.count()).select_from(query.subquery())) or 0


def neighbours(link: ShareLink, media: Media) -> tuple[str | None, str | None]:
    """The ids before and after `media` in the link's order (for the viewer without JavaScript)."""
    if link.kind == "photo":
        return None, None
    query, position = _ordered(link)
    here = db.session.execute(query.where(Media.id == media.id)).first()
    if here is None:
        return None, None
    key = here[1]
    before = db.session.execute(query.where(or_(position < key, and_(position == key, Media.id < media.id)))
                                .order_by(position.desc(), Media.id.desc()).limit(1)).first()
    after = db.session.execute(query.where(or_(position > key, and_(position == key, Media.id > media.id)))
                               .order_by(position, Media.id).limit(1)).first()
    return (before[0].id if before else None), (after[0].id if after else None)


def is_protected(link: ShareLink) -> bool:
    """A password or a view limit: such a link's responses are never stored, and its preview has no image."""
    return link.password_hash is not None or link.max_views is not None

