"""The JSON of photos and files: uploads, the library's query, changes, transformations, and how the API
shows a photo, a saved transformation and the day's quota."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .. import models, quota, transforms
from ..errors import InvalidInput
from ..schemas import Body, Out, Query, Timestamp, Url, iso, refuse_nul, schema_extra
from ..web import absolute_url
from . import library, variants
from .shapes import image_json

MAX_TITLE = 200
MAX_DESCRIPTION = 5000
URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\s]+([/?#][^\x00-\x1f\x7f]*)?$"


def _documented(schema: dict):
    """A query parameter the library reads itself (with its own error codes), documented as `schema`."""
    return Annotated[str | None, WithJsonSchema(schema)]


# --- requests ---------------------------------------------------------------------------------

class ImageQuery(Query):
    """The library's filters, sort and page, read by `library.view_from_args`."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    limit: _documented({"type": "integer", "minimum": 1, "maximum": 200, "default": 60}) = None
    cursor: _documented({"type": "string"}) = Field(
        None, description="`next_cursor` of the previous page, with the same sort and order.")
    q: _documented({"type": "string", "maxLength": library.MAX_QUERY}) = Field(
        None, description="Search title, file name and camera.")
    album: _documented({"type": "string"}) = Field(
        None, description="Only photos in this album of yours (then sorted in album order by default).")
    sort: _documented({"enum": ["uploaded", "taken", "name", "size", "album"]}) = Field(
        None, description="`uploaded` by default; `album` (the album's own order) with `album` only.")
    order: _documented({"enum": ["asc", "desc"]}) = Field(
        None, description="Newest, largest first by default; names A to Z.")
    from_: _documented({"type": "string", "format": "date"}) = Field(
        None, alias="from", description="Taken on or after this day (UTC); photos without a date count as "
                                        "taken when uploaded.")
    to: _documented({"type": "string", "format": "date"}) = Field(
        None, description="Taken on or before this day (UTC).")
    type: _documented({"enum": ["photo", "animated", "video", "file"]}) = None
    visibility: _documented({"enum": ["public", "private"]}) = None

    def view_for(self, user: models.User) -> library.View:
        """The library view these parameters ask of `user`'s photos; InvalidInput naming a bad one."""
        return library.view_for(user, self.model_dump(by_alias=True, exclude_none=True), strict=True)


class ImageChanges(Body):
    """Only the fields sent change."""

    title: str = Field(None, max_length=MAX_TITLE, examples=["Sunset over the lake"])
    description: str = Field(None, **schema_extra(maxLength=MAX_DESCRIPTION))
    is_public: bool = Field(None, description="Whether anyone with the link may see it.")


class UrlUpload(Body):
    url: str = Field(description="An http:// or https:// address with a host name and no user name or password "
                                 "in it.", examples=["https://example.org/photo.jpg"],
                     **schema_extra(pattern=URL_PATTERN, format="uri"))
    title: str = Field("", max_length=MAX_TITLE)
    is_public: bool = Field(None)
    album_id: str = Field(None, description="Put the photo in this album of yours.")


def _flag(value):
    """A form's yes or no: true/false, 1/0, yes/no, on/off; empty is "not said"."""
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise PydanticCustomError("bool_parsing", "not a flag")


class FileUpload(BaseModel):
    """A multipart upload: the file in `file` (or `image`), streamed to disk, never held in memory."""

    model_config = ConfigDict(extra="ignore", arbitrary_types_allowed=True,
                              json_schema_extra={"anyOf": [{"required": ["file"]}, {"required": ["image"]}]})

    file: Annotated[Any, WithJsonSchema({"type": "string", "format": "binary",
                                         "description": "The file (`image` works too)."})] = None
    image: Annotated[Any, WithJsonSchema({"type": "string", "format": "binary"})] = None
    title: str = Field("", max_length=MAX_TITLE)
    is_public: Annotated[bool | None, WithJsonSchema({"enum": ["true", "false"]})] = None
    album_id: str = Field("", description="Put the photo in this album of yours (checked before anything is "
                                          "stored).")

    @model_validator(mode="before")
    @classmethod
    def refuse_nul_in_fields(cls, data):
        refuse_nul([value for value in data.values() if isinstance(value, str)] if isinstance(data, dict) else [])
        return data

    @field_validator("is_public", mode="before")
    @classmethod
    def read_flag(cls, value):
        return _flag(value)

    @model_validator(mode="after")
    def needs_a_file(self):
        if not hasattr(self.file or self.image, "save"):
            raise InvalidInput(_("Send the file as multipart form data in a field named file."),
                               code="missing_file", field="file")
        return self

    @property
    def upload(self):
        """The file part (werkzeug's FileStorage, spooled to disk)."""
        return self.file if hasattr(self.file, "save") else self.image


