"""The settings page: profile, photos, email, password, two-factor, API keys, sessions, deletion; and the
Integrations page (screenshot tools)."""

from flask import Blueprint, Flask

bp = Blueprint("settings", __name__, url_prefix="/settings")


def init_app(app: Flask) -> None:
    """Serve the settings page and its sections."""
    from . import integration_routes, routes  # noqa: F401  (their pages register on bp)

    app.register_blueprint(bp)
