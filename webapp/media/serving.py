"""Sending stored bytes: conditional requests, ranges, caching and safe content disposition."""

from __future__ import annotations

import io
import mmap
import os
import unicodedata
from urllib.parse import quote

from flask import Response, current_app, redirect, request, stream_with_context
from waitress.buffers import ReadOnlyFileBasedBuffer
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import http_date, is_resource_modified, quote_etag
from werkzeug.wsgi import wrap_file

from .. import metering
from ..extensions import blob_store
from .service import Blob


def send_blob(blob: Blob, *, attachment: bool, store=None) -> Response:
    """Send one blob with ETag/Last-Modified/Range support: from memory, disk, S3, a presigned redirect
    or (server.accel_redirect) an X-Accel-Redirect that has nginx send it.

    `store` is the file store unless given (backups live in their own). The bytes sent from a photo
    count against its owner's monthly bandwidth, and none are sent once it is used up.
    """
    if blob.owner_id is not None:
        metering.refuse_over_bandwidth(blob.owner_id)
        return _metered(_send(blob, attachment, store), blob)
    return _send(blob, attachment, store)


def send_immutable(blob: Blob) -> Response:
    """send_blob() for an address that names its content and carries its own permission (signed.py):
    one browser may keep it for a year, whoever is logged in there (no Vary: Cookie)."""
    response = send_blob(blob, attachment=False)
    response.headers["Cache-Control"] = IMMUTABLE
    response.vary.discard("Cookie")
    return response


IMMUTABLE = "private, max-age=31536000, immutable"


def _send(blob: Blob, attachment: bool, store) -> Response:
    settings = current_app.config["SHOEBOX"]
    files = store is None  # the photos' store, the one an nginx location can serve
    store = store or blob_store()
    # While files move between stores, one may be on the other store: url() and local_path() say None then.
    presigned = store.scheme == "s3" and settings["storage"]["redirect_to_presigned"] and blob.public \
        and store.url(blob.key, settings["storage"]["presign_seconds"])
    if presigned:
        return redirect(presigned, 302)
    if blob.data is not None:
        return _from_memory(blob, attachment)
    if files and store.scheme == "file" and settings["server"]["accel_redirect"] and store.local_path(blob.key):
        return _by_proxy(blob, attachment, settings["server"]["accel_redirect"])
    return _from_store(blob, attachment, store)


def _from_memory(blob: Blob, attachment: bool) -> Response:
    """A small public blob kept in memory: the hot path of every gallery."""
    response = Response(blob.data, headers=_headers(blob, attachment))
    if _CONDITIONAL.intersection(request.headers.keys()):
        response.make_conditional(request.environ, accept_ranges=True, complete_length=blob.size)
    return response


def _from_store(blob: Blob, attachment: bool, store) -> Response:
    """A stored file, streamed by the server's file wrapper (waitress sends it from the file, ranges too)."""
    stream = store.open(blob.key)
    body = _MappedFile(stream) if _mappable(stream) else wrap_file(request.environ, stream)
    # The stored facts stand in for a stat of the file, so disk and S3 are answered alike.
    response = _StreamedFile(body, headers=_headers(blob, attachment), direct_passthrough=True)
    response.content_length = blob.size
    if _CONDITIONAL.intersection(request.headers.keys()):
        try:
            response.make_conditional(request.environ, accept_ranges=True, complete_length=blob.size)
        except RequestedRangeNotSatisfiable:
            response.close()  # the 416 is another response: this one's file would stay open
            raise
    return response


def _mappable(stream) -> bool:
    """Whether waitress serves this request and `stream` is a file on disk with something in it."""
    return request.environ.get("wsgi.file_wrapper") is ReadOnlyFileBasedBuffer \
        and isinstance(stream, io.BufferedReader) and os.fstat(stream.fileno()).st_size > 0


class _MappedFile(ReadOnlyFileBasedBuffer):
    """waitress's file wrapper, handing out views of the file mapped into memory instead of reads of it.

    waitress reads as much as the socket's send buffer holds (megabytes on loopback) into a new bytes
    object, sends what the socket takes and reads the rest again on the next turn. A view of the
    mapped file costs no read and no copy: the kernel copies from the page cache into the socket once.
    Stored files are never rewritten in place (writes go to a new file that replaces the old), so
    the mapping never sees the file shrink under it.
    """

    def __init__(self, file):
        super().__init__(file)
        self._mapped = memoryview(mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ))

    def get(self, numbytes: int = -1, skip: bool = False) -> memoryview:
        if numbytes == -1 or numbytes > self.remain:
            numbytes = self.remain
        start = self.file.tell()
        if skip:
            self.file.seek(numbytes, io.SEEK_CUR)
            self.remain -= numbytes
        return self._mapped[start:start + numbytes]

    def close(self) -> None:
        super().close()
        # Views waitress still holds keep the mapping; it is unmapped when the last of them goes.
        self._mapped = memoryview(b"")


_CONDITIONAL = {"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range", "Range"}


