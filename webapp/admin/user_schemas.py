"""The JSON of people as administrators see them: /api/v1/admin/users (and the page's query, read the same way)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .. import models
from ..jobs.schemas import Job
from ..schemas import Body, Out, Query, Timestamp, iso
from . import users

Sort = Literal["joined", "last_login", "storage", "photos"]


class UserListQuery(Query):
    """Search, filters, order and page of the people list."""

    q: str = Field("", max_length=users.MAX_QUERY, description="Part of a display name, username or email "
                                                               "(any case).", examples=["kim"])
    group: str = Field("", max_length=20, description="A role (`admin`, `user`, `guest`) or a group's id.",
                       examples=["admin"])
    plan: str = Field("", max_length=40, description="A plan's id or name.", examples=["free"])
    blocked: bool | None = Field(None, description="Only blocked accounts (true) or only unblocked ones (false).")
    unverified: bool | None = Field(None, description="Only accounts whose email address is not confirmed (true), "
                                                      "or only confirmed ones (false).")
    deletion_pending: bool | None = Field(None, description="Only accounts scheduled for deletion (true), or only "
                                                            "those that are not (false).")
    active_within_days: int | None = Field(None, ge=1, le=36500, description="Only accounts that signed in within "
                                                                              "this many days.")
    sort: Sort = Field("joined", description="Joined, last sign-in, storage used or photos.")
    order: Literal["asc", "desc"] = Field("desc", description="Newest, largest first by default; accounts that "
                                                              "never signed in count as the oldest sign-in.")
    cursor: str = Field("", max_length=400, description="`next_cursor` of the previous page, with the same sort "
                                                        "and order.")
    limit: int = Field(users.PAGE_SIZE, ge=1, le=users.MAX_PAGE_SIZE)

    def filters(self) -> users.Filters:
        return users.Filters(**self.model_dump())


class PlanRef(Out):
    id: int
    name: str = Field(examples=["free"])
    storage_bytes: int = Field(description="0: unlimited.")
    retired: bool


class UserSummary(Out):
    """One account in the list."""

    id: int
    username: str = Field(examples=["kim"])
    display_name: str = Field(examples=["Kim Jensen"])
    email: str = Field(examples=["kim@example.org"])
    role: Literal["admin", "user", "guest"]
    plan: PlanRef | None
    storage_used: int = Field(description="Bytes.")
    photos: int
    is_blocked: bool
    is_verified: bool
    two_factor: bool
    deletion_scheduled_for: Timestamp | None = Field(description="When the account will be deleted; null when "
                                                                 "it is not scheduled.")
    created_at: Timestamp
    last_login_at: Timestamp | None

    @classmethod
    def fields_of(cls, user: models.User) -> dict:
        plan = None if user.plan is None else PlanRef(id=user.plan.id, name=user.plan.name,
                                                       storage_bytes=user.plan.storage_bytes,
                                                       retired=user.plan.retired_at is not None)
        return dict(id=user.id, username=user.username, display_name=user.display_name or "", email=user.email,
                    role=user.role, plan=plan, storage_used=user.storage_used or 0, photos=user.media_count or 0,
                    is_blocked=user.is_blocked, is_verified=user.is_verified, two_factor=user.totp_secret is not None,
                    deletion_scheduled_for=iso(user.delete_scheduled_for), created_at=iso(user.created_at),
                    last_login_at=iso(user.last_login_at))

    @classmethod
    def of(cls, user: models.User) -> UserSummary:
        return cls(**cls.fields_of(user))


class UserList(Out):
    items: list[UserSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class GroupRef(Out):
    id: int
    name: str = Field(examples=["Moderators"])


class ApiKeyRef(Out):
    id: int
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it; never the key.",
                        examples=["sbx_AbCdEfGh"])
    created_at: Timestamp
    last_used_at: Timestamp | None


class SessionRef(Out):
    device: str = Field(description="Browser and system, as far as its User-Agent tells.", examples=["Firefox · Linux"])
    ip: str
    created_at: Timestamp
    last_seen_at: Timestamp


class UserDetail(UserSummary):
    """One account with what its page shows."""

    groups: list[GroupRef]
    albums: int
    share_links: int
    active_share_links: int
    api_keys: list[ApiKeyRef]
    sessions: list[SessionRef] = Field(description="Browser sessions still signed in, most recently seen first.")

    @classmethod
    def of_profile(cls, found: users.Profile) -> UserDetail:
        from ..auth.sessions import device_label

        return cls(**cls.fields_of(found.user), groups=[GroupRef(id=g.id, name=g.name) for g in found.groups],
                   albums=found.albums, share_links=found.share_links, active_share_links=found.active_share_links,
                   api_keys=[ApiKeyRef(id=k.id, name=k.name, prefix=k.prefix, created_at=iso(k.created_at),
                                       last_used_at=iso(k.last_used_at)) for k in found.api_keys],
                   sessions=[SessionRef(device=device_label(s.user_agent), ip=s.ip, created_at=iso(s.created_at),
                                        last_seen_at=iso(s.last_seen_at)) for s in found.sessions])


class UserChanges(Body):
    """Only the fields sent change; all of them or none."""

    is_blocked: bool = Field(None, description="Blocking ends the account's sessions and tokens, refuses its API "
                                               "keys, and stops its public photos and share links.")
    plan: int | str = Field(None, description="A plan's id or name; a retired plan is refused (unless it is the "
                                              "current one).", examples=["pro"])
    role: Literal["admin", "user", "guest"] = Field(None)
    groups: list[int] = Field(None, max_length=100, description="The ids of every group (not a role's) the "
                                                                "account is to be in.")
    is_verified: Literal[True] = Field(None, description="Mark the email address confirmed.")

    def changes(self) -> users.Changes:
        return users.Changes(**self.model_dump(exclude_unset=True))


class DeleteQuery(Query):
    now: bool = Field(False, description="Delete at once (a job removes the account and its files) instead of "
                                         "after the 7-day grace period.")


class UserDeletion(Out):
    user_id: int
    deletion_scheduled_for: Timestamp
    job: Job | None = Field(description="The job that deletes the account, with `now=true`; null otherwise.")
