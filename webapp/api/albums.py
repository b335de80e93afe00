"""JSON endpoints for albums: list, create, read, change, delete; add and remove photos."""

from __future__ import annotations

from flask import g, jsonify
from flask_babel import gettext as _

from ..albums import service
from ..errors import InvalidInput
from ..media import service as media_service
from ..web import absolute_url
from . import bp
from .auth import api_login_required, json_body


def album_json(summary: service.Summary) -> dict:
    """An album as the API shows it; URLs are absolute, on the configured base URL."""
    album, cover = summary.album, summary.cover
    return {
        "id": album.id, "title": album.title, "description": album.description, "image_count": summary.count,
        "cover_image_id": album.cover_media_id,
        "cover_url": f"{absolute_url('media.original', media_id=cover.id)}?size=thumb"
        if cover is not None and cover.kind == "image" else None,
        "created_at": album.created_at.isoformat(), "updated_at": album.updated_at.isoformat(),
        "page_url": absolute_url("albums.show", album_id=album.id),
        "images_url": absolute_url("api.list_images") + f"?album={album.id}",
    }


def _text_fields(body: dict, allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidInput(_("Unknown fields: %(fields)s.", fields=", ".join(unknown)), code="unknown_field")
    for field in allowed & set(body):
        if not isinstance(body[field], str):
            raise InvalidInput(_("%(field)s must be text.", field=field), code="invalid_field")


@bp.get("/api/v1/albums")
@api_login_required
def list_albums():
    return jsonify(items=[album_json(s) for s in service.albums_of(g.api_user)], next_cursor=None)


@bp.post("/api/v1/albums")
@api_login_required
def create_album():
    body = json_body("title")
    _text_fields(body, {"title", "description"})
    album = service.create_album(g.api_user, body["title"], body.get("description", ""))
    return jsonify(album_json(service.summary(album))), 201


@bp.get("/api/v1/albums/<album_id>")
@api_login_required
def get_album(album_id: str):
    return jsonify(album_json(service.summary(service.get_album_for(g.api_user, album_id))))


@bp.patch("/api/v1/albums/<album_id>")
@api_login_required
def update_album(album_id: str):
    album = service.get_album_for(g.api_user, album_id)
    body = json_body()
    _text_fields(body, {"title", "description", "cover_image_id"})
    service.update_album(album, title=body.get("title"), description=body.get("description"),
                         cover_media_id=body.get("cover_image_id"))
    return jsonify(album_json(service.summary(album)))


@bp.delete("/api/v1/albums/<album_id>")
@api_login_required
def delete_album(album_id: str):
    service.delete_album(service.get_album_for(g.api_user, album_id))
    return "", 204


@bp.post("/api/v1/albums/<album_id>/images")
@api_login_required
def add_album_images(album_id: str):
    album = service.get_album_for(g.api_user, album_id)
    ids = json_body().get("image_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise InvalidInput(_("image_ids must be a non-empty list of image ids."), code="invalid_field")
    added = service.add_photos(album, media_service.get_many_for(g.api_user, ids))
    return jsonify(added=added, album=album_json(service.summary(album)))


@bp.delete("/api/v1/albums/<album_id>/images/<image_id>")
@api_login_required
def remove_album_image(album_id: str, image_id: str):
    album = service.get_album_for(g.api_user, album_id)
    service.remove_photo(album, media_service.get_media_for(g.api_user, image_id, manage=True).id)
    return "", 204
