"""A photo or file as JSON: the shape the API answers with and the upload page receives."""

from __future__ import annotations

from ..models import Media
from . import links
from .service import HAS_SIZES


def image_json(media: Media) -> dict:
    """A photo, video or file as the API shows it; URLs are absolute, on the configured base URL."""
    return {
        "id": media.id, "kind": media.kind, "original_name": media.original_name, "mime_type": media.mime_type,
        "size": media.size, "width": media.width, "height": media.height, "sha256": media.sha256,
        "title": media.title, "description": media.description, "is_public": media.is_public,
        "views": media.views, "created_at": media.created_at.isoformat(),
        "dimensions": f"{media.width}x{media.height}" if media.width and media.height else None,
        "uploaded_at": media.created_at.isoformat(), "url": links.direct_url(media),
        "duration": media.duration if media.kind == "video" else None,
        "thumbnail_url": links.size_url(media, "thumb") if media.kind in HAS_SIZES else None,
        "page_url": links.page_url(media),
        "metadata": {"taken_at": media.taken_at.isoformat() if media.taken_at else None,
                     "camera": media.camera or None, "lens": media.lens or None,
                     "placeholder": media.placeholder or None},
    }
