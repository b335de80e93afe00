"""What the admin pages do: instance settings and the mail outbox (invites are auth.invites). No HTTP here."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from .. import audit, instance
from ..errors import InvalidInput, NotFound
from ..extensions import db
from ..models import OutboxMessage, User

OUTBOX_PAGE_SIZE = 50


def save_registration(admin: User, registration: str, unverified_may_upload: bool,
                      allow_any_file: bool | None = None) -> bool:
    """Set who may sign up, whether unverified accounts may upload, and whether any file type is accepted;
    returns whether anything changed."""
    if registration not in instance.REGISTRATION_MODES:
        raise InvalidInput(_("Choose open, invite only or closed."), code="invalid_registration",
                           field="registration")
    wanted = {"registration": registration, "unverified_may_upload": bool(unverified_may_upload)}
    if allow_any_file is not None:
        wanted["allow_any_file"] = bool(allow_any_file)
    changes = {key: [instance.get(key), value] for key, value in wanted.items() if instance.get(key) != value}
    if not changes:
        return False
    for key, (_old, new) in changes.items():
        instance.put(key, new)
    audit.record("settings_changed", admin.id, target="registration", changes=changes)
    db.session.commit()
    return True


def outbox_page(before: int | None = None, size: int = OUTBOX_PAGE_SIZE) -> tuple[list[OutboxMessage], int | None]:
    """One page of the outbox, newest first, and the `before` cursor of the next page (None on the last)."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(size + 1)
    if before is not None:
        query = query.where(OutboxMessage.id < before)
    messages = db.session.scalars(query).all()
    if len(messages) > size:
        messages = messages[:size]
        return messages, messages[-1].id
    return messages, None


def get_outbox_message(message_id: int) -> OutboxMessage:
    """One outbox message; NotFound if there is none with that id."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound(_("There is no such message in the outbox."), code="message_not_found")
    return message
