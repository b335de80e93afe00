"""Accounts: who someone is and how they prove it."""

from flask import Blueprint, Flask

bp = Blueprint("auth", __name__)


def init_app(app: Flask) -> None:
    """Serve the log-in pages, load the logged-in account, purge deleted accounts and expired tokens."""
    from .. import jobs
    from ..extensions import login_manager
    from . import deletion, routes, service, sessions

    app.register_blueprint(bp)
    login_manager.user_loader(sessions.load_user)
    login_manager.unauthorized_handler(routes.unauthorized)
    jobs.register("account_purge", deletion.run_account_purge, "interval", hours=1)
    jobs.register("token_cleanup", service.run_token_cleanup, "cron", hour=3, minute=17)
