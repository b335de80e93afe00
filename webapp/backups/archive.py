"""The backup archive: one zip (ZIP64, written as a stream) with the metadata as JSON Lines per
table, the blobs under their storage keys, and manifest.json with the size and SHA-256 of every
entry. The reader refuses anything a Shoebox writer would not have made, before it is used.

Layout:
    manifest.json             format, version, app version, schema revision, scope, created, counts,
                              and {"entries": {name: {"size": n, "sha256": hex}}}
    data/<table>.jsonl        one JSON object per row, columns by name
    blobs/<storage key>       the files, stored as-is when already compressed (photos, videos)
"""

from __future__ import annotations

import hashlib
import json
import queue
import re
import stat
import threading
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timezone
from typing import BinaryIO, Iterator

from flask_babel import gettext as _

from ..storage import MAX_KEY_LENGTH, _is_key

FORMAT = "shoebox-backup"
VERSION = 1
MANIFEST = "manifest.json"
CHUNK = 1 << 20
MAX_MANIFEST_BYTES = 256 << 20
MAX_RATIO = 200  # no entry Shoebox writes compresses better than this (JSON Lines reach ~20)
RATIO_FLOOR = 1 << 20  # entries smaller than this may compress as they like
# Formats that are compressed already: storing them again with deflate costs time and saves nothing.
STORED_EXTENSIONS = {"jpg", "jpeg", "png", "gif", "webp", "avif", "heic", "heif", "mp4", "mov", "m4v", "webm",
                     "mkv", "zip", "gz", "bz2", "xz", "zst", "7z", "rar", "mp3", "m4a", "ogg", "opus", "flac",
                     "pdf", "jxl", "age"}
_TABLE = re.compile(r"data/([a-z_]{1,40})\.jsonl")


class ArchiveError(Exception):
    """The archive cannot be used; str() is one sentence that says why."""


def _jsonable(value):
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    raise TypeError(f"{type(value).__name__} cannot go into a backup")


