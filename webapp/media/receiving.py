"""Receiving an upload: a multipart file (field `file` or `image`) or JSON {"url"}, validated by the models in
schemas.py, taken through the upload pipeline. The API and the browser's upload page both come here."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _

from ..albums import service as albums
from ..auth import permissions
from ..errors import InvalidInput, TooLarge
from ..models import Media, User
from . import service
from .fetch import FetchError
from .fetch_slots import fetch_for
from .schemas import FileUpload, UrlUpload

# Multipart framing and form fields around the file itself.
MULTIPART_OVERHEAD = 64 * 1024


def refuse_oversized(user: User, content_length: int | None) -> None:
    """Forbidden without the upload permission, TooLarge from the Content-Length, before the body is parsed.
    (The server has already read it: bodies over the instance's cap are refused by waitress from the headers,
    see request_body_limit().)"""
    permissions.demand(user, "upload")
    service.refuse_if_too_large(user, content_length or 0, slack=MULTIPART_OVERHEAD)


def receive_upload(user: User, sent: FileUpload | UrlUpload, before_commit=None) -> Media:
    """Take the file part, or the file at the URL, through the pipeline with its title, visibility and album
    (`before_commit` as in service.store_upload())."""
    permissions.demand(user, "upload")
    with service.receiving() as work:
        album = albums.get_album_for(user, sent.album_id) if sent.album_id else None
        if isinstance(sent, UrlUpload):
            incoming = _fetch(user, sent.url, work)
        else:
            path = work / "upload"
            sent.upload.save(path)
            incoming = service.Incoming(path, sent.upload.filename or "upload")
        return service.store_upload(user, incoming, title=sent.title, is_public=sent.is_public, album=album,
                                    before_commit=before_commit)


def _fetch(user: User, url: str, work) -> service.Incoming:
    try:  # upload_limit() already holds the instance's cap within the plan's
        fetched = fetch_for(user.id, url, work, max_bytes=service.upload_limit(user))
    except FetchError as error:
        raise fetch_error(error) from None
    return service.Incoming(fetched.path, fetched.filename)


def fetch_error(error: FetchError):
    """The fetcher's failure as an API error, in the request's language."""
    seconds = current_app.config["SHOEBOX"]["fetch"]["timeout_seconds"]
    messages = {
        "url_invalid": (InvalidInput, _("The URL must be a plain http:// or https:// address.")),
        "url_forbidden": (InvalidInput, _("That address points into a private network; only public addresses "
                                          "can be fetched.")),
        "url_too_many_redirects": (InvalidInput, _("The URL redirected too many times.")),
        "url_too_large": (TooLarge, _("The file at that URL is larger than your plan allows per upload.")),
        # The URL is the caller's input: one that cannot be fetched is a bad request, not our failure.
        "url_status": (InvalidInput, _("The other server answered that URL with an error.")),
        "url_unreachable": (InvalidInput, _("The other server could not be reached, or did not send the whole file "
                                            "within %(seconds)s seconds.", seconds=seconds)),
    }
    kind, message = messages.get(error.code, (InvalidInput, _("The URL could not be fetched.")))
    return kind(message, code=error.code)
