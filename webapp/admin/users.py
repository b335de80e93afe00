"""People, as an administrator sees them: the list (search, filters, keyset pages), one person's facts,
and what may be done to an account. No HTTP here: plain values in, domain errors out.

Every change checks the same rules first (see _check_may_change): nobody blocks, demotes or deletes the
last active administrator, nor their own account; only an administrator touches an administrator's
account or makes someone one. Each change is audited in the transaction that makes it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select, true, tuple_

from .. import audit, cluster, jobs
from ..auth import deletion, permissions, service as accounts, sessions, tokens, twofactor
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..extensions import db
from ..models import (Album, ApiKey, AuditEvent, BrowserSession, Group, GroupPermission, Plan, ShareLink, User,
                      UserGroup, utcnow)
from ..web import absolute_url

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_QUERY = 100
# Each sort is served by an index on (column, id): see migration 0008.
SORTS = {"joined": User.created_at, "last_login": User.last_login_at, "storage": User.storage_used,
         "photos": User.media_count}
RECENT_EVENTS = 20


@dataclass(frozen=True)
class Filters:
    """What the list shows: a search, filters, an order and where the page starts."""

    q: str = ""
    group: str = ""  # a role ("admin", "user", "guest") or a group's id
    plan: str = ""  # a plan's id or name
    blocked: bool | None = None
    unverified: bool | None = None
    deletion_pending: bool | None = None
    active_within_days: int | None = None
    sort: str = "joined"
    order: str = "desc"
    cursor: str = ""
    limit: int = PAGE_SIZE


@dataclass
class Page:
    users: list[User]
    next_cursor: str | None


def list_users(filters: Filters) -> Page:
    """One page of accounts as `filters` ask, and the cursor of the next (None at the end)."""
    query = _filtered(filters)
    key = _decode(filters) if filters.cursor else None
    limit = max(1, min(filters.limit, MAX_PAGE_SIZE))
    users: list[User] = []
    for condition in _stretches(filters, key):  # each one an index range, in the order asked for
        users += db.session.scalars(_ordered(query.where(condition), filters).limit(limit + 1 - len(users))).all()
        if len(users) > limit:
            break
    more = len(users) > limit
    return Page(users[:limit], _encode(filters, users[limit - 1]) if more else None)


def _ordered(query, filters: Filters):
    column = SORTS[filters.sort]
    if filters.order == "desc":
        return query.order_by(column.desc(), User.id.desc())
    return query.order_by(column.asc(), User.id.asc())


def _stretches(filters: Filters, key: tuple | None) -> list:
    """The conditions that, queried one after the other, give the accounts after `key` in order.

    Only last sign-in has NULLs (never signed in), which count as the oldest sign-in of all. They are a
    stretch of their own rather than an OR in one query, so that each query is a plain range of the
    (column, id) index on SQLite and PostgreSQL alike, whichever end each puts NULLs at.
    """
    column, desc = SORTS[filters.sort], filters.order == "desc"
    value, user_id = key if key is not None else (None, None)
    if filters.sort != "last_login":
        if key is None:
            return [true()]
        return [tuple_(column, User.id) < (value, user_id) if desc else tuple_(column, User.id) > (value, user_id)]
    signed_in = column.is_not(None) if value is None else \
        (tuple_(column, User.id) < (value, user_id) if desc else tuple_(column, User.id) > (value, user_id))
    never = column.is_(None) if key is None else and_(column.is_(None), User.id < user_id if desc else User.id > user_id)
    if desc:
        return [signed_in, column.is_(None)] if value is not None or key is None else [never]
    return [never, signed_in] if value is None else [signed_in]


def _filtered(filters: Filters):
    query = select(User)
    if filters.q:
        if len(filters.q) > MAX_QUERY:
            raise InvalidInput(_("A search has at most %(n)s characters.", n=MAX_QUERY), code="query_too_long",
                               field="q")
        query = query.where(or_(*(column.icontains(filters.q, autoescape=True)
                                  for column in (User.display_name, User.username, User.email))))
    if filters.group:
        query = query.where(_in_group(filters.group))
    if filters.plan:
        query = query.where(User.plan_id == find_plan(filters.plan).id)
    if filters.blocked is not None:
        query = query.where(User.is_blocked.is_(filters.blocked))
    if filters.unverified is not None:
        query = query.where(User.is_verified.is_(not filters.unverified))
    if filters.deletion_pending is not None:
        pending = User.delete_scheduled_for.is_not(None)
        query = query.where(pending if filters.deletion_pending else ~pending)
    if filters.active_within_days is not None:
        if not 1 <= filters.active_within_days <= 36500:
            raise InvalidInput(_("Signed in within takes a number of days from 1 to 36500."),
                               code="invalid_days", field="active_within_days")
        query = query.where(User.last_login_at >= utcnow() - timedelta(days=filters.active_within_days))
    return query


def _in_group(group: str):
    if group in permissions.ROLES:
        return User.role == group
    chosen = db.session.get(Group, int(group)) if group.isdigit() and len(group) < 10 else None
    if chosen is None:
        raise InvalidInput(_("There is no such role or group."), code="unknown_group", field="group")
    if chosen.builtin:
        return User.role == chosen.builtin
    return User.id.in_(select(UserGroup.user_id).where(UserGroup.group_id == chosen.id))


def _encode(filters: Filters, user: User) -> str:
    value = getattr(user, SORTS[filters.sort].key)
    if isinstance(value, datetime):
        value = value.astimezone(timezone.utc).isoformat()
    raw = json.dumps([filters.sort, filters.order, value, user.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(filters: Filters) -> tuple:
    """The (sort value, id) a cursor stands for; it must have been made for this same order."""
    try:
        raw = base64.urlsafe_b64decode(filters.cursor + "=" * (-len(filters.cursor) % 4))
        sort, order, value, user_id = json.loads(raw)
        if (sort, order) != (filters.sort, filters.order) or type(user_id) is not int:
            raise ValueError
        if sort in ("joined", "last_login") and value is not None:
            value = datetime.fromisoformat(value)
        elif sort in ("storage", "photos") and type(value) is not int or sort == "joined" and value is None:
            raise ValueError
        return value, user_id
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise InvalidInput(_("The cursor is not one this server gave out for this order."),
                           code="invalid_cursor", field="cursor") from None


# --- one person -------------------------------------------------------------------------------

def get_user(user_id: int) -> User:
    """The account with this id; NotFound otherwise."""
    user = db.session.get(User, user_id) if 0 < user_id < 2**31 else None
    if user is None:
        raise NotFound(_("There is no such account."), code="user_not_found")
    return user


@dataclass
class Profile:
    """Everything the person's page shows beside the account row itself."""

    user: User
    albums: int
    share_links: int
    active_share_links: int
    api_keys: list[ApiKey]
    sessions: list[BrowserSession]
    last_sign_in: AuditEvent | None
    groups: list[Group]
    events: list[AuditEvent]
    actors: dict[int, User] = field(default_factory=dict)

    @property
    def two_factor(self) -> bool:
        return self.user.totp_secret is not None


