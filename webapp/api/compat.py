"""Calls kept for clients written against the APIs Shoebox was specified from, in their shapes.

`GET /upload/quota`, and `/api/images` (upload with the field `image`, list, read, delete) with a
bearer token or an API key. `POST /upload` with `X-API-Key` is the upload page's own URL: the media
blueprint hands such requests to the same upload service and answers with `ClientUploaded`.
"""

from __future__ import annotations

from flask import g, request
from flask_babel import gettext as _

from ..media import deletion, library, receiving, service
from ..media.client_schemas import ClientDeleted, ClientImage, ClientImageFound, ClientImageList, ClientQuota, \
    ClientUploaded
from ..media.schemas import FileUpload, ImageQuery
from . import bp
from .auth import accepts_upload_keys
from .contract import operation

NO_SUCH_IMAGE = {404: "No such image, or not yours."}


def _refuse_oversized(user) -> None:
    receiving.refuse_oversized(user, request.content_length)


@bp.get("/upload/quota")
@accepts_upload_keys
@operation("clientQuota", (200, ClientQuota, "Today's uploads and the storage used."), tag="compatible")
def client_quota():
    """Your upload allowance as upload clients read it (`success`, `quota`)."""
    return ClientQuota.of(g.api_user)


@bp.post("/api/images")
@accepts_upload_keys
@operation("clientUploadImage", (201, ClientUploaded, "Stored."), tag="compatible", form=FileUpload,
           admit=_refuse_oversized, errors={
               403: "The account's groups do not allow uploading (`upload_not_allowed`).",
               404: "No such album of yours.", 413: None,
               415: "Not an accepted image (and the instance does not accept other files).",
               503: "File storage is unreachable and nothing was stored."})
def client_upload_image(form: FileUpload):
    """Upload a photo in the multipart field `image` (or `file`); the same checks as POST /api/v1/images."""
    media, deletion_url = deletion.receive_api_upload(g.api_user, form, g.api_key)
    return ClientUploaded.of(media, deletion_url, _("Image uploaded successfully")), 201


@bp.get("/api/images")
@operation("clientListImages", (200, ClientImageList, "A page, newest first."), tag="compatible", query=ImageQuery,
           errors={404: "No such album of yours."})
def client_list_images(query: ImageQuery):
    """Your photos as `images`, a page at a time (`limit`, `cursor`)."""
    page = library.page(g.api_user, query.view_for(g.api_user))
    images = [ClientImage.of(media) for media in page.items]
    return ClientImageList(images=images, count=len(images), next_cursor=page.next_cursor)


@bp.get("/api/images/<media_id>")
@operation("clientGetImage", (200, ClientImageFound, "The photo."), tag="compatible", errors=NO_SUCH_IMAGE)
def client_get_image(media_id: str):
    """One photo: yours, or a public one."""
    return ClientImageFound(image=ClientImage.of(service.get_media_for(g.api_user, media_id)))


@bp.delete("/api/images/<media_id>")
@operation("clientDeleteImage", (200, ClientDeleted, "Deleted."), tag="compatible", errors=NO_SUCH_IMAGE)
def client_delete_image(media_id: str):
    """Delete a photo of yours, every size of it, and give its storage back."""
    service.delete_media(service.get_media_for(g.api_user, media_id, manage=True))
    return ClientDeleted(message=_("Image deleted successfully"))
