"""Albums: named, ordered collections of a person's photos."""

from flask import Blueprint, Flask

bp = Blueprint("albums", __name__)


def init_app(app: Flask) -> None:
    """Serve the album pages."""
    from . import routes  # noqa: F401  (its pages register on bp)

    app.register_blueprint(bp)
