"""Guest uploads ("upload to me"): people with an album link add photos to that album. No HTTP here.

A guest's photo goes through the same pipeline as the owner's, is charged to the owner's plan and
storage, lands in the album as a private photo marked with the name the guest gave, and counts
against the link's file and byte caps in the same transaction that commits it: a refused or
interrupted upload charges nothing, and 50 guests at once cannot pass a cap.
"""

from __future__ import annotations

import unicodedata
from contextlib import contextmanager

from flask_babel import gettext as _
from sqlalchemy import or_, update

from ..errors import Forbidden, InvalidInput, ShoeboxError, TooLarge
from ..extensions import db
from ..i18n import human_size
from ..media import receiving
from ..media import service as media_service
from ..models import Album, Media, ShareLink, User

MAX_GUEST_NAME = 80


def clean_guest_name(name: str) -> str:
    """The name a guest typed, as display text: required, one line, no control characters."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = " ".join("".join(c for c in name if unicodedata.category(c)[0] != "C").split())
    if not name:
        raise InvalidInput(_("Tell the owner who you are: enter your name."), code="guest_name_required",
                           field="name")
    if len(name) > MAX_GUEST_NAME:
        raise InvalidInput(_("A name has at most %(n)s characters.", n=MAX_GUEST_NAME), code="guest_name_too_long",
                           field="name")
    return name


def refuse_if_full(link: ShareLink, size: int) -> None:
    """Refuse early when the link takes no uploads, or this file cannot fit its caps (checked again at commit)."""
    if not link.allow_upload or link.kind != "album":
        raise Forbidden(_("This link does not take uploads."), code="uploads_not_allowed")
    if link.upload_max_files is not None and link.uploaded_files >= link.upload_max_files:
        raise Forbidden(_("This link has taken as many files as its owner allowed."), code="upload_files_used_up")
    if link.upload_max_bytes is not None and link.uploaded_bytes + size > link.upload_max_bytes:
        left = max(0, link.upload_max_bytes - link.uploaded_bytes)
        raise TooLarge(_("This link takes only %(size)s more.", size=human_size(left)), code="upload_bytes_used_up",
                       field="file")


def store_guest_upload(link: ShareLink, incoming: media_service.Incoming, guest_name: str) -> Media:
    """Put one guest's file in the link's album, charged to the owner; returns the committed photo."""
    name = clean_guest_name(guest_name)
    refuse_if_full(link, incoming.path.stat().st_size)
    owner = db.session.get(User, link.user_id)
    album = db.session.get(Album, link.album_id)
    share_id = link.id

    def charge_link(media: Media) -> None:
        media.guest_name, media.guest_share_id = name, share_id
        taken = db.session.execute(
            update(ShareLink)
            .where(ShareLink.id == share_id, ShareLink.allow_upload.is_(True), ShareLink.revoked_at.is_(None),
                   or_(ShareLink.upload_max_files.is_(None), ShareLink.uploaded_files < ShareLink.upload_max_files),
                   or_(ShareLink.upload_max_bytes.is_(None),
                       ShareLink.uploaded_bytes + media.size <= ShareLink.upload_max_bytes))
            .values(uploaded_files=ShareLink.uploaded_files + 1,
                    uploaded_bytes=ShareLink.uploaded_bytes + media.size)
            .returning(ShareLink.uploaded_files)).scalar()
        if taken is None:
            raise Forbidden(_("This link has taken as many files as its owner allowed."),
                            code="upload_files_used_up")

    with _in_the_guests_words(link):
        return media_service.store_upload(owner, incoming, is_public=False, album=album, before_commit=charge_link)


def refuse_oversized(link: ShareLink, content_length: int | None) -> None:
    """Refuse from the Content-Length, before the body is parsed, a file larger than the owner's plan or
    what is left of the link's byte cap takes (less the multipart framing, which is not the file)."""
    refuse_if_full(link, max(0, (content_length or 0) - receiving.MULTIPART_OVERHEAD))
    with _in_the_guests_words(link):
        receiving.refuse_oversized(link.owner, content_length)


@contextmanager
def _in_the_guests_words(link: ShareLink):
    """The plan, the storage and the email address are the owner's, not the guest's: refusals say so."""
    try:
        yield
    except ShoeboxError as error:
        sentence = _owners_limit(error.code, link)
        if sentence is None:
            raise
        error.message = sentence
        raise


def _owners_limit(code: str, link: ShareLink) -> str | None:
    if code == "upload_quota_exceeded":
        return _("The owner of this album can take no more uploads today; try again after midnight UTC.")
    if code == "storage_quota_exceeded":
        return _("The owner of this album has no room left for this file.")
    if code == "file_too_large":
        return _("The file is larger than the %(size)s the owner of this album takes per upload.",
                 size=human_size(media_service.upload_limit(link.owner)))
    if code == "email_unconfirmed":
        return _("The owner of this album cannot take uploads until they confirm their email address.")
    return None
