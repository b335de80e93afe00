"""The settings page: profile, photos, email, password, two-factor, API keys, sessions, deletion."""

from flask import Blueprint, Flask

bp = Blueprint("settings", __name__, url_prefix="/settings")


def init_app(app: Flask) -> None:
    """Serve the settings page and its sections."""
    from . import routes  # noqa: F401  (its pages register on bp)

    app.register_blueprint(bp)
