"""Receiving an upload from a request: a multipart file (field `file` or `image`) or JSON {"url"},
taken through the upload pipeline. The API and the browser's upload page both come here."""

from __future__ import annotations

from flask import current_app, request
from flask_babel import gettext as _

from ..albums import service as albums
from ..api.auth import json_body, refuse_long, refuse_nul
from ..errors import InvalidInput, TooLarge
from ..models import Media, User
from . import service
from .fetch import FetchError
from .fetch_slots import fetch_for

# Multipart framing and form fields around the file itself.
MULTIPART_OVERHEAD = 64 * 1024


def receive_upload(user: User) -> Media:
    """Take the file of this request (multipart `file` or `image`, or JSON {"url"}) through the pipeline."""
    # From the Content-Length, before the body is parsed. (The server has already read it: bodies
    # over the instance's cap are refused by waitress from the headers, see request_body_limit().)
    service.refuse_if_too_large(user, request.content_length or 0, slack=MULTIPART_OVERHEAD)
    with service.receiving() as work:
        incoming, fields = _incoming_from_request(user, work)
        refuse_nul(dict(fields))
        refuse_long(fields, title=200)
        is_public = _flag(fields.get("is_public"))
        album = albums.get_album_for(user, str(fields["album_id"])) if fields.get("album_id") else None
        return service.store_upload(user, incoming, title=fields.get("title", ""), is_public=is_public, album=album)


def _incoming_from_request(user: User, work):
    if request.is_json:
        body = json_body("url")
        settings = current_app.config["SHOEBOX"]
        try:
            fetched = fetch_for(user.id, body["url"], work,
                                max_bytes=service.upload_limit(user) or settings["limits"]["max_upload_bytes"])
        except FetchError as error:
            raise _fetch_error(error) from None
        return service.Incoming(fetched.path, fetched.filename), body
    upload = request.files.get("file") or request.files.get("image")
    if upload is None:
        raise InvalidInput(_("Send the file as multipart form data in a field named file."), code="missing_file")
    path = work / "upload"
    upload.save(path)
    return service.Incoming(path, upload.filename or "upload"), request.form


def _fetch_error(error: FetchError):
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


def _flag(value) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise InvalidInput(_("is_public must be true or false."), code="invalid_field")