def profile(user: User) -> Profile:
    """What an administrator sees of `user`: counts, keys, sessions, sign-in, groups, recent events."""
    now = utcnow()
    count = lambda query: db.session.scalar(query) or 0  # noqa: E731
    links = select(func.count()).select_from(ShareLink).where(ShareLink.user_id == user.id)
    live = links.where(ShareLink.revoked_at.is_(None),
                       or_(ShareLink.expires_at.is_(None), ShareLink.expires_at > now))
    events = db.session.scalars(select(AuditEvent).where(
        or_(AuditEvent.actor_id == user.id, AuditEvent.target == f"user:{user.id}"))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(RECENT_EVENTS)).all()
    actor_ids = {event.actor_id for event in events if event.actor_id not in (None, user.id)}
    actors = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(actor_ids)))} if actor_ids else {}
    last = db.session.scalar(select(AuditEvent).where(AuditEvent.actor_id == user.id, AuditEvent.action == "login")
                             .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(1))
    return Profile(user=user, albums=count(select(func.count()).select_from(Album).where(Album.user_id == user.id)),
                   share_links=count(links), active_share_links=count(live),
                   api_keys=db.session.scalars(select(ApiKey).where(ApiKey.user_id == user.id,
                                                                    ApiKey.revoked_at.is_(None))
                                               .order_by(ApiKey.id.desc())).all(),
                   sessions=sessions.active(user), last_sign_in=last, groups=groups_of(user), events=events,
                   actors={user.id: user, **actors})


