"""JSON endpoints for transformations: make one (charged once per distinct result), list, delete."""

from __future__ import annotations

from flask import g, jsonify
from flask_babel import gettext as _

from .. import transforms
from ..errors import InvalidInput
from ..media import service, variants
from ..models import Media, Variant
from ..web import absolute_url
from . import bp
from .auth import api_login_required, json_body


def variant_json(media: Media, variant: Variant) -> dict:
    """A saved transformation as the API shows it; `url` is absolute and stable."""
    return {"id": variant.id, "url": absolute_url("media.variant", media_id=media.id,
                                                  name=variants.variant_name(variant)),
            "width": variant.width, "height": variant.height,
            "format": transforms.format_of(variant.mime_type), "mime_type": variant.mime_type,
            "size": variant.size, "spec": variant.spec.removeprefix(variants.SPEC_PREFIX),
            "created_at": variant.created_at.isoformat()}


@bp.post("/api/v1/images/<media_id>/transform")
@api_login_required
def transform_image(media_id: str):
    """201 with a new variant (one unit of today's quota), 200 with the stored one for a repeated request."""
    media = service.get_media_for(g.api_user, media_id, manage=True)
    body = json_body()
    if set(body) != {"transformations"}:
        raise InvalidInput(_("The body must be {\"transformations\": {...}} and nothing else."),
                           code="invalid_transformation")
    transformation = variants.plan(media, body["transformations"])
    variant, created = variants.create_variant(g.api_user, media, transformation)
    return jsonify(variant_json(media, variant)), 201 if created else 200


@bp.get("/api/v1/images/<media_id>/variants")
@api_login_required
def list_variants(media_id: str):
    """The photo's saved transformations, newest first, on one page."""
    media = service.get_media_for(g.api_user, media_id, manage=True)
    return jsonify(items=[variant_json(media, v) for v in variants.list_variants(media)], next_cursor=None)


@bp.delete("/api/v1/images/<media_id>/variants/<int(max=2147483647):variant_id>")
@api_login_required
def delete_variant(media_id: str, variant_id: int):
    """Delete one saved transformation (204); its URL answers 404 from then on."""
    variants.delete_variant(service.get_media_for(g.api_user, media_id, manage=True), variant_id)
    return "", 204
