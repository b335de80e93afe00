"""The JSON of the calls kept for clients written against the APIs Shoebox was specified from.

Those clients read `success`, an `image` with `filename`, `url`, `thumbnail`, `view_url` and
`metadata: {width, height, size, format}`, and `images` for a list; the answers carry Shoebox's own
fields of a photo too, so one shape serves both kinds of client.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from .. import quota
from ..models import Media, User
from ..schemas import Out, Timestamp
from .shapes import image_json


class ClientMetadata(Out):
    width: int | None
    height: int | None
    size: int = Field(description="Bytes.")
    format: str = Field(description="The stored file's type, as its usual extension: jpeg, png, webp, mp4…",
                        examples=["jpeg"])
    taken_at: Timestamp | None
    camera: str | None


class ClientImage(Out):
    id: str
    filename: str = Field(description="The name the file was uploaded with.")
    original_name: str
    mime_type: str
    size: int
    width: int | None
    height: int | None
    dimensions: str | None = Field(description="`<width>x<height>`.", examples=["4032x3024"])
    is_public: bool
    url: str = Field(description="The file itself.")
    thumbnail: str | None = Field(description="A small preview (a video's poster); null for other files.")
    view_url: str = Field(description="The photo's page.")
    created_at: Timestamp
    uploaded_at: Timestamp
    metadata: ClientMetadata

    @classmethod
    def of(cls, media: Media) -> ClientImage:
        """`media` in the shape the reference APIs' clients read: the API's own shape, renamed where they differ."""
        shown = image_json(media)
        return cls(id=shown["id"], filename=shown["original_name"], original_name=shown["original_name"],
                   mime_type=shown["mime_type"], size=shown["size"], width=shown["width"], height=shown["height"],
                   dimensions=shown["dimensions"], is_public=shown["is_public"], url=shown["url"],
                   thumbnail=shown["thumbnail_url"], view_url=shown["page_url"], created_at=shown["created_at"],
                   uploaded_at=shown["uploaded_at"],
                   metadata=ClientMetadata(width=shown["width"], height=shown["height"], size=shown["size"],
                                           format=_format(media), taken_at=shown["metadata"]["taken_at"],
                                           camera=shown["metadata"]["camera"]))


def _format(media: Media) -> str:
    return "jpeg" if media.ext in ("jpg", "jpeg") else media.ext


class ClientUploadedImage(ClientImage):
    deletion_url: str = Field(description="A secret link that deletes this upload: opening it shows the file and "
                                          "a Delete button; only a POST to it deletes. Keep it private.")


class ClientUploaded(Out):
    success: Literal[True] = True
    message: str = Field(examples=["Image uploaded successfully"])
    image: ClientUploadedImage

    @classmethod
    def of(cls, media: Media, deletion_url: str, message: str) -> ClientUploaded:
        """A new upload as upload clients read it, with its deletion link."""
        return cls(message=message, image=ClientUploadedImage(**ClientImage.of(media).model_dump(),
                                                              deletion_url=deletion_url))


class ClientImageFound(Out):
    success: Literal[True] = True
    image: ClientImage


class ClientImageList(Out):
    success: Literal[True] = True
    images: list[ClientImage]
    count: int = Field(description="How many are on this page.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class ClientDeleted(Out):
    success: Literal[True] = True
    message: str = Field(examples=["Image deleted successfully"])


class ClientQuotaCounts(Out):
    plan: str | None
    daily_limit: int = Field(description="Uploads a day; 0 means no limit.")
    used_today: int
    remaining_today: int | None = Field(description="Null when there is no daily limit.")
    storage_used: int = Field(description="Bytes.")
    storage_limit: int = Field(description="Bytes; 0 means no limit.")
    max_file_size: int = Field(description="Bytes; 0 means only the instance's limit.")
    resets_at: Timestamp


class ClientQuota(Out):
    success: Literal[True] = True
    quota: ClientQuotaCounts

    @classmethod
    def of(cls, user: User) -> ClientQuota:
        """Today's uploads, storage and the largest file, as upload clients read them."""
        plan, used = user.plan, quota.used_today(user.id)
        daily = plan.uploads_per_day if plan else 0
        resets = quota.utcnow().replace(microsecond=0) + timedelta(seconds=quota.seconds_to_midnight())
        return cls(quota=ClientQuotaCounts(
            plan=plan.name if plan else None, daily_limit=daily, used_today=used.uploads,
            remaining_today=max(0, daily - used.uploads) if daily else None, storage_used=user.storage_used,
            storage_limit=plan.storage_bytes if plan else 0, max_file_size=plan.max_upload_bytes if plan else 0,
            resets_at=resets.isoformat()))
