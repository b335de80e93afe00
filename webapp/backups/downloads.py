"""Sending an archive to the person downloading it, for the pages and the API alike."""

from __future__ import annotations

from flask import Response
from flask_babel import gettext as _

from ..errors import Conflict
from ..media.serving import send_blob
from ..media.service import Blob
from ..models import Backup
from . import making, service


def send_archive(backup: Backup) -> Response:
    """The archive from the backup store, with Range and conditional requests (a cut download resumes)."""
    if backup.status != "done" or not backup.storage_key:
        raise Conflict(_("This backup is not finished yet."))
    blob = Blob(key=backup.storage_key, size=backup.size, mime_type="application/zip", etag=backup.sha256 or backup.id,
                last_modified=backup.finished_at or backup.created_at, public=False,
                filename=service.download_name(backup))
    response = send_blob(blob, attachment=True, store=making.backup_store())
    response.headers["Cache-Control"] = "private, no-store"
    return response
