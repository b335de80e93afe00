"""Error reports: errors and slow requests to Sentry, or any service that speaks its protocol
(GlitchTip, Bugsink…), through the official sentry-sdk. Off unless `[errors] sentry_dsn` is set.

A report names the request by its id and the account by its number only; emails and addresses go
with it only when `errors.send_default_pii` is on. Request bodies never go, and parts of a URL that may
be a secret (share tokens, deletion links, signed sizes, email links) are blanked, as is the query.
"""

from __future__ import annotations

import logging
import re
import time

from flask import Flask, current_app, g, has_app_context, has_request_context, request

from . import __version__

log = logging.getLogger(__name__)

# A path segment this long and random-looking may be a capability (a share token, a signed URL).
_SECRETISH = re.compile(r"(?<=/)[A-Za-z0-9_\-.~]{20,}")
_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key", "x-csrftoken", "x-csrf-token"}
# What reverse proxies and CDNs put the client's address in.
_ADDRESS_HEADERS = {"x-forwarded-for", "x-real-ip", "forwarded", "cf-connecting-ip", "true-client-ip",
                    "x-client-ip", "x-cluster-client-ip", "fastly-client-ip"}


def init_app(app: Flask) -> None:
    """Start the SDK when a DSN is configured, and time each request for the slow-request report."""
    settings = app.config["SHOEBOX"]["errors"]
    if not settings["sentry_dsn"]:
        return
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    # The SDK is one per process: with one app per process, as Shoebox runs, it reports for this app.
    sentry_sdk.init(
        dsn=settings["sentry_dsn"], release=f"shoebox@{__version__}",
        environment=settings["environment"] or None, traces_sample_rate=settings["traces_sample_rate"],
        # No bodies and no local variables (a password or a token may be one); who the user is only on request.
        data_collection={"user_info": settings["send_default_pii"], "http_bodies": [],
                         "stack_frame_variables": False},
        # Log lines at ERROR become reports (the 500 handler logs the exception); none become breadcrumbs,
        # because the request log line holds the path, which may hold a secret.
        integrations=[FlaskIntegration(transaction_style="url"), LoggingIntegration(level=None,
                                                                                    event_level=logging.ERROR)],
        before_send=_prepare, before_send_transaction=_prepare,
    )
    app.extensions["error_reports"] = settings
    app.after_request(_report_if_slow)


def _report_if_slow(response):
    threshold = current_app.extensions["error_reports"]["slow_request_ms"]
    started = g.get("request_started")
    if not threshold or started is None or request.url_rule is None:
        return response
    elapsed_ms = (time.perf_counter() - started) * 1000
    if elapsed_ms >= threshold:
        import sentry_sdk

        with sentry_sdk.new_scope() as scope:
            scope.fingerprint = ["slow-request", request.method, request.url_rule.rule]
            scope.set_extra("duration_ms", round(elapsed_ms))
            scope.set_extra("status", response.status_code)
            sentry_sdk.capture_message(f"Slow request: {request.method} {request.url_rule.rule} took "
                                       f"{elapsed_ms:.0f} ms", level="warning")
    return response


def _prepare(event: dict, _hint: dict) -> dict:
    """Name the request and the account, and take out what may be private or a secret."""
    if has_request_context():
        event.setdefault("tags", {})["request_id"] = g.get("request_id", "")
        event["user"] = _who()
    entry = event.get("request")
    if isinstance(entry, dict):
        entry.pop("data", None)
        entry.pop("cookies", None)
        entry["query_string"] = ""
        if isinstance(entry.get("url"), str):
            entry["url"] = _bare_address(entry["url"])
        with_addresses = has_app_context() and _with_pii()
        if isinstance(entry.get("headers"), dict):
            entry["headers"] = _kept_headers(entry["headers"], with_addresses)
        if isinstance(entry.get("env"), dict) and not with_addresses:
            entry["env"].pop("REMOTE_ADDR", None)
    logentry = event.get("logentry")
    if isinstance(logentry, dict):  # "Unhandled error on POST /s/<token>": the log line names the path
        for key in ("message", "formatted"):
            if isinstance(logentry.get(key), str):
                logentry[key] = blank_secrets(logentry[key])
        if isinstance(logentry.get("params"), list):
            logentry["params"] = [blank_secrets(p) if isinstance(p, str) else p for p in logentry["params"]]
    crumbs = event.get("breadcrumbs")
    for record in [*(crumbs.get("values") or [] if isinstance(crumbs, dict) else []), *(event.get("spans") or [])]:
        _clean_outgoing(record)
    return event


def _clean_outgoing(record: dict) -> None:
    """A breadcrumb or span of an outgoing request (an upload from a URL fetches what its user pasted, a signed
    link say) without its query and fragment, and with the secrets of its address blanked."""
    if not isinstance(record, dict):
        return
    data = record.get("data")
    if isinstance(data, dict):
        for key in ("http.query", "http.fragment"):
            data.pop(key, None)
        if isinstance(data.get("url"), str):
            data["url"] = _bare_address(data["url"])
    for key in ("message", "description"):
        if isinstance(record.get(key), str):
            record[key] = _bare_address(record[key])


def _kept_headers(headers: dict, with_addresses: bool) -> dict:
    """The request's headers without credentials, with the Referer's secrets blanked (a share page's or a
    deletion link's address), and without the proxy headers that name the client unless `with_addresses`."""
    kept = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in _SECRET_HEADERS or (lowered in _ADDRESS_HEADERS and not with_addresses):
            continue
        if lowered == "referer" and isinstance(value, str):
            value = _bare_address(value)
        kept[name] = value
    return kept


def _who() -> dict:
    from flask_login import current_user

    user = g.get("api_user") or (current_user if current_user.is_authenticated else None)
    if user is None:
        return {}
    who = {"id": str(user.id)}
    if _with_pii():
        who.update(email=user.email, ip_address=request.remote_addr)
    return who


def _with_pii() -> bool:
    """Whether reports may name people (email) and their addresses: errors.send_default_pii."""
    return bool(current_app.extensions.get("error_reports", {}).get("send_default_pii"))


def _bare_address(url: str) -> str:
    """`url` without its query and fragment, and with its secret-looking path segments blanked."""
    return blank_secrets(url.split("?", 1)[0].split("#", 1)[0])


def blank_secrets(text: str) -> str:
    """`text` (a URL, a path, a log line) with every path segment that may be a secret replaced by `[secret]`."""
    return _SECRETISH.sub("[secret]", text)
