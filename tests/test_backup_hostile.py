"""Hostile archives: every way a backup file can lie or be broken, each built by hand from a real archive,
is refused with one sentence, and leaves the database, the file store and the data folder as they were.

An account archive goes to a second account (service.receive_archive, then the restore job); an instance
archive goes to an empty instance, as the setup page sends it. A problem the reader sees on opening is
refused on upload (InvalidInput); a problem found only by reading an entry fails the restore job at once.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import stat
import struct
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.fixtures.media import make_jpeg, stored_keys

# Bookkeeping a refused restore may add: the uploaded archive's row, the restore job, and their audit events.
BOOKKEEPING = {"backups", "jobs", "audit_events"}


# --- taking a real archive apart and putting a hostile one together ----------------------------

@dataclass
class Entry:
    name: str
    data: bytes
    compress_type: int = zipfile.ZIP_STORED
    external_attr: int = 0o644 << 16


@dataclass
class Parts:
    """A Shoebox archive as a list of entries and its manifest, to change and zip up again."""

    manifest: dict
    entries: list[Entry] = field(default_factory=list)

    def entry(self, name: str) -> Entry:
        return next(entry for entry in self.entries if entry.name == name)

    def relist(self, entry: Entry) -> None:
        """Make the manifest agree with the entry's bytes (a forger's archive is consistent)."""
        digest = hashlib.sha256(entry.data).hexdigest()
        self.manifest["entries"][entry.name] = {"size": len(entry.data), "sha256": digest}

    def rename(self, entry: Entry, name: str) -> None:
        self.manifest["entries"][name] = self.manifest["entries"].pop(entry.name)
        entry.name = name

    def rows(self, table: str) -> list[dict]:
        return [json.loads(line) for line in self.entry(f"data/{table}.jsonl").data.splitlines()]

    def set_rows(self, table: str, lines: list) -> None:
        entry = self.entry(f"data/{table}.jsonl")
        entry.data = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines).encode()
        self.relist(entry)


def take_apart(data: bytes) -> Parts:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = Parts(json.loads(archive.read("manifest.json")))
        for info in archive.infolist():
            if info.filename != "manifest.json":
                parts.entries.append(Entry(info.filename, archive.read(info), info.compress_type, info.external_attr))
    return parts


def put_together(parts: Parts, *, manifest: bytes | bool = True) -> bytes:
    """The entries zipped up again, then the manifest (its JSON, the bytes given, or none when False)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of a duplicate name: that is the point of one case
        with zipfile.ZipFile(buffer, "w", allowZip64=True) as archive:
            for entry in parts.entries:
                info = zipfile.ZipInfo(entry.name, date_time=(2024, 5, 1, 12, 0, 0))
                info.compress_type, info.external_attr = entry.compress_type, entry.external_attr
                archive.writestr(info, entry.data)
            if manifest is not False:
                archive.writestr("manifest.json", json.dumps(parts.manifest) if manifest is True else manifest)
    return buffer.getvalue()


