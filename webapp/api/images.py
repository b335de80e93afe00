"""JSON endpoints for images: upload (file or URL), list, read, change, delete; and the caller's quota."""

from __future__ import annotations

from flask import g, request

from ..media import deletion, library, receiving, service
from ..media.schemas import FileUpload, Image, ImageChanges, ImageList, ImageQuery, Quota, UploadedImage, UrlUpload
from . import bp
from .auth import accepts_upload_keys
from .contract import operation

NO_SUCH_IMAGE = {404: "No such image, or not yours."}


def _refuse_oversized(user) -> None:
    receiving.refuse_oversized(user, request.content_length)


@bp.post("/api/v1/images")
@accepts_upload_keys
@operation("uploadImage", (201, UploadedImage, "Stored."), tag="images", json=UrlUpload, form=FileUpload,
           admit=_refuse_oversized, errors={
               400: "Bad input, a corrupt image, or a URL that cannot be fetched; `error.message` says which.",
               403: "The account's groups do not allow uploading (`upload_not_allowed`).",
               404: "No such album of yours.", 413: None,
               415: "Not an accepted image (and the instance does not accept other files).",
               429: "A limit is used up (the day's uploads, the hourly requests, or, as `too_many_url_uploads`, "
                    "the uploads from URLs one account may run at once); see `Retry-After`.",
               503: "File storage is unreachable and nothing was stored; or (`url_uploads_busy`, with "
                    "`Retry-After`) this instance is already fetching as many URLs as it runs at once."})
def upload_image(json: UrlUpload | None, form: FileUpload | None):
    """Upload a photo (multipart), or fetch one from a URL (JSON).

    The type is read from the content, never the name. EXIF orientation is applied, location removed unless
    the account keeps it; thumbnails are made at once. A URL is downloaded within the instance's deadline
    (`fetch.timeout_seconds`, 20 seconds by default), and each account may run only a few such uploads at once.
    Without `is_public` the upload is public or private as the API key's default says, else as the account's
    setting. The answer's `deletion_url` is a secret link that deletes this upload (ShareX's DeletionURL).
    """
    media, deletion_url = deletion.receive_api_upload(g.api_user, json or form, g.api_key)
    return UploadedImage.of(media, deletion_url), 201


@bp.get("/api/v1/images")
@operation("listImages", (200, ImageList, "A page."), tag="images", query=ImageQuery,
           errors={404: "No such album of yours."})
def list_images(query: ImageQuery):
    """Your photos, a page at a time: searched, filtered and sorted."""
    view = query.view_for(g.api_user)
    page = library.page(g.api_user, view)
    return ImageList(items=[Image.of(m) for m in page.items], next_cursor=page.next_cursor)


@bp.get("/api/v1/images/<media_id>")
@operation("getImage", (200, Image, "The photo."), tag="images", errors=NO_SUCH_IMAGE)
def get_image(media_id: str):
    """One photo."""
    return Image.of(service.get_media_for(g.api_user, media_id))


@bp.patch("/api/v1/images/<media_id>")
@operation("updateImage", (200, Image, "The photo now."), tag="images", json=ImageChanges, errors=NO_SUCH_IMAGE)
def update_image(media_id: str, json: ImageChanges):
    """Change title, description or visibility."""
    media = service.get_media_for(g.api_user, media_id, manage=True)
    service.update_media(media, title=json.title, description=json.description, is_public=json.is_public)
    return Image.of(media)


@bp.delete("/api/v1/images/<media_id>")
@operation("deleteImage", (204, None, "Deleted."), tag="images", errors=NO_SUCH_IMAGE)
def delete_image(media_id: str):
    """Delete a photo, every size of it, and give its storage back."""
    service.delete_media(service.get_media_for(g.api_user, media_id, manage=True))
    return "", 204


@bp.get("/api/v1/quota")
@accepts_upload_keys
@operation("getQuota", (200, Quota, "Counters."), tag="account")
def get_quota():
    """Your plan, what you used today and when it resets."""
    return Quota.of(g.api_user)
