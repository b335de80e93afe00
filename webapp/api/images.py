"""JSON endpoints for images: upload (file or URL), list, read, change, delete; and the caller's quota."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, g, jsonify, request
from flask_babel import gettext as _

from .. import quota
from ..albums import service as albums
from ..errors import InvalidInput, TooLarge
from ..media import library, service
from ..media.fetch import FetchError
from ..media.fetch_slots import fetch_for
from ..models import Media, User
from ..web import absolute_url
from . import bp
from .auth import api_login_required, json_body, refuse_long, refuse_nul

# Multipart framing and form fields around the file itself.
MULTIPART_OVERHEAD = 64 * 1024


def image_json(media: Media) -> dict:
    """A photo or file as the API shows it; URLs are absolute, on the configured base URL."""
    url = absolute_url("media.original", media_id=media.id, ext=media.ext) if media.ext else \
        absolute_url("media.original", media_id=media.id)
    return {
        "id": media.id, "kind": media.kind, "original_name": media.original_name, "mime_type": media.mime_type,
        "size": media.size, "width": media.width, "height": media.height, "sha256": media.sha256,
        "title": media.title, "description": media.description, "is_public": media.is_public,
        "views": media.views, "created_at": media.created_at.isoformat(), "url": url,
        "thumbnail_url": f"{absolute_url('media.original', media_id=media.id)}?size=thumb"
        if media.kind == "image" else None,
        "page_url": absolute_url("media.embed", media_id=media.id),
        "metadata": {"taken_at": media.taken_at.isoformat() if media.taken_at else None,
                     "camera": media.camera or None, "lens": media.lens or None,
                     "placeholder": media.placeholder or None},
    }


def receive_upload(user: User) -> Media:
    """Take the file of this request (multipart `file` or `image`, or JSON {"url"}) through the pipeline."""
    # From the Content-Length alone, before any of the body is read.
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


@bp.post("/api/v1/images")
@api_login_required
def upload_image():
    return jsonify(image_json(receive_upload(g.api_user))), 201


@bp.get("/api/v1/images")
@api_login_required
def list_images():
    view = library.view_from_args(request.args, strict=True)
    if view.album_id:
        albums.get_album_for(g.api_user, view.album_id)
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
