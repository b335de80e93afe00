"""Who may do what: fixed permission codenames gathered into groups.

Every account has one role, which is a built-in group (Administrators, Members, Guests: users.role is
"admin", "user" or "guest"), and may belong to any number of groups the admin makes. What an account
may do is the union of its groups' permissions; Administrators always hold every one. The admin pages
and the admin API check the one permission each needs and answer 404 without it, so an address that
someone may not use is indistinguishable from one that does not exist.
"""

from __future__ import annotations

from functools import wraps

from flask import g, has_app_context
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from ..errors import Forbidden, NotFound
from ..extensions import db
from ..models import Group, GroupPermission, Permission, User, UserGroup

# codename: what it lets someone do, in the words the admin's group page shows.
PERMISSIONS = {
    "manage_users": _l("See and change people's accounts, roles and groups"),
    "manage_plans": _l("Create and change plans and their limits"),
    "manage_settings": _l("Change the instance's settings, registration and invites"),
    "view_audit": _l("Read the audit log"),
    "manage_backups": _l("Back up and restore the whole instance; see background jobs"),
    "view_stats": _l("See the dashboard: totals, charts and health"),
    "upload": _l("Upload photos and files"),
    "share": _l("Make share links"),
    "transform": _l("Make transformed versions of photos"),
    "use_api": _l("Use the API with tokens and keys"),
}
# What someone refused a member permission is told, and the error code.
REFUSALS = {
    "upload": (_l("Your account may not upload; ask an administrator."), "upload_not_allowed"),
    "share": (_l("Your account may not make share links; ask an administrator."), "share_not_allowed"),
    "transform": (_l("Your account may not transform photos; ask an administrator."), "transform_not_allowed"),
    "use_api": (_l("Your account may not use the API; ask an administrator."), "api_not_allowed"),
}
# The permissions that open the admin panel (any one shows it, with the pages it allows).
ADMIN_PERMISSIONS = ("view_stats", "manage_users", "manage_plans", "view_audit", "manage_settings",
                     "manage_backups")
ROLES = ("admin", "user", "guest")
# The built-in groups as the migration's seed makes them; the admin may change Members' and Guests'.
BUILTIN_GROUPS = {
    "admin": ("Administrators", "Everything, always.", tuple(PERMISSIONS)),
    "user": ("Members", "People who keep their photos here.", ("upload", "share", "transform", "use_api")),
    "guest": ("Guests", "May look at what is shared with them; may not upload.", ()),
}


def seed() -> None:
    """Insert the permission codenames and the built-in groups that are missing; the caller commits."""
    known = set(db.session.scalars(select(Permission.codename)))
    db.session.add_all(Permission(codename=name) for name in PERMISSIONS if name not in known)
    db.session.flush()
    present = set(db.session.scalars(select(Group.builtin).where(Group.builtin.is_not(None))))
    for role, (name, description, granted) in BUILTIN_GROUPS.items():
        if role in present:
            continue
        group = Group(name=name, description=description, builtin=role)
        db.session.add(group)
        db.session.flush()
        db.session.add_all(GroupPermission(group_id=group.id, permission=name) for name in granted)


def of(user: User | None) -> frozenset[str]:
    """Every permission `user` holds now (none for nobody or a blocked account); read once per request."""
    if user is None or not getattr(user, "is_authenticated", False) or user.is_blocked:
        return frozenset()
    if user.role == "admin":
        return frozenset(PERMISSIONS)
    # Remembered for this request only (g): each request reads the groups afresh, on every instance.
    cache = g.setdefault("_permissions", {}) if has_app_context() else {}
    key = (user.id, user.role)
    if key not in cache:
        role_group = select(Group.id).where(Group.builtin == user.role)
        own_groups = select(UserGroup.group_id).where(UserGroup.user_id == user.id)
        cache[key] = frozenset(db.session.scalars(
            select(GroupPermission.permission)
            .where(GroupPermission.group_id.in_(role_group.union(own_groups)))))
    return cache[key]


def forget() -> None:
    """Drop this request's remembered permissions (after a change to someone's groups or role)."""
    if has_app_context():
        g.pop("_permissions", None)


def has(user: User | None, permission: str) -> bool:
    """Whether `user` holds `permission`."""
    assert permission in PERMISSIONS, permission
    return permission in of(user)


def require(user: User | None, permission: str) -> None:
    """NotFound unless `user` holds `permission` (the address then seems not to exist)."""
    if not has(user, permission):
        raise NotFound()


def demand(user: User | None, permission: str) -> None:
    """Forbidden, with the sentence that says what the account may not do, unless `user` holds `permission`
    (for the member permissions, whose refusal the person should understand; admin pages use require())."""
    if not has(user, permission):
        message, code = REFUSALS[permission]
        raise Forbidden(str(message), code=code)


def is_staff(user: User | None) -> bool:
    """Whether `user` holds any permission that opens the admin panel."""
    held = of(user)
    return any(permission in held for permission in ADMIN_PERMISSIONS)


def needs(permission: str):
    """A route decorator: 404 unless the signed-in person holds `permission`."""
    def decorate(view):
        @wraps(view)
        def checked(*args, **kwargs):
            require(current_user, permission)
            return view(*args, **kwargs)
        return checked
    return decorate


def api_needs(permission: str):
    """An `admit` for api.contract.operation: 404 unless the API caller holds `permission`."""
    def admit(user: User) -> None:
        require(user, permission)
    return admit
