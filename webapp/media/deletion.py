"""Deletion links: every upload through the API gets a secret link that deletes that one upload (what
ShareX calls its DeletionURL), so a screenshot tool can offer "delete" without holding anything more.

The secret (256 random bits) in the link is the capability: whoever holds the link may delete that upload
and nothing else. Only its SHA-256 is stored (Media.deletion_key_hash), so a copy of the database deletes
nothing. No HTTP here: the pages are deletion_routes.py's.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from flask_babel import gettext as _
from sqlalchemy import select

from ..errors import InvalidInput, NotFound
from ..extensions import db
from ..models import ApiKey, Media, User
from ..web import absolute_url
from . import receiving, service
from .schemas import FileUpload, UrlUpload

# What secrets.token_urlsafe(32) makes: 43 URL-safe characters. Anything else is not worth a query.
SECRET = re.compile(r"[A-Za-z0-9_-]{43}")


def receive_api_upload(user: User, sent: FileUpload | UrlUpload | None, key: ApiKey | None) -> tuple[Media, str]:
    """Receive an upload made through the API, with its deletion link; returns the photo and the link.

    When the request does not say `is_public`, the key's own default decides (ApiKey.uploads_public), and
    when the key has none, the account's setting. The link's digest commits with the upload or not at all.
    """
    if sent is None:  # a form-only operation whose request had no form at all
        raise InvalidInput(_("Send the file as multipart form data in a field named file."), code="missing_file",
                           field="file")
    if sent.is_public is None and key is not None and key.uploads_public is not None:
        sent = sent.model_copy(update={"is_public": key.uploads_public})
    secret = secrets.token_urlsafe(32)

    def attach_link(media: Media) -> None:
        media.deletion_key_hash = _digest(secret)

    media = receiving.receive_upload(user, sent, before_commit=attach_link)
    return media, link_url(secret)


def link_url(secret: str) -> str:
    """The absolute address of the deletion link with `secret`, on the configured base URL."""
    return absolute_url("media.deletion_link", secret=secret)


def media_for_secret(secret: str) -> Media:
    """The upload that `secret` deletes; NotFound when it is not a secret of any (wrong, or used already)."""
    media = None
    if SECRET.fullmatch(secret or ""):
        media = db.session.scalar(select(Media).where(Media.deletion_key_hash == _digest(secret)))
    if media is None:
        raise _link_not_found()
    return media


def delete_with_link(secret: str) -> str:
    """Delete the upload that `secret` deletes, with every size of it, giving its storage back; returns the
    file's name. NotFound when the secret deletes nothing, or a racing request used it first."""
    media = media_for_secret(secret)
    name = media.original_name
    try:
        service.delete_media(media)
    except NotFound:
        raise _link_not_found() from None
    return name


def _link_not_found() -> NotFound:
    return NotFound(_("This deletion link does not work: the file was deleted already, or the link is not "
                      "complete."), code="deletion_link_not_found")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
