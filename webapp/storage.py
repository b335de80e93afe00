"""Blob storage over fsspec: a local folder, an S3-compatible bucket or fsspec's memory store."""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from typing import BinaryIO
from urllib.parse import urlsplit
from urllib.request import url2pathname

import fsspec

MAX_KEY_LENGTH = 512
_KEY = re.compile(r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*")
_CHUNK = 1 << 20
# S3 buffers one part per upload in memory: above the 5 MiB minimum part,
# small enough that many concurrent uploads stay bounded.
_PART_SIZE = 8 << 20
_READ_AHEAD = 2 << 20
# "~" can never appear in a key, so keys() skips in-flight temp files by validation alone.
_TEMP_SUFFIX = ".part~"


class StorageError(Exception):
    """Base class for storage failures."""


class BlobNotFound(StorageError, KeyError):
    """No blob is stored under the key."""

    __str__ = Exception.__str__  # KeyError would quote the message


class StorageUnavailable(StorageError):
    """The storage backend cannot be reached or failed."""


def _check_key(key: str) -> str:
    """Return key unchanged if it is a valid relative storage key, else raise ValueError."""
    if (not isinstance(key, str) or len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key)
            or any(segment in (".", "..") for segment in key.split("/"))):
        raise ValueError(f"{key!r} is not a valid storage key.")
    return key


def _is_key(text: str) -> bool:
    """Tell whether text is a valid storage key."""
    try:
        _check_key(text)
    except ValueError:
        return False
    return True


