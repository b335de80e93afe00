"""Restoring an archive: into an account (merging, idempotent) or into an empty instance.

First the blobs are copied into the file store, each checked against the manifest's checksum as it
is copied, under keys no row points at yet; then every row is written in one transaction. If
anything fails, the transaction is rolled back and the copied blobs are deleted: nothing is half
restored. (A process killed between the two leaves only blobs no row points at; the job runs again
and writes the same keys over them, as every key comes from the archive and the account.)
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DataError, IntegrityError

from .. import audit, cluster, quota
from ..i18n import human_size
from ..extensions import blob_store, db
from ..media.video import MP4, QUICKTIME, WEBM
from ..models import Album, AlbumItem, BackupSchedule, Media, ShareItem, ShareLink, User, Variant
from ..errors import ShoeboxError
from ..storage import StorageError
from . import contents
from .archive import ArchiveError, Reader

log = logging.getLogger(__name__)

BATCH = 1000
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}")
_MIME = re.compile(r"[a-z]+/[a-z0-9.+-]{1,80}")
# A restored row is not probed again: it stays a video only as one of the containers uploads accept.
VIDEO_TYPES = {MP4[0], QUICKTIME[0], WEBM[0]}
ACCOUNT_SETTINGS = ("display_name", "first_name", "last_name", "locale", "keep_location", "uploads_public")


class RestoreRefused(Exception):
    """The archive is fine, but this instance or account cannot take it; str() says why."""


@dataclass
class Preview:
    """What an account archive holds, and how much of it is here already."""

    photos: int = 0
    photos_here: int = 0
    albums: int = 0
    albums_here: int = 0
    share_links: int = 0
    share_links_here: int = 0
    bytes_new: int = 0
    created: str = ""
    username: str = ""

    @property
    def photos_new(self) -> int:
        return self.photos - self.photos_here

    @property
    def albums_new(self) -> int:
        return self.albums - self.albums_here

    @property
    def share_links_new(self) -> int:
        return self.share_links - self.share_links_here


@dataclass
class _Plan:
    """How each archived row of an account maps onto the account it is restored into."""

    media: dict = field(default_factory=dict)  # archived id -> (id here, needs inserting)
    albums: dict = field(default_factory=dict)
    shares: dict = field(default_factory=dict)
    keys: dict = field(default_factory=dict)  # archived storage key -> key here (only blobs to copy)
    media_rows: list = field(default_factory=list)
    bytes_new: int = 0


def _id_here(archived: str, user_id: int) -> str:
    """The id a row from someone else's archive takes here when its own id is taken: derived from both,
    so that a restore run again (after a crash, or a second time) uses the same ids, writes over the
    same files instead of leaving orphans, and finds what it added before."""
    digest = hashlib.sha256(f"restore:{user_id}:{archived}".encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def _place(archived: str, user_id: int, owners: dict) -> tuple[str, bool]:
    """(id here, needs inserting) for an archived row; `owners` maps the archived ids and their derived
    ids that exist here to their owners."""
    if owners.get(archived) == user_id:
        return archived, False
    if archived not in owners:
        return archived, True
    here = _id_here(archived, user_id)
    if owners.get(here) == user_id:
        return here, False
    return (here, True) if here not in owners else (secrets.token_urlsafe(16), True)


def _with_derived(ids: list, user_id: int) -> list:
    return ids + [_id_here(value, user_id) for value in ids if isinstance(value, str)]


def _check_scope(reader: Reader, scope: str) -> None:
    if reader.scope == scope:
        return
    if scope == "account":
        raise ArchiveError(_("This is a backup of a whole instance; restore it on an empty instance, from the "
                             "setup page or with flask restore."))
    raise ArchiveError(_("This is a backup of one account; restore it from that account's Settings → Backups."))


# --- an account -------------------------------------------------------------------------------

def _plan_account(reader: Reader, user: User) -> _Plan:
    plan = _Plan()
    plan.media_rows = list(reader.rows("media"))
    ids = _with_derived([row.get("id") for row in plan.media_rows], user.id)
    owners = dict(_in_batches(lambda chunk: select(Media.id, Media.user_id).where(Media.id.in_(chunk)), ids))
    mine_by_sha = dict(db.session.execute(select(Media.sha256, Media.id).where(Media.user_id == user.id)).all())
    for row in plan.media_rows:
        archived = row.get("id")
        if not isinstance(archived, str) or not row.get("storage_key"):
            raise ArchiveError(_("The archive is refused: a photo in it has no id."))
        here, new = _place(archived, user.id, owners)
        if new and row.get("sha256") in mine_by_sha:  # the same file is here already under another id
            here, new = mine_by_sha[row["sha256"]], False
        plan.media[archived] = (here, new)
        if new:
            if f"blobs/{row['storage_key']}" not in reader.entries:
                raise ArchiveError(_("The archive is incomplete: the file of a photo in it is missing."))
            plan.bytes_new += reader.blob_size(row["storage_key"])
    album_ids = [row.get("id") for row in reader.rows("albums")]
    album_owners = dict(_in_batches(lambda chunk: select(Album.id, Album.user_id).where(Album.id.in_(chunk)),
                                    _with_derived(album_ids, user.id)))
    for archived in album_ids:
        plan.albums[archived] = _place(archived, user.id, album_owners)
    share_ids = [row.get("id") for row in reader.rows("share_links")]
    share_owners = dict(_in_batches(lambda chunk: select(ShareLink.id, ShareLink.user_id)
                                    .where(ShareLink.id.in_(chunk)), _with_derived(share_ids, user.id)))
    for archived in share_ids:
        plan.shares[archived] = _place(archived, user.id, share_owners)
    return plan


def _in_batches(make_statement, values: list) -> list:
    found = []
    for start in range(0, len(values), BATCH):
        chunk = [value for value in values[start:start + BATCH] if isinstance(value, str)]
        if chunk:
            found += db.session.execute(make_statement(chunk)).all()
    return found


def preview_account(reader: Reader, user: User) -> Preview:
    """What restoring `reader` into `user`'s account would add (reads the archive's rows, writes nothing)."""
    _check_scope(reader, "account")
    plan = _plan_account(reader, user)
    users = list(reader.rows("users"))
    return Preview(photos=len(plan.media), photos_here=sum(not new for _, new in plan.media.values()),
                   albums=len(plan.albums), albums_here=sum(not new for _, new in plan.albums.values()),
                   share_links=len(plan.shares), share_links_here=sum(not new for _, new in plan.shares.values()),
                   bytes_new=plan.bytes_new, created=str(reader.manifest.get("created") or ""),
                   username=str(users[0].get("username", "")) if users else "")


def _original_key(row: dict, here: str) -> str:
    """Where a restored original goes: made from its id here, never from the archive's word (a crafted
    archive must not write over someone else's file)."""
    ext = str(row.get("ext") or "")
    return f"originals/{here[:2]}/{here}.{ext}" if ext.isalnum() and len(ext) <= 10 else f"originals/{here[:2]}/{here}"


