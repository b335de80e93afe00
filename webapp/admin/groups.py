"""Groups: the built-in Administrators, Members and Guests, and the ones an admin makes. No HTTP here.

Administrators always hold every permission and cannot be changed. Members' and Guests' permissions
may be changed but the groups stay (they are the roles). Custom groups are made, renamed, described,
given permissions and deleted. Someone with manage_users who is not an administrator may only grant
permissions they hold themselves, so that managing people never becomes a way to gain more.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import delete, func, select

from .. import audit
from ..auth import permissions
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..extensions import db
from ..models import Group, GroupPermission, User, UserGroup

NAME_LENGTH, DESCRIPTION_LENGTH = 60, 200


@dataclass
class Listed:
    """A group as the list shows it: the row, its permissions and how many people are in it."""

    group: Group
    permissions: frozenset[str]
    members: int

    @property
    def locked(self) -> bool:
        """Whether its permissions are fixed (Administrators hold every one, always)."""
        return self.group.builtin == "admin"


def _permissions_of(group: Group) -> frozenset[str]:
    if group.builtin == "admin":
        return frozenset(permissions.PERMISSIONS)
    return frozenset(db.session.scalars(select(GroupPermission.permission).where(GroupPermission.group_id == group.id)))


def _members_of(group: Group) -> int:
    if group.builtin:
        query = select(func.count()).select_from(User).where(User.role == group.builtin)
    else:
        query = select(func.count()).select_from(UserGroup).where(UserGroup.group_id == group.id)
    return db.session.scalar(query) or 0


def list_groups() -> list[Listed]:
    """The built-in groups (Administrators, Members, Guests) and then the others by name."""
    order = {role: n for n, role in enumerate(permissions.ROLES)}
    groups = db.session.scalars(select(Group)).all()
    groups = sorted(groups, key=lambda g: (g.builtin is None, order.get(g.builtin, 0), g.name.lower()))
    return [describe(group) for group in groups]


def describe(group: Group) -> Listed:
    """One group with its permissions and member count."""
    return Listed(group, _permissions_of(group), _members_of(group))


def get_group(group_id: int) -> Group:
    """One group; NotFound if there is none with that id."""
    group = db.session.get(Group, group_id) if 0 <= group_id <= 2 ** 31 - 1 else None
    if group is None:
        raise NotFound(_("There is no such group."), code="group_not_found")
    return group


def _name(value, group: Group | None) -> str:
    name = " ".join(str(value or "").split())
    if not name or len(name) > NAME_LENGTH:
        raise InvalidInput(_("name must be 1 to %(most)s characters.", most=NAME_LENGTH), code="invalid_name",
                           field="name")
    taken = db.session.scalar(select(Group.id).where(func.lower(Group.name) == name.lower()))
    if taken is not None and (group is None or taken != group.id):
        raise Conflict(_("Another group is already called %(name)s.", name=name), code="group_name_taken",
                       field="name")
    return name


def _description(value) -> str:
    description = str(value or "").strip()
    if len(description) > DESCRIPTION_LENGTH:
        raise InvalidInput(_("description has at most %(most)s characters.", most=DESCRIPTION_LENGTH),
                           code="invalid_description", field="description")
    return description


def _permission_set(actor: User, wanted, current: frozenset[str]) -> frozenset[str]:
    """The permissions asked for, checked: known codenames, and none the actor may not hand out."""
    wanted = frozenset(wanted or ())
    unknown = sorted(wanted - set(permissions.PERMISSIONS))
    if unknown:
        raise InvalidInput(_("permissions has an unknown permission: %(name)s.", name=unknown[0]),
                           code="unknown_permission", field="permissions")
    if actor.role != "admin":
        # Granting or taking away what one does not hold oneself is an administrator's decision.
        beyond = (wanted ^ current) - permissions.of(actor)
        if beyond:
            raise Forbidden(_("You may only grant or remove permissions you hold yourself."),
                            code="permission_escalation", field="permissions")
    return wanted


def create_group(actor: User, name, description="", granted=()) -> Group:
    """A new group with `granted` permissions."""
    group = Group(name=_name(name, None), description=_description(description), builtin=None)
    wanted = _permission_set(actor, granted, frozenset())
    db.session.add(group)
    db.session.flush()
    db.session.add_all(GroupPermission(group_id=group.id, permission=p) for p in sorted(wanted))
    audit.record("group_created", actor.id, target=f"group:{group.id}", name=group.name,
                 permissions=sorted(wanted))
    db.session.commit()
    permissions.forget()
    return group


def update_group(actor: User, group_id: int, values: dict) -> Group:
    """Change a group's name, description or permissions (the keys given in `values`)."""
    group = get_group(group_id)
    if group.builtin == "admin":
        raise Conflict(_("Administrators always hold every permission; this group cannot be changed."),
                       code="group_locked")
    before = {"name": group.name, "description": group.description, "permissions": sorted(_permissions_of(group))}
    after = {}
    if "name" in values:
        if group.builtin and " ".join(str(values["name"] or "").split()) != group.name:
            raise Conflict(_("A built-in group keeps its name."), code="group_builtin", field="name")
        after["name"] = _name(values["name"], group)
    if "description" in values:
        after["description"] = _description(values["description"])
    if "permissions" in values and values["permissions"] is not None:
        after["permissions"] = sorted(_permission_set(actor, values["permissions"], _permissions_of(group)))
    changed = {key: value for key, value in after.items() if before[key] != value}
    if not changed:
        return group
    if "permissions" in changed:
        db.session.execute(delete(GroupPermission).where(GroupPermission.group_id == group.id))
        db.session.add_all(GroupPermission(group_id=group.id, permission=p) for p in changed["permissions"])
    group.name = changed.get("name", group.name)
    group.description = changed.get("description", group.description)
    audit.record("group_changed", actor.id, target=f"group:{group.id}", name=group.name,
                 before={key: before[key] for key in changed}, after=changed)
    db.session.commit()
    permissions.forget()
    return group


def delete_group(actor: User, group_id: int) -> None:
    """Delete a group the admin made; its people leave it (and lose what only it gave them)."""
    group = get_group(group_id)
    if group.builtin:
        raise Conflict(_("%(name)s is a built-in group and cannot be deleted.", name=group.name),
                       code="group_builtin")
    if actor.role != "admin":
        _permission_set(actor, (), _permissions_of(group))  # taking away counts as changing them
    listed = describe(group)
    audit.record("group_deleted", actor.id, target=f"group:{group.id}", name=group.name,
                 permissions=sorted(listed.permissions), members=listed.members)
    db.session.execute(delete(UserGroup).where(UserGroup.group_id == group.id))
    db.session.execute(delete(GroupPermission).where(GroupPermission.group_id == group.id))
    db.session.delete(group)
    db.session.commit()
    permissions.forget()


def names_of(user: User) -> list[str]:
    """The names of `user`'s groups: the built-in one of their role first, then the others by name."""
    builtin = db.session.scalar(select(Group.name).where(Group.builtin == user.role))
    others = db.session.scalars(select(Group.name).join(UserGroup, UserGroup.group_id == Group.id)
                                .where(UserGroup.user_id == user.id, Group.builtin.is_(None)).order_by(Group.name))
    return ([builtin] if builtin else []) + list(others)