def patch_entry(data: bytes, name: str, *, file_size: int | None = None, flag_bits: int | None = None) -> bytes:
    """Rewrite fields of one entry in both its local header and the central directory, as a forger would."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        local = archive.getinfo(name).header_offset
        start = archive.start_dir
    if flag_bits is not None:
        struct.pack_into("<H", out, local + 6, flag_bits)
    if file_size is not None:
        struct.pack_into("<I", out, local + 22, file_size)
    position = start
    while out[position:position + 4] == b"PK\x01\x02":
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", out, position + 28)
        if bytes(out[position + 46:position + 46 + name_length]).decode() == name:
            if flag_bits is not None:
                struct.pack_into("<H", out, position + 8, flag_bits)
            if file_size is not None:
                struct.pack_into("<I", out, position + 24, file_size)
            return bytes(out)
        position += 46 + name_length + extra_length + comment_length
    raise AssertionError(f"{name} is not in the central directory")


def original_of_first_photo(parts: Parts) -> Entry:
    return parts.entry("blobs/" + parts.rows("media")[0]["storage_key"])


def with_entries(parts: Parts, *extra: Entry, listed: bool = True) -> bytes:
    for entry in extra:
        parts.entries.append(entry)
        if listed:
            parts.relist(entry)
    return put_together(parts)


def renamed_photo(name: str):
    def build(parts: Parts) -> bytes:
        parts.rename(original_of_first_photo(parts), name)
        return put_together(parts)
    return build


def manifest_says(**changes):
    def build(parts: Parts) -> bytes:
        parts.manifest.update(changes)
        return put_together(parts)
    return build


def _symlink(parts: Parts) -> bytes:
    photo = original_of_first_photo(parts)
    photo.data, photo.external_attr = b"/etc/passwd", (stat.S_IFLNK | 0o777) << 16
    parts.relist(photo)
    return put_together(parts)


def _duplicate(parts: Parts) -> bytes:
    photo = original_of_first_photo(parts)
    parts.entries.append(Entry(photo.name, make_jpeg(colour=(1, 2, 3))))
    return put_together(parts)


def _missing(parts: Parts) -> bytes:
    parts.entries.remove(original_of_first_photo(parts))
    return put_together(parts)


def _wrong_size(parts: Parts) -> bytes:
    parts.manifest["entries"][original_of_first_photo(parts).name]["size"] += 1
    return put_together(parts)


def _zip_bomb(parts: Parts) -> bytes:
    bomb = Entry("blobs/originals/zz/zzbomb.jpg", bytes(64 << 20), zipfile.ZIP_DEFLATED)
    return with_entries(parts, bomb)


def _lying_bomb(parts: Parts) -> bytes:
    """A photo's entry that unpacks to 64 MiB while its headers (and the manifest) say its real size."""
    photo = original_of_first_photo(parts)
    claimed = len(photo.data)
    photo.data, photo.compress_type = bytes(64 << 20), zipfile.ZIP_DEFLATED
    return patch_entry(put_together(parts), photo.name, file_size=claimed)


def _zip_encryption(parts: Parts) -> bytes:
    photo = original_of_first_photo(parts)
    return patch_entry(put_together(parts), photo.name, flag_bits=0x1)


def _other_compression(parts: Parts) -> bytes:
    photo = original_of_first_photo(parts)
    photo.compress_type = zipfile.ZIP_BZIP2
    return put_together(parts)


def _blob_checksum(parts: Parts) -> bytes:
    photo = original_of_first_photo(parts)
    photo.data = photo.data[:-3] + bytes(b ^ 0xFF for b in photo.data[-3:])  # same size, other bytes
    return put_together(parts)


def _table_checksum(parts: Parts) -> bytes:
    table = parts.entry("data/media.jsonl")
    table.data = table.data.replace(b'"views":0', b'"views":9', 1)  # same size, other bytes
    return put_together(parts)


