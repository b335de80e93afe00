"""Scratch space for files on their way in: a folder per process, removed once its process is gone.

An upload is written to local disk before it is checked and stored. A process killed in the
middle (kill -9, a crash, power loss) cannot clean up after itself, so each process works in a
folder of its own under `<data_dir>/tmp` and holds a lock on it for as long as it lives. A folder
whose lock can be taken belongs to a process that has gone: sweep() removes it, at start-up and
from the daily integrity job. Instances sharing one data folder never remove each other's work.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"
# Entries from before scratch folders had owners: old enough, nothing can still be using them.
UNOWNED_GRACE_SECONDS = 6 * 3600

_mine: dict[Path, tuple[FileLock, Path]] = {}
_mine_lock = threading.Lock()


def root(data_dir: str | Path) -> Path:
    """The folder that holds every process's scratch folder."""
    return Path(data_dir) / "tmp"


def folder(data_dir: str | Path) -> Path:
    """This process's own scratch folder under `data_dir`, created and locked on first use."""
    base = root(data_dir).resolve()
    with _mine_lock:
        if base not in _mine:
            _mine[base] = _claim(base)
        return _mine[base][1]


def _claim(base: Path) -> tuple[FileLock, Path]:
    base.mkdir(parents=True, exist_ok=True)
    name = f"{os.getpid()}-{secrets.token_hex(6)}"
    # Held for the life of the process (not of a thread): released only when the process ends.
    lock = FileLock(str(base / f"{name}{LOCK_SUFFIX}"), timeout=0, thread_local=False)
    lock.acquire()
    path = base / name
    path.mkdir()
    return lock, path


@contextmanager
def workspace(data_dir: str | Path):
    """A private folder for one piece of work, removed afterwards whatever happens."""
    with tempfile.TemporaryDirectory(dir=folder(data_dir)) as path:
        yield Path(path)


def sweep(data_dir: str | Path) -> list[str]:
    """Remove the scratch folders of processes that have gone; returns the names removed."""
    base = root(data_dir)
    if not base.is_dir():
        return []
    removed = []
    for entry in sorted(base.iterdir()):
        if entry.name.endswith(LOCK_SUFFIX):
            continue
        lock_path = base / f"{entry.name}{LOCK_SUFFIX}"
        if lock_path.exists():
            if _remove_if_abandoned(entry, lock_path):
                removed.append(entry.name)
        elif time.time() - entry.lstat().st_mtime > UNOWNED_GRACE_SECONDS:
            _remove(entry)
            removed.append(entry.name)
    for lock_path in base.glob(f"*{LOCK_SUFFIX}"):  # a lock left without its folder
        if not (base / lock_path.name[:-len(LOCK_SUFFIX)]).exists():
            _remove_if_abandoned(None, lock_path)
    if removed:
        log.info("Removed %d scratch folders left by processes that stopped: %s", len(removed), ", ".join(removed))
    return removed


def _remove_if_abandoned(entry: Path | None, lock_path: Path) -> bool:
    lock = FileLock(str(lock_path), timeout=0, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        return False  # its process is alive
    try:
        if entry is not None:
            _remove(entry)
        lock_path.unlink(missing_ok=True)
    finally:
        lock.release()
    return True


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)
