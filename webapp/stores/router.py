"""The app's file store while files may live in two stores: writes go to one, reads find them in either.

StoreRouter has BlobStore's interface and is what `extensions.blob_store()` returns. Outside a move it
passes everything to the active store. While files move from A to B, new files are written to B, reads
try B and then A, and deletes reach both; after the move, reads fall back to A (which keeps its copies
until the clean-up) should anything be missing from B.

The state comes from the database (location.py), read again at most every REFRESH_SECONDS and at once
when another instance announces a change. A write that began before a change and ends after it is
copied to the store that now takes new files, so a slow upload never lands only on the old store.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from typing import BinaryIO, Iterator

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from ..config import ConfigError
from ..storage import BlobNotFound, BlobStore, StorageError, StorageUnavailable
from . import location

log = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0


class StoreRouter:
    """BlobStore's interface over the stores named by the database's storage state."""

    def __init__(self, app: Flask):
        self._app = app
        self._tables = location.tables(app)
        self._stores: dict[str, BlobStore] = {}
        self._lock = threading.Lock()
        self._state: location.StoreState | None = None
        self._read_at = 0.0

    def __repr__(self) -> str:
        state = self._state
        return f"StoreRouter({state})" if state else "StoreRouter(not read yet)"

    # --- which stores ----------------------------------------------------------------------------------

    def named(self, name: str) -> BlobStore:
        """The store called `name` in this instance's config (made once)."""
        with self._lock:
            if name not in self._stores:
                if name not in self._tables:
                    raise StorageUnavailable(missing_store_sentence(name))
                self._stores[name] = location.open_store(self._tables[name])
            return self._stores[name]

    def forget(self, _key: str | None = None) -> None:
        """Read the state again before the next operation (another instance changed it)."""
        self._read_at = 0.0

    def state(self) -> location.StoreState:
        """The storage state, read from the database at most every REFRESH_SECONDS."""
        if self._state is None or time.monotonic() - self._read_at >= REFRESH_SECONDS:
            try:
                self._state = location.current()
            except SQLAlchemyError as error:
                if self._state is None:
                    raise StorageUnavailable("Which store holds the files could not be read from the database: "
                                             f"{type(error).__name__}.") from error
                log.warning("Could not read the storage state again; using the last one read: %s", error)
                return self._state  # and try again next time
            self._read_at = time.monotonic()
        return self._state

    def resolve(self) -> None:
        """Read the state now and make sure every store it names is configured here (raises ConfigError)."""
        state = self._state = location.current()  # a database error goes to the caller
        self._read_at = time.monotonic()
        for name in filter(None, (state.active, state.moving_to, state.previous)):
            if name not in self._tables:
                raise ConfigError(missing_store_sentence(name))
            self.named(name)  # opened now: a local folder exists from the start, a bad URL fails here

    @property
    def primary(self) -> BlobStore:
        """The store new files are written to."""
        state = self.state()
        return self.named(state.moving_to or state.active)

    def _fallback(self) -> BlobStore | None:
        state = self.state()
        name = state.active if state.moving_to else state.previous
        return self.named(name) if name else None

    def _moving(self) -> bool:
        return self.state().moving_to is not None

    def _all(self) -> list[BlobStore]:
        state = self.state()
        names = dict.fromkeys(filter(None, (state.moving_to, state.active, state.previous)))
        return [self.named(name) for name in names]

    def holder(self, key: str) -> BlobStore:
        """The store holding `key`: the primary, else the fallback (also when the primary cannot be reached);
        raise BlobNotFound if neither has it."""
        primary, fallback = self.primary, self._fallback()
        if fallback is None:
            return primary
        return self._first(lambda store: store if store.exists(key) else _missing(key))

    # --- BlobStore's interface ---------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        """The scheme of the store new files go to ("file", "s3" or "memory")."""
        return self.primary.scheme

    def put(self, key: str, source, *, content_type: str | None = None) -> int:
        store = self.primary
        size = store.put(key, source, content_type=content_type)
        self._follow(store, key, content_type)
        return size

    @contextmanager
    def writer(self, key: str, *, content_type: str | None = None, durable: bool = True):
        store = self.primary
        with store.writer(key, content_type=content_type, durable=durable) as sink:
            yield sink
        self._follow(store, key, content_type)

    def _follow(self, written_to: BlobStore, key: str, content_type: str | None) -> None:
        """Copy a blob just written to a store that stopped taking new files while it was written (a write
        shorter than REFRESH_SECONDS needs no look: the move's final sweep comes later than that)."""
        primary = self.primary
        if primary is written_to:
            return
        with written_to.open(key) as source:
            primary.put(key, source, content_type=content_type)
        log.info("Copied %s, written while the files moved, to the store that now takes new files.", key)

    def discard_unfinished(self, key: str) -> int:
        return self.primary.discard_unfinished(key)

    def move(self, source: str, target: str) -> None:
        primary = self.primary
        holder = self.holder(source)
        if holder is primary:
            primary.move(source, target)
            return
        with holder.open(source) as stream:
            primary.put(target, stream)
        self.delete(source)

    def sync(self) -> None:
        self.primary.sync()

    def open(self, key: str) -> BinaryIO:
        return self._first(lambda store: store.open(key))

    def delete(self, key: str) -> None:
        """Remove the blob from every store that may hold it (forgetting the state first: a delete is a write),
        the old stores first: a move that copies it meanwhile then sees it gone from the source (moving.py)."""
        self.forget()
        for store in reversed(self._all()):
            store.delete(key)

    def exists(self, key: str) -> bool:
        try:
            return self._first(lambda store: store.exists(key) or _missing(key))
        except BlobNotFound:
            return False

    def size(self, key: str) -> int:
        return self._first(lambda store: store.size(key))

    def modified_at(self, key: str) -> datetime:
        return self._first(lambda store: store.modified_at(key))

    def keys(self, prefix: str = "") -> Iterator[str]:
        stores = self._readable()
        if len(stores) == 1:
            return stores[0].keys(prefix)
        return iter(sorted(set().union(*(set(store.keys(prefix)) for store in stores))))

    def url(self, key: str, expires: int = 300) -> str | None:
        """A presigned URL from the store holding the blob, when that store is S3; else None."""
        if self._moving():
            try:
                return self.holder(key).url(key, expires)
            except BlobNotFound:
                pass  # missing everywhere: the primary's URL answers 404 as it would outside a move
        return self.primary.url(key, expires)

    def local_path(self, key: str) -> str | None:
        """The blob's path on local disk, only when the store holding it is a local folder."""
        if not self._moving():
            return self.primary.local_path(key)
        try:
            return self.holder(key).local_path(key)
        except BlobNotFound:
            return None

    def check(self) -> None:
        for store in self._readable():
            store.check()

    def _readable(self) -> list[BlobStore]:
        fallback = self._fallback()
        return [self.primary] + ([fallback] if fallback is not None else [])

    def _first(self, read):
        """read(store) from the primary, else from the fallback when the primary lacks the blob or cannot be
        reached (the files on the store being left stay readable while the new one is down); the primary's
        error when neither answers."""
        stores, first_error = self._readable(), None
        for store in stores:
            try:
                return read(store)
            except StorageError as error:  # BlobNotFound or StorageUnavailable
                first_error = first_error or error
        raise first_error


def _missing(key: str):
    raise BlobNotFound(f"No blob is stored under {key}.")


def missing_store_sentence(name: str) -> str:
    return (f"The files of this site are in the store {name!r}, which this instance's configuration does not "
            f"name: add a [stores.{name}] table (with its url and credentials) as the other instances have it.")