def _rot_in_compressed_bytes(parts: Parts) -> bytes:
    """Bytes flipped on disk inside a deflated table: the zip's own CRC (or inflate) fails on reading."""
    data = bytearray(put_together(parts))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("data/media.jsonl")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for offset in range(start + info.compress_size // 3, start + info.compress_size // 3 + 8):
        data[offset] ^= 0x5A
    return bytes(data)


def _media_rows(change, which: int = 0):
    def build(parts: Parts) -> bytes:
        rows = parts.rows("media")
        change(rows[which])
        parts.set_rows("media", rows)
        return put_together(parts)
    return build


def _album_lines(lines):
    def build(parts: Parts) -> bytes:
        parts.set_rows("albums", lines)
        return put_together(parts)
    return build


def _a_row_twice(parts: Parts) -> bytes:
    rows = parts.rows("media")
    parts.set_rows("media", rows + [rows[0]])
    return put_together(parts)


# (builder, the sentence expected) for archives refused when they are uploaded: the reader sees it on opening.
REFUSED_ON_UPLOAD = {
    "parent-folder": (renamed_photo("blobs/originals/../../../../etc/cron.d/evil.jpg"), r"points outside the archive"),
    "parent-at-the-start": (renamed_photo("../blobs/originals/ev/evil.jpg"), r"points outside the archive"),
    "absolute-path": (renamed_photo("/blobs/originals/ev/evil.jpg"), r"points outside the archive"),
    "backslashes": (renamed_photo("blobs\\..\\..\\evil.jpg"), r"points outside the archive"),
    "drive-letter": (renamed_photo("C:/blobs/originals/evil.jpg"), r"points outside the archive"),
    "symlink": (_symlink, r"is a link or a folder, not a file"),
    "directory": (lambda parts: with_entries(parts, Entry("blobs/originals/zz/", b"")),
                  r"is a link or a folder, not a file"),
    "duplicate-entry": (_duplicate, r"holds blobs/originals/\S+ twice"),
    "entry-not-in-manifest": (lambda parts: with_entries(parts, Entry("blobs/originals/zz/zzextra.jpg", b"x"),
                                                         listed=False),
                              r"blobs/originals/zz/zzextra\.jpg is not in its manifest"),
    "entry-of-another-kind": (lambda parts: with_entries(parts, Entry("notes.txt", b"hello")),
                              r"notes\.txt is not something a Shoebox backup holds"),
    "manifest-entry-missing": (_missing, r"The archive is incomplete: blobs/originals/\S+ is missing"),
    "size-not-as-listed": (_wrong_size, r"is not the size its manifest says"),
    "zip-bomb": (_zip_bomb, r"would unpack to more than 200 times its size \(a zip bomb\)"),
    "zip-encryption": (_zip_encryption, r"is encrypted with zip's own encryption"),
    "other-compression": (_other_compression, r"uses a compression Shoebox does not write"),
    "no-manifest": (lambda parts: put_together(parts, manifest=False), r"has no manifest\.json"),
    "manifest-not-json": (lambda parts: put_together(parts, manifest=b"{\"format\": "), r"its manifest cannot be read"),
    "unknown-format": (manifest_says(format="someone-elses-backup"), r"its manifest names another format"),
    "newer-version": (manifest_says(version=2), r"made by a newer Shoebox \(archive format 2\)"),
    "newer-schema": (manifest_says(schema_revision="0099_from_the_future"),
                     r"made by a newer Shoebox \(database revision 0099_from_the_future\)"),
    "no-scope": (manifest_says(scope="galaxy"), r"its manifest names no scope"),
    "entries-not-listed": (manifest_says(entries=["data/media.jsonl"]), r"its manifest lists no entries"),
}

# Archives that open cleanly and fail when an entry is read: the restore job fails at once with the sentence.
FAILED_ON_RESTORE = {
    "blob-checksum": (_blob_checksum, r"The archive is damaged: blobs/originals/\S+ does not match its checksum"),
    "table-checksum": (_table_checksum, r"The archive is damaged: data/media\.jsonl does not match its checksum"),
    # Whether inflating fails or yields other bytes, it is one sentence naming the entry.
    "rot-in-compressed-bytes": (_rot_in_compressed_bytes,
                                r"The archive is damaged: data/media\.jsonl (cannot be read|does not match its checksum)"),
    "lying-bomb": (_lying_bomb, r"The archive is damaged: blobs/originals/\S+ (cannot be read|does not match its checksum)"),
    "row-of-the-wrong-type": (_media_rows(lambda row: row.update(size="very big")),
                              r"The archive is refused: media\.size holds a value of the wrong kind"),
    "date-of-the-wrong-type": (_media_rows(lambda row: row.update(created_at="yesterday")),
                               r"The archive is refused: media\.created_at holds a value of the wrong kind"),
    "text-of-the-wrong-type": (_media_rows(lambda row: row.update(title=["a", "list"])),
                               r"The archive is refused: media\.title holds a value of the wrong kind"),
    "text-too-long": (_media_rows(lambda row: row.update(mime_type="image/" + "x" * 500)),
                      r"The archive is refused: media\.mime_type holds a value of the wrong kind"),
    "first-row-without-a-column": (_media_rows(lambda row: row.pop("sha256")),
                                   r"data/media\.jsonl holds rows this database cannot take"),
    "later-row-without-a-column": (_media_rows(lambda row: row.pop("sha256"), which=-1),
                                   r"data/media\.jsonl holds rows this database cannot take"),
    "number-too-large": (_media_rows(lambda row: row.update(width=2 ** 31)),
                         r"The archive is refused: media\.width holds a value of the wrong kind"),
    "text-with-a-nul": (_media_rows(lambda row: row.update(title="before\x00after")),
                        r"The archive is refused: media\.title holds a value of the wrong kind"),
    "row-that-is-not-an-object": (_album_lines(["[1, 2, 3]"]), r"data/albums\.jsonl is not JSON Lines"),
    "line-that-is-not-json": (_album_lines(['{"id": "abc", "title": ']), r"data/albums\.jsonl is not JSON Lines"),
}

INSTANCE_FAILED_ON_RESTORE = {
    **FAILED_ON_RESTORE,
    "the-same-row-twice": (_a_row_twice, r"data/media\.jsonl holds rows this database cannot take"),
}

CUTS = {"a-tenth": 0.1, "half": 0.5, "nine-tenths": 0.9, "all-but-the-last-byte": -1,
        "inside-the-end-record": -10, "before-the-central-directory": "central"}
NOT_A_ZIP = r"^This file is not a Shoebox backup: it is not a zip archive, or it is cut short\.$"
NOT_ZIPS = {"a-jpeg": make_jpeg(), "nothing": b"", "text": b"manifest.json\nformat=shoebox-backup\n",
            "a-zip-header-alone": b"PK\x03\x04" + bytes(26)}


def cut(data: bytes, where) -> bytes:
    if where == "central":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return data[:archive.start_dir]
    return data[:where] if isinstance(where, int) else data[:int(len(data) * where)]


# --- the archives, made once on an instance of their own ---------------------------------------

PASSPHRASE = "the right passphrase, long enough"


@dataclass
class Sources:
    account: bytes  # kim's account: two JPEGs and a PNG with their sizes, an album of two, a password link
    instance: bytes  # the whole instance: kim, an admin, and the same photos
    encrypted: bytes  # the same instance, made by an instance with backups.passphrase set


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Sources:
    """The archives every hostile one is built from. They come from another instance (on SQLite) than the
    one they are given to, as an archive someone uploads does."""
    from tests.fixtures.database import app_settings
    from webapp import create_app

    folder = tmp_path_factory.mktemp("source")
    settings = app_settings(folder, f"sqlite:///{folder / 'source.db'}")
    app = create_app(settings)
    with_passphrase = create_app({**settings, "backups": {"passphrase": PASSPHRASE}})
    try:
        kim, admin = _library(app)
        yield Sources(archive_bytes(app, kim, "account"), archive_bytes(app, admin, "instance"),
                      archive_bytes(with_passphrase, admin, "instance"))
    finally:
        _stop(app, with_passphrase)


def _library(app) -> tuple[int, int]:
    """kim with three photos (one a PNG), an album of two and a link with a password; and an admin."""
    from PIL import Image

    from tests.fixtures.accounts import STRONG_PASSWORD
    from tests.fixtures.media import multipart
    from webapp.albums import service as albums
    from webapp.auth import service as accounts
    from webapp.extensions import db
    from webapp.media import service as media_service
    from webapp.models import User
    from webapp.shares import service as shares

    with app.app_context():
        kim = accounts.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True).id
        admin = accounts.create_user("admin@example.com", "admin", STRONG_PASSWORD, role="admin", verified=True).id
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    png = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 90)).save(png, "PNG")
    ids = []
    for data, name in ((make_jpeg(colour=(200, 20, 20)), "red.jpg"), (make_jpeg(colour=(20, 20, 200)), "blue.jpg"),
                       (png.getvalue(), "green.png")):
        body, content_type = multipart({"file": (data, name)})
        response = client.post("/api/v1/images", headers={"Authorization": f"Bearer {token}"}, data=body,
                               content_type=content_type)
        assert response.status_code == 201, response.get_json()
        ids.append(response.get_json()["id"])
    with app.app_context():
        user = db.session.get(User, kim)
        album = albums.create_album(user, "Holidays")
        albums.add_photos(album, media_service.get_many_for(user, ids[:2]))
        shares.create_share(user, shares.Target(album_id=album.id), shares.Options(password="sea house 42"))
    return kim, admin


