"""The owner's statistics pages: /stats/<media_id> for a photo, /shares/<share_id>/stats for a link.

Anyone but the owner (logged in or not) gets 404 from the photo's and the link's own doors.
"""

from __future__ import annotations

from datetime import date

from babel.dates import format_skeleton
from flask import current_app, request
from flask_babel import get_locale
from flask_login import current_user

from ..media import service as media_service
from ..shares import service as shares_service
from ..web import render
from . import bp, chart, stats

PERIODS = (7, 30, 90)


@bp.get("/stats/<media_id>")
def photo(media_id: str):
    """Views of one of your photos per day, with where they came from."""
    media = media_service.get_media_for(current_user, media_id, manage=True)
    return _page("analytics/photo.html", stats.photo_stats(media, _days()), media=media)


@bp.get("/shares/<share_id>/stats")
def share(share_id: str):
    """Views, downloads and wrong passwords of one of your share links, per day and in total."""
    link = shares_service.get_share_for(current_user, share_id)
    return _page("analytics/share.html", stats.share_stats(link, _days()), link=link,
                 listed=shares_service.describe(link))


def _periods() -> tuple[int, ...]:
    """The periods worth offering: none longer than events are kept."""
    kept = current_app.config["SHOEBOX"]["analytics"]["retention_days"]
    return tuple(p for p in PERIODS if p <= kept) or PERIODS[:1]


def _days() -> int:
    """?days= when it is one of the periods offered; else 30 days, or the longest offered when that is less."""
    offered = _periods()
    asked = request.args.get("days", type=int)
    if asked in offered:
        return asked
    return stats.DEFAULT_DAYS if stats.DEFAULT_DAYS in offered else offered[-1]


def _short_day(day: date) -> str:
    return format_skeleton("MMMd", day, locale=get_locale() or "en")


def _page(template: str, found: stats.Stats, **context):
    return render(template, stats=found, chart=chart.build(found.days), periods=_periods(), days=len(found.days),
                  short_day=_short_day, retention_days=current_app.config["SHOEBOX"]["analytics"]["retention_days"],
                  **context)
