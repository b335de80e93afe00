"""Accounts: who someone is and how they prove it."""

from flask import Blueprint, Flask
from flask_babel import lazy_gettext as _l

bp = Blueprint("auth", __name__)


def init_app(app: Flask) -> None:
    """Serve the log-in pages, load the logged-in account, purge deleted accounts and expired tokens."""
    from .. import jobs
    from ..extensions import login_manager
    from . import deletion, oidc, oidc_routes, routes, service, sessions

    app.register_blueprint(bp)
    oidc.init_app(app)
    app.context_processor(oidc_routes.single_sign_on)
    login_manager.user_loader(sessions.load_user)
    login_manager.unauthorized_handler(routes.unauthorized)
    jobs.register("account_purge", deletion.run_account_purge, "interval", hours=1,
                  title=_l("Delete accounts whose grace period is over"))
    jobs.register("token_cleanup", service.run_token_cleanup, "cron", hour=3, minute=17,
                  title=_l("Forget expired sign-ins and links"))
