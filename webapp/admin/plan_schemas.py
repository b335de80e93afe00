"""The JSON of plans, groups and the caller's permissions: /api/v1/admin/plans, /api/v1/admin/groups and
/api/v1/account/permissions."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from ..auth import permissions
from ..schemas import Body, Out, Timestamp, iso
from . import groups, plans

# A size is bytes, or text with a unit as the admin page takes it ("25 MB", "5 GB"); 0 is unlimited.
Size = Annotated[Union[Annotated[int, Field(ge=0)], Annotated[str, Field(max_length=40)]],
                 Field(description="Bytes, or a size with a unit such as \"25 MB\" or \"5 GB\" (binary "
                                   "multiples); 0: unlimited.", examples=[26214400, "25 MB"])]
Count = Annotated[int, Field(ge=0, le=plans.MOST_COUNT, description="0: unlimited.")]
PermissionName = Literal[tuple(permissions.PERMISSIONS)]


class PlanFields(Body):
    """What a plan body may carry; on PATCH only the fields sent change."""

    name: str = Field(None, max_length=plans.NAME_LENGTH, examples=["family"])
    description: str = Field(None, max_length=plans.DESCRIPTION_LENGTH)
    max_upload_bytes: Size = Field(None)
    uploads_per_day: Count = Field(None)
    storage_bytes: Size = Field(None)
    transforms_per_day: Count = Field(None)
    api_requests_per_hour: Count = Field(None)
    bandwidth_bytes_per_month: Size = Field(None)

    def values(self) -> dict:
        return self.model_dump(exclude_unset=True)


class NewPlan(PlanFields):
    """A new plan: `name` is needed; a limit left out is 0 (unlimited)."""

    name: str = Field(max_length=plans.NAME_LENGTH, examples=["family"])


class PlanChanges(PlanFields):
    """The fields to change."""


class AdminPlan(Out):
    """A plan with its limits (0: unlimited) and how many people are on it."""

    id: int
    name: str
    description: str
    max_upload_bytes: int
    uploads_per_day: int
    storage_bytes: int
    transforms_per_day: int
    api_requests_per_hour: int
    bandwidth_bytes_per_month: int
    people: int = Field(description="Accounts on this plan.")
    is_default: bool = Field(description="Whether new accounts get this plan (the instance's default_plan).")
    retired_at: Timestamp | None = Field(description="When it stopped being offered to new people; null: offered.")
    created_at: Timestamp

    @classmethod
    def of(cls, listed: plans.Listed) -> AdminPlan:
        plan = listed.plan
        return cls(id=plan.id, name=plan.name, description=plan.description or "",
                   **{field: getattr(plan, field) for field in plans.LIMITS}, people=listed.people,
                   is_default=listed.is_default, retired_at=iso(plan.retired_at), created_at=iso(plan.created_at))


class AdminPlanList(Out):
    items: list[AdminPlan]
    next_cursor: None = Field(None, description="Always null: every plan is on one page.")


class GroupFields(Body):
    """What a group body may carry; on PATCH only the fields sent change."""

    name: str = Field(None, max_length=groups.NAME_LENGTH, examples=["Moderators"])
    description: str = Field(None, max_length=groups.DESCRIPTION_LENGTH)
    permissions: list[PermissionName] = Field(None, max_length=len(permissions.PERMISSIONS),
                                              description="Every permission the group gives (the whole set).")

    def values(self) -> dict:
        return self.model_dump(exclude_unset=True)


class NewGroup(GroupFields):
    name: str = Field(max_length=groups.NAME_LENGTH, examples=["Moderators"])


class GroupChanges(GroupFields):
    """The fields to change (a built-in group keeps its name; Administrators cannot be changed)."""


class AdminGroup(Out):
    """A group, what it allows and how many people are in it."""

    id: int
    name: str
    description: str
    builtin: Literal["admin", "user", "guest"] | None = Field(
        description="The role a built-in group stands for (Administrators, Members, Guests); null for others.")
    locked: bool = Field(description="Whether its permissions are fixed (Administrators: all, always).")
    permissions: list[str]
    members: int
    created_at: Timestamp

    @classmethod
    def of(cls, listed: groups.Listed) -> AdminGroup:
        group = listed.group
        return cls(id=group.id, name=group.name, description=group.description or "", builtin=group.builtin,
                   locked=listed.locked, permissions=sorted(listed.permissions), members=listed.members,
                   created_at=iso(group.created_at))


class AdminGroupList(Out):
    items: list[AdminGroup]
    next_cursor: None = Field(None, description="Always null: every group is on one page.")


class AccountPermissions(Out):
    """What the caller may do."""

    role: Literal["admin", "user", "guest"]
    groups: list[str] = Field(description="The names of the caller's groups, the built-in one first.")
    permissions: list[str]
