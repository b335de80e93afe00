"""The gallery and everything a person does with their photos."""

from __future__ import annotations

from flask import Blueprint
from flask_login import login_required

from ..web import render

bp = Blueprint("media", __name__)


@bp.get("/")
@login_required
def gallery():
    """The person's photos, newest first."""
    return render("media/gallery.html")
