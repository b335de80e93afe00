"""Encrypted archives, with age (https://age-encryption.org) through pyrage; no cryptography of our own.

age encrypts a stream to a key, but with a passphrase only whole byte strings. So an encrypted
backup is a plain zip of three standard pieces: a fresh age key encrypted with the passphrase
(`key.age`), the archive encrypted to that key (`archive.zip.age`, streamed), and a README that
says how to open it with the `age` command-line tool alone.
"""

from __future__ import annotations

import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

import pyrage
from flask_babel import gettext as _
from pyrage import x25519

from .archive import ArchiveError

KEY_ENTRY = "key.age"
ARCHIVE_ENTRY = "archive.zip.age"
README_ENTRY = "README.txt"
README = """This is an encrypted Shoebox backup. To open it without Shoebox, with age (https://age-encryption.org):

    unzip this-file.zip
    age --decrypt key.age > key.txt          # asks for the backup passphrase
    age --decrypt --identity key.txt archive.zip.age > backup.zip

Shoebox restores the encrypted file itself when its backups.passphrase is set.
"""


def is_encrypted(source: BinaryIO) -> bool:
    """Whether `source` (seekable, at any position) is an encrypted backup; leaves it at the start."""
    try:
        with zipfile.ZipFile(source) as outer:
            names = set(outer.namelist())
    except (zipfile.BadZipFile, EOFError, ValueError):
        return False
    finally:
        source.seek(0)
    return KEY_ENTRY in names and ARCHIVE_ENTRY in names


def encrypt(plain: Path, sink, passphrase: str, created: datetime) -> None:
    """Write the encrypted form of the archive at `plain` to `sink` (anything with write())."""
    identity = x25519.Identity.generate()
    stamp = created.astimezone(timezone.utc).timetuple()[:6]
    with zipfile.ZipFile(_WriteOnly(sink), "w", allowZip64=True) as outer:
        outer.writestr(zipfile.ZipInfo(README_ENTRY, date_time=stamp), README)
        outer.writestr(zipfile.ZipInfo(KEY_ENTRY, date_time=stamp),
                       pyrage.passphrase.encrypt(str(identity).encode(), passphrase))
        with open(plain, "rb") as source, outer.open(zipfile.ZipInfo(ARCHIVE_ENTRY, date_time=stamp), "w",
                                                     force_zip64=True) as entry:
            pyrage.encrypt_io(source, entry, [identity.to_public()])


def decrypt(source: BinaryIO, target: Path, passphrase: str) -> None:
    """Write the archive inside the encrypted backup `source` (seekable) to the file `target`."""
    if not passphrase:
        raise ArchiveError(_("This backup is encrypted, and no backups.passphrase is set to open it."))
    try:
        outer = zipfile.ZipFile(source)
        key = outer.read(KEY_ENTRY)
    except (zipfile.BadZipFile, EOFError, KeyError, OSError) as error:
        raise ArchiveError(_("The encrypted backup is damaged or cut short.")) from error
    try:
        identity = x25519.Identity.from_str(pyrage.passphrase.decrypt(key, passphrase).decode().strip())
    except (pyrage.DecryptError, pyrage.IdentityError, UnicodeDecodeError, ValueError) as error:
        raise ArchiveError(_("The passphrase does not open this backup.")) from error
    try:
        with outer.open(ARCHIVE_ENTRY) as entry, open(target, "wb") as plain:
            pyrage.decrypt_io(entry, plain, [identity])
    except (pyrage.DecryptError, zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        raise ArchiveError(_("The encrypted backup is damaged or cut short.")) from error
    finally:
        outer.close()


class _WriteOnly:
    """Hides seek() and tell() from zipfile, so it writes a stream (data descriptors) to `sink`."""

    def __init__(self, sink):
        self._sink = sink

    def write(self, data) -> int:
        return self._sink.write(data)

    def flush(self) -> None:
        pass
