"""Domain errors and the one place that turns any error into a page, an htmx fragment or JSON."""

from __future__ import annotations

import logging
import math
import time

from flask import Flask, Response, current_app, g, jsonify, make_response, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .i18n import human_size

log = logging.getLogger(__name__)


class ShoeboxError(Exception):
    """A problem the user can act on. Services raise these; they never know about HTTP.

    `field` names the input the problem is about, as the form and the JSON body both call it,
    so that a page shows the message beside that input and JSON says which.
    """

    status = 400
    code = "bad_request"

    def __init__(self, message: str | None = None, *, code: str | None = None, retry_after: int | None = None,
                 field: str | None = None):
        super().__init__(message or self.default_message())
        self.message = message or self.default_message()
        self.code = code or self.code
        self.retry_after = retry_after
        self.field = field

    def default_message(self) -> str:
        return str(DEFAULT_MESSAGES.get(self.status, DEFAULT_MESSAGES[400]))


class InvalidInput(ShoeboxError):
    status, code = 400, "invalid_input"


class NotAuthenticated(ShoeboxError):
    status, code = 401, "unauthorized"


class Forbidden(ShoeboxError):
    status, code = 403, "forbidden"


class NotFound(ShoeboxError):
    status, code = 404, "not_found"


class Conflict(ShoeboxError):
    status, code = 409, "conflict"


class Gone(ShoeboxError):
    status, code = 410, "gone"


class TooLarge(ShoeboxError):
    status, code = 413, "too_large"


class UnsupportedMedia(ShoeboxError):
    status, code = 415, "unsupported_media_type"


class RateLimited(ShoeboxError):
    status, code = 429, "rate_limited"


class Unavailable(ShoeboxError):
    status, code = 503, "unavailable"


DEFAULT_MESSAGES = {
    400: _l("The request could not be understood."),
    401: _l("You need to log in to do that."),
    403: _l("You are not allowed to do that."),
    404: _l("There is nothing at this address."),
    405: _l("This address does not accept that kind of request."),
    409: _l("That conflicts with something that already exists."),
    410: _l("This is no longer available."),
    413: _l("The upload is larger than this server accepts."),
    415: _l("That kind of file is not accepted here."),
    429: _l("Too many requests."),
    500: _l("Something went wrong on our side. The error has been logged."),
    503: _l("The service is temporarily unavailable. Please try again shortly."),
}

TITLES = {
    400: _l("Bad request"), 401: _l("Please log in"), 403: _l("Not allowed"), 404: _l("Not found"),
    405: _l("Not allowed here"), 409: _l("Conflict"), 410: _l("Gone"), 413: _l("Too large"),
    415: _l("Unsupported file"), 429: _l("Slow down"), 500: _l("Server error"), 503: _l("Unavailable"),
}

HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 410: "gone", 413: "too_large", 415: "unsupported_media_type", 429: "rate_limited",
    500: "internal_error", 503: "unavailable",
}


def wants_json() -> bool:
    """API clients get JSON; browsers get pages. Decided by path and credentials first, then by Accept."""
    from .auth.credentials import carries_api_credentials

    if request.path.startswith(("/api/", "/health", "/upload/quota")) or request.path == "/api":
        return True
    if request.method == "POST" and request.path == "/upload" and carries_api_credentials():
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, code: str, message: str, headers: dict | None = None,
                   field: str | None = None) -> Response:
    """The error as JSON (naming `field` when it is about one), as a flash fragment for htmx, or as a full page."""
    from .web import is_fragment_request

    if wants_json():
        body = {"code": code, "message": message}
        if field:
            body["field"] = field
        response = jsonify({"error": body})
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="shoebox"'
    elif is_fragment_request():
        response = make_response(_render_safely("_flashes.html", messages=[("error", message)], oob=False))
        # Errors land in the flash area instead of replacing the element that asked.
        response.headers["HX-Retarget"] = "#flashes"
        response.headers["HX-Reswap"] = "beforeend"
    else:
        # A share link's recipients have no account: their error pages lead nowhere inside Shoebox.
        template = "shares/recipient_error.html" if request.path.startswith("/s/") else "errors/error.html"
        response = make_response(_render_safely(
            template, status=status, title=TITLES.get(status, TITLES[500]), message=message, code=code,
            request_id=g.get("request_id", "")))
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _render_safely(template: str, **context) -> str:
    try:
        return render_template(template, **context)
    except Exception:  # the page itself may need what just failed (the database, say)
        log.exception("Could not render %s", template)
        return f"<!doctype html><title>Error</title><p>{context.get('message', '')}</p>"


