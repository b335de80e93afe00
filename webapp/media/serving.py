"""Sending stored bytes: conditional requests, ranges, caching and safe content disposition."""

from __future__ import annotations

from datetime import datetime

from flask import Response, current_app, redirect, request, send_file

from ..extensions import blob_store


def send_blob(key: str, *, size: int, mimetype: str, etag: str, last_modified: datetime, public: bool,
              filename: str, attachment: bool) -> Response:
    """Stream one blob with ETag/Last-Modified/Range support, from disk, S3 (or a presigned redirect)."""
    store = blob_store()
    settings = current_app.config["SHOEBOX"]["storage"]
    if store.scheme == "s3" and settings["redirect_to_presigned"] and public:
        return redirect(store.url(key, settings["presign_seconds"]), 302)
    path = store.local_path(key)
    response = send_file(path or store.open(key), mimetype=mimetype, as_attachment=attachment,
                         download_name=filename, conditional=path is not None, etag=etag,
                         last_modified=last_modified, max_age=0)
    if path is None:
        # A stream has no size of its own: give the stored one, so that Range and 304 work too.
        response.content_length = size
        response = response.make_conditional(request.environ, accept_ranges=True, complete_length=size)
    return _harden(response, public, attachment)


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
