"""The JSON API under /api/v1 and its OpenAPI description."""

from flask import Blueprint, request

from ..extensions import csrf

bp = Blueprint("api", __name__)
csrf.exempt(bp)  # the API authenticates with tokens and keys, never with the session cookie

from . import (accounts, admin_audit, admin_plans, admin_settings, admin_stats, admin_storage,  # noqa: E402,F401
               admin_users, albums, backups, compat, docs, images, jobs, shares, stats,
               transforms)  # (routes register themselves on bp)
from ..schemas import refuse_nul  # noqa: E402


@bp.before_request
def refuse_nul_in_query_and_json():
    """The query and a JSON body are checked here; form fields where an upload reads them."""
    refuse_nul(list(request.args.values()), request.get_json(silent=True) if request.is_json else None)
