"""The audit log over HTTP: the API's query and answer models, and the streamed export both the admin page
and the API send."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import Response, stream_with_context
from flask_babel import gettext as _
from pydantic import Field, WithJsonSchema

from ..errors import InvalidInput
from ..schemas import Out, Query, Timestamp
from . import auditlog

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


def _documented(schema: dict, description: str):
    """A query parameter the audit log reads itself (with its own errors naming it), documented as `schema`."""
    return Annotated[str | None, WithJsonSchema(schema), Field(None, description=description)]


class AuditQuery(Query):
    """The viewer's filters, a page's cursor and size, and the answer's format."""

    actor: _documented({"type": "string", "maxLength": 200},
                       "A username or account id; `system` for events no account did.") = None
    action: _documented({"type": "string", "maxLength": 200},
                        "An action code such as `login_failed`; ending in `*` or `_`, every action starting so.") = None
    target: _documented({"type": "string", "maxLength": 200},
                        "What the event is about, such as `user:12` or `share:abc`; ending in `:` or `*`, "
                        "every target starting so.") = None
    from_: _documented({"type": "string", "format": "date"}, "On or after this day (UTC).") = Field(
        None, alias="from")
    to: _documented({"type": "string", "format": "date"}, "On or before this day (UTC).") = None
    address: _documented({"type": "string", "maxLength": 200},
                         "A client address; ending in `.`, `:` or `*`, every address starting so.") = None
    cursor: _documented({"type": "string", "pattern": "^[0-9]{1,18}$"},
                        "`next_cursor` of the previous page, with the same filters.") = None
    limit: _documented({"type": "integer", "minimum": 1, "maximum": auditlog.MAX_PAGE, "default": auditlog.PAGE},
                       "Events per page.") = None
    format: _documented({"enum": ["json", "csv", "jsonl"]},
                        "`csv` or `jsonl` stream every matching event (no pages) as the `Accept` header "
                        "`text/csv` or `application/x-ndjson` does.") = None

    def chosen(self) -> auditlog.Filter:
        """The filter these parameters ask for; InvalidInput naming the parameter at fault."""
        return auditlog.parse_filter({**self.model_dump(by_alias=True, exclude_none=True)})

    def before(self) -> int | None:
        if self.cursor is None:
            return None
        if not self.cursor.isdigit() or len(self.cursor) > 18:
            raise InvalidInput(_("cursor is not in the expected form."), code="invalid_cursor", field="cursor")
        return int(self.cursor)

    def page_size(self) -> int:
        if self.limit is None:
            return auditlog.PAGE
        if not self.limit.isdigit() or not 1 <= int(self.limit) <= auditlog.MAX_PAGE:
            raise InvalidInput(_("limit must be a whole number from 1 to %(most)s.", most=auditlog.MAX_PAGE),
                               code="invalid_limit", field="limit")
        return int(self.limit)


class AuditEvent(Out):
    id: int
    at: Timestamp
    actor_id: int | None = Field(description="Null for the system, or when the account no longer exists.")
    actor: str | None = Field(description="The actor's username while their account exists.")
    action: str = Field(examples=["login_failed"])
    label: str = Field(description="The action in words, in the request's language.")
    target: str = Field(description="`kind:id` of what it is about, or empty.", examples=["user:12"])
    address: str = Field(description="The client address of the request.")
    user_agent: str
    device: str = Field(description="`desktop`, `phone`, `tablet`, `bot`, `other`, or empty.")
    browser: str
    request_id: str = Field(description="The `X-Request-ID` of the request that did it.")
    details: dict[str, Any]


class AuditPage(Out):
    items: list[AuditEvent]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")

    @classmethod
    def of(cls, events: list[auditlog.Event], next_before: int | None) -> AuditPage:
        return cls(items=[AuditEvent(**event.as_json()) for event in events],
                   next_cursor=str(next_before) if next_before is not None else None)


def export_response(chosen: auditlog.Filter, kind: Literal["csv", "jsonl"]) -> Response:
    """Every event `chosen` matches as a streamed CSV or JSON Lines download named for today."""
    events = auditlog.each_event(chosen)  # a bad filter fails here, before the response starts
    lines = auditlog.csv_lines(events) if kind == "csv" else auditlog.jsonl_lines(events)
    response = Response(stream_with_context(lines), mimetype=MEDIA_TYPES[kind].split(";")[0])
    response.headers["Content-Type"] = MEDIA_TYPES[kind]
    response.headers["Content-Disposition"] = f'attachment; filename="{auditlog.export_name(kind)}"'
    response.headers["Cache-Control"] = "no-store"
    return response
