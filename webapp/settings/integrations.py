"""Screenshot tools: a ShareX custom uploader (.sxcu) and a shell script for Flameshot, grim and macOS, each
with a new key that may only upload; and the account's "new uploads are public" setting they rely on.

No HTTP here: the pages are integration_routes.py's. A download is a file, not a page: each one makes a key.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import render_template

from .. import audit
from ..auth import api_keys, permissions
from ..extensions import db
from ..models import ApiKey, User
from ..web import absolute_url, public_base_url, site_name

SHAREX_KEY_NAME = "ShareX"
SCRIPT_KEY_NAME = "Screenshot script"
# The ShareX version whose custom uploader format (with {json:…} syntax) the file is written for.
SHAREX_VERSION = "14.1.0"


@dataclass(frozen=True)
class Download:
    """A file to hand to the browser as an attachment."""

    filename: str
    mimetype: str
    content: str


def set_uploads_public(user: User, public: bool) -> None:
    """Whether `user`'s next uploads are public when the upload does not say; photos already stored stay as
    they are."""
    if user.uploads_public != public:
        user.uploads_public = public
        audit.record("uploads_public_changed", user.id, uploads_public=public)
    db.session.commit()


def integration_keys(user: User) -> list[ApiKey]:
    """The user's working keys that may only upload: those the screenshot tools use."""
    return api_keys.list_api_keys(user, scope="upload")


def may_use_tools(user: User) -> bool:
    """Whether `user`'s groups let a key of theirs upload: the tools need both uploading and the API."""
    return permissions.has(user, "upload") and permissions.has(user, "use_api")


def _upload_key(user: User, name: str, uploads_public: bool | None) -> str:
    """A new upload-only key for a tool; Forbidden, saying which, when the account may not upload or use the
    API (a key that can do nothing is no use to anyone)."""
    permissions.demand(user, "upload")
    permissions.demand(user, "use_api")
    return api_keys.create_api_key(user, name, scope="upload", uploads_public=uploads_public)[1]


def sharex_config(user: User, uploads_public: bool | None) -> Download:
    """A ShareX 14 custom uploader for this instance, with a new upload-only key in it."""
    raw = _upload_key(user, SHAREX_KEY_NAME, uploads_public)
    config = {
        "Version": SHAREX_VERSION,
        "Name": f"{site_name()} ({_host()})",
        "DestinationType": "ImageUploader, FileUploader",
        "RequestMethod": "POST",
        "RequestURL": absolute_url("api.upload_image"),
        "Headers": {"X-API-Key": raw},
        "Body": "MultipartFormData",
        "FileFormName": "file",
        "URL": "{json:url}",
        "ThumbnailURL": "{json:thumbnail_url}",
        "DeletionURL": "{json:deletion_url}",
        "ErrorMessage": "{json:error.message}",
    }
    return Download(f"{_file_stem()}.sxcu", "application/json", json.dumps(config, indent=2) + "\n")


def screenshot_script(user: User, uploads_public: bool | None) -> Download:
    """A POSIX shell script that takes a region of the screen, uploads it with a new upload-only key and puts
    the link on the clipboard."""
    raw = _upload_key(user, SCRIPT_KEY_NAME, uploads_public)
    script = render_template("settings/screenshot.sh.txt", sh=shlex.quote, key=raw, base_url=public_base_url(),
                             upload_url=absolute_url("api.upload_image"), username=user.username)
    return Download(f"{_file_stem()}-screenshot.sh", "text/x-shellscript", script)


def _host() -> str:
    return urlsplit(public_base_url()).netloc or "shoebox"


def _file_stem() -> str:
    """The instance's host as a safe file name: 127.0.0.1:5000 -> 127.0.0.1-5000."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", _host()).strip(".-") or "shoebox"
