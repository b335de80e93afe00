"""The audit log: who did what, from where, and when."""

from __future__ import annotations

from flask import g, has_request_context, request

from .analytics.agents import describe
from .extensions import db
from .models import AuditEvent


def origin() -> tuple[str, str]:
    """(client address, user agent) of the current request; empty outside one."""
    if not has_request_context():
        return "", ""
    return request.remote_addr or "", (request.user_agent.string or "")[:300]


def record(action: str, actor_id: int | None = None, target: str = "", *,
           origin_of: tuple[str, str] | None = None, **details) -> None:
    """Add an audit event to the session (committed with the change it describes).

    `origin_of` is the (address, user agent) for work done after its request (see origin()).
    """
    ip, user_agent = origin_of or origin()
    agent = describe(user_agent) if user_agent else None
    request_id = g.get("request_id", "") if has_request_context() else ""
    db.session.add(AuditEvent(action=action, actor_id=actor_id, target=str(target)[:200], ip=ip,
                              user_agent=user_agent, device=agent.device if agent else "",
                              browser=agent.browser if agent else "", request_id=request_id[:64],
                              details=details))