def _stop(*apps) -> None:
    import fsspec

    from webapp import jobs
    from webapp.extensions import db

    for app in apps:
        jobs.shutdown(app, wait=10)
        app.extensions["shoebox_analytics"].stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    root = "/" + apps[0].config["SHOEBOX"]["storage"]["url"].removeprefix("memory://").strip("/")
    memory = fsspec.filesystem("memory")
    if memory.exists(root):
        memory.rm(root, recursive=True)


def archive_bytes(app, user_id: int, scope: str) -> bytes:
    from webapp import jobs
    from webapp.backups import making, service
    from webapp.extensions import db
    from webapp.models import Backup, User

    with app.app_context():
        backup_id = service.start_backup(db.session.get(User, user_id), scope).id
    jobs.work_until_idle(app)
    with app.app_context():
        backup = db.session.get(Backup, backup_id)
        assert backup.status == "done", backup.error
        with making.backup_store().open(backup.storage_key) as stream:
            return stream.read()


@pytest.fixture
def lee(make_user) -> int:
    """The account the account archives are uploaded to."""
    return make_user(email="lee@example.com", username="lee")


# --- what "nothing changed" means --------------------------------------------------------------

@dataclass
class Snapshot:
    rows: dict[str, list]
    blobs: list[str]
    files: set[str]