class _StreamedFile(Response):
    """A response whose body is a wrapped file; a range of it stays a file for waitress to send.

    werkzeug wraps a range in an iterator of 32 KiB blocks, which waitress copies block by block into
    its own buffers (spilling past 1 MB to a temporary file). waitress's file wrapper sends from the
    file's position up to Content-Length, so a seek to the range's start is all it needs.
    """

    def _wrap_range_response(self, start: int, length: int) -> None:
        if self.status_code == 206 and isinstance(self.response, ReadOnlyFileBasedBuffer):
            self.response.seek(start)
        else:
            super()._wrap_range_response(start, length)


def _by_proxy(blob: Blob, attachment: bool, prefix: str) -> Response:
    """Headers and no body: nginx sends the file that X-Accel-Redirect names inside `prefix`, ranges included.

    Revalidation is answered here, against the stored ETag and date, so nginx is only asked for bytes.
    """
    response = Response(headers=[h for h in _headers(blob, attachment) if h[0] != "Accept-Ranges"])  # nginx's own
    if _CONDITIONAL.intersection(request.headers.keys()):
        response.make_conditional(request.environ)
    if response.status_code == 200:
        response.headers["X-Accel-Redirect"] = prefix + quote(blob.key, safe="/")
    return response


def _metered(response: Response, blob: Blob) -> Response:
    """Count what is sent: the response's length or the range's, the whole file for a presigned redirect,
    what nginx sends for an X-Accel-Redirect, nothing for a 304 or a HEAD."""
    if request.method == "HEAD" or response.status_code == 304:
        return response
    if response.status_code in (301, 302):
        sent = blob.size
    elif "X-Accel-Redirect" in response.headers:
        sent = _proxied_length(blob)
    else:
        sent = response.content_length or 0
    metering.record(blob.owner_id, bytes_out=sent)
    return response


def _proxied_length(blob: Blob) -> int:
    """How many bytes nginx sends for this request: the ranges asked for (when If-Range allows), or all."""
    ranges = request.range
    if ranges is None or "If-Range" in request.headers and is_resource_modified(
            request.environ, blob.etag, last_modified=blob.last_modified, ignore_if_range=False):
        return blob.size
    return min(blob.size, sum(_span(start, stop, blob.size) for start, stop in ranges.ranges))


def _span(start: int, stop: int | None, size: int) -> int:
    if start < 0:  # the last -start bytes
        return min(-start, size)
    return max(0, min(size if stop is None else stop, size) - start)


def _headers(blob: Blob, attachment: bool) -> list[tuple[str, str]]:
    """Every header of a stored file's answer, built in one go."""
    return [("Content-Type", blob.mime_type), ("ETag", quote_etag(blob.etag)),
            ("Last-Modified", http_date(blob.last_modified)), ("Accept-Ranges", "bytes"),
            ("Content-Disposition", _disposition(attachment, blob.filename)), ("Vary", "Cookie"),
            *_hardening(blob.public, blob.mime_type)]


def send_zip(entries: list[tuple[str, str]], filename: str, owner_id: int | None = None) -> Response:
    """A zip of (storage key, name) entries, streamed as it is made: nothing is built in memory or on disk.

    The bytes streamed count against `owner_id`'s monthly bandwidth (refused before the first once it is used up).
    """
    from .selection import stream_zip

    chunks = stream_zip(entries)
    if owner_id is not None:
        metering.refuse_over_bandwidth(owner_id)
        chunks = _counted(chunks, owner_id)
    response = Response(stream_with_context(chunks), mimetype="application/zip")
    response.headers["Content-Disposition"] = _disposition(True, filename)
    response.headers["Cache-Control"] = "no-store"
    return response


def _counted(chunks, owner_id: int):
    """The chunks as they are, counting the bytes that went out (also when the client leaves half way)."""
    sent = 0
    try:
        for chunk in chunks:
            sent += len(chunk)
            yield chunk
    finally:
        metering.record(owner_id, bytes_out=sent)


def _disposition(attachment: bool, filename: str) -> str:
    """RFC 6266: an ASCII fallback and the real name in RFC 5987 form (what send_file writes too)."""
    simple = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    simple = "".join(c for c in simple if c.isprintable() and c not in '"\\') or "download"
    kind = "attachment" if attachment else "inline"
    return f'{kind}; filename="{simple}"; filename*=UTF-8\'\'{quote(filename, safe="")}'


_FILE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
_VIDEO_POLICY = "default-src 'none'; media-src 'self'; style-src 'unsafe-inline'"


def _hardening(public: bool, mime_type: str) -> list[tuple[str, str]]:
    return [
        # Stored bytes never run as a page on our origin, whatever a browser guesses they are. A video opened
        # at its own address is shown by the browser's player page, which loads the same address again: it
        # may load that media, and is not sandboxed (a sandboxed page's opaque origin makes the browser refuse
        # the load); it still runs nothing, and a video's type was read from its content (nosniff holds it).
        ("Content-Security-Policy", _VIDEO_POLICY if mime_type.startswith("video/") else _FILE_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("Cross-Origin-Resource-Policy", "cross-origin" if public else "same-origin"),
        ("Cache-Control", "public, max-age=86400" if public else "private, max-age=3600"),
    ]
