"""Deleting an account: asked for with the password, kept for a grace period in which it can be
cancelled, then purged by a job with every file the account owns. No HTTP here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Flask, current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import audit, cluster
from ..errors import InvalidInput
from ..extensions import db
from ..models import User, utcnow
from ..web import absolute_url
from .service import notify, password_matches

DELETION_GRACE = timedelta(days=7)


def request_deletion(user: User, password: str) -> datetime:
    """Schedule the account for deletion after the grace period; returns when."""
    if not password_matches(user, password):
        raise InvalidInput(_("The password is not right."), code="wrong_password", field="password")
    return schedule_deletion(user)


def schedule_deletion(user: User, by: User | None = None) -> datetime:
    """Delete the account after the grace period unless cancelled, and tell its owner; returns when.
    `by` is the admin who asked, when it was not the owner."""
    if user.delete_scheduled_for is None:
        user.delete_scheduled_for = utcnow() + DELETION_GRACE
        _record("deletion_requested", "user_deletion_scheduled_by_admin", user, by,
                scheduled_for=user.delete_scheduled_for.isoformat())
        notify(user, "deletion_scheduled", _l("Your Shoebox account will be deleted"),
              date=user.delete_scheduled_for, cancel_link=absolute_url("settings.index") + "#danger")
        db.session.commit()
    return user.delete_scheduled_for


def cancel_deletion(user: User, by: User | None = None) -> None:
    """Keep the account after all (`by`: the admin who cancelled, when it was not the owner)."""
    if user.delete_scheduled_for is not None:
        user.delete_scheduled_for = None
        _record("deletion_cancelled", "user_deletion_cancelled_by_admin", user, by)
        db.session.commit()


def _record(own_action: str, admin_action: str, user: User, by: User | None, **details) -> None:
    if by is None or by.id == user.id:
        audit.record(own_action, user.id, **details)
    else:
        audit.record(admin_action, by.id, target=f"user:{user.id}", **details)


def purge_due_accounts(now: datetime | None = None) -> int:
    """Delete every account whose grace period is over, with every blob it owns; returns how many."""
    from ..extensions import blob_store

    now = now or utcnow()
    due = db.session.scalars(select(User).where(User.delete_scheduled_for <= now)).all()
    for user in due:
        for key in owned_blob_keys(user):
            blob_store().delete(key)
        for forget in current_app.extensions.get("shoebox_purge_hooks", []):
            forget(user)
        audit.record("account_deleted", None, target=f"user:{user.id}", email=user.email)
        user_id = user.id
        db.session.delete(user)
        db.session.commit()
        cluster.announce(cluster.ACCOUNT, user_id)  # every instance forgets their photos it remembers
    return len(due)


def register_blob_owner(app: Flask, collect: Callable[[User], list[str]]) -> None:
    """Let the account purge find the files a domain stores for a person: `collect(user)` lists their keys."""
    app.extensions.setdefault("shoebox_blob_owners", []).append(collect)


def register_purge_hook(app: Flask, forget: Callable[[User], None]) -> None:
    """Let a domain remove what it keeps for a person outside the file store (`forget(user)`) before the
    account is deleted: their backup archives, say."""
    app.extensions.setdefault("shoebox_purge_hooks", []).append(forget)


def owned_blob_keys(user: User) -> list[str]:
    """Storage keys of every file `user` owns (their photos and derived images)."""
    return [key for collect in current_app.extensions.get("shoebox_blob_owners", []) for key in collect(user)]


def run_account_purge() -> None:
    """Delete the accounts whose 7-day grace period is over."""
    purge_due_accounts()