def _handle_shoebox_error(error: ShoeboxError) -> Response:
    from .extensions import db

    # Whatever the refused action had staged stays unsaved, even if rendering the answer commits.
    db.session.rollback()
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else {}
    return error_response(error.status, error.code, error.message, headers, field=error.field)


def attach_error(form, error: ShoeboxError) -> None:
    """Show a domain error beside the form's input it names (the first input when it names none)."""
    if error.field in form:
        field = form[error.field]
    else:
        field = next(f for f in form if f.type not in {"CSRFTokenField", "HiddenField"})
    field.errors = list(field.errors) + [error.message]


def _handle_http_error(error: HTTPException) -> Response:
    status = error.code or 500
    headers = {}
    message = str(DEFAULT_MESSAGES.get(status, error.description or DEFAULT_MESSAGES[400]))
    if status == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    if status == 416 and getattr(error, "length", None) is not None:
        headers["Content-Range"] = f"bytes */{error.length}"  # how long the file is, so a client can ask again
    if status == 413:
        limit = request.max_content_length
        if limit:
            message = _("The upload is larger than the %(size)s this server accepts.", size=human_size(limit))
    if status == 429:
        retry_after = _retry_after_seconds()
        headers["Retry-After"] = str(retry_after)
        message = _("Too many requests. Try again in %(seconds)s seconds.", seconds=retry_after)
    return error_response(status, HTTP_CODES.get(status, "http_error"), message, headers)


def _handle_csrf_error(error: CSRFError) -> Response:
    message = _("The form expired or was sent from another site. Reload the page and try again.")
    return error_response(400, "csrf_failed", message)


def database_unreachable(error: BaseException) -> bool:
    """Whether `error` means no connection to the database server could be had or kept (it is down,
    refusing, or the connection dropped), as opposed to a statement failing on a working connection."""
    import sqlalchemy.exc

    if not isinstance(error, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)):
        return False
    if error.connection_invalidated:
        return True
    # psycopg gives no SQLSTATE when no server answered at all; class 08 is a connection
    # exception, 57P01-57P03 a server shutting down or still starting. (sqlite3 has no sqlstate.)
    sqlstate = getattr(error.orig, "sqlstate", "")
    return sqlstate is None or str(sqlstate).startswith(("08", "57P01", "57P02", "57P03"))


UNAVAILABLE_RETRY_SECONDS = 10


def _handle_unexpected(error: Exception) -> Response:
    from .extensions import db
    from .storage import StorageUnavailable

    db.session.rollback()
    if database_unreachable(error):
        log.error("Database unreachable: %s", str(getattr(error, "orig", error)).splitlines()[0])
        # Answer as to an anonymous visitor: loading the user (for the page, for the language)
        # would only ask the database again. Flask-Login keeps the request's user in g._login_user.
        g._login_user = current_app.login_manager.anonymous_user()
        return error_response(503, "database_unavailable",
                              _("The database cannot be reached right now; try again in a moment."),
                              {"Retry-After": str(UNAVAILABLE_RETRY_SECONDS)})
    if isinstance(error, StorageUnavailable):
        log.error("Storage unavailable: %s", error)
        return error_response(503, "storage_unavailable", _("File storage is unreachable right now. Nothing was "
                                                             "changed; please try again shortly."),
                              {"Retry-After": str(UNAVAILABLE_RETRY_SECONDS)})
    log.exception("Unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", str(DEFAULT_MESSAGES[500]))


def _retry_after_seconds() -> int:
    from .extensions import limiter

    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, math.ceil(current.reset_at - time.time()))


def init_app(app: Flask) -> None:
    """Route every error through error_response()."""
    app.register_error_handler(ShoeboxError, _handle_shoebox_error)
    app.register_error_handler(CSRFError, _handle_csrf_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(Exception, _handle_unexpected)