class BlobStore:
    """Blobs under one folder, bucket prefix or memory name, addressed by server-made keys."""

    def __init__(self, url: str, *, endpoint_url: str = "", key: str = "", secret: str = "", region: str = ""):
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self._caught: tuple[type[BaseException], ...] = (OSError,)
        if parts.scheme == "file":
            self._open_folder(parts)
        elif parts.scheme == "s3":
            self._open_bucket(parts, endpoint_url, key, secret, region)
        elif parts.scheme == "memory":
            name = (parts.netloc + parts.path).strip("/")
            self._fs = fsspec.filesystem("memory")
            self._root = f"/{name}" if name else ""
            self._where = f"memory://{name}"
        else:
            raise ValueError(f"{url!r} is not a file://, s3:// or memory:// URL.")

    @classmethod
    def from_settings(cls, storage: dict) -> BlobStore:
        """Build a store from the [storage] settings table."""
        return cls(storage["url"], endpoint_url=storage.get("endpoint_url") or "", key=storage.get("key") or "",
                   secret=storage.get("secret") or "", region=storage.get("region") or "")

    def _open_folder(self, parts) -> None:
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise ValueError(f"{parts.geturl()!r} must name an absolute folder, as in file:///data/files.")
        self._fs = fsspec.filesystem("file")
        # Path.as_uri() percent-encodes spaces and the like.
        self._root = os.path.abspath(url2pathname(parts.path))
        self._where = self._root
        with self._errors():
            os.makedirs(self._root, exist_ok=True)

    def _open_bucket(self, parts, endpoint_url: str, key: str, secret: str, region: str) -> None:
        import s3fs  # imported here so that file and memory stores never load botocore
        from aiohttp import ClientError as HTTPError
        from botocore.exceptions import BotoCoreError, ClientError

        self._bucket, self._prefix = parts.netloc, parts.path.strip("/")
        if not self._bucket:
            raise ValueError(f"{parts.geturl()!r} must name a bucket, as in s3://bucket/prefix.")
        self._root = f"{self._bucket}/{self._prefix}" if self._prefix else self._bucket
        self._where = f"s3://{self._root} at {endpoint_url or 'AWS'}"
        self._caught = (OSError, BotoCoreError, ClientError, HTTPError)
        client = {"endpoint_url": endpoint_url, "region_name": region}
        # Fail within seconds when the endpoint is down instead of retrying for minutes; presign with
        # SigV4, as botocore presigns with SigV2 here by default, which B2 and newer AWS regions refuse.
        config = {"connect_timeout": 5, "read_timeout": 60, "retries": {"mode": "standard", "max_attempts": 2},
                  "signature_version": "s3v4"}
        if endpoint_url:
            # MinIO and most self-hosted stores serve buckets under the path, not as subdomains; some
            # S3-compatible stores (B2, older MinIO and Ceph) refuse the CRC checksums botocore >= 1.36 adds.
            config.update(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                          response_checksum_validation="when_required")
        self._fs = s3fs.S3FileSystem(
            key=key or None, secret=secret or None,  # None lets botocore use its default credential chain
            client_kwargs={name: value for name, value in client.items() if value}, config_kwargs=config,
            default_block_size=_PART_SIZE,
            use_listings_cache=False,  # other app instances write to the same bucket
        )
        self._fs.retries = 2  # s3fs retries timeouts 5 times on top of botocore's own retries

    def __repr__(self) -> str:
        return f"BlobStore({self._where!r})"

    def put(self, key: str, source, *, content_type: str | None = None) -> int:
        """Store bytes, a binary file object or a local file under key, atomically; return the size."""
        path = self._path(key)
        with self._errors():
            writer = self._writer(path, content_type)
        written = 0
        try:
            for chunk in _chunks(source):  # a failing source raises its own error, not StorageUnavailable
                with self._errors():
                    writer.write(chunk)
                written += len(chunk)
            with self._errors():
                writer.commit()
        except BaseException:
            writer.abort()
            raise
        return written

    @contextmanager
    def writer(self, key: str, *, content_type: str | None = None, durable: bool = True):
        """A stream to write a blob under key: it appears whole when the block ends without an error,
        and not at all otherwise (S3: one multipart upload, completed at the end).

        `durable=False` skips the flush to disk of each blob on a local folder: for writing many at once,
        followed by one sync() before anything points at them.
        """
        path = self._path(key)
        with self._errors():
            writer = self._writer(path, content_type, durable)
        sink = _Sink(writer, self._errors)
        try:
            yield sink
            with self._errors():
                writer.commit()
        except BaseException:
            writer.abort()
            raise

    def discard_unfinished(self, key: str) -> int:
        """Remove what interrupted writes of `key` left (a killed process cannot clean up after itself):
        temp files beside it on disk, incomplete multipart uploads on S3. Returns how many."""
        path = self._path(key)
        removed = 0
        with self._errors():
            if self.scheme == "file":
                folder, name = os.path.split(path)
                if os.path.isdir(folder):
                    for entry in os.listdir(folder):
                        if entry.startswith(f".{name}.") and entry.endswith(_TEMP_SUFFIX):
                            with suppress(FileNotFoundError):
                                os.unlink(os.path.join(folder, entry))
                                removed += 1
            elif self.scheme == "s3":
                object_key = path.split("/", 1)[1]
                listed = self._fs.call_s3("list_multipart_uploads", Bucket=self._bucket, Prefix=object_key)
                for upload in listed.get("Uploads", []):
                    if upload["Key"] == object_key:
                        self._fs.call_s3("abort_multipart_upload", Bucket=self._bucket, Key=object_key,
                                         UploadId=upload["UploadId"])
                        removed += 1
        return removed

    def move(self, source: str, target: str) -> None:
        """Give the blob under `source` the key `target` (replacing any blob there)."""
        source_path, target_path = self._path(source), self._path(target)
        with self._errors(source):
            if self.scheme == "file":
                os.makedirs(os.path.dirname(target_path), exist_ok=True)
                os.replace(source_path, target_path)
                _fsync_folder(os.path.dirname(target_path))
            else:
                self._fs.mv(source_path, target_path)
        if self.scheme == "file":
            self._prune_empty_folders(os.path.dirname(source_path))

    def sync(self) -> None:
        """Flush every blob written to a local folder to disk (one syncfs for the whole filesystem)."""
        if self.scheme != "file":
            return
        with self._errors():
            _syncfs(self._root)

    def _writer(self, path: str, content_type: str | None, durable: bool = True):
        if self.scheme == "file":
            return _FolderWriter(path, durable)
        if self.scheme == "s3":
            return _BucketWriter(self._fs, path, content_type)
        return _MemoryWriter(self._fs, path)

    def open(self, key: str) -> BinaryIO:
        """Return a seekable binary stream of the blob; raise BlobNotFound if it is missing."""
        path = self._path(key)
        with self._errors(key):
            if self.scheme == "file":
                return io.open(path, "rb")
            if self.scheme == "memory":
                # The memory fs hands every reader the one shared buffer; give each its own copy.
                return io.BytesIO(self._fs.cat_file(path))
            stream = self._fs.open(path, "rb", block_size=_READ_AHEAD)
        if stream.details["type"] != "file":  # s3fs opens a "folder" (a prefix with keys below) as empty
            stream.close()
            raise BlobNotFound(f"No blob is stored under {key}.")
        return stream

    def delete(self, key: str) -> None:
        """Remove the blob; a missing blob is not an error."""
        path = self._path(key)
        with self._errors():
            try:
                self._fs.rm_file(path)
            except FileNotFoundError:
                return
        if self.scheme == "file":
            self._prune_empty_folders(os.path.dirname(path))

    def _prune_empty_folders(self, folder: str) -> None:
        # Otherwise every deleted image leaves its variants/<id>/ folder behind for ever.
        while folder.startswith(self._root + os.sep):
            try:
                os.rmdir(folder)
            except OSError:
                return
            folder = os.path.dirname(folder)

    def exists(self, key: str) -> bool:
        """Tell whether a blob is stored under key."""
        try:
            self._info(key)
        except BlobNotFound:
            return False
        return True

    def size(self, key: str) -> int:
        """Return the blob's size in bytes; raise BlobNotFound if it is missing."""
        return int(self._info(key)["size"])

    def modified_at(self, key: str) -> datetime:
        """When the blob was last written (UTC); raise BlobNotFound if it is missing."""
        info = self._info(key)
        value = info.get("mtime") or info.get("LastModified") or info.get("created")
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, timezone.utc)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return datetime.now(timezone.utc)  # unknown: treat as new, so it is never removed too early

    def _info(self, key: str) -> dict:
        path = self._path(key)
        with self._errors(key):
            info = self._fs.info(path)
        if info["type"] != "file":
            raise BlobNotFound(f"No blob is stored under {key}.")
        return info

    def md5(self, key: str) -> str | None:
        """The MD5 the store itself reports for the blob, where it keeps one (the ETag S3 gives an object
        written in a single part), else None: a check of a copy without reading it back."""
        if self.scheme != "s3":
            return None
        etag = str(self._info(key).get("ETag") or "").strip('"').lower()
        return etag if re.fullmatch(r"[0-9a-f]{32}", etag) else None  # "…-N": multipart, not an MD5

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Return every key inside the folder prefix (all keys when it is empty), sorted."""
        folder = f"{self._root}/{_check_key(prefix.rstrip('/'))}" if prefix else self._root
        with self._errors():
            try:
                found = self._fs.find(folder)
            except FileNotFoundError:
                found = []
        start = len(self._root) + 1
        keys = [path[start:] for path in found if path.startswith(folder + "/")]
        return iter(sorted(key for key in keys if _is_key(key)))

    def url(self, key: str, expires: int = 300) -> str | None:
        """Return a presigned GET URL valid for expires seconds on S3; None on other stores."""
        path = self._path(key)
        if self.scheme != "s3":
            return None
        with self._errors():
            return self._fs.url(path, expires=expires)

    def local_path(self, key: str) -> str | None:
        """Return the blob's absolute path on local disk, or None when the store is not a folder."""
        path = self._path(key)
        return path if self.scheme == "file" else None

    def check(self) -> None:
        """Raise StorageUnavailable unless the store answers a cheap request."""
        with self._errors():
            if self.scheme == "s3":
                prefix = f"{self._prefix}/" if self._prefix else ""
                self._fs.call_s3("list_objects_v2", Bucket=self._bucket, Prefix=prefix, MaxKeys=1)
            elif self.scheme == "file" and not (os.path.isdir(self._root) and os.access(self._root, os.W_OK)):
                raise StorageUnavailable(f"The storage folder {self._root} is missing or not writable.")

    def _path(self, key: str) -> str:
        return f"{self._root}/{_check_key(key)}"

    @contextmanager
    def _errors(self, key: str | None = None):
        """Raise BlobNotFound for a missing key (when given) and StorageUnavailable for any backend failure."""
        try:
            yield
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as error:
            if key is None:
                raise self._unavailable(error) from error
            raise BlobNotFound(f"No blob is stored under {key}.") from error
        except self._caught as error:
            raise self._unavailable(error) from error

    def _unavailable(self, error: BaseException) -> StorageUnavailable:
        reason = str(error).strip().rstrip(".") or type(error).__name__
        return StorageUnavailable(f"The storage {self._where} is unavailable: {reason}.")


