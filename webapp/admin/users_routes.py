"""Admin → People: the list of accounts, one person's page, and what may be done to an account. Every route
needs manage_users (404 without it); the rules about who may change whom are in users.py.

The list's filter form is a GET form that htmx submits as you type (the results come back alone); each
action on a person's page is a POST form. One that destroys something asks first: posted without
`confirm`, it comes back as a question with a button that posts it again with `confirm=1`.
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..auth.permissions import needs
from ..errors import InvalidInput, NotFound, ShoeboxError
from ..schemas import parse
from ..web import is_fragment_request, page_redirect, render
from . import bp, users
from .user_schemas import UserListQuery

# action: (what it does, whether it asks first, what it says once done)
ACTIONS = {
    "block": (lambda actor, user, form: users.block(actor, user), True, _l("The account is blocked.")),
    "unblock": (lambda actor, user, form: users.unblock(actor, user), False, _l("The account is unblocked.")),
    "plan": (lambda actor, user, form: users.change_plan(actor, user, form.get("plan", "")), False,
             _l("The plan was changed.")),
    "role": (lambda actor, user, form: users.change_role(actor, user, form.get("role", "")), False,
             _l("The role was changed.")),
    "groups": (lambda actor, user, form: users.set_groups(actor, user, _group_ids(form)), False,
               _l("The groups were changed.")),
    "verify": (lambda actor, user, form: users.mark_verified(actor, user), False,
               _l("The email address is marked verified.")),
    "password_reset": (lambda actor, user, form: users.send_password_reset(actor, user), False,
                       _l("A password reset link was emailed.")),
    "two_factor_off": (lambda actor, user, form: users.disable_two_factor(actor, user), True,
                       _l("Two-factor login is off for this account.")),
    "sign_out": (lambda actor, user, form: users.sign_out_everywhere(actor, user), True,
                 _l("The account was signed out everywhere.")),
    "schedule_deletion": (lambda actor, user, form: users.schedule_deletion(actor, user), True,
                          _l("The account will be deleted in 7 days unless the deletion is cancelled.")),
    "cancel_deletion": (lambda actor, user, form: users.cancel_deletion(actor, user), False,
                        _l("The deletion was cancelled.")),
    "delete_now": (lambda actor, user, form: users.delete_now(actor, user), True,
                   _l("The account is blocked and being deleted.")),
}


def _group_ids(form) -> list[int]:
    chosen = form.getlist("groups")
    if not all(value.isdigit() and len(value) < 10 for value in chosen):
        raise InvalidInput(_("There is no such group; roles are chosen with the role."), code="unknown_group",
                           field="groups")
    return [int(value) for value in chosen]


@bp.get("/users", endpoint="users")
@needs("manage_users")
def users_list():
    """Accounts with search, filters and sorts, 50 to a page."""
    given = {key: value for key, value in request.args.items() if value != ""}
    error = None
    try:
        query = parse(UserListQuery, given)
        page = users.list_users(query.filters())
    except InvalidInput as problem:
        query, page, error = UserListQuery(), users.Page([], None), problem.message
    next_url = url_for("admin.users", **{**given, "cursor": page.next_cursor}) if page.next_cursor else None
    first_url = url_for("admin.users", **{key: value for key, value in given.items() if key != "cursor"})
    return render("admin/users.html", fragment="admin/_users_results.html", query=query, given=given, page=page,
                  next_url=next_url, first_url=first_url, error=error, plans=users.offered_plans(),
                  groups=users.custom_groups())


@bp.get("/users/<int(max=2147483647):user_id>")
@needs("manage_users")
def users_detail(user_id: int):
    """One person: storage, photos, albums, links, keys, sessions, sign-ins, 2FA, recent events, actions."""
    return _person_page(users.get_user(user_id))


@bp.post("/users/<int(max=2147483647):user_id>/<action>")
@needs("manage_users")
def users_action(user_id: int, action: str):
    """Do one of ACTIONS to the account; a destructive one asks first."""
    if action not in ACTIONS:
        raise NotFound()
    user = users.get_user(user_id)
    perform, asks, done = ACTIONS[action]
    if asks and request.form.get("confirm") != "1":
        return _person_page(user, confirm=action)
    try:
        perform(current_user._get_current_object(), user, request.form)
    except ShoeboxError as problem:
        if problem.status == 404:
            raise
        return _person_page(user, error=problem, status=200 if is_fragment_request() else problem.status)
    flash(str(done), "success")
    if action == "delete_now":  # the account is going: back to the list
        return page_redirect(url_for("admin.users"))
    if not is_fragment_request():
        return redirect(url_for("admin.users_detail", user_id=user.id), 303)
    return _person_page(user)


def _person_page(user, confirm: str | None = None, error: ShoeboxError | None = None, status: int = 200):
    found = users.profile(user)
    return render("admin/user.html", fragment="admin/_user.html", status=status, found=found, user=user,
                  plans=users.offered_plans(user), groups=users.custom_groups(),
                  member_of={group.id for group in found.groups}, confirm=confirm, error=error,
                  is_self=user.id == current_user.id)
