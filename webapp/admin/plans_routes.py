"""Admin → Plans (manage_plans) and Admin → Groups (manage_users): lists, a form to make one, a page to
change one, and buttons to retire, restore or delete. Every route needs its permission (404 without it).

A form that fails comes back at 200 with the error beside its field; everything else ends in a 303 to
the list with a flash (a refusal such as "people are on this plan" included), with or without JavaScript.
"""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..auth import permissions
from ..auth.permissions import needs
from ..errors import ShoeboxError, attach_error
from ..extensions import db
from ..web import render
from . import bp, groups, plans
from .plan_forms import GroupForm, PlanForm


def _back(endpoint: str, message: str, category: str = "success", **values):
    flash(message, category)
    return redirect(url_for(endpoint, **values), 303)


def _refused(error: ShoeboxError, endpoint: str, **values):
    db.session.rollback()
    return _back(endpoint, error.message, "error", **values)


# --- plans --------------------------------------------------------------------------------------

def _plans_page(form: PlanForm | None = None):
    return render("admin/plans.html", listed=plans.list_plans(), form=form or PlanForm.of(), limits=plans.LIMITS)


@bp.get("/plans", endpoint="plans")
@needs("manage_plans")
def plans_page():
    """Every plan with its limits and how many people are on it, and a form to make another."""
    return _plans_page()


@bp.post("/plans")
@needs("manage_plans")
def plans_create():
    form = PlanForm()
    try:
        plan = plans.create_plan(current_user, form.values())
    except ShoeboxError as error:
        db.session.rollback()
        attach_error(form, error)
        return _plans_page(form)
    return _back("admin.plans", _("Plan %(name)s created.", name=plan.name))


@bp.get("/plans/<int:plan_id>")
@needs("manage_plans")
def plans_edit(plan_id: int, form: PlanForm | None = None):
    """One plan's form, with the number of people it holds."""
    listed = plans.describe(plans.get_plan(plan_id))
    return render("admin/plans_edit.html", listed=listed, form=form or PlanForm.of(listed.plan), limits=plans.LIMITS)


@bp.post("/plans/<int:plan_id>")
@needs("manage_plans")
def plans_save(plan_id: int):
    form = PlanForm()
    try:
        plan = plans.update_plan(current_user, plan_id, form.values())
    except ShoeboxError as error:
        db.session.rollback()
        if error.field is None:
            raise
        attach_error(form, error)
        return plans_edit(plan_id, form)
    return _back("admin.plans", _("Plan %(name)s saved; it applies from each person's next request.", name=plan.name))


@bp.post("/plans/<int:plan_id>/retire")
@needs("manage_plans")
def plans_retire(plan_id: int):
    try:
        plan = plans.retire_plan(current_user, plan_id)
    except ShoeboxError as error:
        return _refused(error, "admin.plans")
    return _back("admin.plans", _("Plan %(name)s retired: its people keep it; nobody new gets it.", name=plan.name))


@bp.post("/plans/<int:plan_id>/restore")
@needs("manage_plans")
def plans_restore(plan_id: int):
    plan = plans.restore_plan(current_user, plan_id)
    return _back("admin.plans", _("Plan %(name)s is offered again.", name=plan.name))


@bp.post("/plans/<int:plan_id>/delete")
@needs("manage_plans")
def plans_delete(plan_id: int):
    name = plans.get_plan(plan_id).name
    try:
        plans.delete_plan(current_user, plan_id)
    except ShoeboxError as error:
        return _refused(error, "admin.plans")
    return _back("admin.plans", _("Plan %(name)s deleted.", name=name))


# --- groups -------------------------------------------------------------------------------------

def _groups_page(form: GroupForm | None = None):
    return render("admin/groups.html", listed=groups.list_groups(), form=form or GroupForm(formdata=None),
                  described=permissions.PERMISSIONS, held=permissions.of(current_user))


@bp.get("/groups", endpoint="groups")
@needs("manage_users")
def groups_page():
    """The built-in groups and the ones made here, what each allows and how many are in it; a form for another."""
    return _groups_page()


@bp.post("/groups")
@needs("manage_users")
def groups_create():
    form = GroupForm()
    try:
        group = groups.create_group(current_user, form.name.data, form.description.data, form.permissions.data)
    except ShoeboxError as error:
        db.session.rollback()
        attach_error(form, error)
        return _groups_page(form)
    return _back("admin.groups", _("Group %(name)s created.", name=group.name))


@bp.get("/groups/<int:group_id>")
@needs("manage_users")
def groups_edit(group_id: int, form: GroupForm | None = None):
    """One group: its name, description and permissions (Administrators' shown, not changeable)."""
    listed = groups.describe(groups.get_group(group_id))
    form = form or GroupForm(formdata=None, name=listed.group.name, description=listed.group.description,
                             permissions=sorted(listed.permissions))
    return render("admin/groups_edit.html", listed=listed, form=form, described=permissions.PERMISSIONS,
                  held=permissions.of(current_user))


@bp.post("/groups/<int:group_id>")
@needs("manage_users")
def groups_save(group_id: int):
    form = GroupForm()
    values = {"description": form.description.data, "permissions": form.permissions.data}
    if form.name.data is not None:
        values["name"] = form.name.data
    try:
        group = groups.update_group(current_user, group_id, values)
    except ShoeboxError as error:
        db.session.rollback()
        if error.status == 404:
            raise
        attach_error(form, error)
        return groups_edit(group_id, form)
    return _back("admin.groups", _("Group %(name)s saved.", name=group.name))


@bp.post("/groups/<int:group_id>/delete")
@needs("manage_users")
def groups_delete(group_id: int):
    name = groups.get_group(group_id).name
    try:
        groups.delete_group(current_user, group_id)
    except ShoeboxError as error:
        return _refused(error, "admin.groups")
    return _back("admin.groups", _("Group %(name)s deleted.", name=name))
