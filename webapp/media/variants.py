"""Transformed copies of a photo (variants): made once, charged once, served from a stable address.

No HTTP here. Making one takes a unit of the owner's daily transform quota first, then renders,
stores the blob and commits the row last; any failure deletes the blob and gives the unit back.
Asking again for the same transformation finds the stored variant and charges nothing.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import audit, quota, transforms
from ..auth import permissions
from ..errors import NotFound, UnsupportedMedia
from ..extensions import blob_store, db
from ..models import Media, User, Variant
from ..storage import StorageError
from . import service

log = logging.getLogger(__name__)

SPEC_PREFIX = "t:"  # preset sizes use plain names ("thumb"); transformations are "t:<canonical form>"
PREVIEW_SIDE = 800
_NAME = re.compile(r"[0-9a-f]{20}\.(?:" + "|".join(sorted({f[2] for f in transforms.FORMATS.values()})) + ")")


@dataclass(frozen=True)
class Preview:
    """A cheap rendering of a transformation from the photo's 800 px size, never stored."""

    data: bytes
    width: int
    height: int
    mime_type: str
    result_width: int
    result_height: int
    estimated_size: int  # bytes the real result would have, scaled from the preview's


def limits() -> transforms.Limits:
    """The configured bounds of a result ([transforms] max_side and max_pixels)."""
    settings = current_app.config["SHOEBOX"]["transforms"]
    return transforms.Limits(max_side=settings["max_side"], max_pixels=settings["max_pixels"])


def plan(media: Media, raw) -> transforms.Transformation:
    """The transformation `raw` asks of `media`, checked and normalised; nothing is decoded yet."""
    if media.kind == "video":
        raise UnsupportedMedia(_("Only images can be transformed; this is a video."), code="not_an_image")
    if media.kind != "image":
        raise UnsupportedMedia(_("Only images can be transformed; this is a plain file."), code="not_an_image")
    source = transforms.Source(media.width, media.height, transforms.format_of(media.mime_type))
    return transforms.parse(raw, source, limits())


def daily_limit(user: User) -> int:
    """How many new variants the user may make per UTC day (0: unlimited)."""
    return user.plan.transforms_per_day if user.plan else 0


def create_variant(user: User, media: Media, transformation: transforms.Transformation, *,
                   now: datetime | None = None) -> tuple[Variant, bool]:
    """The variant for `transformation`, and whether it was made now (and charged) or already existed."""
    permissions.demand(user, "transform")
    spec = SPEC_PREFIX + transformation.canonical
    existing = _find(media.id, spec)
    if existing is not None:
        return existing, False
    day = quota.today(now)
    quota.take(user.id, "transforms", daily_limit(user), now=now)
    key = storage_key(media.id, spec, transformation.ext)
    try:
        variant = _made(media, transformation, spec, key)
        db.session.add(variant)
        audit.record("transformation_saved", user.id, target=f"media:{media.id}", spec=transformation.canonical)
        db.session.commit()
    except IntegrityError:  # the same transformation asked for twice at once: the other request stored it
        db.session.rollback()
        quota.give_back(user.id, "transforms", day=day)
        winner = _find(media.id, spec)
        if winner is None:
            raise
        return winner, False
    except BaseException:
        db.session.rollback()
        _discard(media.id, spec, key)
        quota.give_back(user.id, "transforms", day=day)
        raise
    return variant, True


def storage_key(media_id: str, spec: str, ext: str) -> str:
    """Where a variant's blob lives: derived from the spec, so its URL is stable."""
    return f"variants/{media_id}/t-{hashlib.sha256(spec.encode()).hexdigest()[:20]}.{ext}"


def variant_name(variant: Variant) -> str:
    """The last part of a variant's URL ("<hash>.<ext>")."""
    return variant.storage_key.rsplit("/t-", 1)[1]


def _find(media_id: str, spec: str) -> Variant | None:
    return db.session.scalar(select(Variant).where(Variant.media_id == media_id, Variant.spec == spec))


