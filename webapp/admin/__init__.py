"""The admin panel: instance settings, invites, background jobs, the mail outbox (more arrives with later features)."""

from flask import Blueprint, Flask

bp = Blueprint("admin", __name__, url_prefix="/admin")


def init_app(app: Flask) -> None:
    """Serve the admin pages."""
    from . import routes  # noqa: F401  (its pages register on bp)

    app.register_blueprint(bp)
