"""What a backup holds: the tables and blobs of one account, or of the whole instance.

Rows are read table by table (parents before children); a row whose blob could not be copied, or
that points at a row the archive does not hold (something added or deleted while the backup ran),
is left out or has that pointer cleared, so every archive restores without a broken reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

from flask_babel import gettext as _
from sqlalchemy import JSON, BigInteger, Boolean, Date, SmallInteger, Table, select

from ..extensions import db
from ..models import Album, Media, ShareLink, UTCDateTime, Variant
from .archive import ArchiveError

# Never in an archive: work in progress, the archives themselves, and secrets that only mean something
# with this instance's keys (sessions, refresh tokens, emailed links) or that were sent already (outbox).
NOT_BACKED_UP = {"jobs", "job_runs", "backups", "browser_sessions", "token_families", "refresh_tokens",
                 "account_tokens", "outbox"}
# Settings that are another system's credentials, kept in plain text: never in an archive (entered again
# after a restore), so that an unencrypted instance archive holds no password that works elsewhere.
SECRET_SETTINGS = ("smtp_password",)
# Settings about this installation's own storage (which store holds its files): a restore writes the files
# to the restoring instance's store, so the archived value would point it at the wrong one.
INSTALLATION_SETTINGS = ("storage_location",)
# What an account archive keeps of the person's own row: who they are and their settings, no secrets.
ACCOUNT_USER_COLUMNS = ("id", "email", "username", "display_name", "first_name", "last_name", "locale",
                        "keep_location", "uploads_public", "created_at")
ACCOUNT_TABLES = ("users", "media", "variants", "albums", "album_items", "share_links", "share_items",
                  "backup_schedules")


@dataclass
class Blob:
    key: str
    size: int
    table: str  # the table whose row points at it: "media" or "variants"
    sha256: str | None = None  # an original's checksum, taken when it was stored


def tables(scope: str) -> list[Table]:
    """The tables of `scope`, parents before children."""
    if scope == "account":
        return [table for table in db.metadata.sorted_tables if table.name in ACCOUNT_TABLES]
    return [table for table in db.metadata.sorted_tables if table.name not in NOT_BACKED_UP]


def blobs(scope: str, user_id: int | None) -> list[Blob]:
    """Every blob the scope's rows point at, originals first."""
    media = select(Media.storage_key, Media.size, Media.sha256)
    variants = select(Variant.storage_key, Variant.size).join(Media, Media.id == Variant.media_id)
    if scope == "account":
        media, variants = media.where(Media.user_id == user_id), variants.where(Media.user_id == user_id)
    found = [Blob(key, size, "media", sha256) for key, size, sha256 in db.session.execute(media.order_by(Media.id))]
    found += [Blob(key, size, "variants") for key, size in db.session.execute(variants.order_by(Variant.id))]
    return found


def select_rows(table: Table, scope: str, user_id: int | None):
    """The statement that reads `table`'s rows for the scope."""
    if scope == "instance":
        rows = select(table).order_by(*table.primary_key.columns)
        return rows.where(table.c.key.not_in(SECRET_SETTINGS + INSTALLATION_SETTINGS)) if table.name == "settings" else rows
    name = table.name
    if name == "users":
        mine = select(*[table.c[column] for column in ACCOUNT_USER_COLUMNS]).where(table.c.id == user_id)
    elif name in ("media", "albums", "share_links"):
        mine = select(table).where(table.c.user_id == user_id)
    elif name == "variants":
        mine = select(table).join(Media.__table__, Media.id == table.c.media_id).where(Media.user_id == user_id)
    elif name == "album_items":
        mine = select(table).join(Album.__table__, Album.id == table.c.album_id).where(Album.user_id == user_id)
    elif name == "share_items":
        mine = select(table).join(ShareLink.__table__, ShareLink.id == table.c.share_id) \
            .where(ShareLink.user_id == user_id)
    elif name == "backup_schedules":
        mine = select(table).where(table.c.user_id == user_id, table.c.scope == "account")
    else:
        raise ValueError(f"{name} is not part of an account backup")
    return mine.order_by(*table.primary_key.columns)


class Keeper:
    """Decides, row by row, what goes into the archive so that every reference in it resolves."""

    def __init__(self, copied_keys: set[str]):
        self.copied_keys = copied_keys
        self.kept: dict[str, set] = {}

    def keep(self, table: Table, row: dict) -> dict | None:
        """The row as it goes into the archive, or None when it must stay out."""
        if table.name in ("media", "variants") and row.get("storage_key") not in self.copied_keys:
            return None
        for key in table.foreign_keys:
            parent = key.column.table.name
            value = row.get(key.parent.name)
            if value is None or parent not in self.kept:
                continue
            if value not in self.kept[parent]:
                if key.parent.nullable and key.ondelete in ("SET NULL", None) and not key.parent.primary_key:
                    row[key.parent.name] = None
                else:
                    return None
        primary = list(table.primary_key.columns)
        if len(primary) == 1:
            self.kept.setdefault(table.name, set()).add(row[primary[0].name])
        return row


def to_row(table: Table, data: dict) -> dict:
    """A row read from an archive, as the database takes it: known columns only, types restored."""
    row = {}
    for column in table.columns:
        if column.name not in data:
            continue
        value = data[column.name]
        if value is not None:
            try:
                value = _typed(column.type, value)
            except (TypeError, ValueError) as error:
                raise ArchiveError(_("The archive is refused: %(table)s.%(column)s holds a value of the wrong kind.",
                                     table=table.name, column=column.name)) from error
        row[column.name] = value
    return row


def _typed(kind, value):
    if isinstance(kind, UTCDateTime):
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    if isinstance(kind, Date):
        return date.fromisoformat(value)
    if isinstance(kind, Boolean):
        if not isinstance(value, bool):
            raise TypeError("not true or false")
        return value
    if isinstance(kind, JSON):
        return value
    python = _python_type(kind)
    if python is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError("not a whole number")
    if python is int and not -_INT_LIMIT[_int_bits(kind)] <= value < _INT_LIMIT[_int_bits(kind)]:
        raise ValueError("too large for its column")  # SQLite's driver raises OverflowError, PostgreSQL DataError
    if python is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise TypeError("not a number")
    if python is str and not isinstance(value, str):
        raise TypeError("not text")
    if python is str and getattr(kind, "length", None) and len(value) > kind.length:
        raise ValueError("too long")
    if python is str and "\x00" in value:
        raise ValueError("a NUL character")  # PostgreSQL refuses it, SQLite would keep it: restore alike on both
    return value


_INT_LIMIT = {bits: 1 << (bits - 1) for bits in (16, 32, 64)}


def _int_bits(kind) -> int:
    return 64 if isinstance(kind, BigInteger) else 16 if isinstance(kind, SmallInteger) else 32


def _python_type(kind):
    try:
        return kind.python_type
    except NotImplementedError:
        return None