def _chunks(source) -> Iterator[bytes]:
    """Yield the bytes of source in pieces of at most _CHUNK bytes (bytes are yielded whole)."""
    if isinstance(source, (bytes, bytearray)):
        yield source
    elif isinstance(source, (str, os.PathLike)):
        with io.open(source, "rb") as file:
            yield from _chunks(file)
    else:
        while chunk := source.read(_CHUNK):
            yield chunk


class _Sink:
    """The write() side of BlobStore.writer(): storage failures come out as StorageUnavailable."""

    def __init__(self, writer, errors):
        self._writer, self._errors, self.written = writer, errors, 0

    def write(self, chunk) -> int:
        with self._errors():
            self._writer.write(bytes(chunk))
        self.written += len(chunk)
        return len(chunk)

    def flush(self) -> None:
        pass


class _FolderWriter:
    """Writes a hidden temp file beside the target and renames it into place."""

    def __init__(self, path: str, durable: bool = True):
        self._path, self._durable = path, durable
        folder, name = os.path.split(path)
        try:
            fd, self._temp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=_TEMP_SUFFIX)
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
            fd, self._temp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=_TEMP_SUFFIX)
        self._file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)

    def commit(self) -> None:
        self._file.flush()
        if self._durable:
            os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._temp, self._path)
        if self._durable:
            _fsync_folder(os.path.dirname(self._path))  # makes the rename itself survive a crash

    def abort(self) -> None:
        with suppress(OSError):
            self._file.close()
        with suppress(OSError):
            os.unlink(self._temp)


