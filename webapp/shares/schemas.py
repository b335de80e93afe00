"""The JSON of share links: what the API accepts to make and change one, and how it shows one."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Literal

from flask_babel import gettext as _
from pydantic import AfterValidator, ConfigDict, Field, model_validator

from ..errors import InvalidInput
from ..models import ShareLink, utcnow
from ..schemas import Body, Out, Query, Timestamp, Url, iso, schema_extra
from . import links, service

LONGEST_EXPIRY_SECONDS = int(service.LONGEST_EXPIRY.total_seconds())
# RFC 3339, the profile of ISO 8601 that JSON Schema's date-time means: a date, a time and an offset.
MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
SETTINGS = ("label", "note", "password", "max_views", "max_downloads", "allow_download", "show_metadata",
            "allow_upload", "upload_max_files", "upload_max_bytes")


def moment(text: str) -> datetime:
    """An RFC 3339 date and time with its offset, as an aware datetime; InvalidInput naming expires_at."""
    try:
        if MOMENT.fullmatch(text):
            return datetime.fromisoformat(text.upper())
    except ValueError:
        pass
    raise InvalidInput(_("expires_at must be a date and time with its offset, like 2030-12-31T18:00:00+01:00."),
                       code="invalid_expiry", field="expires_at")


def _checked_moment(text: str) -> str:
    moment(text)
    return text


Moment = Annotated[str, AfterValidator(_checked_moment),
                   Field(json_schema_extra={"format": "date-time"}, examples=["2030-12-31T18:00:00+01:00"])]
Limit = Annotated[int | None, Field(ge=1)]
ONE_EXPIRY = {"not": {"required": ["expires_in", "expires_at"]}}
# The service refuses longer text with its own codes (label_too_long, note_too_long, password_too_long).
LABEL = schema_extra(maxLength=service.MAX_LABEL)
NOTE = schema_extra(maxLength=service.MAX_NOTE)
PASSWORD = schema_extra(maxLength=1024, writeOnly=True)


class _Settings(Body):
    """What a link's owner sets; the same fields make a link and change one."""

    label: str | None = Field(None, description="A name only you see, e.g. “the family link”.",
                              examples=["Family"], **LABEL)
    expires_in: int = Field(None, ge=1, le=LONGEST_EXPIRY_SECONDS,
                            description="Seconds from now until the link stops opening (at most ten years). "
                                        "Send this or `expires_at`, not both.", examples=[604800])
    expires_at: Moment | None = Field(None, description="When the link stops opening (RFC 3339, with an offset; "
                                                        "in the future, at most ten years away). null: never.")
    password: str | None = Field(None, description="Recipients must give it before they see anything. Never "
                                                   "returned. Empty or null: no password.", **PASSWORD)
    max_views: Limit = Field(None, description="Opens allowed (a recipient's visit counts once); null: no limit.")
    max_downloads: Limit = Field(None, description="Downloads of originals or of the zip allowed; null: no limit.")
    allow_download: bool = Field(None, description="Whether recipients may download originals and the zip.")
    show_metadata: bool = Field(None, description="Whether recipients see camera and date (never the location).")
    allow_upload: bool = Field(None, description="Album links only: guests may add photos to the album, charged "
                                                 "to your storage.")
    upload_max_files: Limit = Field(None, description="Guest uploads allowed in all; null: no limit.")
    upload_max_bytes: Limit = Field(None, description="Bytes guests may upload in all; null: no limit.")
    note: str | None = Field(None, description="A note shown to recipients.", **NOTE)

    @model_validator(mode="after")
    def one_expiry(self):
        if {"expires_in", "expires_at"} <= self.model_fields_set:
            raise InvalidInput(_("Send expires_in or expires_at, not both."), code="conflicting_expiry",
                               field="expires_at")
        return self

    def _options_over(self, options: service.Options) -> service.Options:
        """`options` with every setting this body sent in place of its own."""
        for name in self.model_fields_set & set(SETTINGS):
            setattr(options, name, getattr(self, name))
        if "expires_in" in self.model_fields_set:
            options.expires_at = utcnow() + timedelta(seconds=self.expires_in)
        elif "expires_at" in self.model_fields_set:
            options.expires_at = moment(self.expires_at) if self.expires_at is not None else None
        return options


TARGET_FIELDS = ("image_id", "album_id", "image_ids")


