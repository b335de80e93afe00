"""Where the files are: the configured stores, and which of them is active, kept in the database.

Config files are per instance, so the choice lives in one settings row that every instance reads:
{"active", "moving_to", "previous", "job_id", "site", "cursor", ...}. A store is named as in the
config: "storage" for the [storage] table, <name> for a [stores.<name>] table.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from ..config import MAIN_STORE
from ..extensions import db
from ..models import Setting, utcnow
from ..storage import BlobStore

ROW = "storage_location"  # the settings row; never copied into a backup (backups/contents.py)
# Written to each store Shoebox moves files from or to: a store holding it with another site's id is refused.
MARKER = "shoebox-site.json"


@dataclass
class StoreState:
    """Which store holds the files: `active`; while a move runs, new files go to `moving_to`; after one,
    `previous` still holds the old copies."""

    active: str
    moving_to: str | None
    previous: str | None
    job_id: int | None


def tables(app=None) -> dict[str, dict]:
    """Every store this instance knows: name -> its settings (url, endpoint_url, key, secret, region)."""
    settings = (app or current_app).config["SHOEBOX"]
    return {MAIN_STORE: settings["storage"], **settings["stores"]}


def open_store(table: dict) -> BlobStore:
    return BlobStore.from_settings(table)


def read_row(connection=None, *, lock: bool = False) -> dict:
    """The stored row as a dict (empty before the first move); on its own connection unless given one."""
    statement = select(Setting.value).where(Setting.key == ROW)
    if lock and db.engine.dialect.name == "postgresql":
        statement = statement.with_for_update()
    if connection is not None:
        value = connection.execute(statement).scalar()
    else:
        with db.engine.connect() as own:
            value = own.execute(statement).scalar()
    return dict(value) if isinstance(value, dict) else {}


def state_of(row: dict) -> StoreState:
    return StoreState(active=row.get("active") or MAIN_STORE, moving_to=row.get("moving_to"),
                      previous=row.get("previous"), job_id=row.get("job_id"))


def current() -> StoreState:
    """Which store is active, and whether a move is under way.

    Read through the session (a request holds one pooled connection already; a second would halve how
    many requests the pool serves at once), without flushing what the caller has not finished building.
    """
    with db.session.no_autoflush:
        value = db.session.execute(select(Setting.value).where(Setting.key == ROW)).scalar()
    return state_of(dict(value) if isinstance(value, dict) else {})


def change(**values) -> dict:
    """Merge `values` into the row and commit, on its own connection (a job's session is left alone)."""
    return _update(values)


def claim(seen: str | None, **values) -> dict | None:
    """change(values), only if no other start has claimed the row since this one read `seen` (its "claim"):
    of several racing starts of a move or a clean-up exactly one gets the row; None for the others."""
    return _update({**values, "claim": uuid.uuid4().hex, "starting": utcnow().isoformat()}, expect_claim=seen)


_ANY = object()


def _update(values: dict, expect_claim=_ANY) -> dict | None:
    """Read the row, locked, merge `values` and write it back in one transaction (None if the claim differs)."""
    with db.engine.connect() as connection:
        if db.engine.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # one writer at a time, as the row is read then written
        row = read_row(connection, lock=True)
        if expect_claim is not _ANY and row.get("claim") != expect_claim:
            connection.rollback()
            return None
        row.update(values)
        insert = (postgresql if db.engine.dialect.name == "postgresql" else sqlite).insert(Setting.__table__)
        connection.execute(insert.values(key=ROW, value=row, updated_at=utcnow())
                           .on_conflict_do_update(index_elements=["key"], set_={"value": row, "updated_at": utcnow()}))
        connection.commit()
    return row


def claim_site_id() -> str:
    """This site's id, written into the marker of every store it uses; made the first time it is asked for."""
    site = read_row().get("site")
    if not site:
        site = change(site=secrets.token_hex(16))["site"]
    return site
