"""The admin panel: dashboard, people, groups, plans, the audit log, settings, storage, jobs, backups and the outbox.

Each page needs one permission (webapp.auth.permissions); the panel opens for anyone holding one that
shows a page, and answers 404 to everyone else, so that its addresses are not revealed.
"""

from flask import Blueprint, Flask, current_app, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..auth import permissions
from ..errors import NotFound
from ..extensions import csrf

bp = Blueprint("admin", __name__, url_prefix="/admin")

# The panel's pages in the order its navigation shows them: (endpoint, label, the permission it needs).
SECTIONS = (
    ("admin.dashboard", _l("Dashboard"), "view_stats"),
    ("admin.users", _l("People"), "manage_users"),
    ("admin.groups", _l("Groups"), "manage_users"),
    ("admin.plans", _l("Plans"), "manage_plans"),
    ("admin.audit", _l("Audit log"), "view_audit"),
    ("admin.settings", _l("Settings"), "manage_settings"),
    ("admin.registration", _l("Registration"), "manage_settings"),
    ("admin.storage", _l("Storage"), "manage_settings"),
    ("admin.jobs", _l("Jobs"), "manage_backups"),
    ("backups.admin_page", _l("Backups"), "manage_backups"),
    ("admin.outbox", _l("Outbox"), "manage_settings"),
)

# The blueprint checks CSRF itself, after the permission check: otherwise a stranger's POST without a
# token would get 400 here but 404 at an address that does not exist, which tells them it does.
csrf.exempt(bp)


@bp.before_request
def _staff_only():
    """404 on every admin address for anyone who holds no admin permission; each page checks its own."""
    if not permissions.is_staff(current_user):
        raise NotFound()
    if current_app.config["WTF_CSRF_ENABLED"]:
        csrf.protect()


def sections_for(user) -> list[tuple[str, str, str]]:
    """The admin pages `user` may open: (endpoint, label, url), in navigation order."""
    held = permissions.of(user)
    return [(endpoint, str(label), url_for(endpoint)) for endpoint, label, needed in SECTIONS
            if needed in held and endpoint in current_app.view_functions]


def init_app(app: Flask) -> None:
    """Serve the admin pages, give templates `can(permission)` and the admin navigation, and schedule the
    audit log's retention (the scheduler's leader queues it daily)."""
    from .. import jobs
    from . import auditlog
    from . import (audit_routes, dashboard_routes, plans_routes, routes, settings_routes,  # noqa: F401
                   storage_routes, users_routes)  # (their pages register on bp)

    app.register_blueprint(bp)
    jobs.register("prune_audit_events", auditlog.prune_old_events, "cron", hour=4, minute=41,
                  title=_l("Delete old audit events"))
    app.jinja_env.globals.update(
        can=lambda permission: permissions.has(current_user, permission),
        is_staff=lambda: permissions.is_staff(current_user),
        admin_sections=lambda: sections_for(current_user))
