"""Share links: the owner's pages for making and managing them, and the pages their recipients see."""

from flask import Blueprint, Flask

bp = Blueprint("shares", __name__)


def init_app(app: Flask) -> None:
    """Serve the owner's share pages, every /s/<token> page of recipients, and /oembed."""
    from . import oembed, recipient, routes  # noqa: F401  (their pages register on bp)

    app.register_blueprint(bp)
