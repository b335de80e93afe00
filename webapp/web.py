"""What every HTML response shares: page-or-fragment rendering, flashes, security headers, request ids."""

from __future__ import annotations

import logging
import re
import time
import uuid
import weakref
from urllib.parse import urlsplit

from flask import Flask, Response, g, get_flashed_messages, make_response, render_template, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

log = logging.getLogger("webapp.requests")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "img-src 'self' data: blob:",
    "style-src 'self'",
    "script-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


def is_fragment_request() -> bool:
    """True for an htmx request that wants part of a page (not boosted navigation, not history restore)."""
    hx = request.htmx
    return bool(hx) and not hx.boosted and not hx.history_restore_request


def render(template: str, fragment: str | None = None, status: int = 200, also: tuple[str, ...] = (),
           **context) -> Response:
    """Render the full page, or only `fragment` for an htmx fragment request.

    With a fragment, pending flashes and the templates named in `also` ride along out of band
    (each renders its own element with hx-swap-oob when given oob=True).
    """
    partial = fragment is not None and is_fragment_request()
    html = render_template(fragment if partial else template, **context)
    if partial:
        html += "".join(render_template(name, **{**context, "oob": True}) for name in also)
        html += render_oob_flashes()
    response = make_response(html, status)
    response.vary.add("HX-Request")
    return response


def page_redirect(url: str) -> Response:
    """Go to `url` as a whole page: a redirect, or HX-Redirect for htmx (which would swap it into a fragment)."""
    from flask import redirect

    if request.htmx:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, 303 if request.method != "GET" else 302)


MAX_LOCAL_URL = 2048


def local_url(target: str | None) -> str | None:
    """`target` when it is a path on this site, else None: the one rule for every redirect a visitor can
    choose (?next=, the language picker), so that none leads off the site."""
    target = (target or "").strip()
    if len(target) > MAX_LOCAL_URL:  # echoed into Location: a reverse proxy answers 502 to headers that big
        return None
    # //host and /\host are other sites to a browser, which reads a backslash as a slash and drops tabs
    # and newlines (so "/\t/host" is //host); DEL is refused with the other control characters.
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target.rstrip("?") or None  # request.full_path ends in "?" when there is no query


def render_oob_flashes() -> str:
    """Pending flash messages as an out-of-band swap into #flashes (empty when there are none)."""
    messages = get_flashed_messages(with_categories=True)
    if not messages:
        return ""
    return render_template("_flashes.html", messages=messages, oob=True)


class SessionInterface(SecureCookieSessionInterface):
    """Signed-cookie sessions whose Secure flag can follow the connection ("auto").

    Paths passed to skip() get none: their cookie is never decoded, and nothing is ever saved or
    sent back (no Set-Cookie, no Vary: Cookie), so nobody is logged in there.
    """

    def __init__(self):
        self.skipped: list[re.Pattern] = []
        self._serializers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def get_signing_serializer(self, app: Flask):
        """Flask's serializer, made once per app rather than on every request (a sixth of a cached
        thumbnail's time went to making it); the secret key does not change while the app runs."""
        if app not in self._serializers:
            self._serializers[app] = super().get_signing_serializer(app)
        return self._serializers[app]

    def skip(self, path: re.Pattern) -> None:
        """Open no session for request paths that fully match `path`."""
        self.skipped.append(path)

    def open_session(self, app: Flask, request) -> SecureCookieSession | None:
        if any(path.fullmatch(request.path) for path in self.skipped):
            return _Unsaved()
        return super().open_session(app, request)

    def is_null_session(self, obj) -> bool:
        return isinstance(obj, _Unsaved) or super().is_null_session(obj)

    def get_cookie_secure(self, app: Flask) -> bool:
        setting = app.config["SHOEBOX"]["security"]["secure_cookies"]
        if setting != "auto":
            return setting
        # Browsers accept Secure cookies over https and from localhost; a plain-http LAN
        # address would silently drop them and nobody could log in.
        return is_trustworthy_origin()


class _Unsaved(SecureCookieSession):
    """The empty session of a skipped path. An error page may still write its CSRF token into it;
    it is never saved, so the browser's real session cookie is left as it was."""


def is_trustworthy_origin() -> bool:
    """Whether browsers treat this request's origin as secure: https (after ProxyFix) or localhost."""
    return request.is_secure or urlsplit(f"//{request.host}").hostname in {"localhost", "127.0.0.1", "::1"}


# htmx settings for every page: no eval, no inline styles (our CSP forbids both), and error
# responses are swapped too, because errors retarget themselves into #flashes.
HTMX_CONFIG = {
    "includeIndicatorStyles": False,
    "allowEval": False,
    "allowScriptTags": False,
    "selfRequestsOnly": True,
    "responseHandling": [
        {"code": "204", "swap": False},
        {"code": "[23]..", "swap": True},
        {"code": "[45]..", "swap": True, "error": True},
    ],
}


def init_app(app: Flask) -> None:
    """Install request ids, the per-request log line, security headers and the session interface."""
    app.session_interface = SessionInterface()
    app.before_request(_start_request)
    app.after_request(_finish_request)
    app.context_processor(_template_globals)
    from .auth.sessions import device_label

    app.jinja_env.filters["device_label"] = device_label
    from .i18n import human_size

    app.jinja_env.filters["human_size"] = human_size


def _template_globals() -> dict:
    from . import __version__

    # The page's language and direction (page_lang, page_dir) come from i18n's own context processor.
    return {"htmx_config": HTMX_CONFIG, "shoebox_version": __version__, "site_name": site_name,
            "public_base_url": public_base_url}


def _start_request() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _finish_request(response: Response) -> Response:
    _security_headers(response)
    if response.status_code not in (429, 503):
        # Flask-Limiter (which runs before this hook) puts Retry-After on every response of a
        # limited route, 0 on a 200; it tells a client how long to wait, so only refusals carry it.
        response.headers.pop("Retry-After", None)
    response.headers["X-Request-ID"] = g.get("request_id", "")
    if response.mimetype == "text/html":
        response.vary.add("HX-Request")
    elapsed_ms = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
    log.info(
        "%s %s %s %.1fms", request.method, request.full_path.rstrip("?"), response.status_code, elapsed_ms,
        extra={"request_id": g.get("request_id"), "method": request.method, "path": request.path,
               "status": response.status_code, "duration_ms": round(elapsed_ms, 1),
               "remote_addr": request.remote_addr},
    )
    return response


def _security_headers(response: Response) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if "frame-ancestors 'none'" in headers["Content-Security-Policy"]:
        headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if is_trustworthy_origin():  # elsewhere browsers ignore it and log an error on every page
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")


def public_base_url() -> str:
    """The public address links are built on: the admin's setting (Admin → Settings), else the config file's."""
    from flask import current_app

    from . import instance

    return instance.get("base_url") or current_app.config["SHOEBOX"]["server"]["base_url"]


def site_name() -> str:
    """The instance's name as the admin set it (page titles, the header, emails); "Shoebox" until then.

    A page that renders while the database is down (its error page) still gets a name.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from . import instance
    from .extensions import db

    try:
        return instance.get("site_name")
    except SQLAlchemyError:
        db.session.rollback()
        return instance.DEFAULTS["site_name"]


def absolute_url(endpoint: str, **values) -> str:
    """A full URL on the public base URL (never the request's Host header), for emails and the API."""
    from flask import current_app, has_request_context, url_for

    base = public_base_url()
    if has_request_context():
        return base + url_for(endpoint, _external=False, **values)
    # Background work (emails sent after the request answered) has no request to build on.
    return base + current_app.url_map.bind("localhost").build(endpoint, values)
