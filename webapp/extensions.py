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


# How long a rate-limit storage (Redis) may take to answer. A dead or hung Redis costs one request this
# much, then the limiter counts in this process's memory (each instance alone, as /health/ready says)
# and tries Redis again after 1, 2, 4 … 32 s; a Redis that answers at all answers in well under it.
LIMITS_SOCKET_SECONDS = 0.25
limiter = Limiter(key_func=client_address, default_limits=[default_limit], in_memory_fallback_enabled=True,
                  storage_options={"socket_connect_timeout": LIMITS_SOCKET_SECONDS,
                                   "socket_timeout": LIMITS_SOCKET_SECONDS})
htmx = Htmx()


def count_hit(item, *identifiers) -> tuple[bool, float]:
    """Count one hit of the rate limit `item` for `identifiers` outside Flask-Limiter's decorators: whether it
    was allowed, and when its window resets. A storage (Redis) that fails sends the limiter to this process's
    memory, as Flask-Limiter does for its own limits; its next checks try Redis again."""
    try:
        return _count_hit(item, identifiers)
    except Exception:
        if getattr(limiter, "_storage_dead", True):
            raise
        import logging

        logging.getLogger(__name__).warning("Rate limit storage unreachable; counting in this instance's memory.")
        limiter._storage_dead = True  # Flask-Limiter's own flag (it has no public one)
        return _count_hit(item, identifiers)


def _count_hit(item, identifiers: tuple) -> tuple[bool, float]:
    allowed = limiter.limiter.hit(item, *identifiers)
    reset_at = 0.0 if allowed else limiter.limiter.get_window_stats(item, *identifiers)[0]
    return allowed, reset_at
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
