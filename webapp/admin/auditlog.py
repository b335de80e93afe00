"""Reading the audit log: filters, keyset pages newest first, streamed exports, a person's own security
events, and the retention job, which is the only thing that ever deletes an event.

No HTTP here: filters arrive as plain text values (a query string's), errors are InvalidInput naming the field.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterator, Mapping

from flask_babel import gettext as _
from sqlalchemy import and_, delete, func, not_, or_, select

from .. import audit, instance
from ..errors import InvalidInput
from ..extensions import db
from ..models import AuditEvent, User, utcnow

log = logging.getLogger(__name__)

PAGE = 50
MAX_PAGE = 500
BATCH = 1000  # rows an export reads at a time: never the whole result in memory
PRUNE_SLICE = 5000  # rows the retention job deletes per transaction
SECURITY_EVENTS = 20
FILTERS = ("actor", "action", "target", "from", "to", "address")
# Cells a spreadsheet would read as a formula; such a cell is written with a ' in front.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = ("id", "time", "actor_id", "actor", "action", "target", "address", "device", "browser",
               "user_agent", "request_id", "details")


@dataclass(frozen=True)
class Filter:
    """Which events to show; empty fields do not filter."""

    actor: str = ""
    action: str = ""
    target: str = ""
    since: date | None = None
    until: date | None = None
    address: str = ""

    def as_args(self) -> dict[str, str]:
        """The filter as query-string values (for links to the next page and to the exports)."""
        values = {"actor": self.actor, "action": self.action, "target": self.target,
                  "from": self.since.isoformat() if self.since else "",
                  "to": self.until.isoformat() if self.until else "", "address": self.address}
        return {name: value for name, value in values.items() if value}


@dataclass(frozen=True)
class Event:
    """One audit event as the viewer and the exports show it, with its actor's name when they still exist."""

    id: int
    at: datetime
    actor_id: int | None
    actor: str | None  # the username; None when there was no actor, or the account is gone
    action: str
    target: str
    ip: str
    user_agent: str
    device: str
    browser: str
    request_id: str
    details: dict

    @property
    def label(self) -> str:
        return audit.label(self.action)

    def as_json(self) -> dict:
        """The event as the API and JSON Lines write it."""
        return {"id": self.id, "at": self.at.isoformat(), "actor_id": self.actor_id, "actor": self.actor,
                "action": self.action, "label": self.label, "target": self.target, "address": self.ip,
                "user_agent": self.user_agent, "device": self.device, "browser": self.browser,
                "request_id": self.request_id, "details": self.details or {}}


# --- filters ----------------------------------------------------------------------------------

def parse_filter(args: Mapping[str, str]) -> Filter:
    """A Filter from query-string values; InvalidInput naming the first one that makes no sense."""
    text = {name: " ".join(str(args.get(name) or "").split()) for name in FILTERS}
    for name, value in text.items():
        if len(value) > 200:
            raise InvalidInput(_("%(field)s has at most %(count)s characters.", field=name, count=200),
                               code="too_long", field=name)
    since, until = _day(text["from"], "from"), _day(text["to"], "to")
    if since and until and until < since:
        raise InvalidInput(_("The end of the date range is before its start."), code="invalid_date_range",
                           field="to")
    return Filter(actor=text["actor"], action=text["action"], target=text["target"], since=since, until=until,
                  address=text["address"])


