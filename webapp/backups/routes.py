"""Backup pages: Settings → Backups for a person, Admin → Backups for the instance, and downloads."""

from __future__ import annotations

from flask_login import current_user, login_required

from ..media.serving import send_blob
from ..media.service import Blob
from . import bp, making, service


@bp.get("/backups/<backup_id>/download")
@login_required
def download(backup_id: str):
    """The archive itself (Range and conditional requests work, so a cut download can resume)."""
    backup = service.get_backup_for(current_user, backup_id)
    if backup.status != "done" or not backup.storage_key:
        raise service.Conflict(service._("This backup is not finished yet."))
    blob = Blob(key=backup.storage_key, size=backup.size, mime_type="application/zip", etag=backup.sha256 or backup.id,
                last_modified=backup.finished_at or backup.created_at, public=False,
                filename=service.download_name(backup))
    response = send_blob(blob, attachment=True, store=making.backup_store())
    response.headers["Cache-Control"] = "private, no-store"
    return response
