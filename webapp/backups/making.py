"""Making a backup: write the archive to the backup store under a temporary key, read it back in full
and check every entry, and only then give it its name and call it done.
"""

from __future__ import annotations

import functools
import logging
import time
from contextlib import contextmanager
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import text

from .. import __version__, metering, scratch
from ..extensions import blob_store, db
from ..i18n import N_
from ..media import views
from ..models import Backup, utcnow
from ..storage import BlobNotFound, BlobStore
from . import archive, contents, crypto

log = logging.getLogger(__name__)


def backup_store() -> BlobStore:
    """The store backups are written to (backups.target), with the [storage] credentials for S3."""
    app = current_app._get_current_object()
    store = app.extensions.get("shoebox_backup_store")
    if store is None:
        settings = app.config["SHOEBOX"]
        storage = dict(settings["storage"], url=settings["backups"]["target"])
        store = app.extensions["shoebox_backup_store"] = BlobStore.from_settings(storage)
    return store


def pending_key(backup: Backup) -> str:
    return f"pending/{backup.id}.zip"


def final_key(backup: Backup) -> str:
    stamp = backup.created_at.strftime("%Y-%m-%d-%H%M")
    owner = f"account/u{backup.user_id}" if backup.scope == "account" else "instance"
    return f"{owner}/{stamp}-{backup.id}.zip"


@functools.cache
def known_revisions() -> list[str]:
    """Every database revision this version of Shoebox knows (an archive from a later one is refused).
    Read from the migration scripts once per process: they do not change while it runs."""
    from alembic.script import ScriptDirectory

    from .. import ROOT

    return [script.revision for script in ScriptDirectory(str(ROOT / "migrations")).walk_revisions()]


def current_revision() -> str:
    return db.session.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


class _Progress:
    """Bytes copied and read back, as a fraction of twice the blobs' bytes (write, then verify)."""

    def __init__(self, context, total: int, items: int):
        self.context, self.total, self.done, self.items = context, max(total, 1), 0, items
        self.items_done = 0
        self._last = 0.0

    def add(self, size: int) -> None:
        self.done += size
        now = time.monotonic()
        if now - self._last >= 0.25:
            self._last = now
            self.report()

    def report(self, message: str | None = None) -> None:
        if self.context is not None:
            self.context.progress(min(self.done / (2 * self.total), 0.999), items=self.items_done,
                                  items_total=self.items, bytes_done=self.done // 2 if self.done > self.total
                                  else self.done, bytes_total=self.total, message=message)


def make(backup: Backup, context=None) -> Backup:
    """Write, read back and name the archive of `backup`; returns it done. Raises on failure, leaving
    no file behind (the caller marks the row failed)."""
    store = backup_store()
    backup_id, temp, key = backup.id, pending_key(backup), final_key(backup)
    store.delete(temp)  # what an interrupted earlier attempt left
    store.discard_unfinished(temp)
    # A killed attempt of an encrypted backup leaves its plain archive (password hashes and all) in its
    # process's scratch folder; do not wait for a restart or the daily check to remove it.
    scratch.sweep(current_app.config["SHOEBOX"]["data_dir"])
    passphrase = current_app.config["SHOEBOX"]["backups"]["passphrase"] if backup.scope == "instance" else ""
    metering.flush()  # this process's bandwidth and API counts so far belong in the archive's daily usage
    views.flush()  # and its photos' views so far in their rows
    started = time.monotonic()
    listed = contents.blobs(backup.scope, backup.user_id)
    progress = _Progress(context, sum(blob.size for blob in listed), len(listed))
    manifest = {"app_version": __version__, "schema_revision": current_revision(), "scope": backup.scope,
                "created": backup.created_at, "encrypted": bool(passphrase),
                "account": {"id": backup.user_id} if backup.scope == "account" else None}
    db.session.commit()  # end the read transaction: the backup may take hours, and nothing needs it
    try:
        with scratch.workspace(current_app.config["SHOEBOX"]["data_dir"]) as work:
            with store.writer(temp, content_type="application/zip") as stored:
                sink = archive.Hashing(stored)
                try:
                    if passphrase:
                        plain = work / "archive.zip"
                        with open(plain, "wb") as file:
                            counts = _write(file, backup, listed, manifest, progress)
                        crypto.encrypt(plain, sink, passphrase, backup.created_at)
                        plain.unlink()
                    else:
                        counts = _write(sink, backup, listed, manifest, progress)
                    size, sha256 = sink.size, sink.sha256
                finally:
                    sink.close()
            progress.report(N_("Reading the archive back"))
            with store.open(temp) as stream, opened(stream, passphrase, work) as reader:
                reader.verify(progress.add)
        if store.size(temp) != size:
            raise archive.ArchiveError(_("The archive in the backup store is not the size that was written."))
        store.move(temp, key)
    except BaseException:
        try:
            store.delete(temp)
        except Exception:
            log.warning("Could not delete the unfinished backup %s.", temp, exc_info=True)
        raise
    backup = db.session.get(Backup, backup_id)
    if backup is None:  # deleted while it was made (its account went): the archive goes too
        store.delete(key)
        raise archive.ArchiveError(_("Backup %(id)s was deleted while it was being made.", id=backup_id))
    backup.storage_key, backup.size, backup.sha256, backup.counts = key, size, sha256, counts
    backup.encrypted = bool(passphrase)
    backup.status, backup.finished_at, backup.verified_at = "done", utcnow(), utcnow()
    backup.error = ""
    db.session.commit()
    log.info("Backup %s (%s) done: %d bytes in %.1f s, read back and verified.", backup.id, backup.scope, size,
             time.monotonic() - started)
    return backup


def _write(sink, backup: Backup, listed: list, manifest: dict, progress: _Progress) -> dict:
    writer = archive.Writer(sink, created=backup.created_at)
    try:
        return _fill(writer, backup, listed, manifest, progress)
    except BaseException:
        writer.abort()
        raise


def _fill(writer: archive.Writer, backup: Backup, listed: list, manifest: dict, progress: _Progress) -> dict:
    copied = set()
    store = blob_store()
    for blob in listed:
        try:
            with store.open(blob.key) as source:
                writer.add_blob(blob.key, source, blob.size, progress.add, sha256=blob.sha256)
        except BlobNotFound:  # deleted since the list was read: its row stays out too
            progress.add(blob.size)
            continue
        copied.add(blob.key)
        progress.items_done += 1
    keeper = contents.Keeper(copied)
    for table in contents.tables(backup.scope):
        statement = contents.select_rows(table, backup.scope, backup.user_id)
        rows = (keeper.keep(table, dict(row)) for row in
                db.session.execute(statement.execution_options(yield_per=1000)).mappings())
        writer.add_rows(table.name, (row for row in rows if row is not None))
        db.session.commit()
    writer.close(**manifest)
    return writer.counts


@contextmanager
def opened(stream, passphrase: str, work: Path):
    """A Reader over the archive in `stream` (seekable), decrypting it into `work` first if need be."""
    source = stream
    if crypto.is_encrypted(stream):
        plain = work / "decrypted.zip"
        crypto.decrypt(stream, plain, passphrase)
        source = open(plain, "rb")
    try:
        reader = archive.Reader(source, known_revisions=known_revisions())
        try:
            yield reader
        finally:
            reader.close()
    finally:
        if source is not stream:
            source.close()
            Path(source.name).unlink(missing_ok=True)