def _variant_key(archived_key: str, here: str) -> str:
    name = archived_key.rsplit("/", 1)[-1]
    if not _SAFE_NAME.fullmatch(name):
        raise ArchiveError(_("The archive is refused: a derived image in it has an unusable name."))
    return f"variants/{here}/{name}"


def _media_row(data: dict, reader: Reader, archived_key: str) -> dict:
    """An archived photo's row as this account takes it: its size is the file's real size (what the
    storage allowance counts), a type that is not an image or a video makes it a plain file, and its
    deletion link (a secret of the account it came from) is not carried over."""
    data["size"] = reader.blob_size(archived_key)
    data["deletion_key_hash"] = None
    mime = str(data.get("mime_type") or "")
    if not _MIME.fullmatch(mime):
        data["mime_type"] = "application/octet-stream"
    kind, mime = data.get("kind"), data["mime_type"]
    if not (kind == "image" and mime.startswith("image/") and "svg" not in mime
            or kind == "video" and mime in VIDEO_TYPES):
        data["kind"] = "file"
    return data


def restore_account(reader: Reader, user: User, progress=None, *, again: bool = False) -> dict:
    """Merge the account archive into `user`'s account; returns what was added. Restoring the same
    archive again adds nothing."""
    _check_scope(reader, "account")
    plan = _plan_account(reader, user)
    limit = user.plan.storage_bytes if user.plan else 0
    if limit and quota.storage_used(user.id) + plan.bytes_new > limit:
        raise RestoreRefused(_("This archive adds %(size)s, more than is left of your storage allowance.",
                               size=human_size(plan.bytes_new)))
    variants = list(reader.rows("variants"))
    for row in plan.media_rows:
        here, new = plan.media[row["id"]]
        if new:
            plan.keys[row["storage_key"]] = _original_key(row, here)
    for row in variants:
        here, new = plan.media.get(row.get("media_id"), (None, False))
        if new:
            plan.keys[row["storage_key"]] = _variant_key(row["storage_key"], here)

    def write_rows() -> dict:
        added = _write_account_rows(reader, user, plan, variants)
        audit.record("backup_restored", user.id, target=f"user:{user.id}", scope="account", **added)
        return added

    return _in_two_phases(reader, plan.keys, write_rows, progress, again=again)


