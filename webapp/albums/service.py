"""Albums: named, ordered collections of one person's photos. No HTTP here.

A photo may be in many albums; deleting an album leaves its photos where they were. Order is kept
as integer positions with gaps of POSITION_STEP, so moving a photo usually rewrites one row; when
two neighbours have no gap left, the album is renumbered once.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update

from .. import audit
from ..errors import InvalidInput, NotFound
from ..extensions import db
from ..models import Album, AlbumItem, Media, User, utcnow

POSITION_STEP = 1024
MAX_TITLE, MAX_DESCRIPTION = 200, 5000


@dataclass
class Summary:
    """An album as lists show it: the row, how many photos it holds, and the photo on its cover."""

    album: Album
    count: int
    cover: Media | None


def get_album_for(viewer: User | None, album_id: str) -> Album:
    """The one door to an album: its owner only; anyone else (and a missing id) is NotFound."""
    album = db.session.get(Album, album_id) if album_id and len(album_id) <= 22 else None
    if album is None or viewer is None or not viewer.is_authenticated or album.user_id != viewer.id:
        raise NotFound(_("There is no such album."), code="album_not_found")
    return album


def albums_of(owner: User) -> list[Summary]:
    """Every album of `owner`, most recently changed first, with counts and covers."""
    counts = select(AlbumItem.album_id, func.count().label("n")).join(Album, Album.id == AlbumItem.album_id) \
        .where(Album.user_id == owner.id).group_by(AlbumItem.album_id).subquery()
    rows = db.session.execute(
        select(Album, func.coalesce(counts.c.n, 0), Media)
        .outerjoin(counts, counts.c.album_id == Album.id)
        .outerjoin(Media, Media.id == Album.cover_media_id)
        .where(Album.user_id == owner.id).order_by(Album.updated_at.desc(), Album.id.desc())).all()
    return [Summary(album, count, cover) for album, count, cover in rows]


def summary(album: Album) -> Summary:
    """One album with its count and cover."""
    count = db.session.scalar(select(func.count()).where(AlbumItem.album_id == album.id)) or 0
    cover = db.session.get(Media, album.cover_media_id) if album.cover_media_id else None
    return Summary(album, count, cover)


def photos_in(album: Album) -> list[Media]:
    """Every photo of an album, in the album's order."""
    return list(db.session.scalars(select(Media).join(AlbumItem, AlbumItem.media_id == Media.id)
                                   .where(AlbumItem.album_id == album.id)
                                   .order_by(AlbumItem.position, AlbumItem.media_id)))


def albums_containing(media: Media) -> list[Album]:
    """The albums a photo is in, by title."""
    return list(db.session.scalars(select(Album).join(AlbumItem, AlbumItem.album_id == Album.id)
                                   .where(AlbumItem.media_id == media.id).order_by(Album.title)))


def create_album(owner: User, title: str, description: str = "") -> Album:
    """A new, empty album."""
    album = Album(id=secrets.token_urlsafe(12), user_id=owner.id, title=_clean_title(title),
                  description=_clean_description(description))
    db.session.add(album)
    audit.record("album_created", owner.id, target=f"album:{album.id}")
    db.session.commit()
    return album


def update_album(album: Album, *, title: str | None = None, description: str | None = None,
                 cover_media_id: str | None = None) -> None:
    """Rename, describe or choose the cover of an album (the cover must be one of its photos)."""
    if title is not None:
        album.title = _clean_title(title)
    if description is not None:
        album.description = _clean_description(description)
    if cover_media_id is not None:
        if not _contains(album, cover_media_id):
            raise InvalidInput(_("The cover must be a photo in the album."), code="cover_not_in_album")
        album.cover_media_id = cover_media_id
    changed = sorted(name for name, value in (("title", title), ("description", description),
                                              ("cover", cover_media_id)) if value is not None)
    if changed:
        audit.record("album_changed", album.user_id, target=f"album:{album.id}", fields=changed)
    album.updated_at = utcnow()
    db.session.commit()


def delete_album(album: Album) -> None:
    """Delete an album; its photos stay in the library and in other albums."""
    audit.record("album_deleted", album.user_id, target=f"album:{album.id}")
    db.session.delete(album)
    db.session.commit()


def add_photos(album: Album, photos: Iterable[Media]) -> int:
    """Put photos at the end of an album, in the order given; ones already there stay put. Returns how many were new.

    The photos come through the media loader (media.service.get_many_for), which has checked that
    they are the album owner's and how many there are.
    """
    wanted = list(dict.fromkeys(media.id for media in photos if media.user_id == album.user_id))
    present = set(db.session.scalars(select(AlbumItem.media_id).where(AlbumItem.album_id == album.id,
                                                                      AlbumItem.media_id.in_(wanted))))
    new = [media_id for media_id in wanted if media_id not in present]
    last = _last_position(album)
    db.session.add_all(AlbumItem(album_id=album.id, media_id=media_id, position=last + POSITION_STEP * (n + 1))
                       for n, media_id in enumerate(new))
    if album.cover_media_id is None and (new or present):
        album.cover_media_id = (new or wanted)[0]
    if new:
        audit.record("album_photos_added", album.user_id, target=f"album:{album.id}", count=len(new))
    album.updated_at = utcnow()
    db.session.commit()
    return len(new)


