"""Browsing one person's photos: search, filters, sort orders and keyset cursors.

Shared by the gallery page, album pages, the image page's previous/next and GET /api/v1/images,
so that all of them agree on what "the next photo" is. Pages are found by a keyset cursor, never
OFFSET: the deepest page costs what the first does, because each sort order has its own index
that ends in the photo id (see Media.__table_args__).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone

from flask_babel import gettext as _
from sqlalchemy import Select, and_, or_, select, tuple_

from ..albums import service as albums
from ..errors import InvalidInput
from ..extensions import db
from ..models import AlbumItem, Media, User

MAX_LIMIT = 200
DEFAULT_LIMIT = 60

# Sort name -> (column, its default direction). "album" is the album's own order.
SORTS = {
    "uploaded": (Media.created_at, "desc"),
    "taken": (Media.captured_at, "desc"),
    "name": (Media.original_name, "asc"),
    "size": (Media.size, "desc"),
    "album": (AlbumItem.position, "asc"),
}
TYPES = ("photo", "animated", "video", "file")
VISIBILITIES = ("public", "private")
MAX_QUERY = 100
# Parameters that take a number, a day or one of a few words: an empty value is none of those.
TYPED_PARAMETERS = ("limit", "sort", "order", "from", "to", "type", "visibility")


@dataclass(frozen=True)
class View:
    """What the person is looking at: the filters, the order, and where the page starts."""

    q: str = ""
    album_id: str = ""
    sort: str = "uploaded"
    order: str = "desc"
    since: date | None = None
    until: date | None = None
    type: str = ""
    visibility: str = ""
    cursor: str = ""
    limit: int = DEFAULT_LIMIT
    album_in_path: bool = False  # on an album's own page, whose URL names the album already

    def args(self, **changes) -> dict:
        """The query-string form of this view (defaults left out), for links and hx-push-url."""
        view = replace(self, **changes)
        default_order = SORTS[view.sort][1]
        values = {"q": view.q, "album": "" if view.album_in_path else view.album_id,
                  "sort": view.sort if view.sort != view.default_sort else "",
                  "order": view.order if view.order != default_order else "",
                  "from": view.since.isoformat() if view.since else "",
                  "to": view.until.isoformat() if view.until else "", "type": view.type,
                  "visibility": view.visibility, "cursor": view.cursor,
                  "limit": str(view.limit) if view.limit != DEFAULT_LIMIT else ""}
        return {key: value for key, value in values.items() if value}

    @property
    def default_sort(self) -> str:
        """An album's own order inside an album, newest upload first everywhere else."""
        return "album" if self.album_id else "uploaded"

    @property
    def filtered(self) -> bool:
        """True when something narrows the photos down (so an empty page is "no match", not "no photos")."""
        return bool(self.q or self.since or self.until or self.type or self.visibility)


@dataclass
class Page:
    """One page of photos and the cursor of the next one (None at the end)."""

    items: list[Media] = field(default_factory=list)
    next_cursor: str | None = None


def view_from_args(args: Mapping[str, str], *, album_id: str = "", strict: bool = False) -> View:
    """Read a View from query-string values; a bad value is InvalidInput with a sentence naming it.

    `album_id` is the album of the page itself (its URL), when there is one. The gallery's filter
    form sends every field, so there an empty one means "not chosen" and a long search is cut short;
    `strict` (the API) refuses both instead, as its document says.
    """
    if strict:
        _refuse_empty_or_long(args)
    album_in_path = bool(album_id)
    album_id = album_id or str(args.get("album", "")).strip()[:22]
    sort = args.get("sort") or ("album" if album_id else "uploaded")
    if sort == "album" and not album_id:
        raise InvalidInput(_("sort=album follows an album's own order, so it needs album as well."),
                           code="invalid_sort", field="sort")
    if sort not in SORTS:
        raise InvalidInput(_("sort must be one of uploaded, taken, name or size."), code="invalid_sort", field="sort")
    order = args.get("order") or SORTS[sort][1]
    if order not in ("asc", "desc"):
        raise InvalidInput(_("order must be asc or desc."), code="invalid_order")
    kind, visibility = args.get("type", ""), args.get("visibility", "")
    if kind and kind not in TYPES:
        raise InvalidInput(_("type must be one of photo, animated, video or file."), code="invalid_type")
    if visibility and visibility not in VISIBILITIES:
        raise InvalidInput(_("visibility must be public or private."), code="invalid_visibility")
    return View(q=" ".join(str(args.get("q", "")).split())[:MAX_QUERY], album_id=album_id, sort=sort, order=order,
                since=_day(args.get("from"), "from"), until=_day(args.get("to"), "to"), type=kind,
                visibility=visibility, cursor=str(args.get("cursor", "")), limit=_limit(args.get("limit")),
                album_in_path=album_in_path)


def view_for(user: User, args: Mapping[str, str], *, album_id: str = "", strict: bool = False) -> View:
    """view_from_args(), then NotFound unless `user` may see the album the view is limited to."""
    view = view_from_args(args, album_id=album_id, strict=strict)
    if view.album_id:
        albums.get_album_for(user, view.album_id)
    return view