def _write_account_rows(reader: Reader, user: User, plan: _Plan, variants: list) -> dict:
    media_table, added = Media.__table__, {"photos": 0, "albums": 0, "share_links": 0}
    new_media = []
    for row in plan.media_rows:
        here, new = plan.media[row["id"]]
        if not new:
            continue
        data = _media_row(contents.to_row(media_table, row), reader, row["storage_key"])
        data.update(id=here, user_id=user.id, storage_key=plan.keys[row["storage_key"]], guest_share_id=None)
        new_media.append(data)
    _insert(media_table, new_media)
    added["photos"] = len(new_media)
    fresh_variants = []
    for row in variants:
        here, new = plan.media.get(row.get("media_id"), (None, False))
        if new:
            data = contents.to_row(Variant.__table__, row)
            data.pop("id", None)
            data.update(media_id=here, storage_key=plan.keys[row["storage_key"]])
            fresh_variants.append(data)
    _insert(Variant.__table__, fresh_variants)
    new_albums = []
    for row in reader.rows("albums"):
        here, new = plan.albums[row["id"]]
        if new:
            data = contents.to_row(Album.__table__, row)
            cover = plan.media.get(data.get("cover_media_id"))
            data.update(id=here, user_id=user.id, cover_media_id=cover[0] if cover else None)
            new_albums.append(data)
    _insert(Album.__table__, new_albums)
    added["albums"] = len(new_albums)
    items = []
    for row in reader.rows("album_items"):
        album, photo = plan.albums.get(row.get("album_id")), plan.media.get(row.get("media_id"))
        if album and photo:
            items.append({**contents.to_row(AlbumItem.__table__, row), "album_id": album[0], "media_id": photo[0]})
    _insert_missing(AlbumItem.__table__, items, ("album_id", "media_id"))
    taken = set(db.session.scalars(select(ShareLink.token_hash).where(ShareLink.user_id != user.id)))
    new_links = []
    for row in reader.rows("share_links"):
        here, new = plan.shares[row["id"]]
        if not new or row.get("token_hash") in taken:
            if new:
                plan.shares[row["id"]] = (None, False)  # someone else's link with this secret: not copied
            continue
        data = contents.to_row(ShareLink.__table__, row)
        photo = plan.media.get(data.get("media_id")) if data.get("media_id") else None
        album = plan.albums.get(data.get("album_id")) if data.get("album_id") else None
        if (data.get("media_id") and not photo) or (data.get("album_id") and not album):
            continue
        data.update(id=here, user_id=user.id, media_id=photo[0] if photo else None,
                    album_id=album[0] if album else None)
        new_links.append(data)
    _insert(ShareLink.__table__, new_links)
    added["share_links"] = len(new_links)
    share_items = []
    for row in reader.rows("share_items"):
        link, photo = plan.shares.get(row.get("share_id")), plan.media.get(row.get("media_id"))
        if link and link[0] and photo:
            share_items.append({**contents.to_row(ShareItem.__table__, row), "share_id": link[0],
                                "media_id": photo[0]})
    _insert_missing(ShareItem.__table__, share_items, ("share_id", "media_id"))
    _restore_settings(reader, user)
    if new_media:
        limit = user.plan.storage_bytes if user.plan else 0
        try:  # one conditional UPDATE: uploads racing the restore cannot push the account past its allowance
            quota.reserve_storage(user.id, sum(row["size"] for row in new_media), limit, commit=False)
        except ShoeboxError as error:
            raise RestoreRefused(_("This archive adds %(size)s, more than is left of your storage allowance.",
                                   size=human_size(plan.bytes_new))) from error
        db.session.execute(update(User).where(User.id == user.id).values(
            media_count=User.media_count + len(new_media)))
    return added


def _restore_settings(reader: Reader, user: User) -> None:
    archived = next(iter(reader.rows("users")), None)
    if archived:
        for name in ACCOUNT_SETTINGS:
            if name in archived:
                value = contents.to_row(User.__table__, {name: archived[name]}).get(name)
                setattr(user, name, value)
    schedule = next(iter(reader.rows("backup_schedules")), None)
    if schedule and not db.session.scalar(select(BackupSchedule.id).where(
            BackupSchedule.scope == "account", BackupSchedule.user_id == user.id)):
        data = contents.to_row(BackupSchedule.__table__, schedule)
        data.pop("id", None)
        data.update(user_id=user.id, scope="account")
        db.session.execute(insert(BackupSchedule.__table__).values(**data))


def _insert(table, rows: list) -> None:
    """Insert `rows` in batches of rows that name the same columns: one statement takes one shape, and a
    row without an optional column then gets its default."""
    batch: list = []
    for row in rows:
        if batch and (len(batch) >= BATCH or row.keys() != batch[0].keys()):
            _insert_batch(table, batch)
            batch = []
        batch.append(row)
    if batch:
        _insert_batch(table, batch)


