"""The owner's share pages: the share dialog, the Shared links page, editing, revoking, QR codes.

Every link comes through service.get_share_for(); every photo or album it points at through its
own domain's door.
"""

from __future__ import annotations

from flask_login import current_user, login_required

from ..web import render
from . import bp, service


@bp.get("/shares")
@login_required
def index():
    """Every link the person has made, with its status, counters and actions."""
    return render("shares/index.html", shares=service.shares_of(current_user))