def snapshot(app) -> Snapshot:
    """Every row of every table, every key in the file store, every file and folder in the data folder."""
    from webapp import scratch
    from webapp.backups import making
    from webapp.extensions import db

    data_dir = Path(app.config["SHOEBOX"]["data_dir"])
    scratch.folder(data_dir)  # this process's scratch folder exists from its first upload on
    with app.app_context():
        making.backup_store()  # and the backup store's folder from its first use
        rows = {table.name: sorted(repr(tuple(row)) for row in db.session.execute(sa.select(table)))
                for table in db.metadata.sorted_tables}
        db.session.remove()
    return Snapshot(rows, stored_keys(app), {str(path.relative_to(data_dir)) for path in data_dir.rglob("*")})


def assert_nothing_changed(app, before: Snapshot, *, uploaded: str | None = None) -> None:
    """Nothing but the bookkeeping of a refused restore (`uploaded`, the id of the archive kept to retry
    from): its row, the failed job and their audit events, and the archive in the backup store."""
    after = snapshot(app)
    for table, rows in before.rows.items():
        if table not in BOOKKEEPING:
            assert after.rows[table] == rows, f"{table} changed"
    added = 1 if uploaded else 0
    assert len(after.rows["backups"]) == len(before.rows["backups"]) + added
    assert len(after.rows["jobs"]) == len(before.rows["jobs"]) + added
    assert after.blobs == before.blobs
    kept = {"backups/uploaded", f"backups/uploaded/{uploaded}.zip"} if uploaded else set()
    assert after.files - before.files <= kept and before.files <= after.files, after.files ^ before.files


def assert_one_sentence(text: str, pattern: str) -> None:
    assert re.search(pattern, text), text
    assert re.fullmatch(r"[A-Z][^\n]*\.", text) and not re.search(r"[.;:]\s+[A-Z][a-z]*Error\b|Traceback", text), text
    assert not re.search(r"\.\s+[A-Z]", text), f"more than one sentence: {text}"


def new_events(app, before: Snapshot) -> list[str]:
    from webapp.extensions import db
    from webapp.models import AuditEvent

    with app.app_context():
        return [event.action for event in db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))][
            len(before.rows["audit_events"]):]