def place_new_photo(album: Album, media: Media) -> None:
    """Put a photo being uploaded at the end of `album`, in the upload's own transaction (no commit here)."""
    db.session.add(AlbumItem(album_id=album.id, media_id=media.id, position=_last_position(album) + POSITION_STEP))
    if album.cover_media_id is None:
        album.cover_media_id = media.id
    album.updated_at = utcnow()


def remove_photo(album: Album, media_id: str) -> None:
    """Take one photo out of an album (the photo itself stays); NotFound if it is not in it."""
    if not remove_photos(album, [media_id]):
        raise NotFound(_("That photo is not in this album."), code="image_not_in_album")


def remove_photos(album: Album, media_ids: list[str]) -> int:
    """Take photos out of an album in one statement (the photos stay); returns how many were in it."""
    removed = db.session.execute(delete(AlbumItem).where(AlbumItem.album_id == album.id,
                                                         AlbumItem.media_id.in_(media_ids))).rowcount
    if not removed:
        db.session.rollback()
        return 0
    if album.cover_media_id in media_ids:
        album.cover_media_id = db.session.scalar(select(AlbumItem.media_id).where(AlbumItem.album_id == album.id)
                                                 .order_by(AlbumItem.position).limit(1))
    audit.record("album_photos_removed", album.user_id, target=f"album:{album.id}", count=removed)
    album.updated_at = utcnow()
    db.session.commit()
    return removed


def move_photo(album: Album, media_id: str, after_id: str | None) -> None:
    """Place a photo right after `after_id` in the album (first when None)."""
    if not _contains(album, media_id) or (after_id and not _contains(album, after_id)):
        raise NotFound(_("That photo is not in this album."), code="image_not_in_album")
    if after_id == media_id:
        return
    position = _position_after(album, media_id, after_id)
    if position is None:  # no gap left between the neighbours: spread the album out, then place
        _renumber(album)
        position = _position_after(album, media_id, after_id)
    db.session.execute(update(AlbumItem).where(AlbumItem.album_id == album.id, AlbumItem.media_id == media_id)
                       .values(position=position))
    album.updated_at = utcnow()
    db.session.commit()


def _position_after(album: Album, media_id: str, after_id: str | None) -> int | None:
    """A free position between `after_id` and the photo after it (ignoring the one being moved)."""
    others = select(AlbumItem.position).where(AlbumItem.album_id == album.id, AlbumItem.media_id != media_id)
    low = db.session.scalar(select(AlbumItem.position).where(AlbumItem.album_id == album.id,
                                                             AlbumItem.media_id == after_id)) if after_id else None
    above = others.where(AlbumItem.position > low) if low is not None else others
    high = db.session.scalar(above.order_by(AlbumItem.position).limit(1))
    if low is None:
        return (high - POSITION_STEP) if high is not None else POSITION_STEP
    if high is None:
        return low + POSITION_STEP
    return (low + high) // 2 if high - low > 1 else None


def _renumber(album: Album) -> None:
    ids = db.session.scalars(select(AlbumItem.media_id).where(AlbumItem.album_id == album.id)
                             .order_by(AlbumItem.position, AlbumItem.media_id)).all()
    for n, media_id in enumerate(ids, start=1):
        db.session.execute(update(AlbumItem).where(AlbumItem.album_id == album.id, AlbumItem.media_id == media_id)
                           .values(position=n * POSITION_STEP))


def _contains(album: Album, media_id: str) -> bool:
    return db.session.scalar(select(AlbumItem.media_id).where(AlbumItem.album_id == album.id,
                                                              AlbumItem.media_id == media_id)) is not None


def _last_position(album: Album) -> int:
    return db.session.scalar(select(func.max(AlbumItem.position)).where(AlbumItem.album_id == album.id)) or 0


def _clean_title(title: str) -> str:
    title = " ".join(str(title or "").split())
    if not title:
        raise InvalidInput(_("An album needs a name."), code="title_required", field="title")
    if len(title) > MAX_TITLE:
        raise InvalidInput(_("An album name has at most %(n)s characters.", n=MAX_TITLE), code="title_too_long",
                           field="title")
    return title


def _clean_description(description: str) -> str:
    description = str(description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(_("A description has at most %(n)s characters.", n=MAX_DESCRIPTION),
                           code="description_too_long", field="description")
    return description