class BackgroundHash:
    """SHA-256 taken on a thread of its own while the caller reads and writes: hashlib lets go of the GIL,
    so on two cores the hash costs no time of the copy's. Feed it with update(); hexdigest() waits for it."""

    def __init__(self, depth: int = 8):
        self._hash = hashlib.sha256()
        self._queue: queue.Queue = queue.Queue(depth)  # at most `depth` chunks wait: memory stays flat
        self._thread = threading.Thread(target=self._run, name="shoebox-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._hash.update(chunk)

    def update(self, chunk) -> None:
        self._queue.put(chunk if isinstance(chunk, bytes) else bytes(chunk))

    def close(self) -> None:
        """Stop the thread (also when the copy failed half way)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def hexdigest(self) -> str:
        self.close()
        return self._hash.hexdigest()


class Hashing:
    """Wraps the output: counts and hashes every byte written (zipfile needs only write()). close() it."""

    def __init__(self, sink):
        self._sink = sink
        self.size = 0
        self._hash = BackgroundHash()

    def write(self, data) -> int:
        self._sink.write(data)
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        flush = getattr(self._sink, "flush", None)
        if flush:
            flush()

    def close(self) -> None:
        self._hash.close()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


class Writer:
    """Writes an archive to `sink` (anything with write(); it is never asked to seek)."""

    def __init__(self, sink, *, created: datetime):
        # A sink that hashes already (making.make's) is not hashed twice: SHA-256 is the backup's dearest step.
        self._out = sink if isinstance(sink, Hashing) else Hashing(sink)
        self._zip = zipfile.ZipFile(self._out, "w", allowZip64=True)
        self._stamp = created.astimezone(timezone.utc).timetuple()[:6]
        self.entries: dict[str, dict] = {}
        self.counts: dict[str, int] = {}
        self.blob_bytes = 0

    def _info(self, name: str, compress: bool) -> zipfile.ZipInfo:
        if name in self.entries:
            raise ValueError(f"{name} is in the archive already")
        info = zipfile.ZipInfo(name, date_time=self._stamp)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        return info

    def add_rows(self, table: str, rows) -> int:
        """Write `rows` (dicts) as data/<table>.jsonl; returns how many."""
        name = f"data/{table}.jsonl"
        info = self._info(name, compress=True)
        digest, size, count = hashlib.sha256(), 0, 0
        with self._zip.open(info, "w", force_zip64=True) as entry:
            buffer = []
            for row in rows:
                buffer.append(json.dumps(row, default=_jsonable, ensure_ascii=False, separators=(",", ":")))
                count += 1
                if len(buffer) >= 500:
                    size += self._write_lines(entry, buffer, digest)
            size += self._write_lines(entry, buffer, digest)
        self.entries[name] = {"size": size, "sha256": digest.hexdigest()}
        self.counts[table] = count
        return count

    @staticmethod
    def _write_lines(entry, buffer: list, digest) -> int:
        if not buffer:
            return 0
        data = ("\n".join(buffer) + "\n").encode()
        buffer.clear()
        entry.write(data)
        digest.update(data)
        return len(data)

    def add_blob(self, key: str, source: BinaryIO, size: int, progress=None, sha256: str | None = None) -> str:
        """Copy the blob `key` from `source` (its stored size is `size`); returns its SHA-256.

        `sha256` is the blob's checksum when its row keeps one (an original's, taken when it was stored):
        the manifest then carries that, unhashed here, and the read-back checks the archived bytes against
        what was uploaded — a file that rotted in storage since fails the backup instead of being kept.
        """
        name = f"blobs/{key}"
        ext = key.rsplit(".", 1)[-1].lower() if "." in key.rsplit("/", 1)[-1] else ""
        info = self._info(name, compress=ext not in STORED_EXTENSIONS)
        digest, written = (None if sha256 else hashlib.sha256()), 0
        with self._zip.open(info, "w", force_zip64=size >= zipfile.ZIP64_LIMIT // 2) as entry:
            while chunk := source.read(CHUNK):
                entry.write(chunk)
                if digest is not None:
                    digest.update(chunk)
                written += len(chunk)
                if progress:
                    progress(len(chunk))
        sha256 = sha256 or digest.hexdigest()
        self.entries[name] = {"size": written, "sha256": sha256}
        self.blob_bytes += written
        return sha256

    def abort(self) -> None:
        """Give up: close without writing the central directory (the caller discards the output)."""
        self._zip._didModify = False  # zipfile's own flag: close() then writes nothing more
        try:
            self._zip.close()
        except (OSError, ValueError):
            pass

    def close(self, **manifest) -> tuple[int, str]:
        """Write manifest.json (with `manifest`'s fields) and the central directory; returns (size, sha256)."""
        body = {"format": FORMAT, "version": VERSION, **manifest, "counts": self.counts, "entries": self.entries}
        info = self._info(MANIFEST, compress=True)
        self._zip.writestr(info, json.dumps(body, default=_jsonable, indent=1, ensure_ascii=False))
        self._zip.close()
        return self._out.size, self._out.sha256


class Reader:
    """An archive opened for reading, its names and manifest checked; nothing is trusted before that."""

    def __init__(self, source: BinaryIO, *, known_revisions: list[str]):
        try:
            self._zip = zipfile.ZipFile(source)
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as error:
            raise ArchiveError(_("This file is not a Shoebox backup: it is not a zip archive, or it is cut short.")) \
                from error
        self._infos = {}
        for info in infos:
            self._check_entry(info)
            self._infos[info.filename] = info
        if MANIFEST not in self._infos:
            raise ArchiveError(_("This file is not a Shoebox backup: it has no manifest.json."))
        self.manifest = self._read_manifest(known_revisions)
        self.entries: dict[str, dict] = self.manifest["entries"]
        self._check_against_manifest()

    # --- checks made on opening ---

    def _check_entry(self, info: zipfile.ZipInfo) -> None:
        name = info.filename
        mode = info.external_attr >> 16
        if name in self._infos:
            raise ArchiveError(_("The archive is refused: it holds %(name)s twice.", name=_shown(name)))
        if info.is_dir() or stat.S_ISLNK(mode) or (mode and not stat.S_ISREG(mode) and stat.S_IFMT(mode)):
            raise ArchiveError(_("The archive is refused: %(name)s is a link or a folder, not a file.",
                                 name=_shown(name)))
        if name.startswith("/") or "\\" in name or ".." in name.split("/") or re.match(r"[A-Za-z]:", name):
            raise ArchiveError(_("The archive is refused: %(name)s points outside the archive.", name=_shown(name)))
        if info.flag_bits & 0x1:
            raise ArchiveError(_("The archive is refused: %(name)s is encrypted with zip's own encryption.",
                                 name=_shown(name)))
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ArchiveError(_("The archive is refused: %(name)s uses a compression Shoebox does not write.",
                                 name=_shown(name)))
        if not (name == MANIFEST or _TABLE.fullmatch(name) or
                (name.startswith("blobs/") and len(name) <= MAX_KEY_LENGTH + 6 and _is_key(name[6:]))):
            raise ArchiveError(_("The archive is refused: %(name)s is not something a Shoebox backup holds.",
                                 name=_shown(name)))
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ArchiveError(_("The archive is refused: %(name)s would unpack to more than %(ratio)d times its "
                                 "size (a zip bomb).", name=_shown(name), ratio=MAX_RATIO))

    def _read_manifest(self, known_revisions: list[str]) -> dict:
        info = self._infos[MANIFEST]
        if info.file_size > MAX_MANIFEST_BYTES:
            raise ArchiveError(_("The archive is refused: its manifest is too large."))
        try:
            with self._zip.open(info) as stream:
                manifest = json.loads(stream.read(MAX_MANIFEST_BYTES + 1))
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, UnicodeDecodeError) as error:
            raise ArchiveError(_("The archive is refused: its manifest cannot be read.")) from error
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ArchiveError(_("This file is not a Shoebox backup: its manifest names another format."))
        version = manifest.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise ArchiveError(_("This backup was made by a newer Shoebox (archive format %(version)s); update "
                                 "Shoebox to restore it.", version=_shown(str(version))))
        if manifest.get("schema_revision") not in known_revisions:
            raise ArchiveError(_("This backup was made by a newer Shoebox (database revision %(revision)s); "
                                 "update Shoebox to restore it.", revision=_shown(str(manifest.get("schema_revision")))))
        if manifest.get("scope") not in ("account", "instance"):
            raise ArchiveError(_("The archive is refused: its manifest names no scope."))
        entries = manifest.get("entries")
        if not isinstance(entries, dict) or not all(
                isinstance(value, dict) and isinstance(value.get("size"), int) and
                isinstance(value.get("sha256"), str) for value in entries.values()):
            raise ArchiveError(_("The archive is refused: its manifest lists no entries."))
        return manifest

    def _check_against_manifest(self) -> None:
        present = set(self._infos) - {MANIFEST}
        listed = set(self.entries)
        if present - listed:
            raise ArchiveError(_("The archive is refused: %(name)s is not in its manifest.",
                                 name=_shown(sorted(present - listed)[0])))
        if listed - present:
            raise ArchiveError(_("The archive is incomplete: %(name)s is missing.",
                                 name=_shown(sorted(listed - present)[0])))
        for name in present:
            if self._infos[name].file_size != self.entries[name]["size"]:
                raise ArchiveError(_("The archive is refused: %(name)s is not the size its manifest says.",
                                     name=_shown(name)))

    # --- reading ---

    @property
    def scope(self) -> str:
        return self.manifest["scope"]

    def tables(self) -> list[str]:
        return [_TABLE.fullmatch(name).group(1) for name in self.entries if _TABLE.fullmatch(name)]

    def blob_keys(self) -> list[str]:
        return [name[6:] for name in self.entries if name.startswith("blobs/")]

    def blob_size(self, key: str) -> int:
        return self.entries[f"blobs/{key}"]["size"]

    def rows(self, table: str) -> Iterator[dict]:
        """The rows of `table`, checked against the manifest's checksum before the first one is given."""
        name = f"data/{table}.jsonl"
        if name not in self.entries:
            return iter(())
        data = self._read_whole(name)
        try:
            rows = [json.loads(line) for line in data.splitlines() if line.strip()]
        except ValueError as error:
            raise ArchiveError(_("The archive is refused: %(name)s is not JSON Lines.", name=name)) from error
        if not all(isinstance(row, dict) for row in rows):
            raise ArchiveError(_("The archive is refused: %(name)s is not JSON Lines.", name=name))
        return iter(rows)

    def _read_whole(self, name: str) -> bytes:
        digest = hashlib.sha256()
        parts = []
        for chunk in self._chunks(name):
            parts.append(chunk)
            digest.update(chunk)
        data = b"".join(parts)
        self._check_digest(name, digest.hexdigest(), len(data))
        return data

    def open_entry(self, name: str):
        try:
            return self._zip.open(self._infos[name])
        except (zipfile.BadZipFile, EOFError, OSError) as error:
            raise ArchiveError(_("The archive is damaged: %(name)s cannot be read.", name=_shown(name))) from error

    def _chunks(self, name: str) -> Iterator[bytes]:
        """The entry's bytes as they are unpacked. A CRC mismatch, an entry cut short and deflate data
        that does not inflate (zlib.error, which zipfile lets through) are one ArchiveError."""
        try:
            with self.open_entry(name) as stream:
                # zipfile's CRC-32 would check the same bytes the SHA-256 after it checks, more weakly, at a
                # third of a backup's read-back time.
                stream._expected_crc = None
                while chunk := stream.read(CHUNK):
                    yield chunk
        except (zipfile.BadZipFile, EOFError, zlib.error) as error:
            raise ArchiveError(_("The archive is damaged: %(name)s cannot be read.", name=_shown(name))) from error

    def copy_blob(self, key: str, sink, progress=None) -> None:
        """Write the blob to `sink`, raising ArchiveError (after the last byte) if it is not what the
        manifest says; the caller discards what was written then."""
        name = f"blobs/{key}"
        digest, size = hashlib.sha256(), 0  # inline: most files are small, and a thread each costs more
        for chunk in self._chunks(name):
            sink.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            if progress:
                progress(len(chunk))
        self._check_digest(name, digest.hexdigest(), size)

    def _check_digest(self, name: str, sha256: str, size: int) -> None:
        expected = self.entries[name]
        if size != expected["size"] or sha256 != expected["sha256"]:
            raise ArchiveError(_("The archive is damaged: %(name)s does not match its checksum.", name=_shown(name)))

    def verify(self, progress=None, threads: int = 2) -> dict:
        """Read every entry in full and check its size and SHA-256; returns the manifest's counts.

        Entries are checked `threads` at a time: hashing lets go of the GIL, so a second core hashes too
        (zipfile reads one entry at a time under its own lock).
        """
        names = sorted(self.entries, key=lambda name: -self.entries[name]["size"])
        if threads <= 1 or len(names) < 2:
            for name in names:
                self._verify_entry(name, progress)
        else:
            pool = ThreadPoolExecutor(threads, thread_name_prefix="shoebox-verify")
            try:
                for done in [pool.submit(self._verify_entry, name, progress) for name in names]:
                    done.result()
            finally:  # the first failure ends the check: what has not started is dropped
                pool.shutdown(wait=True, cancel_futures=True)
        return dict(self.manifest.get("counts") or {})

    def _verify_entry(self, name: str, progress=None) -> None:
        digest, size = hashlib.sha256(), 0
        for chunk in self._chunks(name):
            digest.update(chunk)
            size += len(chunk)
            if progress:
                progress(len(chunk))
        self._check_digest(name, digest.hexdigest(), size)

    @property
    def total_bytes(self) -> int:
        return sum(entry["size"] for entry in self.entries.values())

    def close(self) -> None:
        self._zip.close()


def _shown(name: str) -> str:
    """An entry name as an error message may quote it: printable and short."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in name)
    return clean if len(clean) <= 120 else clean[:117] + "…"
