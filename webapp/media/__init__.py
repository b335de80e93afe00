"""Photos and files: the gallery, uploads and serving."""

from flask import Blueprint, Flask
from flask_babel import lazy_gettext as _l

bp = Blueprint("media", __name__)


def init_app(app: Flask) -> None:
    """Serve the media pages (an owner's sizes without a session), check integrity daily, and let the account
    purge find the photos' files."""
    from .. import jobs
    from ..auth import deletion
    # Imported for what they register: pages on bp, the preview job's handler.
    from . import (deletion_routes, editor, gallery, hotlinks, integrity, links, previews, routes,  # noqa: F401
                   service, thumb_routes)

    app.register_blueprint(bp)
    app.session_interface.skip(thumb_routes.SESSIONLESS)
    app.add_template_global(links.shown_size_url)
    jobs.register("integrity_check", integrity.run_integrity_check, "cron", hour=4, minute=7,
                  title=_l("Check stored files and counters"))
    jobs.register("prune_preview_jobs", previews.prune_finished, "cron", hour=4, minute=53,
                  title=_l("Prune finished preview jobs"))
    deletion.register_blob_owner(app, service.owned_keys)
    service.listen_for_changes(app)  # what any instance announces empties this one's memories
    hotlinks.listen_for_changes(app)
