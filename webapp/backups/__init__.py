"""Backups that restore: archives of one account or of the whole instance, made, read back, kept on a
schedule and restored, all as jobs. The archive format is archive.py; what goes in is contents.py."""

from flask import Blueprint, Flask
from flask_babel import lazy_gettext as _l

bp = Blueprint("backups", __name__)


def init_app(app: Flask) -> None:
    """Serve the backup pages, register the backup jobs, the schedules' clock and the account purge's hook."""
    from .. import jobs
    from ..auth import deletion
    from . import routes, service, tasks  # noqa: F401  (pages register on bp, jobs on the registry)

    jobs.add_source(service.queue_due_schedules)
    jobs.register("verify_backups", tasks.verify_latest, "cron", day_of_week="sun", hour=5, minute=11,
                  title=_l("Re-read the latest backups"))
    deletion.register_purge_hook(app, service.forget_account)
    app.register_blueprint(bp)