def groups_of(user: User) -> list[Group]:
    """The groups `user` was put in (the role's built-in group aside), by name."""
    return db.session.scalars(select(Group).join(UserGroup, UserGroup.group_id == Group.id)
                              .where(UserGroup.user_id == user.id).order_by(Group.name)).all()


def custom_groups() -> list[Group]:
    """Every group an administrator made, by name."""
    return db.session.scalars(select(Group).where(Group.builtin.is_(None)).order_by(Group.name)).all()


def offered_plans(user: User | None = None) -> list[Plan]:
    """The plans one may move someone to (not retired), with `user`'s own plan even when it is retired."""
    plans = db.session.scalars(select(Plan).order_by(Plan.storage_bytes, Plan.id)).all()
    return [plan for plan in plans if plan.retired_at is None or (user is not None and plan.id == user.plan_id)]


def find_plan(reference: str | int) -> Plan:
    """A plan by id or name; InvalidInput naming `plan` when there is none."""
    reference = str(reference).strip()
    plan = db.session.get(Plan, int(reference)) if reference.isdigit() and len(reference) < 10 else None
    plan = plan or db.session.scalar(select(Plan).where(Plan.name == reference))
    if plan is None:
        raise InvalidInput(_("There is no such plan."), code="unknown_plan", field="plan")
    return plan


# --- the rules --------------------------------------------------------------------------------

def is_active_admin(user: User) -> bool:
    return user.role == "admin" and not user.is_blocked and user.delete_scheduled_for is None


def _active_admins() -> int:
    return db.session.scalar(select(func.count()).select_from(User).where(
        User.role == "admin", User.is_blocked.is_(False), User.delete_scheduled_for.is_(None))) or 0


def _check_may_change(actor: User, user: User) -> None:
    """Forbidden when `actor` may not change `user`'s account at all: only an administrator changes an
    administrator's."""
    if user.role == "admin" and actor.role != "admin":
        raise Forbidden(_("Only an administrator can change an administrator's account."), code="admin_only")


def _check_may_remove(actor: User, user: User, what: str) -> None:
    """Refuse to take `user` out of the administrators' reach by `what` (block, demote, delete): not oneself,
    and never the last active administrator."""
    if actor.id == user.id:
        sentences = {"block": _("You cannot block your own account."),
                     "demote": _("You cannot take away your own administrator role."),
                     "delete": _("You cannot delete your own account from here; use your settings.")}
        raise Forbidden(sentences[what], code="not_yourself")
    if is_active_admin(user) and _active_admins() <= 1:
        raise Conflict(_("%(name)s is the last active administrator; make someone else an administrator first.",
                         name=user.username), code="last_admin")


# --- changes ----------------------------------------------------------------------------------

@dataclass
class Changes:
    """What PATCH (or a form) asks to change; None means unchanged."""

    is_blocked: bool | None = None
    plan: str | int | None = None
    role: str | None = None
    groups: list[int] | None = None
    is_verified: bool | None = None