def selection_event(action: str, ids: list[str]) -> str:
    """The HX-Trigger telling the page which tiles an action changed (gallery.js updates them in place)."""
    return json.dumps({"shoebox:selection-done": {"action": action, "ids": list(dict.fromkeys(ids))}})


def _refuse_empty_or_long(args: Mapping[str, str]) -> None:
    empty = next((name for name in TYPED_PARAMETERS if args.get(name) == ""), None)
    if empty:
        code = "invalid_date" if empty in ("from", "to") else f"invalid_{empty}"
        raise InvalidInput(_("%(name)s is empty; give it a value or leave it out.", name=empty), code=code,
                           field=empty)
    if len(args.get("q", "")) > MAX_QUERY:
        raise InvalidInput(_("q has at most %(count)s characters.", count=MAX_QUERY), code="invalid_query", field="q")


def _day(raw: str | None, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(_("%(name)s must be a date like 2024-12-31.", name=name), code="invalid_date") from None


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidInput(_("limit must be a whole number from 1 to %(max)s.", max=MAX_LIMIT), code="invalid_limit")
    return int(raw)


# --- queries ----------------------------------------------------------------------------------

def page(owner: User, view: View) -> Page:
    """The photos of `owner` that `view` shows, from its cursor on."""
    query = _filtered(owner, view)
    if view.cursor:
        query = query.where(_after(view, _decode(view, view.cursor)))
    rows = db.session.execute(_ordered(query, view).limit(view.limit + 1)).all()
    items = [row[0] for row in rows[:view.limit]]
    more = len(rows) > view.limit
    return Page(items, _encode(view, rows[view.limit - 1]) if more else None)


def neighbours(owner: User, view: View, media: Media) -> tuple[Media | None, Media | None]:
    """The photos before and after `media` in `view`'s order (None at either end or when not in it)."""
    query = _filtered(owner, view)
    row = db.session.execute(_with_key(query, view).where(Media.id == media.id)).first()
    if row is None:
        return None, None
    key = _key_of(view, row)
    following = db.session.scalars(_ordered(query.where(_after(view, key)), view).limit(1)).first()
    backwards = replace(view, order="asc" if view.order == "desc" else "desc")
    preceding = db.session.scalars(_ordered(query.where(_after(backwards, key)), backwards).limit(1)).first()
    return preceding, following


def _filtered(owner: User, view: View) -> Select:
    query = select(Media, AlbumItem.position) if view.album_id else select(Media)
    if view.album_id:
        query = query.join(AlbumItem, and_(AlbumItem.media_id == Media.id, AlbumItem.album_id == view.album_id))
    query = query.where(Media.user_id == owner.id)
    if view.q:
        pattern = "%" + view.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(*(column.ilike(pattern, escape="\\")
                                  for column in (Media.title, Media.original_name, Media.camera))))
    if view.since:
        query = query.where(Media.captured_at >= _midnight(view.since))
    if view.until:
        query = query.where(Media.captured_at < _midnight(view.until + timedelta(days=1)))
    if view.type:
        query = query.where(*{"photo": (Media.kind == "image", Media.frames <= 1),
                              "animated": (Media.kind == "image", Media.frames > 1),
                              "video": (Media.kind == "video",), "file": (Media.kind == "file",)}[view.type])
    if view.visibility:
        query = query.where(Media.is_public.is_(view.visibility == "public"))
    return query


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, timezone.utc)


def _sort_column(view: View):
    return SORTS[view.sort][0]


def _ordered(query: Select, view: View) -> Select:
    column = _sort_column(view)
    if view.order == "desc":
        return query.order_by(column.desc(), Media.id.desc())
    return query.order_by(column.asc(), Media.id.asc())


def _with_key(query: Select, view: View) -> Select:
    return query.add_columns(_sort_column(view)) if view.sort != "album" else query


def _after(view: View, key: tuple):
    """Rows that come after `key` (sort value, id) in `view`'s order: a row-value comparison the index serves."""
    # A plain tuple on the right, so each value is bound with its column's type (UTC times stay UTC
    # whatever the database session's time zone is).
    pair = tuple_(_sort_column(view), Media.id)
    return pair < tuple(key) if view.order == "desc" else pair > tuple(key)


def _key_of(view: View, row) -> tuple:
    media = row[0]
    value = row[1] if view.sort == "album" else getattr(media, _sort_column(view).key)
    return value, media.id


# --- cursors ------------------------------------------------------------------------------------

def _encode(view: View, row) -> str:
    value, media_id = _key_of(view, row)
    if isinstance(value, datetime):
        value = value.astimezone(timezone.utc).isoformat()
    raw = json.dumps([view.sort, view.order, value, media_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(view: View, cursor: str) -> tuple:
    """The (sort value, id) a cursor stands for; it must have been made for this same order."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sort, order, value, media_id = json.loads(raw)
        if (sort, order) != (view.sort, view.order) or not isinstance(media_id, str):
            raise ValueError
        if sort in ("uploaded", "taken"):
            value = datetime.fromisoformat(value)
        elif sort in ("size", "album") and not isinstance(value, int) or sort == "name" and not isinstance(value, str):
            raise ValueError
        return value, media_id
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise InvalidInput(_("The cursor is not one this server gave out for this order."),
                           code="invalid_cursor") from None
