"""Liveness and readiness probes for load balancers, Docker and people."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from flask_babel import gettext as _
from sqlalchemy import text

from . import __version__, jobs
from .extensions import blob_store, db, limiter
from .models import utcnow
from .storage import StorageError

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/health")
@limiter.exempt
def health():
    """The process is up and answering."""
    return jsonify(status="ok", message="Server is running", version=__version__, time=utcnow().isoformat())


@bp.get("/health/ready")
@limiter.exempt
def ready():
    """Database, storage and scheduler each checked; 503 naming whatever failed."""
    checks = {"database": _check_database(), "storage": _check_storage(), "scheduler": _check_scheduler()}
    failed = [name for name, result in checks.items() if not result.pop("ok")]
    body = {"status": "ok" if not failed else "unavailable", "version": __version__, "checks": checks}
    if failed:
        body["error"] = {"code": "not_ready", "message": _("Not ready: %(parts)s failed.", parts=", ".join(failed))}
    return jsonify(body), 503 if failed else 200


def _check_database() -> dict:
    try:
        db.session.execute(text("SELECT 1"))
        return {"ok": True, "status": "ok", "dialect": db.engine.dialect.name}
    except Exception as exc:
        db.session.rollback()
        log.warning("Readiness: database check failed: %s", exc)
        return {"ok": False, "status": "unreachable", "detail": type(exc).__name__}


def _check_storage() -> dict:
    try:
        blob_store().check()
        return {"ok": True, "status": "ok"}
    except StorageError as exc:
        log.warning("Readiness: storage check failed: %s", exc)
        return {"ok": False, "status": "unreachable", "detail": str(exc)}


def _check_scheduler() -> dict:
    try:
        return jobs.status(current_app)
    except Exception as exc:
        db.session.rollback()
        return {"ok": False, "status": "unknown", "detail": type(exc).__name__}
