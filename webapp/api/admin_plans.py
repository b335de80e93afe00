"""JSON endpoints for plans (manage_plans) and groups (manage_users), and what the caller may do.
Without the permission each admin address answers 404, as if it did not exist."""

from __future__ import annotations

from flask import g

from ..admin import groups, plans
from ..admin.plan_schemas import (AccountPermissions, AdminGroup, AdminGroupList, AdminPlan, AdminPlanList,
                                  GroupChanges, NewGroup, NewPlan, PlanChanges)
from ..auth import permissions
from . import bp
from .contract import operation

# No max= here: Werkzeug answers 405 instead of 404 when a number over it meets a path several methods share.
# The services answer NotFound for ids no row can have.
ID = "<int(min=0):{}>"
PLANS, GROUPS = permissions.api_needs("manage_plans"), permissions.api_needs("manage_users")
NO_SUCH_PLAN = {404: "No such plan, or the caller may not manage plans."}
NO_SUCH_GROUP = {404: "No such group, or the caller may not manage people."}


def _plan_json(plan_id: int) -> AdminPlan:
    return AdminPlan.of(plans.describe(plans.get_plan(plan_id)))


@bp.get("/api/v1/admin/plans")
@operation("listPlans", (200, AdminPlanList, "Every plan."), tag="admin", admit=PLANS, errors={404: None})
def list_plans():
    """Every plan with its limits and how many people are on it (retired ones last)."""
    return AdminPlanList(items=[AdminPlan.of(listed) for listed in plans.list_plans()])


@bp.post("/api/v1/admin/plans")
@operation("createPlan", (201, AdminPlan, "Created."), tag="admin", json=NewPlan, admit=PLANS,
           errors={404: None, 409: "Another plan has that name."})
def create_plan(json: NewPlan):
    """Make a plan. Sizes are bytes or text with a unit ("25 MB"); a limit left out is 0, unlimited."""
    return _plan_json(plans.create_plan(g.api_user, json.values()).id), 201


@bp.patch("/api/v1/admin/plans/" + ID.format("plan_id"))
@operation("updatePlan", (200, AdminPlan, "The plan as it is now."), tag="admin", json=PlanChanges, admit=PLANS,
           errors={**NO_SUCH_PLAN, 409: "Another plan has that name."})
def update_plan(plan_id: int, json: PlanChanges):
    """Change a plan's name, description or limits; each of its people meets the change on their next request.

    Lowering a limit below what someone uses deletes nothing: they can no longer add more.
    """
    return _plan_json(plans.update_plan(g.api_user, plan_id, json.values()).id)


@bp.delete("/api/v1/admin/plans/" + ID.format("plan_id"))
@operation("deletePlan", (204, None, "Deleted."), tag="admin", admit=PLANS,
           errors={**NO_SUCH_PLAN, 409: "People are on the plan, or it is the default plan."})
def delete_plan(plan_id: int):
    """Delete a plan nobody is on that is not the default plan."""
    plans.delete_plan(g.api_user, plan_id)
    return "", 204


@bp.get("/api/v1/admin/groups")
@operation("listGroups", (200, AdminGroupList, "Every group."), tag="admin", admit=GROUPS, errors={404: None})
def list_groups():
    """The built-in groups (Administrators, Members, Guests) and the ones made here, with permissions and members."""
    return AdminGroupList(items=[AdminGroup.of(listed) for listed in groups.list_groups()])


@bp.post("/api/v1/admin/groups")
@operation("createGroup", (201, AdminGroup, "Created."), tag="admin", json=NewGroup, admit=GROUPS,
           errors={403: "A permission the caller does not hold (only administrators may grant those).",
                   404: None, 409: "Another group has that name."})
def create_group(json: NewGroup):
    """Make a group with a set of permissions."""
    values = json.values()
    group = groups.create_group(g.api_user, values["name"], values.get("description", ""),
                                values.get("permissions") or ())
    return AdminGroup.of(groups.describe(group)), 201


@bp.get("/api/v1/admin/groups/" + ID.format("group_id"))
@operation("getGroup", (200, AdminGroup, "The group."), tag="admin", admit=GROUPS, errors=NO_SUCH_GROUP)
def get_group(group_id: int):
    """One group with its permissions and member count."""
    return AdminGroup.of(groups.describe(groups.get_group(group_id)))


@bp.patch("/api/v1/admin/groups/" + ID.format("group_id"))
@operation("updateGroup", (200, AdminGroup, "The group as it is now."), tag="admin", json=GroupChanges,
           admit=GROUPS, errors={**NO_SUCH_GROUP,
                                 403: "A permission the caller does not hold (only administrators may grant those).",
                                 409: "Administrators cannot be changed; a built-in group keeps its name; or "
                                      "another group has that name."})
def update_group(group_id: int, json: GroupChanges):
    """Rename, describe or set the permissions of a group (`permissions` is the whole new set)."""
    return AdminGroup.of(groups.describe(groups.update_group(g.api_user, group_id, json.values())))


@bp.delete("/api/v1/admin/groups/" + ID.format("group_id"))
@operation("deleteGroup", (204, None, "Deleted."), tag="admin", admit=GROUPS,
           errors={**NO_SUCH_GROUP, 403: "The group gives a permission the caller does not hold.",
                   409: "A built-in group cannot be deleted."})
def delete_group(group_id: int):
    """Delete a group made here; its people leave it."""
    groups.delete_group(g.api_user, group_id)
    return "", 204


@bp.get("/api/v1/account/permissions")
@operation("getAccountPermissions", (200, AccountPermissions, "What the caller may do."), tag="account")
def account_permissions():
    """The caller's role, groups and permissions (answered also to an account that may not use the API otherwise)."""
    user = g.api_user
    return AccountPermissions(role=user.role, groups=groups.names_of(user),
                              permissions=sorted(permissions.of(user)))
