"""JSON endpoints for transformations: make one (charged once per distinct result), list, delete."""

from __future__ import annotations

from flask import g

from ..media import service, variants
from ..media.schemas import TransformRequest, Variant, VariantList
from . import bp
from .contract import operation

QUOTA = ("A limit is used up; see `Retry-After` (for the daily transformation quota, seconds to the next "
         "midnight UTC, with `error.code` `transform_quota_exceeded`).")


@bp.post("/api/v1/images/<media_id>/transform")
@operation("transformImage", (201, Variant, "Made now; one unit of today's quota was used."), tag="images",
           json=TransformRequest, invalid_code="invalid_transformation",
           also=(200, Variant, "This transformation was made before: the stored variant, nothing charged."), errors={
               403: "The account's groups do not allow transforming (`transform_not_allowed`).",
               404: "No such image, or not yours.", 415: "The file is not an image (`not_an_image`).",
               429: QUOTA, 503: "File storage is unreachable; nothing was stored or charged."})
def transform_image(media_id: str, json: TransformRequest):
    """Make a transformed copy (variant) of a photo, or find the one already made.

    Steps run in a fixed order whatever the order of the keys: crop, resize, rotate, flip, mirror, filters,
    encode. Equivalent requests share one variant: asking again returns it with 200, without work and without
    charging the daily quota (`transforms_per_day` of the plan). A new one costs one unit.
    """
    media = service.get_media_for(g.api_user, media_id, manage=True)
    transformation = variants.plan(media, json.transformations.steps())
    variant, created = variants.create_variant(g.api_user, media, transformation)
    return Variant.of(media, variant), 201 if created else 200


@bp.get("/api/v1/images/<media_id>/variants")
@operation("listVariants", (200, VariantList, "All of them, on one page."), tag="images",
           errors={404: "No such image, or not yours.", 429: QUOTA})
def list_variants(media_id: str):
    """The saved transformations of a photo, newest first (preset sizes are not listed)."""
    media = service.get_media_for(g.api_user, media_id, manage=True)
    return VariantList(items=[Variant.of(media, v) for v in variants.list_variants(media)], next_cursor=None)


@bp.delete("/api/v1/images/<media_id>/variants/<int(min=0, max=2147483647):variant_id>")
@operation("deleteVariant", (204, None, "Deleted."), tag="images",
           errors={404: "No such image or variant, or not yours.", 429: QUOTA})
def delete_variant(media_id: str, variant_id: int):
    """Delete one saved transformation; its URL stops working. The day's quota is not given back."""
    variants.delete_variant(service.get_media_for(g.api_user, media_id, manage=True), variant_id)
    return "", 204
