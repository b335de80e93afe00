"""Sending stored bytes: conditional requests, ranges, caching and safe content disposition."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from flask import Response, current_app, redirect, request, send_file, stream_with_context
from werkzeug.http import http_date, quote_etag
from werkzeug.wsgi import wrap_file

from .. import metering
from ..extensions import blob_store
from .service import Blob


def send_blob(blob: Blob, *, attachment: bool, store=None) -> Response:
    """Send one blob with ETag/Last-Modified/Range support: from memory, disk, S3 (or a presigned redirect).

    `store` is the file store unless given (backups live in their own). The bytes sent from a photo
    count against its owner's monthly bandwidth, and none are sent once it is used up.
    """
    if blob.owner_id is not None:
        metering.refuse_over_bandwidth(blob.owner_id)
        return _metered(_send(blob, attachment, store), blob)
    return _send(blob, attachment, store)


def _send(blob: Blob, attachment: bool, store) -> Response:
    store = store or blob_store()
    settings = current_app.config["SHOEBOX"]["storage"]
    if store.scheme == "s3" and settings["redirect_to_presigned"] and blob.public:
        return redirect(store.url(blob.key, settings["presign_seconds"]), 302)
    if blob.data is not None:
        return _from_memory(blob, attachment)
    path = store.local_path(blob.key)
    if path is not None:
        response = send_file(path, mimetype=blob.mime_type, as_attachment=attachment, download_name=blob.filename,
                             etag=blob.etag, last_modified=blob.last_modified)
    else:
        # A stream has no file to stat: give the stored facts, so that Range and 304 work too.
        response = Response(wrap_file(request.environ, store.open(blob.key)), mimetype=blob.mime_type,
                            direct_passthrough=True)
        response.content_length = blob.size
        response.set_etag(blob.etag)
        response.last_modified = blob.last_modified
        response.headers["Content-Disposition"] = _disposition(attachment, blob.filename)
        response = response.make_conditional(request.environ, accept_ranges=True, complete_length=blob.size)
    response.headers.update(_hardening(blob.public))
    response.vary.add("Cookie")
    return response


def _metered(response: Response, blob: Blob) -> Response:
    """Count what the response sends: its length, the range's, the whole file for a presigned redirect, 0 for 304."""
    if request.method == "HEAD" or response.status_code == 304:
        return response
    sent = blob.size if response.status_code in (301, 302) else response.content_length or 0
    metering.record(blob.owner_id, bytes_out=sent)
    return response


def _from_memory(blob: Blob, attachment: bool) -> Response:
    """A small public blob kept in memory: the hot path of every gallery, so headers are built in one go."""
    headers = [("Content-Type", blob.mime_type), ("ETag", quote_etag(blob.etag)),
               ("Last-Modified", http_date(blob.last_modified)), ("Accept-Ranges", "bytes"),
               ("Content-Disposition", _disposition(attachment, blob.filename)), ("Vary", "Cookie"),
               *_hardening(blob.public)]
    response = Response(blob.data, headers=headers)
    if _CONDITIONAL.intersection(request.headers.keys()):
        response.make_conditional(request.environ, accept_ranges=True, complete_length=blob.size)
    return response


_CONDITIONAL = {"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range", "Range"}


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


def _hardening(public: bool) -> list[tuple[str, str]]:
    return [
        # Stored bytes never run as a page on our origin, whatever a browser guesses they are.
        ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox"),
        ("X-Content-Type-Options", "nosniff"),
        ("Cross-Origin-Resource-Policy", "cross-origin" if public else "same-origin"),
        ("Cache-Control", "public, max-age=86400" if public else "private, max-age=3600"),
    ]
