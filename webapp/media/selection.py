"""Acting on many photos at once: make them public or private, delete them, download them as a zip.

No HTTP here. Every selection comes through service.get_many_for(), the door for many photos
(or, for an album's zip, through the album's own door).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator

from sqlalchemy import update

from .. import audit
from ..extensions import blob_store, db
from ..models import Media, User
from . import service

CHUNK = 1 << 20


def set_public(owner: User, media_ids: list[str], public: bool) -> list[Media]:
    """Make the selected photos public or private; returns them."""
    chosen = service.get_many_for(owner, media_ids)
    db.session.execute(update(Media).where(Media.id.in_([m.id for m in chosen])).values(is_public=public))
    audit.record("media_made_public" if public else "media_made_private", owner.id, count=len(chosen))
    db.session.commit()
    for media in chosen:
        service.forget(media.id)
    return chosen


def delete(owner: User, media_ids: list[str]) -> int:
    """Delete the selected photos with all their sizes; returns how many."""
    return service.delete_many(service.get_many_for(owner, media_ids))


def zip_entries(chosen: list[Media]) -> list[tuple[str, str]]:
    """(storage key, name in the zip) for each photo; names made unique, as a file manager would."""
    taken: set[str] = set()
    entries = []
    for media in chosen:
        name = service.download_name(media)
        stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
        n = 1
        while name.lower() in taken:
            n += 1
            name = f"{stem} ({n}){dot}{ext}"
        taken.add(name.lower())
        entries.append((media.storage_key, name))
    return entries


class _Spool:
    """A write-only sink that hands back what was written since the last take(): zipfile streams into it."""

    def __init__(self):
        self._chunks: list[bytes] = []

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def stream_zip(entries: list[tuple[str, str]]) -> Iterator[bytes]:
    """The zip of `entries`, produced a chunk at a time: never more than about one chunk in memory.

    Photos are stored, not deflated: they are compressed already, and this keeps the zip as fast as a copy.
    """
    spool = _Spool()
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, name in entries:
            with blob_store().open(key) as blob, archive.open(name, "w", force_zip64=True) as member:
                for chunk in iter(lambda: blob.read(CHUNK), b""):
                    member.write(chunk)
                    yield spool.take()
            yield spool.take()
    yield spool.take()