def _made(media: Media, transformation, spec: str, key: str) -> Variant:
    """Render the transformation from the stored original and put the result into storage."""
    with _original_file(media) as path, service.IMAGE_WORK:
        data, width, height, mime_type = transforms.apply(path, transformation)
    blob_store().put(key, data, content_type=mime_type)
    return Variant(media_id=media.id, spec=spec, storage_key=key, mime_type=mime_type, size=len(data),
                   width=width, height=height)


@contextmanager
def _original_file(media: Media):
    """The original as a local file: the stored one on local disk, else a scratch copy."""
    store = blob_store()
    path = store.local_path(media.storage_key)
    if path is not None:
        yield Path(path)
        return
    with service.receiving() as work, store.open(media.storage_key) as blob:
        copy = work / "original"
        with copy.open("wb") as out:
            shutil.copyfileobj(blob, out, 1 << 20)
        yield copy


def _discard(media_id: str, spec: str, key: str) -> None:
    """Remove a blob this attempt may have written, unless a racing request's row now uses it."""
    try:
        if _find(media_id, spec) is None:
            blob_store().delete(key)
    except (StorageError, OSError) as error:  # storage down: the integrity check removes the orphan later
        log.warning("Could not remove %s after a failed transformation: %s", key, error)
    except Exception:
        log.exception("Could not check %s after a failed transformation", key)


# --- finding, listing, deleting --------------------------------------------------------------

def list_variants(media: Media) -> list[Variant]:
    """The photo's saved transformations, newest first (preset sizes are not listed)."""
    return list(db.session.scalars(
        select(Variant).where(Variant.media_id == media.id, Variant.spec.startswith(SPEC_PREFIX))
        .order_by(Variant.created_at.desc(), Variant.id.desc())))


def get_variant(media: Media, name: str) -> Variant:
    """The saved transformation of `media` with URL name "<hash>.<ext>"; NotFound otherwise."""
    variant = None
    if _NAME.fullmatch(name or ""):
        variant = db.session.scalar(select(Variant).where(
            Variant.media_id == media.id, Variant.storage_key == f"variants/{media.id}/t-{name}"))
    if variant is None:
        raise NotFound()
    return variant


def delete_variant(media: Media, variant_id: int) -> None:
    """Delete one saved transformation of `media` and its blob (the day's quota is not given back)."""
    variant = db.session.scalar(select(Variant).where(
        Variant.id == variant_id, Variant.media_id == media.id, Variant.spec.startswith(SPEC_PREFIX)))
    if variant is None:
        raise NotFound(_("There is no such saved version of this photo."), code="variant_not_found")
    key = variant.storage_key
    audit.record("transformation_deleted", media.user_id, target=f"media:{media.id}", spec=variant.spec)
    db.session.delete(variant)
    db.session.commit()
    blob_store().delete(key)  # after the commit: a crash leaves an orphan for the integrity check


# --- the editor's preview and allowance --------------------------------------------------------

def preview(viewer: User, media: Media, transformation: transforms.Transformation) -> Preview:
    """Render `transformation` from the photo's 800 px size (made if need be): never charged, never stored."""
    permissions.demand(viewer, "transform")
    _media, small = service.get_preset_for(viewer, media.id, "small")
    smaller = transforms.for_preview(transformation, (small.width, small.height), PREVIEW_SIDE)
    with blob_store().open(small.storage_key) as blob:
        source = io.BytesIO(blob.read())
    with service.IMAGE_WORK:
        data, width, height, mime_type = transforms.apply(source, smaller)
    result_width, result_height = transformation.size
    estimate = round(len(data) * (result_width * result_height) / (width * height))
    return Preview(data, width, height, mime_type, result_width, result_height, estimate)


@dataclass(frozen=True)
class Allowance:
    """Today's transformations: used, the plan's limit (0: unlimited), left, seconds until the reset."""

    used: int
    limit: int
    left: int | None
    resets_in: int


def allowance(user: User, now: datetime | None = None) -> Allowance:
    """How many variants the user may still make today, and when the count starts again."""
    used, limit = quota.used_today(user.id, now).transforms, daily_limit(user)
    return Allowance(used, limit, max(0, limit - used) if limit else None, quota.seconds_to_midnight(now))