# --- account restores ---------------------------------------------------------------------------

def upload_as(app, user_id: int | None, scope: str, data: bytes):
    from webapp.backups import service
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        actor = db.session.get(User, user_id) if user_id else None
        backup = service.receive_archive(actor, scope, io.BytesIO(data), setup=actor is None)
        return backup.id


def refused_on_upload(app, user_id: int | None, scope: str, data: bytes, pattern: str) -> None:
    from webapp.errors import InvalidInput

    before = snapshot(app)
    with pytest.raises(InvalidInput) as refused:
        upload_as(app, user_id, scope, data)
    assert refused.value.field == "file"
    assert_one_sentence(refused.value.message, pattern)
    assert_nothing_changed(app, before)


def failed_on_restore(app, user_id: int | None, scope: str, data: bytes, pattern: str) -> None:
    before = snapshot(app)
    job = restore(app, user_id, scope, data)
    assert (job.state, job.attempts) == ("failed", 1), (job.state, job.error)  # refused for good, at once
    assert_one_sentence(job.error, pattern)
    assert_nothing_changed(app, before, uploaded=job.payload["backup_id"])
    if user_id:
        assert new_events(app, before) == ["backup_uploaded", "restore_started"]


@pytest.mark.parametrize("case", REFUSED_ON_UPLOAD)
def test_a_hostile_account_archive_is_refused_on_upload_and_changes_nothing(app, sources, lee, case):
    build, pattern = REFUSED_ON_UPLOAD[case]
    refused_on_upload(app, lee, "account", build(take_apart(sources.account)), pattern)


@pytest.mark.parametrize("case", FAILED_ON_RESTORE)
def test_a_damaged_account_archive_fails_its_restore_and_changes_nothing(app, sources, lee, case):
    build, pattern = FAILED_ON_RESTORE[case]
    failed_on_restore(app, lee, "account", build(take_apart(sources.account)), pattern)


@pytest.mark.parametrize("where", CUTS)
def test_a_truncated_account_archive_is_refused(app, sources, lee, where):
    refused_on_upload(app, lee, "account", cut(sources.account, CUTS[where]), NOT_A_ZIP)


@pytest.mark.parametrize("what", NOT_ZIPS)
def test_a_file_that_is_not_a_zip_is_refused(app, lee, what):
    refused_on_upload(app, lee, "account", NOT_ZIPS[what], NOT_A_ZIP)


def test_a_zip_that_is_not_a_backup_is_refused(app, lee):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("holiday/IMG_0001.jpg", make_jpeg())
    refused_on_upload(app, lee, "account", buffer.getvalue(),
                      r"holiday/IMG_0001\.jpg is not something a Shoebox backup holds")


def test_an_instance_archive_given_to_an_account_restore_is_refused(app, sources, lee):
    refused_on_upload(app, lee, "account", sources.instance,
                      r"^This is a backup of a whole instance; restore it on an empty instance, from the setup page "
                      r"or with flask restore\.$")


def test_an_encrypted_archive_given_to_an_account_restore_is_refused(app, sources, lee):
    refused_on_upload(app, lee, "account", sources.encrypted,
                      r"^Account backups are never encrypted; this file is an encrypted instance backup\.$")


def test_the_unchanged_account_archive_restores_into_another_account(app, sources, lee):
    """The control: the archive every hostile one is built from, taken apart and put together untouched."""
    from webapp.models import Media

    job = restore(app, lee, "account", put_together(take_apart(sources.account)))
    assert job.state == "done", job.error
    assert count(app, Media, Media.user_id == lee) == 3


# --- instance restores, into the empty instance of `app` ------------------------------------------

# The reader is the same for both scopes; these make sure the setup page's upload goes through it too.
INSTANCE_REFUSED_ON_UPLOAD = ("parent-folder", "absolute-path", "symlink", "duplicate-entry", "zip-bomb",
                              "size-not-as-listed", "newer-schema", "unknown-format")