def update_user(actor: User, user: User, changes: Changes) -> User:
    """Apply every change asked for, all or nothing: each is checked before any is made, then all are
    written (and audited) in one transaction."""
    _check_may_change(actor, user)
    steps = []
    if changes.role is not None and changes.role != user.role:
        steps.append(_role_change(actor, user, changes.role))
    if changes.is_blocked is not None and changes.is_blocked != user.is_blocked:
        steps.append(_block_change(actor, user, changes.is_blocked))
    if changes.plan is not None:
        steps.append(_plan_change(actor, user, changes.plan))
    if changes.groups is not None:
        steps.append(_groups_change(actor, user, changes.groups))
    if changes.is_verified is not None:
        if not changes.is_verified:
            raise InvalidInput(_("An address can be marked verified, not unverified."), code="invalid_verified",
                               field="is_verified")
        if not user.is_verified:
            steps.append(lambda: _verify(actor, user))
    newly_blocked = bool(changes.is_blocked) and not user.is_blocked
    plan_before = user.plan_id
    for step in steps:
        step()
    db.session.commit()
    permissions.forget()
    if newly_blocked or user.plan_id != plan_before:  # every instance forgets their photos and bandwidth limit
        cluster.announce(cluster.ACCOUNT, user.id)
    return user


def block(actor: User, user: User) -> None:
    """Block `user`: their sessions, tokens and keys stop, and their public photos and share links stop
    answering, from the next request on."""
    update_user(actor, user, Changes(is_blocked=True))


def unblock(actor: User, user: User) -> None:
    """Let `user` in again; their public photos and share links answer again."""
    update_user(actor, user, Changes(is_blocked=False))


def change_plan(actor: User, user: User, plan: str | int) -> None:
    update_user(actor, user, Changes(plan=plan))


def change_role(actor: User, user: User, role: str) -> None:
    update_user(actor, user, Changes(role=role))


def set_groups(actor: User, user: User, group_ids: list[int]) -> None:
    update_user(actor, user, Changes(groups=group_ids))


def mark_verified(actor: User, user: User) -> None:
    update_user(actor, user, Changes(is_verified=True))


def _block_change(actor: User, user: User, blocked: bool):
    if blocked:
        _check_may_remove(actor, user, "block")
    return lambda: accounts.set_blocked(user, blocked, actor, commit=False)


def _plan_change(actor: User, user: User, reference: str | int):
    plan = find_plan(reference)
    if plan.id == user.plan_id:
        return lambda: None
    if plan.retired_at is not None:
        raise InvalidInput(_("The plan %(name)s is retired; choose another.", name=plan.name), code="plan_retired",
                           field="plan")

    def apply():
        before = user.plan.name if user.plan else None
        user.plan = plan
        audit.record("user_plan_changed", actor.id, target=f"user:{user.id}", before=before, after=plan.name)
    return apply


def _role_change(actor: User, user: User, role: str):
    if role not in permissions.ROLES:
        raise InvalidInput(_("The role must be admin, user or guest."), code="invalid_role", field="role")
    if role == "admin" and actor.role != "admin":
        raise Forbidden(_("Only an administrator can make someone an administrator."), code="admin_only")
    if user.role == "admin":
        _check_may_remove(actor, user, "demote")

    def apply():
        audit.record("user_role_changed", actor.id, target=f"user:{user.id}", before=user.role, after=role)
        user.role = role
    return apply


