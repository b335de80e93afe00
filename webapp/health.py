"""Liveness and readiness probes for load balancers, Docker and people."""

from __future__ import annotations

import logging

from typing import Literal

from flask import Blueprint, current_app
from flask_babel import gettext as _
from pydantic import ConfigDict, Field
from sqlalchemy import text

from . import __version__, jobs
from .extensions import blob_store, db, unlimited
from .api.contract import operation
from .models import utcnow
from .schemas import ErrorDetail, Out, Timestamp
from .storage import StorageError

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


class Health(Out):
    # "OK", in capitals, as the APIs Shoebox was specified from answer (clients compare it).
    status: Literal["OK"]
    message: str
    version: str
    time: Timestamp


class Check(Out):
    model_config = ConfigDict(extra="allow")
    status: str = Field(examples=["ok"])
    detail: str | None = None


class Checks(Out):
    database: Check
    storage: Check
    scheduler: Check


class Readiness(Out):
    status: Literal["ok", "unavailable"]
    version: str
    checks: Checks
    error: ErrorDetail | None = None


@bp.get("/health")
@unlimited
@operation("health", (200, Health, "Up."), tag="operations", public=True)
def health():
    """Liveness: the server is up."""
    return Health(status="OK", message="Server is running", version=__version__, time=utcnow().isoformat())


@bp.get("/health/ready")
@unlimited
@operation("ready", (200, Readiness, "Every check passed."), tag="operations", public=True,
           also=(503, Readiness, "A check failed; `error.message` names it."))
def ready():
    """Readiness: database, storage and scheduler checked; 503 naming whatever failed."""
    checks = readiness()
    failed = [name for name, result in checks.items() if not result.pop("ok")]
    body = {"status": "ok" if not failed else "unavailable", "version": __version__, "checks": checks}
    if failed:
        body["error"] = {"code": "not_ready", "message": _("Not ready: %(parts)s failed.", parts=", ".join(failed))}
    return body, 503 if failed else 200


def readiness() -> dict[str, dict]:
    """The checks /health/ready answers with, and the admin dashboard shows: database, storage and scheduler,
    each a dict with "ok" (whether it passed), "status" and what else it found."""
    return {"database": _check_database(), "storage": _check_storage(), "scheduler": _check_scheduler()}


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
