"""Shoebox: a self-hosted image and file host. `create_app()` builds the Flask application."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config as config_module

__version__ = "0.1.0"

ROOT = Path(__file__).resolve().parent.parent
DATABASE_CONNECT_SECONDS = 5


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app. `overrides` takes Shoebox keys (nested, lower case) and Flask keys (UPPER CASE).

    The special key SHOEBOX_CONFIG_FILE chooses the TOML file (None: read none).
    """
    overrides = dict(overrides or {})
    flask_keys = {key: overrides.pop(key) for key in list(overrides) if key.isupper()}
    config_file = flask_keys.pop("SHOEBOX_CONFIG_FILE", True)
    settings = config_module.load_settings(overrides, config_file=config_file)

    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.config.update(_flask_config(settings))
    app.config.update(flask_keys)
    if settings["server"]["trusted_proxies"]:
        hops = settings["server"]["trusted_proxies"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    from . import cli, cluster, database, error_reports, errors, jobs, mail, stores, web

    web.init_app(app)  # first, so that every request has its id before any other hook runs
    error_reports.init_app(app)
    _init_extensions(app)
    try:
        cluster.init_app(app)  # before the domains, which register what they forget when told
        mail.init_app(app)
        stores.init_app(app)  # the file store: [storage], or the store the files were moved to
        _init_domains(app)
        errors.init_app(app)
        cli.init_app(app)
        database.prepare(app)
        _recover(app)
        jobs.init_app(app)
        _start_listening(app)
    except BaseException:
        _abandon(app)
        raise
    return app


def _abandon(app: Flask) -> None:
    """Stop what a start-up that failed had begun (the bus, the scheduler, workers) and close its database
    connections, so that nothing of the app is left running or open behind the error."""
    from . import jobs
    from .extensions import db

    jobs.shutdown(app, wait=0)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _start_listening(app: Flask) -> None:
    """Hear the other instances' changes (serving processes only: not inside `flask` commands)."""
    import click

    from . import cluster

    if click.get_current_context(silent=True) is None:
        cluster.start(app)


def _recover(app: Flask) -> None:
    """Clean up after a process that was killed: its scratch files, and any counter that drifted."""
    import click

    from . import scratch
    from .media import integrity

    settings = app.config["SHOEBOX"]
    scratch.sweep(settings["data_dir"])
    # Like the migrations: `flask` commands leave the database alone (`flask check` repairs on request).
    if settings["database"]["auto_migrate"] and click.get_current_context(silent=True) is None:
        with app.app_context():
            integrity.repair_counters()


def _flask_config(settings: dict) -> dict:
    data_dir = Path(settings["data_dir"])
    data_dir.mkdir(parents=True, exist_ok=True)
    security = settings["security"]
    return {
        "SHOEBOX": settings,
        "SECRET_KEY": security["secret_key"] or config_module.secret_from_data_dir(data_dir, "secret_key"),
        "TOKEN_KEY": security["token_key"] or config_module.secret_from_data_dir(data_dir, "token_key"),
        "SQLALCHEMY_DATABASE_URI": settings["database"]["url"],
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(settings["database"]["url"]),
        "SQLALCHEMY_ECHO": settings["database"]["echo"],
        "MAX_CONTENT_LENGTH": config_module.request_body_limit(settings),
        "SESSION_COOKIE_NAME": "shoebox_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": timedelta(days=security["session_days"]),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "RATELIMIT_STORAGE_URI": settings["limits"]["storage_url"],
        "RATELIMIT_HEADERS_ENABLED": True,
        "BABEL_DEFAULT_LOCALE": settings["i18n"]["default_locale"],
        "BABEL_TRANSLATION_DIRECTORIES": str(ROOT / "translations"),
        "JSON_SORT_KEYS": False,
    }


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        # Writers wait for the lock rather than failing at once with "database is locked".
        return {"connect_args": {"timeout": 30}}
    # A database host that drops packets must fail a request in seconds (503), not after TCP's minutes.
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": DATABASE_CONNECT_SECONDS}}


def _init_extensions(app: Flask) -> None:
    from . import i18n
    from .extensions import csrf, db, htmx, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    htmx.init_app(app)
    i18n.init_app(app)  # the language of each request, its headers, and the language picker
    login_manager.init_app(app)


def _init_domains(app: Flask) -> None:
    """Each domain registers its pages, its scheduled jobs and the files it owns; in this order,
    so that auth's first-run check runs before any other page's hooks."""
    from . import admin, albums, analytics, auth, backups, health, media, settings, shares
    from .api import bp as api_bp

    app.register_blueprint(health.bp)
    auth.init_app(app)
    settings.init_app(app)
    media.init_app(app)
    albums.init_app(app)
    shares.init_app(app)
    analytics.init_app(app)
    backups.init_app(app)
    admin.init_app(app)
    app.register_blueprint(api_bp)