def _insert_batch(table, rows: list) -> None:
    try:
        db.session.execute(insert(table), rows)
    except (IntegrityError, DataError) as error:  # a required column missing, an id twice, a number too large
        raise ArchiveError(_("The archive is refused: data/%(table)s.jsonl holds rows this database cannot take.",
                             table=table.name)) from error


def _insert_missing(table, rows: list, key: tuple[str, str]) -> None:
    """Insert the rows whose two-column primary key is not in the table yet."""
    if not rows:
        return
    first = table.c[key[0]]
    wanted = {row[key[0]] for row in rows}
    existing = set()
    for start in range(0, len(wanted), BATCH):
        chunk = list(wanted)[start:start + BATCH]
        existing |= set(db.session.execute(select(table.c[key[0]], table.c[key[1]]).where(first.in_(chunk))).all())
    seen = set()
    fresh = []
    for row in rows:
        pair = (row[key[0]], row[key[1]])
        if pair not in existing and pair not in seen:
            seen.add(pair)
            fresh.append(row)
    _insert(table, fresh)


# --- the whole instance -----------------------------------------------------------------------

def instance_is_empty() -> bool:
    return not db.session.scalar(select(func.count()).select_from(User))


def restore_instance(reader: Reader, progress=None, *, again: bool = False) -> dict:
    """Put the instance archive's rows and blobs into this empty instance; returns the rows per table."""
    _check_scope(reader, "instance")
    if not instance_is_empty():
        raise RestoreRefused(_("An instance backup restores only into an empty instance, and this one has "
                               "accounts already."))
    keys = {key: key for key in reader.blob_keys()}
    counts = _in_two_phases(reader, keys, lambda: _write_instance_rows(reader), progress, again=again)
    for topic in (cluster.SETTINGS, cluster.PLANS, cluster.PHOTO):  # the seeded rows it replaced may be remembered
        cluster.announce(topic)
    return counts


def _write_instance_rows(reader: Reader) -> dict:
    archived = set(reader.tables())
    tables = [table for table in contents.tables("instance") if table.name in archived]
    for table in reversed(tables):  # the seeded plans and default rows make way for the archive's
        db.session.execute(delete(table))
    counts = {}
    for table in tables:
        rows = [contents.to_row(table, row) for row in reader.rows(table.name)]
        _insert(table, rows)
        counts[table.name] = len(rows)
    if db.engine.dialect.name == "postgresql":
        for table in tables:
            primary = list(table.primary_key.columns)
            if len(primary) == 1 and primary[0].autoincrement is not False and \
                    primary[0].type.python_type is int:
                db.session.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{primary[0].name}'), "
                    f"COALESCE((SELECT MAX({primary[0].name}) FROM {table.name}), 0) + 1, false)"))
    audit.record("backup_restored", None, target="instance", scope="instance",
                 accounts=counts.get("users", 0), photos=counts.get("media", 0))
    return counts


# --- blobs --------------------------------------------------------------------------------------

def _in_two_phases(reader: Reader, keys: dict[str, str], write_rows, progress=None, *, again: bool = False):
    """The module's one way to restore: copy the blobs `keys`, then `write_rows()` in one transaction and
    commit; if anything fails, roll back and delete the copied blobs. Returns what write_rows returned."""
    written = _copy_blobs(reader, keys, progress, again=again)
    try:
        result = write_rows()
        db.session.commit()
    except BaseException:
        db.session.rollback()
        _delete(written)
        raise
    return result


def _copy_blobs(reader: Reader, keys: dict[str, str], progress=None, *, again: bool = False) -> list[str]:
    """Copy the archived blobs `keys` (archived key -> key here) into the store, each checked as it is
    copied; on any failure delete what was copied and raise. Returns the keys written.

    What a killed earlier attempt left beside each file goes first: always on local disk (a look into a
    small folder), on S3 only when this is a later attempt (`again`), as it costs a request per file.
    """
    store = blob_store()
    written = []
    try:
        for archived, here in keys.items():
            if f"blobs/{archived}" not in reader.entries:
                raise ArchiveError(_("The archive is incomplete: the file of a photo in it is missing."))
            if again or store.scheme == "file":
                store.discard_unfinished(here)
            with store.writer(here, durable=False) as sink:
                reader.copy_blob(archived, sink, progress)
            written.append(here)
        store.sync()  # one flush to disk for all of them, before any row points at them
    except BaseException:
        _delete(written)
        raise
    return written


def _delete(keys: list[str]) -> None:
    store = blob_store()
    for key in keys:
        try:
            store.delete(key)
        except StorageError:
            log.warning("Could not delete %s after a failed restore; the integrity check will.", key)
