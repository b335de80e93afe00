"""Sending stored bytes: conditional requests, ranges, caching and safe content disposition."""

from __future__ import annotations

from datetime import datetime

from flask import Response, current_app, redirect, request, send_file
from werkzeug.wsgi import wrap_file

from ..extensions import blob_store

YEAR = 365 * 24 * 3600


def send_blob(key: str, *, size: int, mimetype: str, etag: str, last_modified: datetime, public: bool,
              filename: str, attachment: bool) -> Response:
    """Stream one blob with ETag/Last-Modified/Range support, from disk, S3 (or a presigned redirect)."""
    store = blob_store()
    settings = current_app.config["SHOEBOX"]["storage"]
    if store.scheme == "s3" and settings["redirect_to_presigned"] and public:
        return redirect(store.url(key, settings["presign_seconds"]), 302)
    path = store.local_path(key)
    if path is not None:
        response = send_file(path, mimetype=mimetype, as_attachment=attachment, download_name=filename,
                             conditional=True, etag=etag, last_modified=last_modified, max_age=0)
    else:
        response = _stream(store.open(key), size, mimetype, etag, last_modified, filename, attachment)
    return _harden(response, public, attachment)


def _stream(stream, size, mimetype, etag, last_modified, filename, attachment) -> Response:
    response = Response(wrap_file(request.environ, stream), mimetype=mimetype, direct_passthrough=True)
    response.content_length = size
    response.last_modified = last_modified
    response.set_etag(etag)
    disposition = "attachment" if attachment else "inline"
    response.headers.set("Content-Disposition", disposition, **_filename_params(filename))
    return response.make_conditional(request.environ, accept_ranges=True, complete_length=size)


def _filename_params(name: str) -> dict:
    """RFC 6266 filename parameters: an ASCII fallback plus filename* for everything else."""
    import unicodedata
    from urllib.parse import quote

    try:
        name.encode("ascii")
        return {"filename": name}
    except UnicodeEncodeError:
        simple = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii") or "download"
        return {"filename": simple, "filename*": f"UTF-8''{quote(name, safe='!#$&+-.^_`|~')}"}


def _harden(response: Response, public: bool, attachment: bool) -> Response:
    # Stored bytes never run as a page on our origin, whatever a browser guesses they are.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin" if public else "same-origin"
    response.cache_control.no_cache = None
    if public:
        response.cache_control.public = True
        response.cache_control.max_age = 86400
    else:
        response.cache_control.private = True
        response.cache_control.max_age = 3600
    response.vary.add("Cookie")
    return response
