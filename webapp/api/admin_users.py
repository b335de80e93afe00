"""JSON endpoints for people, for those who hold manage_users (everyone else gets 404): list, read, change,
delete. The same service as the admin pages, with the same rules."""

from __future__ import annotations

from flask import g

from ..admin import users
from ..admin.user_schemas import (DeleteQuery, UserChanges, UserDeletion, UserDetail, UserList, UserListQuery,
                                  UserSummary)
from ..auth import permissions
from ..jobs.schemas import Job
from ..schemas import iso
from . import bp
from .contract import operation

ADMIT = permissions.api_needs("manage_users")
NO_SUCH = {404: "No such account, or you do not hold `manage_users`."}
REFUSED = {403: "Not allowed: your own account (block, demote, delete), an administrator's account when you are "
                "not one, making someone an administrator, or groups whose permissions you do not hold.",
           409: "The last active administrator cannot be blocked, demoted or deleted; or the change does not apply "
                "(two-factor already off)."}


@bp.get("/api/v1/admin/users")
@operation("listUsers", (200, UserList, "One page of accounts."), tag="admin", query=UserListQuery, admit=ADMIT,
           errors={404: "You do not hold `manage_users`."})
def list_users(query: UserListQuery):
    """Accounts matching the search and filters, in the order asked, keyset-paginated (`next_cursor`)."""
    page = users.list_users(query.filters())
    return UserList(items=[UserSummary.of(user) for user in page.users], next_cursor=page.next_cursor)


# Any whole number reaches the view, which answers 404 outside the ids there can be: a converter that refused
# some (a bound, a sign) would have werkzeug answer 405 to them, naming the path's other methods.
@bp.get("/api/v1/admin/users/<int(signed=True):user_id>")
@operation("getUser", (200, UserDetail, "The account."), tag="admin", admit=ADMIT, errors=NO_SUCH)
def get_user(user_id: int):
    """One account: plan and storage, photos, albums, share links, API keys (never the keys), sessions, groups."""
    return UserDetail.of_profile(users.profile(users.get_user(user_id)))


@bp.patch("/api/v1/admin/users/<int(signed=True):user_id>")
@operation("updateUser", (200, UserDetail, "The account as it is now."), tag="admin", json=UserChanges,
           admit=ADMIT, errors={**NO_SUCH, **REFUSED})
def update_user(user_id: int, json: UserChanges):
    """Block or unblock, change the plan, role or groups, or mark the address verified; every change is audited.

    Every field sent is checked before any is applied: either all change or none.
    """
    user = users.update_user(g.api_user, users.get_user(user_id), json.changes())
    return UserDetail.of_profile(users.profile(user))


@bp.delete("/api/v1/admin/users/<int(signed=True):user_id>")
@operation("deleteUser", (202, UserDeletion, "Scheduled, or (with `now=true`) queued for deletion."), tag="admin",
           query=DeleteQuery, admit=ADMIT, errors={**NO_SUCH, **REFUSED})
def delete_user(user_id: int, query: DeleteQuery):
    """Schedule the account's deletion after a 7-day grace period (the owner is emailed and may cancel), or with
    `now=true` block it at once and queue the job that deletes it with every file it owns."""
    user = users.get_user(user_id)
    if query.now:
        job = users.delete_now(g.api_user, user)
        when = iso(user.delete_scheduled_for)
        return UserDeletion(user_id=user_id, deletion_scheduled_for=when, job=Job.of(job)), 202
    when = users.schedule_deletion(g.api_user, user)
    return UserDeletion(user_id=user_id, deletion_scheduled_for=iso(when), job=None), 202