def _syncfs(folder: str) -> None:
    """syncfs(2) on the filesystem holding `folder` (Linux); sync(2) where there is none."""
    import ctypes
    import ctypes.util

    fd = os.open(folder, os.O_RDONLY)
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        syncfs = getattr(libc, "syncfs", None)
        if syncfs is None:
            os.sync()
        elif syncfs(fd) != 0:
            raise OSError(ctypes.get_errno(), "syncfs failed")
    finally:
        os.close(fd)


def _fsync_folder(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _MemoryWriter:
    """Collects the bytes and places the finished blob in one step."""

    def __init__(self, fs, path: str):
        self._fs, self._path, self._buffer = fs, path, io.BytesIO()

    def write(self, chunk: bytes) -> None:
        self._buffer.write(chunk)

    def commit(self) -> None:
        self._fs.pipe_file(self._path, self._buffer.getvalue())

    def abort(self) -> None:
        self._buffer.close()


class _BucketWriter:
    """Streams to S3: one PutObject for small blobs, a multipart upload for large ones."""

    def __init__(self, fs, path: str, content_type: str | None):
        extra = {"ContentType": content_type} if content_type else {}
        self._file = fs.open(path, "wb", **extra)

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)

    def commit(self) -> None:
        self._file.close()

    def abort(self) -> None:
        # Closing (also from __del__) would commit what was written so far, so mark it closed first.
        self._file.closed = True
        with suppress(Exception):
            self._file.discard()
