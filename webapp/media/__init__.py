"""Photos and files: the gallery, uploads and serving."""

from flask import Blueprint, Flask

bp = Blueprint("media", __name__)


def init_app(app: Flask) -> None:
    """Serve the media pages, check integrity daily, and let the account purge find the photos' files."""
    from .. import jobs
    from ..auth import deletion
    from . import editor, gallery, integrity, previews, routes, service  # noqa: F401  (pages on bp, job handler)

    app.register_blueprint(bp)
    jobs.register("integrity_check", integrity.run_integrity_check, "cron", hour=4, minute=7)
    jobs.register("prune_preview_jobs", previews.prune_finished, "cron", hour=4, minute=53,
                  title="Prune finished preview jobs")
    deletion.register_blob_owner(app, service.owned_keys)
