"""JSON endpoint of the admin dashboard: the instance's totals, daily series, top users, sign-ins and health."""

from __future__ import annotations

from flask import current_app

from ..admin import dashboard
from ..admin.stats_schemas import AdminStats, AdminStatsQuery
from ..auth import permissions
from . import bp
from .contract import operation


@bp.get("/api/v1/admin/stats")
@operation("getAdminStats", (200, AdminStats, "The dashboard's figures."), tag="admin", query=AdminStatsQuery,
           admit=permissions.api_needs("view_stats"), errors={404: "You may not see the dashboard (view_stats)."})
def admin_stats(query: AdminStatsQuery):
    """What Admin → Dashboard shows: totals now, a series per UTC day over `days`, the 10 accounts using the
    most storage, the 10 latest sign-ins, and the health /health/ready checks plus each scheduled job's
    latest run and the data folder's free disk.
    """
    return AdminStats.of(dashboard.dashboard(current_app, query.days))
