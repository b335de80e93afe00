"""Flask extensions, created unbound here and bound to an app in create_app()."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    # Stable constraint names, so that Alembic can alter them on SQLite and PostgreSQL alike.
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })


def client_address():
    """The client's address as seen through the trusted proxies (ProxyFix has applied them)."""
    from flask import request

    return request.remote_addr or "unknown"


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
def default_limit() -> str:
    """The app's own [limits] default ("" for none), read per request: the limiter is one object for every app
    in the process, and a default given to it by one app's config would hold for the apps made after it."""
    from flask import current_app

    return current_app.config["SHOEBOX"]["limits"]["default"]


limiter = Limiter(key_func=client_address, default_limits=[default_limit])
htmx = Htmx()
babel = Babel()


def unlimited(view):
    """limiter.exempt, known to the limiter before it works out a request's limits: a cached thumbnail is
    answered in less time than resolving the (empty) set of limits of its view took (a fifth of it)."""
    view.shoebox_unlimited = True
    return limiter.exempt(view)


@limiter.request_filter
def _unlimited_view() -> bool:
    from flask import current_app, request

    return getattr(current_app.view_functions.get(request.endpoint), "shoebox_unlimited", False)


def blob_store():
    """The app's file store (a webapp.storage.BlobStore), made once in create_app()."""
    from flask import current_app

    return current_app.extensions["blob_store"]