@pytest.mark.parametrize("case", INSTANCE_REFUSED_ON_UPLOAD)
def test_a_hostile_instance_archive_is_refused_on_the_setup_page_and_changes_nothing(app, sources, case):
    build, pattern = REFUSED_ON_UPLOAD[case]
    refused_on_upload(app, None, "instance", build(take_apart(sources.instance)), pattern)


@pytest.mark.parametrize("case", INSTANCE_FAILED_ON_RESTORE)
def test_a_damaged_instance_archive_fails_its_restore_and_leaves_the_instance_empty(app, sources, case):
    build, pattern = INSTANCE_FAILED_ON_RESTORE[case]
    failed_on_restore(app, None, "instance", build(take_apart(sources.instance)), pattern)
    assert_still_empty(app)


@pytest.mark.parametrize("where", ["half", "before-the-central-directory"])
def test_a_truncated_instance_archive_is_refused(app, sources, where):
    refused_on_upload(app, None, "instance", cut(sources.instance, CUTS[where]), NOT_A_ZIP)


def test_an_account_archive_given_to_the_instance_restore_is_refused(app, sources):
    refused_on_upload(app, None, "instance", sources.account,
                      r"^This is a backup of one account; restore it from that account's Settings → Backups\.$")


def test_an_encrypted_archive_with_the_wrong_passphrase_fails_and_changes_nothing(make_app, sources):
    app = make_app(backups={"passphrase": "not the passphrase it was made with"})
    failed_on_restore(app, None, "instance", sources.encrypted, r"^The passphrase does not open this backup\.$")
    assert_still_empty(app)


def test_an_encrypted_archive_without_a_passphrase_set_fails_and_changes_nothing(app, sources):
    failed_on_restore(app, None, "instance", sources.encrypted,
                      r"^This backup is encrypted, and no backups\.passphrase is set to open it\.$")
    assert_still_empty(app)


def test_an_encrypted_archive_cut_inside_fails_and_changes_nothing(make_app, sources):
    with zipfile.ZipFile(io.BytesIO(sources.encrypted)) as outer:
        pieces = {name: outer.read(name) for name in outer.namelist()}
    pieces["archive.zip.age"] = pieces["archive.zip.age"][:len(pieces["archive.zip.age"]) // 2]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as outer:
        for name, data in pieces.items():
            outer.writestr(name, data)
    app = make_app(backups={"passphrase": PASSPHRASE})
    failed_on_restore(app, None, "instance", buffer.getvalue(), r"^The encrypted backup is damaged or cut short\.$")
    assert_still_empty(app)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_the_unchanged_instance_archive_restores_into_an_empty_instance(make_app, sources, encrypted):
    """The control: the plain archive taken apart and put together untouched, and the encrypted one with
    its passphrase, restore."""
    from webapp.models import Media

    if encrypted:
        app, data = make_app(backups={"passphrase": PASSPHRASE}), sources.encrypted
    else:
        app, data = make_app(), put_together(take_apart(sources.instance))
    job = restore(app, None, "instance", data)
    assert job.state == "done", job.error
    assert count(app, Media) == 3
    assert len(stored_keys(app)) == 9  # three originals, a thumbnail and a preview each


def assert_still_empty(app) -> None:
    from webapp.backups import restoring

    with app.app_context():
        assert restoring.instance_is_empty()


def restore(app, user_id: int | None, scope: str, data: bytes):
    """Upload the archive and run its restore; returns the job, detached."""
    from webapp import jobs
    from webapp.backups import service
    from webapp.extensions import db
    from webapp.models import Backup, Job, User

    backup_id = upload_as(app, user_id, scope, data)
    with app.app_context():
        actor = db.session.get(User, user_id) if user_id else None
        job_id = service.start_restore(actor, db.session.get(Backup, backup_id), setup=actor is None).id
    assert jobs.work_until_idle(app) == 1
    with app.app_context():
        job = db.session.get(Job, job_id)
        db.session.expunge(job)
        return job


def count(app, model, *where) -> int:
    from webapp.extensions import db

    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))
