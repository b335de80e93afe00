"""Views as events, and the owner's statistics pages built from them.

The routes that serve a view call record(): a photo's original, its embed page, and every share link's
page, downloads and wrong passwords. Known preview bots, HEAD requests and the owner's own looks are not
views, and no address is kept, only a visitor hash whose salt changes every UTC day. Events reach the
database through a buffer (writer.py) so that serving never waits for them; old ones are pruned daily.
"""

from flask import Blueprint, Flask
from flask_babel import lazy_gettext as _l

from .agents import is_preview_bot
from .events import counts_as_view, record, visitor_hash
from .writer import EXTENSION, EventWriter, writer_of

bp = Blueprint("stats", __name__)

__all__ = ["bp", "counts_as_view", "flush", "init_app", "is_preview_bot", "record", "visitor_hash"]


def flush(app: Flask | None = None) -> int:
    """Write the events still waiting in the buffer now (tests; at exit it happens by itself)."""
    from flask import current_app

    return writer_of(app or current_app._get_current_object()).flush()


def init_app(app: Flask) -> None:
    """Start the app's event writer, serve the statistics pages, and prune old events daily."""
    from .. import jobs
    from . import retention, routes  # noqa: F401  (its pages register on bp)

    app.extensions[EXTENSION] = EventWriter(app)
    app.register_blueprint(bp)
    jobs.register("prune_view_events", retention.prune_view_events, "cron", hour=4, minute=23,
                  title=_l("Delete old view events"))
