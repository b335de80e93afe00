"""An owner's sizes of their own photos at signed, immutable addresses: no session, no account, no query.

The address /i/<id>/<size>.<owner>.<content>.<sig>.webp names the photo, the preset size, the owner's
account id and the first 16 hex digits of the photo's SHA-256; <sig> is an HMAC-SHA256 of all four
under a key derived from the app's secret key. Such an address is a capability: whoever holds it
may fetch that one size of that one photo, with or without a cookie, private or not. It cannot be
guessed (its signature has 256 bits) or made for another photo, size or owner, and only pages the
owner sees hand it out. It names the content, so what it answers never changes and browsers may keep
it for a year; new content gets a new address.

It stops answering when the photo is deleted or its owner blocked, on every instance from the next
request: a hit in memory needs the signature alone, and every instance forgets a photo as it changes
or goes and everything on a block (service.forget(), cluster.ACCOUNT, webapp/cluster.py); an
instance that cannot hear of changes reads the row every time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, select

from ..errors import NotFound
from ..extensions import db
from ..models import Media, User, Variant
from . import service
from .service import Blob

CONTENT_DIGITS = 16
_KEY_LABEL = b"shoebox owner sizes"
# Requests for one address that is not in memory yet wait for the first, which makes the size
# once; striped so that unrelated addresses seldom wait for each other.
_MAKING = tuple(threading.Lock() for _ in range(64))


def address(media: Media, size: str) -> dict:
    """The parts of the signed address of `size` of `media` (the values of the media.owner_size route)."""
    owner_id, content = media.user_id, media.sha256[:CONTENT_DIGITS]
    return {"media_id": media.id, "size": size, "owner_id": owner_id, "content": content,
            "sig": _signature(media.id, size, owner_id, content)}


def owner_blob(media_id: str, size: str, owner_id: int, content: str, sig: str) -> Blob:
    """What a signed address answers: from memory once it was read, else from the photo's row (NotFound
    when the signature is wrong, or the photo is gone, has other content or a blocked owner)."""
    if size not in service.PRESETS:
        raise NotFound(_("There is no such size."), code="unknown_size")
    if not hmac.compare_digest(sig.encode("utf-8", "surrogatepass"),
                               _signature(media_id, size, owner_id, content).encode()):
        raise NotFound()
    memory, key = service.usable_memory(), (media_id, size, sig)
    if memory is None:
        return _read(media_id, size, sig)
    blob = memory.get(key)
    if blob is None:
        with _MAKING[hash(key) % len(_MAKING)]:
            blob = memory.get(key)
            if blob is None:
                read_at = memory.generation
                blob = _read(media_id, size, sig)
                memory.put(key, blob, weight=len(blob.data or b""), read_at=read_at)
    return blob


def _read(media_id: str, size: str, sig: str) -> Blob:
    """Read the photo's row, check the address still names it, and make its blob (small ones with their bytes)."""
    media, variant = _current(media_id, size, sig)
    blob = service.preset_blob(media, variant or service.make_preset(media, size), size, public=False)
    return service.with_small_bytes(blob)


def _current(media_id: str, size: str, sig: str) -> tuple[Media, Variant | None]:
    """The photo and its size (None until made) in one query, if the signature fits the row as it is now."""
    row = db.session.execute(
        select(Media, Variant, User.is_blocked)
        .outerjoin(Variant, and_(Variant.media_id == Media.id, Variant.spec == size))
        .join(User, User.id == Media.user_id).where(Media.id == media_id)).first()
    if row is None:
        raise NotFound()
    media, variant, owner_blocked = row
    expected = _signature(media.id, size, media.user_id, media.sha256[:CONTENT_DIGITS])
    if owner_blocked or media.kind not in service.HAS_SIZES or not hmac.compare_digest(sig.encode(), expected.encode()):
        raise NotFound()
    return media, variant


def _signature(media_id: str, size: str, owner_id: int, content: str) -> str:
    mac = _signer().copy()
    mac.update(f"{media_id}\n{size}\n{owner_id}\n{content}".encode("utf-8", "surrogatepass"))
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def _signer() -> hmac.HMAC:
    """An HMAC-SHA256 keyed for these addresses alone, made once per app (copied for each signature)."""
    extensions = current_app.extensions
    if "shoebox_owner_sizes" not in extensions:
        secret = current_app.config["SECRET_KEY"]
        secret = secret.encode() if isinstance(secret, str) else secret
        key = hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()
        extensions["shoebox_owner_sizes"] = hmac.new(key, digestmod=hashlib.sha256)
    return extensions["shoebox_owner_sizes"]
