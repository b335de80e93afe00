"""Share links: the owner's pages for making and managing them, and the pages their recipients see."""

from flask import Blueprint, Flask

bp = Blueprint("shares", __name__)


def init_app(app: Flask) -> None:
    """Serve the owner's share pages and every /s/<token> page of recipients."""
    from . import recipient, routes  # noqa: F401  (their pages register on bp)

    app.register_blueprint(bp)
