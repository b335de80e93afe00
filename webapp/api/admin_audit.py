"""JSON endpoint for the audit log: pages of events newest first, or the whole filter streamed as CSV or
JSON Lines. 404 to anyone without the view_audit permission."""

from __future__ import annotations

from functools import wraps

from flask import request

from ..admin import auditlog
from ..admin.audit_schemas import AuditPage, AuditQuery, export_response
from ..auth import permissions
from ..schemas import parse
from . import bp
from .auth import authenticate_request
from .contract import operation

EXPORTS = {"text/csv": "csv", "application/x-ndjson": "jsonl"}


def _export_asked() -> str | None:
    """`csv` or `jsonl` when `format` or the Accept header asks for a stream, else None (a JSON page)."""
    if request.args.get("format") in ("csv", "jsonl"):
        return request.args["format"]
    if request.args.get("format") == "json":
        return None
    best = request.accept_mimetypes.best_match(["application/json", *EXPORTS])
    return EXPORTS.get(best or "")


def _or_streamed_export(view):
    """Send the export instead of a page when one is asked for.

    The contract reads a validated response whole to check it; an export of a long log must stream, so it
    goes around that check, with the same credentials, permission and query model as the page.
    """
    @wraps(view)
    def entry(*args, **kwargs):
        kind = _export_asked()
        if kind is None:
            return view(*args, **kwargs)
        permissions.require(authenticate_request(), "view_audit")
        return export_response(parse(AuditQuery, request.args.to_dict()).chosen(), kind)
    return entry


@bp.get("/api/v1/admin/audit")
@_or_streamed_export
@operation("listAuditEvents", (200, AuditPage, "A page of events, newest first. With `Accept: text/csv` or "
                                               "`format=csv`: every matching event as CSV (streamed, a "
                                               "spreadsheet-safe file); with `Accept: application/x-ndjson` or "
                                               "`format=jsonl`: as JSON Lines."),
           tag="admin", query=AuditQuery, admit=permissions.api_needs("view_audit"),
           errors={404: "You may not read the audit log (or there is no such address)."},
           other_media={"text/csv": {"type": "string"}, "application/x-ndjson": {"type": "string"}})
def list_audit_events(query: AuditQuery):
    """The audit log: who did what, when and from where, filtered like the admin page. Nothing edits or
    deletes an event; only the retention setting prunes old ones."""
    return AuditPage.of(*auditlog.page(query.chosen(), query.before(), query.page_size()))