def _day(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(_("%(field)s must be a date like 2025-05-01.", field=field), code="invalid_date",
                           field=field) from None


def _actor_condition(actor: str):
    """`system` means no actor; a number is an account id; anything else a username (InvalidInput if none)."""
    if actor.lower() == "system":
        return AuditEvent.actor_id.is_(None)
    if actor.isdigit():
        return AuditEvent.actor_id == int(actor)
    user_id = db.session.scalar(select(User.id).where(func.lower(User.username) == actor.lower()))
    if user_id is None:
        raise InvalidInput(_("No account is called %(name)s.", name=actor), code="unknown_actor", field="actor")
    return AuditEvent.actor_id == user_id


def _text_condition(column, value: str, prefix_marks: str):
    """Equal to `value`; or starting with it when it ends in `*` or one of `prefix_marks` (`user:`, `10.0.`)."""
    if value.endswith("*"):
        return column.startswith(value.rstrip("*"), autoescape=True)
    if value[-1] in prefix_marks:
        return column.startswith(value, autoescape=True)
    return column == value


def _conditions(chosen: Filter) -> list:
    conditions = []
    if chosen.actor:
        conditions.append(_actor_condition(chosen.actor))
    if chosen.action:
        conditions.append(_text_condition(AuditEvent.action, chosen.action, "_"))
    if chosen.target:
        conditions.append(_text_condition(AuditEvent.target, chosen.target, ":"))
    if chosen.address:
        conditions.append(_text_condition(AuditEvent.ip, chosen.address, ".:"))
    if chosen.since:
        conditions.append(AuditEvent.at >= _midnight(chosen.since))
    if chosen.until:
        conditions.append(AuditEvent.at < _midnight(chosen.until + timedelta(days=1)))
    return conditions


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


# --- reading ----------------------------------------------------------------------------------

def _query(conditions: list, before: int | None, limit: int):
    """Newest first, below id `before`: plain rows, so that nothing piles up in the session's identity map."""
    query = (select(AuditEvent.id, AuditEvent.at, AuditEvent.actor_id, User.username, AuditEvent.action,
                    AuditEvent.target, AuditEvent.ip, AuditEvent.user_agent, AuditEvent.device,
                    AuditEvent.browser, AuditEvent.request_id, AuditEvent.details)
             .outerjoin(User, User.id == AuditEvent.actor_id).where(*conditions)
             .order_by(AuditEvent.id.desc()).limit(limit))
    if before is not None:
        query = query.where(AuditEvent.id < before)
    return [Event(*row) for row in db.session.execute(query)]


def page(chosen: Filter, before: int | None = None, limit: int = PAGE) -> tuple[list[Event], int | None]:
    """One page of events matching `chosen`, newest first, below id `before`; and the cursor of the next page."""
    limit = max(1, min(limit, MAX_PAGE))
    events = _query(_conditions(chosen), before, limit + 1)
    if len(events) > limit:
        return events[:limit], events[limit - 1].id
    return events, None


def each_event(chosen: Filter, batch: int | None = None) -> Iterator[Event]:
    """Every event matching `chosen`, newest first, read `batch` rows at a time (for exports).

    A bad filter raises here, before the first event is asked for (and so before a response starts).
    """
    return _batches(_conditions(chosen), batch or BATCH)


def _batches(conditions: list, batch: int) -> Iterator[Event]:
    before = None
    while True:
        events = _query(conditions, before, batch)
        yield from events
        if len(events) < batch:
            return
        before = events[-1].id


def security_events_for(user: User, limit: int = SECURITY_EVENTS) -> list[Event]:
    """The latest security events about `user`: the ones they did, and the ones done to their account.

    What they did to someone else's account (an admin blocking a person, say) is that person's event, not theirs.
    """
    mine = or_(and_(AuditEvent.actor_id == user.id, not_(AuditEvent.target.startswith("user:"))),
               AuditEvent.target == f"user:{user.id}")
    return _query([mine, AuditEvent.action.in_(audit.SECURITY_ACTIONS)], None, limit)


# --- exports ----------------------------------------------------------------------------------

def safe_cell(value) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(events: Iterator[Event]) -> Iterator[str]:
    """The events as CSV, a header line first, one line at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([safe_cell(cell) for cell in cells])
        return buffer.getvalue()

    yield line(CSV_COLUMNS)
    for event in events:
        yield line((event.id, event.at.isoformat(), event.actor_id, event.actor, event.action, event.target,
                    event.ip, event.device, event.browser, event.user_agent, event.request_id,
                    json.dumps(event.details or {}, ensure_ascii=False, sort_keys=True)))


def jsonl_lines(events: Iterator[Event]) -> Iterator[str]:
    """The events as JSON Lines: one object a line."""
    for event in events:
        yield json.dumps(event.as_json(), ensure_ascii=False) + "\n"


def export_name(extension: str, today: date | None = None) -> str:
    """The file name of an export made today (UTC)."""
    return f"shoebox-audit-{(today or utcnow().date()).isoformat()}.{extension}"


# --- retention --------------------------------------------------------------------------------

def prune_old_events() -> int:
    """Delete the events older than the audit_retention_days setting (none when it is 0); returns how many.

    The scheduled job's work, and the only way an event is ever deleted. Needs an app context.
    """
    days = instance.get("audit_retention_days") or 0
    if days <= 0:
        return 0
    cutoff = utcnow() - timedelta(days=days)
    pruned = 0
    while True:
        oldest = select(AuditEvent.id).where(AuditEvent.at < cutoff).order_by(AuditEvent.id).limit(PRUNE_SLICE)
        gone = db.session.execute(delete(AuditEvent).where(AuditEvent.id.in_(oldest.scalar_subquery()))
                                  .execution_options(synchronize_session=False)).rowcount
        if gone < PRUNE_SLICE:
            if pruned + gone:
                audit.record("audit_pruned", None, target="audit", count=pruned + gone, days=days,
                             before=cutoff.date().isoformat())
            db.session.commit()
            pruned += gone
            break
        db.session.commit()
        pruned += gone
    if pruned:
        log.info("Pruned %d audit events older than %s.", pruned, cutoff.date().isoformat())
    return pruned
