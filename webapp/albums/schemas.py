"""The JSON of albums: what the API accepts to make and change one, and how it shows one."""

from __future__ import annotations

from pydantic import Field

from ..schemas import Body, Out, RequiredText, Timestamp, Url, iso, schema_extra
from ..web import absolute_url
from . import service

# The service refuses longer ones with its own codes (title_too_long, description_too_long).
TITLE = schema_extra(maxLength=200)
DESCRIPTION = schema_extra(maxLength=5000)


class NewAlbum(Body):
    title: RequiredText = Field(examples=["Holidays"], **TITLE)
    description: str = Field("", **DESCRIPTION)


class AlbumChanges(Body):
    """Only the fields sent change."""

    title: RequiredText = Field(None, **TITLE)
    description: str = Field(None, **DESCRIPTION)
    cover_image_id: str = Field(None, description="A photo in the album.")


class AlbumImages(Body):
    image_ids: list[str] = Field(min_length=1, description="Photos of yours, in the order to add them.",
                                 **schema_extra(maxItems=1000))


class Album(Out):
    id: str
    title: str
    description: str
    image_count: int = Field(ge=0)
    cover_image_id: str | None
    cover_url: Url | None
    created_at: Timestamp
    updated_at: Timestamp
    page_url: Url
    images_url: Url

    @classmethod
    def of(cls, summary: service.Summary) -> Album:
        """An album as the API shows it; URLs are absolute, on the configured base URL."""
        album, cover = summary.album, summary.cover
        return cls(
            id=album.id, title=album.title, description=album.description, image_count=summary.count,
            cover_image_id=album.cover_media_id,
            cover_url=f"{absolute_url('media.original', media_id=cover.id)}?size=thumb"
            if cover is not None and cover.kind == "image" else None,
            created_at=iso(album.created_at), updated_at=iso(album.updated_at),
            page_url=absolute_url("albums.show", album_id=album.id),
            images_url=absolute_url("api.list_images") + f"?album={album.id}")


class AlbumList(Out):
    items: list[Album]
    next_cursor: None = Field(description="Always null: every album is on the one page.")


class AlbumImagesAdded(Out):
    added: int = Field(ge=0, description="How many were new to the album (adding one twice adds it once).")
    album: Album
