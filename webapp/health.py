"""Liveness and readiness probes for load balancers, Docker and people."""

from __future__ import annotations

import logging
from typing import Literal
from urllib.parse import urlsplit

from flask import Blueprint, current_app
from flask_babel import gettext as _
from pydantic import ConfigDict, Field
from sqlalchemy import text

from . import __version__, cluster, jobs
from .extensions import blob_store, db, limiter, unlimited
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
    limits: Check = Field(description='Where rate limits are counted: "shared" (in Redis, by every instance), '
                                      '"per instance" (Redis cannot be reached: each instance counts alone until '
                                      'it is back) or "memory" (no Redis configured). Never fails readiness.')
    cluster: Check = Field(description='How this instance hears of changes made on the others: "single" (no '
                                       'Redis configured: one instance), "ok" (subscribed) or "unreachable" (it '
                                       'answers from the database until Redis is back). Never fails readiness.')


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
    """Readiness: database, storage and scheduler checked, 503 naming whatever failed; the rate limits and the
    channel between instances are reported, but a Redis outage takes no instance out of the load balancer."""
    checks = readiness()
    failed = [name for name, result in checks.items() if not result.pop("ok")]
    body = {"status": "ok" if not failed else "unavailable", "version": __version__, "checks": checks}
    if failed:
        body["error"] = {"code": "not_ready", "message": _("Not ready: %(parts)s failed.", parts=", ".join(failed))}
    return body, 503 if failed else 200


def readiness() -> dict[str, dict]:
    """The checks /health/ready answers with, and the admin dashboard shows: database, storage, scheduler, rate
    limits and the channel between instances, each a dict with "ok" (whether it passed), "status" and what else
    it found."""
    return {"database": _check_database(), "storage": _check_storage(), "scheduler": _check_scheduler(),
            "limits": _check_limits(), "cluster": _check_cluster()}


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


def _check_limits() -> dict:
    """Where rate limits are counted now. Ok either way: a Redis outage must not make every instance unready."""
    if urlsplit(current_app.config["SHOEBOX"]["limits"]["storage_url"]).scheme == "memory":
        return {"ok": True, "status": "memory",
                "detail": _("No Redis is configured (limits.storage_url): each instance counts alone.")}
    # Flask-Limiter keeps whether it fell back to memory to itself; it tries Redis again on its own schedule.
    fell_back, answers = getattr(limiter, "_storage_dead", False), limiter.storage.check()
    if answers and not fell_back:
        return {"ok": True, "status": "shared"}
    if answers:
        return {"ok": True, "status": "per instance",
                "detail": _("Redis answers again; this instance counts rate limits alone until its limiter "
                            "next tries Redis, on a rate-limited request at most 32 seconds after its last try.")}
    return {"ok": True, "status": "per instance",
            "detail": _("Redis cannot be reached: each instance counts rate limits alone until it is back.")}


def _check_cluster() -> dict:
    status = cluster.bus_of().status()
    if status["status"] == "unreachable":
        status["detail"] = _("Redis cannot be reached (%(error)s): this instance answers from the database, "
                             "not from memory, until it is back.", error=status["detail"])
    return status