def _only(name: str, takes_uploads: bool) -> dict:
    """The document's branch for a link to `name`: that field, none of the other two, uploads only for albums."""
    others = [{"required": [other]} for other in TARGET_FIELDS if other != name]
    branch = {"required": [name], "not": {"anyOf": others}}
    return branch if takes_uploads else {**branch, "properties": {"allow_upload": {"const": False}}}


TARGETS = {"oneOf": [_only("image_id", False), _only("album_id", True), _only("image_ids", False)], **ONE_EXPIRY}


class NewShare(_Settings):
    """Exactly one of `image_id`, `album_id`, `image_ids`; every setting is optional."""

    model_config = ConfigDict(json_schema_extra=TARGETS)

    image_id: str = Field(None, min_length=1, description="One photo of yours.")
    album_id: str = Field(None, min_length=1, description="An album of yours (the link shows it as it is at each "
                                                          "visit).")
    image_ids: list[str] = Field(None, min_length=1, max_length=service.MAX_SELECTION,
                                 description="A selection of your photos, in the order recipients see them.")
    allow_download: bool = Field(True, description="Whether recipients may download originals and the zip.")
    show_metadata: bool = Field(False, description="Whether recipients see camera and date (never the location).")
    allow_upload: bool = Field(False, description="Album links only: guests may add photos to the album, charged "
                                                  "to your storage.")

    def target(self) -> service.Target:
        """What the link shows."""
        return service.Target(media_id=self.image_id, album_id=self.album_id, media_ids=tuple(self.image_ids or ()))

    def options(self) -> service.Options:
        """The settings sent, the defaults for the rest."""
        return self._options_over(service.Options())


class ShareChanges(_Settings):
    """Only the fields sent change. `revoked: true` makes the link answer 410 from the next request on."""

    model_config = ConfigDict(json_schema_extra=ONE_EXPIRY)

    revoked: bool = Field(None, description="true revokes the link; false makes a revoked link open again.")

    def options(self) -> service.Options:
        """Options that change what this body sent and leave the rest."""
        return self._options_over(service.unchanged())


class ShareQuery(Query):
    limit: int = Field(50, ge=1, le=200)
    cursor: str = Field(None, description="`next_cursor` of the previous page.")


# --- responses --------------------------------------------------------------------------------

class PhotoTarget(Out):
    type: Literal["photo"]
    id: str


class AlbumTarget(Out):
    type: Literal["album"]
    id: str


class SelectionTarget(Out):
    type: Literal["selection"]
    ids: list[str] = Field(description="The photos, in order (a deleted photo drops out).")


class Share(Out):
    id: str
    token: str = Field(description="The secret in the link's URL.")
    url: Url = Field(description="What recipients open.")
    qr_url: Url = Field(description="The link's QR code (SVG), for you.")
    target: PhotoTarget | AlbumTarget | SelectionTarget = Field(discriminator="type")
    label: str
    expires_at: Timestamp | None
    has_password: bool
    max_views: int | None
    views: int = Field(ge=0)
    max_downloads: int | None
    downloads: int = Field(ge=0)
    allow_download: bool
    allow_upload: bool
    upload_max_files: int | None
    upload_max_bytes: int | None
    show_metadata: bool
    note: str
    status: Literal["active", "expired", "used_up", "revoked"] = Field(
        description="The first that applies: revoked, expired, used_up (max_views reached), else active.")
    created_at: Timestamp
    last_viewed_at: Timestamp | None

    @classmethod
    def of(cls, link: ShareLink) -> Share:
        """A link as the API shows it (never its password); URLs are absolute, on the configured base URL."""
        return cls(
            id=link.id, token=link.token, url=links.share_url(link), qr_url=links.qr_url(link),
            target=_target(link), label=link.label or "",
            expires_at=iso(link.expires_at), has_password=link.password_hash is not None,
            max_views=link.max_views, views=link.views, max_downloads=link.max_downloads, downloads=link.downloads,
            allow_download=link.allow_download, allow_upload=link.allow_upload,
            upload_max_files=link.upload_max_files, upload_max_bytes=link.upload_max_bytes,
            show_metadata=link.show_metadata, note=link.note or "", status=service.status_of(link),
            created_at=iso(link.created_at), last_viewed_at=iso(link.last_viewed_at))


def _target(link: ShareLink) -> PhotoTarget | AlbumTarget | SelectionTarget:
    if link.kind == "photo":
        return PhotoTarget(type="photo", id=link.media_id)
    if link.kind == "album":
        return AlbumTarget(type="album", id=link.album_id)
    return SelectionTarget(type="selection", ids=service.selection_ids(link))


class ShareList(Out):
    items: list[Share]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")
