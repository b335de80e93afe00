"""JSON endpoints for view statistics: of one of your photos, and of one of your share links."""

from __future__ import annotations

from flask import g

from ..analytics import stats
from ..analytics.schemas import StatsQuery, ViewStats
from ..media import service as media_service
from ..shares import service as shares_service
from . import bp
from .contract import operation


@bp.get("/api/v1/images/<image_id>/stats")
@operation("getImageStats", (200, ViewStats, "Views per day and where they came from."), tag="images",
           query=StatsQuery, errors={404: "No such image, or not yours."})
def image_stats(image_id: str, query: StatsQuery):
    """Views of the photo's original and embed page by people (not bots, not you), per UTC day.

    Views through a share link count on that link's statistics.
    """
    media = media_service.get_media_for(g.api_user, image_id, manage=True)
    return ViewStats.of(stats.photo_stats(media, query.days))


@bp.get("/api/v1/shares/<share_id>/stats")
@operation("getShareStats", (200, ViewStats, "Views, downloads and wrong passwords per day and in total."),
           tag="shares", query=StatsQuery, errors={404: "No such share link of yours."})
def share_stats(share_id: str, query: StatsQuery):
    """Views of the link by people (not preview bots, not you), its downloads and wrong passwords, per UTC day."""
    link = shares_service.get_share_for(g.api_user, share_id)
    return ViewStats.of(stats.share_stats(link, query.days))
