"""Where the files are kept, and moving them to another store while the site keeps working.

`init_app` installs the StoreRouter as the app's blob store (extensions.blob_store()), registers the
move and clean-up jobs and the `flask storage` commands, and listens for other instances' changes.
"""

from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Make the router the app's file store; refuse to start if the files are in a store not configured here."""
    from .. import cluster
    from ..extensions import db
    from . import cli, location, moving  # noqa: F401  (the jobs register on import)
    from .router import StoreRouter

    router = StoreRouter(app)
    app.extensions["blob_store"] = router
    cluster.listen(app, "storage", router.forget)
    app.cli.add_command(cli.storage)
    with app.app_context():
        try:
            router.resolve()
        except SQLAlchemyError:
            # No database yet (before the first migration) or it is down: the state is read at first use.
            log.debug("The storage state could not be read at start-up.", exc_info=True)
            router.named(location.MAIN_STORE)  # a new site keeps its files there: its folder exists from the start
        finally:
            db.session.remove()
