"""Admin → Dashboard: totals, charts and the instance's health."""

from __future__ import annotations

from flask import redirect
from flask_login import current_user

from ..auth import permissions
from ..web import render
from . import bp, sections_for


@bp.get("/")
def dashboard():
    """The dashboard for those who may see it; anyone else in the panel goes to their first page."""
    if not permissions.has(current_user, "view_stats"):
        return redirect(sections_for(current_user)[0][2], 303)
    return render("admin/dashboard.html")
