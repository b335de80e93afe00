"""Invite codes: made by an admin, shown once, used up by one sign-up; listed and revoked on the admin page."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import select, update

from .. import audit
from ..errors import Forbidden, NotFound
from ..extensions import db
from ..models import Invite, User, utcnow
from . import tokens

INVITES_SHOWN = 100


def create_invite(admin: User, note: str = "", days: int = 14) -> str:
    """A new single-use sign-up code, returned this once."""
    raw = tokens.new_secret(12)
    db.session.add(Invite(code_hash=tokens.digest(raw), hint=raw[:4], note=note[:120], created_by=admin.id,
                          expires_at=utcnow() + timedelta(days=days)))
    audit.record("invite_created", admin.id, note=note[:120])
    db.session.commit()
    return raw


def consume_invite(raw: str) -> Invite:
    """Use up an invite code (once, even under concurrent sign-ups); Forbidden if it is not valid."""
    now = utcnow()
    invite = db.session.scalar(select(Invite).where(Invite.code_hash == tokens.digest((raw or "").strip())))
    usable = invite is not None and invite.used_at is None and (invite.expires_at is None or invite.expires_at > now)
    if usable:
        usable = db.session.execute(update(Invite).where(Invite.id == invite.id, Invite.used_at.is_(None))
                                    .values(used_at=now)).rowcount == 1
    if not usable:
        raise Forbidden(_("Registration needs an invite, and that invite code is not valid or was already used."),
                        code="invite_required", field="invite")
    return invite


def list_invites(limit: int = INVITES_SHOWN) -> list[Invite]:
    """The most recent invites, newest first."""
    return db.session.scalars(select(Invite).order_by(Invite.id.desc()).limit(limit)).all()


def invite_state(invite: Invite) -> str:
    """"used", "expired" (which includes revoked) or "unused" (it still works)."""
    if invite.used_at is not None:
        return "used"
    if invite.expires_at is not None and invite.expires_at <= utcnow():
        return "expired"
    return "unused"


def revoke_invite(admin: User, invite_id: int) -> Invite:
    """Make an unused invite stop working at once; NotFound if there is no such usable invite."""
    invite = db.session.get(Invite, invite_id)
    if invite is None or invite_state(invite) != "unused":
        raise NotFound(_("There is no unused invite with that number."), code="invite_not_found")
    invite.expires_at = utcnow()
    audit.record("invite_revoked", admin.id, target=f"invite:{invite.id}", hint=invite.hint)
    db.session.commit()
    return invite
