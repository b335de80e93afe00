"""JSON endpoints for images: upload (file or URL), list, read, change, delete; and the caller's quota."""

from __future__ import annotations

from datetime import timedelta

from flask import g, jsonify, request
from flask_babel import gettext as _

from .. import quota
from ..errors import InvalidInput
from ..media import library, service
from ..media.receiving import receive_upload
from ..media.shapes import image_json
from . import bp
from .auth import api_login_required, json_body, refuse_long


@bp.post("/api/v1/images")
@api_login_required
def upload_image():
    return jsonify(image_json(receive_upload(g.api_user))), 201


@bp.get("/api/v1/images")
@api_login_required
def list_images():
    view = library.view_for(g.api_user, request.args, strict=True)
    page = library.page(g.api_user, view)
    return jsonify(items=[image_json(m) for m in page.items], next_cursor=page.next_cursor)


@bp.get("/api/v1/images/<media_id>")
@api_login_required
def get_image(media_id: str):
    return jsonify(image_json(service.get_media_for(g.api_user, media_id)))


@bp.patch("/api/v1/images/<media_id>")
@api_login_required
def update_image(media_id: str):
    media = service.get_media_for(g.api_user, media_id, manage=True)
    body = json_body()
    unknown = sorted(set(body) - {"title", "description", "is_public"})
    if unknown:
        raise InvalidInput(_("Unknown fields: %(fields)s.", fields=", ".join(unknown)), code="unknown_field")
    for field in ("title", "description"):
        if field in body and not isinstance(body[field], str):
            raise InvalidInput(_("%(field)s must be text.", field=field), code="invalid_field")
    if "is_public" in body and not isinstance(body["is_public"], bool):
        raise InvalidInput(_("is_public must be true or false."), code="invalid_field")
    refuse_long(body, title=200)  # the pages cut a title short; an API client is told
    service.update_media(media, title=body.get("title"), description=body.get("description"),
                         is_public=body.get("is_public"))
    return jsonify(image_json(media))


@bp.delete("/api/v1/images/<media_id>")
@api_login_required
def delete_image(media_id: str):
    service.delete_media(service.get_media_for(g.api_user, media_id, manage=True))
    return "", 204


@bp.get("/api/v1/quota")
@api_login_required
def get_quota():
    user, plan = g.api_user, g.api_user.plan
    used = quota.used_today(user.id)
    resets = quota.utcnow() + timedelta(seconds=quota.seconds_to_midnight())
    return jsonify(
        plan=plan.name if plan else None,
        uploads={"used": used.uploads, "limit": plan.uploads_per_day if plan else 0},
        transforms={"used": used.transforms, "limit": plan.transforms_per_day if plan else 0},
        storage={"used": user.storage_used, "limit": plan.storage_bytes if plan else 0},
        max_upload_bytes=plan.max_upload_bytes if plan else 0,
        resets_at=resets.replace(microsecond=0).isoformat(),
    )
