"""The audit log: who did what, from where, and when."""

from __future__ import annotations

from flask import has_request_context, request

from .extensions import db
from .models import AuditEvent


def record(action: str, actor_id: int | None = None, target: str = "", **details) -> None:
    """Add an audit event to the session (committed with the change it describes)."""
    ip = user_agent = ""
    if has_request_context():
        ip = request.remote_addr or ""
        user_agent = (request.user_agent.string or "")[:300]
    db.session.add(AuditEvent(action=action, actor_id=actor_id, target=str(target)[:200], ip=ip,
                              user_agent=user_agent, details=details))