def _groups_change(actor: User, user: User, group_ids: list[int]):
    wanted = set(group_ids)
    found = {group.id: group for group in db.session.scalars(select(Group).where(Group.id.in_(wanted)))}
    if len(found) != len(wanted) or any(group.builtin for group in found.values()):
        raise InvalidInput(_("There is no such group; roles are chosen with the role."), code="unknown_group",
                           field="groups")
    held = {group.id: group.name for group in groups_of(user)}
    current = set(held)
    changed = wanted ^ current
    if actor.role != "admin" and changed:
        # Someone who manages people may not hand out (or take away) more than they hold themselves.
        granted = set(db.session.scalars(select(GroupPermission.permission)
                                         .where(GroupPermission.group_id.in_(changed))))
        if not granted <= permissions.of(actor):
            raise Forbidden(_("You can only change membership of groups whose permissions you hold yourself."),
                            code="beyond_your_permissions", field="groups")

    def apply():
        if not changed:
            return
        for group_id in wanted - current:
            db.session.add(UserGroup(user_id=user.id, group_id=group_id))
        for group_id in current - wanted:
            db.session.delete(db.session.get(UserGroup, (user.id, group_id)))
        audit.record("user_groups_changed", actor.id, target=f"user:{user.id}",
                     added=sorted(found[g].name for g in wanted - current),
                     removed=sorted(held[g] for g in current - wanted))
    return apply


def _verify(actor: User, user: User) -> None:
    user.is_verified = True
    audit.record("user_verified_by_admin", actor.id, target=f"user:{user.id}")


# --- actions that are not fields --------------------------------------------------------------

def send_password_reset(actor: User, user: User) -> None:
    """Email `user` a single-use link to set a new password (valid an hour), as "forgot password" does."""
    _check_may_change(actor, user)
    if user.is_blocked:
        raise Conflict(_("This account is blocked; unblock it before sending a password reset."),
                       code="user_blocked")
    raw = tokens.issue_account_token(user, "reset", accounts.RESET_LIFETIME)
    audit.record("password_reset_sent_by_admin", actor.id, target=f"user:{user.id}")
    accounts.notify(user, "reset_password", _l("Reset your password"),
                    link=absolute_url("auth.reset_password", token=raw), minutes=60)  # commits with the token
    db.session.commit()


def disable_two_factor(actor: User, user: User) -> None:
    """Turn off `user`'s two-factor login (for someone locked out): the secret and recovery codes go."""
    _check_may_change(actor, user)
    if user.totp_secret is None:
        raise Conflict(_("Two-factor login is already off for this account."), code="two_factor_off")
    twofactor.disable(user)
    audit.record("two_factor_disabled_by_admin", actor.id, target=f"user:{user.id}")
    accounts.notify(user, "two_factor_changed", _l("Two-factor login changed on your account"), enabled=False)
    db.session.commit()


def sign_out_everywhere(actor: User, user: User) -> None:
    """End every browser session and API login of `user` (their API keys stay)."""
    _check_may_change(actor, user)
    tokens.revoke_everything(user, "admin_sign_out")
    audit.record("user_signed_out_by_admin", actor.id, target=f"user:{user.id}")
    db.session.commit()


def schedule_deletion(actor: User, user: User) -> datetime:
    """Delete `user` after the grace period (7 days) unless someone cancels; they are told by email."""
    _check_may_change(actor, user)
    _check_may_remove(actor, user, "delete")
    return deletion.schedule_deletion(user, by=actor)


def cancel_deletion(actor: User, user: User) -> None:
    """Keep `user` after all."""
    _check_may_change(actor, user)
    deletion.cancel_deletion(user, by=actor)


def delete_now(actor: User, user: User):
    """Delete `user` without the grace period: the account is blocked and signed out at once, and the purge
    job removes it with every file it owns. Returns the job."""
    _check_may_change(actor, user)
    _check_may_remove(actor, user, "delete")
    user.delete_scheduled_for = utcnow()
    newly_blocked = not user.is_blocked
    if newly_blocked:
        accounts.set_blocked(user, True, actor, commit=False)
    audit.record("user_deleted_by_admin", actor.id, target=f"user:{user.id}", email=user.email)
    job = jobs.enqueue("account_purge", user_id=actor.id)
    db.session.commit()
    if newly_blocked:
        cluster.announce(cluster.ACCOUNT, user.id)
    return job
