"""Admin → Audit log: what happened, newest first, filtered by a GET form, and the current filter exported
as CSV or JSON Lines. Read-only: nothing here (or anywhere) changes or deletes an event.

The filter form works without JavaScript; htmx swaps only the results and keeps the address in step.
"""

from __future__ import annotations

from flask import request

from .. import audit
from ..auth.permissions import needs
from ..errors import InvalidInput
from ..web import render
from . import auditlog, bp
from .audit_schemas import export_response

@bp.get("/audit", endpoint="audit")
@needs("view_audit")
def audit_log():
    """The audit log, newest first, 50 to a page below the cursor `before`; a bad filter is said beside its field."""
    before = request.args.get("before", type=int)
    chosen, error, events, next_before = auditlog.Filter(), None, [], None
    try:
        chosen = auditlog.parse_filter(request.args)
        events, next_before = auditlog.page(chosen, before)
    except InvalidInput as problem:
        error = problem
    return render("admin/audit.html", fragment="admin/_audit_results.html", also=("admin/_audit_filters.html",),
                  chosen=chosen, error=error, form=request.args, events=events, next_before=next_before,
                  is_first_page=before is None, actions=sorted(audit.ACTIONS.items(), key=lambda item: str(item[1])))


@bp.get("/audit/export.csv")
@needs("view_audit")
def audit_export_csv():
    """The events the current filter shows, every page of them, as CSV (streamed)."""
    return export_response(auditlog.parse_filter(request.args), "csv")


@bp.get("/audit/export.jsonl")
@needs("view_audit")
def audit_export_jsonl():
    """The events the current filter shows, every page of them, as JSON Lines (streamed)."""
    return export_response(auditlog.parse_filter(request.args), "jsonl")