# Transformations: the shape is checked here (types, bounds, unknown keys, naming the nested field);
# whether it fits the photo (a crop inside it, a result not too large) is transforms.parse's to say.

class Step(Body):
    pass


class Resize(Step):
    """One side keeps the proportions. With both, `fit` decides: `cover` (default) fills the box and cuts the
    overflow, centred; `contain` fits inside and pads with `background`; `fill` stretches; `inside` fits
    inside without padding."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["width"]}, {"required": ["height"]}]})

    width: int = Field(None, ge=1, le=65535, examples=[400])
    height: int = Field(None, ge=1, le=65535, examples=[300])
    fit: Literal["cover", "contain", "fill", "inside"] = Field(None)


class Crop(Step):
    """A box that must lie inside the photo."""

    x: int = Field(ge=0, le=transforms.MAX_NUMBER)
    y: int = Field(ge=0, le=transforms.MAX_NUMBER)
    width: int = Field(ge=1, le=transforms.MAX_NUMBER)
    height: int = Field(ge=1, le=transforms.MAX_NUMBER)


class Filters(Step):
    grayscale: bool = Field(None)
    sepia: bool = Field(None)


DOES_SOMETHING = [{"required": ["crop"]}, {"required": ["resize"]}, {"required": ["format"]},
                  {"required": ["quality"]}, {"required": ["background"]},
                  {"required": ["rotate"], "properties": {"rotate": {"not": {"const": 0}}}},
                  {"required": ["flip"], "properties": {"flip": {"const": True}}},
                  {"required": ["mirror"], "properties": {"mirror": {"const": True}}},
                  {"required": ["filters"], "properties": {"filters": {"minProperties": 1}}}]


class Transformations(Step):
    """At least one step that changes something (`flip: false` or `rotate: 0` alone is none). Sizes are in
    pixels of the photo as it displays (upright). The result may have at most `transforms.max_side` pixels a
    side (8192 by default; 16383 for WebP) and `transforms.max_pixels` in all (40 million by default). Only
    the first frame of an animation is used; no metadata is copied into the result."""

    model_config = ConfigDict(json_schema_extra={"anyOf": DOES_SOMETHING})

    crop: Crop = Field(None)
    resize: Resize = Field(None)
    rotate: int = Field(None, ge=-360, le=360, description="Clockwise, in whole degrees. Angles other than right "
                                                           "angles grow the canvas, filled with `background`.")
    flip: bool = Field(None, description="Upside down.")
    mirror: bool = Field(None, description="Left to right.")
    filters: Filters = Field(None)
    format: Literal["jpeg", "jpg", "png", "webp", "avif", "gif"] = Field(
        None, description="Default: the photo's own format when it is one of these, else webp.")
    quality: int = Field(None, ge=1, le=100, description="jpeg, webp and avif only; defaults 85, 80 and 60.")
    background: str = Field(None, pattern=r"^(transparent|#([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8}))$",
                            description="For padding and free angles. Default: transparent where the format has "
                                        "alpha (png, webp, avif), else white.")

    def steps(self) -> dict:
        """The steps that were sent, as transforms.parse reads them."""
        return self.model_dump(exclude_unset=True)


class TransformRequest(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"transformations": {
        "crop": {"x": 0, "y": 0, "width": 800, "height": 600}, "resize": {"width": 400, "height": 300, "fit": "cover"},
        "rotate": 90, "format": "webp", "quality": 80, "filters": {"grayscale": True}}}]})

    transformations: Transformations


# --- responses --------------------------------------------------------------------------------

class ImageMetadata(Out):
    taken_at: str | None
    camera: str | None
    lens: str | None = None
    placeholder: str | None = None


class Image(Out):
    id: str = Field(examples=["Xy3kP9qRtZ2mVb8nLw4sHd"])
    kind: Literal["image", "video", "file"] = Field(description="`image` (shown as a picture), `video` (MP4, "
                                                            "WebM or MOV, played in the page; its sizes are "
                                                            "pictures of its poster frame) or `file` (any other "
                                                            "file, always downloaded).")
    original_name: str
    mime_type: str
    size: int
    width: int | None
    height: int | None
    sha256: str
    title: str
    description: str
    is_public: bool
    views: int
    created_at: Timestamp
    duration: float | None = Field(description="A video's length in seconds; null for images and files (and for "
                                               "a video whose container does not say).", examples=[12.48])
    dimensions: str | None = Field(description="`WIDTHxHEIGHT` in pixels, as in `4032x3024`; null for a file "
                                               "that is neither an image nor a video.", pattern=r"^[0-9]+x[0-9]+$",
                                   examples=["4032x3024"])
    uploaded_at: Timestamp = Field(description="When it was uploaded: the same moment as `created_at`.")
    url: Url
    thumbnail_url: Url | None
    page_url: Url
    metadata: ImageMetadata

    @classmethod
    def of(cls, media: models.Media) -> Image:
        """A photo or file as the API shows it (the shape is media/shapes.py's, checked against this model)."""
        return cls.model_validate(image_json(media))


class UploadedImage(Image):
    deletion_url: Url = Field(description="A secret link that deletes this upload: opening it shows the file and "
                                          "a Delete button; only a POST to it deletes. Keep it private.")

    @classmethod
    def of(cls, media: models.Media, deletion_url: str) -> UploadedImage:
        """A new upload as the API answers it, with its deletion link."""
        return cls.model_validate({**image_json(media), "deletion_url": deletion_url})


class ImageList(Out):
    items: list[Image]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class Variant(Out):
    id: int
    url: Url = Field(description="Stable; served like the photo, to whoever may see the photo.")
    width: int
    height: int
    format: Literal["jpeg", "png", "webp", "avif", "gif"]
    mime_type: str
    size: int = Field(description="Bytes.")
    spec: str = Field(description="The canonical form of the transformation, e.g. "
                                  "`resize=400x300,cover;format=webp;q=80`.")
    created_at: Timestamp

    @classmethod
    def of(cls, media: models.Media, variant: models.Variant) -> Variant:
        """A saved transformation as the API shows it; `url` is absolute and stable."""
        return cls(id=variant.id, url=absolute_url("media.variant", media_id=media.id,
                                                   name=variants.variant_name(variant)),
                   width=variant.width, height=variant.height, format=transforms.format_of(variant.mime_type),
                   mime_type=variant.mime_type, size=variant.size,
                   spec=variant.spec.removeprefix(variants.SPEC_PREFIX), created_at=iso(variant.created_at))


class VariantList(Out):
    items: list[Variant]
    next_cursor: None = Field(description="Always null: every variant is on the one page.")


class Counter(Out):
    used: int
    limit: int = Field(description="0: unlimited")


class Quota(Out):
    plan: str | None
    uploads: Counter
    transforms: Counter
    storage: Counter
    max_upload_bytes: int
    resets_at: Timestamp

    @classmethod
    def of(cls, user: models.User) -> Quota:
        """The user's plan, what they used today, and when the daily counters start again."""
        plan, used = user.plan, quota.used_today(user.id)
        resets = quota.utcnow() + timedelta(seconds=quota.seconds_to_midnight())
        return cls(plan=plan.name if plan else None,
                   uploads=Counter(used=used.uploads, limit=plan.uploads_per_day if plan else 0),
                   transforms=Counter(used=used.transforms, limit=plan.transforms_per_day if plan else 0),
                   storage=Counter(used=user.storage_used, limit=plan.storage_bytes if plan else 0),
                   max_upload_bytes=plan.max_upload_bytes if plan else 0,
                   resets_at=resets.replace(microsecond=0).isoformat())
