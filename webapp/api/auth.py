"""Who an API request speaks for: `Authorization: Bearer <access token>` or `X-API-Key: sbx_…`, and what
an API key's scope lets it do.

Scopes are enforced here, where every request with a key is authenticated, so no endpoint can forget them:
a "full" key (and an access token) may do anything its account may; a "read" key may only GET (and HEAD);
an "upload" key may only call the views marked with @accepts_upload_keys (uploads and the upload quota).
"""

from __future__ import annotations

import math
import time

from flask import current_app, g, request
from flask_babel import gettext as _
from limits import RateLimitItemPerHour

from .. import metering
from ..auth import permissions, tokens
from ..auth.credentials import is_bearer
from ..errors import Forbidden, NotAuthenticated, RateLimited
from ..extensions import count_hit
from ..models import ApiKey, User

# What someone whose groups do not hold use_api may still ask with a token: who they are, what they may do,
# and to end the session (so that a client can say why nothing else answers).
WITHOUT_USE_API = {("GET", "/api/v1/account"), ("GET", "/api/v1/account/permissions"),
                   ("POST", "/api/v1/auth/logout")}


def authenticate_request() -> User:
    """Resolve the credentials of this request, enforce the hourly request limits, and return the user."""
    if "api_user" in g:
        return g.api_user
    header = request.headers.get("Authorization")
    api_key = request.headers.get("X-API-Key")
    if api_key is not None and not is_bearer(header):
        header = None  # a reverse proxy's own sign-in (Basic) beside the key: the proxy's, not Shoebox's
    # Every credential presented must be valid: a bad one is never ignored because another is good.
    if header is not None and api_key is not None:
        raise NotAuthenticated(_("Send either an access token or an API key, not both."), code="unauthorized")
    if api_key is not None:
        user, key = tokens.user_for_api_key(api_key)
        g.api_key, g.token_family = key, None
        _take_hourly(f"api-key:{key.id}", key.rate_limit_per_hour or _plan_hourly(user))
        demand_scope(key)
    elif header is not None:
        if not header.lower().startswith("bearer "):
            raise NotAuthenticated(_("Use Authorization: Bearer <access token>."), code="unauthorized")
        user, family = tokens.user_for_access_token(header[7:].strip())
        g.api_key, g.token_family = None, family
    else:
        raise NotAuthenticated(_("Send an access token (Authorization: Bearer …) or an API key (X-API-Key)."),
                               code="unauthorized")
    metering.record(user.id, api_requests=1)
    if (request.method, request.path) not in WITHOUT_USE_API:
        permissions.demand(user, "use_api")
    _take_hourly(f"api-user:{user.id}", _plan_hourly(user))
    g.api_user = user
    return user


def accepts_upload_keys(view):
    """Mark a view that a key of scope "upload" may call: an upload, or the upload quota.

    Put it under the route decorator (the mark travels up through functools.wraps, as operation() uses);
    authenticate_request() looks for it on the view Flask dispatches to.
    """
    view.accepts_upload_keys = True
    return view


def demand_scope(key: ApiKey) -> None:
    """Forbidden (insufficient_scope) unless `key`'s scope allows this request."""
    if key.scope == "full":
        return
    if key.scope == "read":
        if request.method in ("GET", "HEAD"):
            return
        raise Forbidden(_("This API key may only read (GET and HEAD); use a key with full access to make changes."),
                        code="insufficient_scope")
    view = current_app.view_functions.get(request.endpoint or "")
    if key.scope == "upload" and getattr(view, "accepts_upload_keys", False):
        return
    raise Forbidden(_("This API key may only upload photos and files and read its upload quota."),
                    code="insufficient_scope")


def _plan_hourly(user: User) -> int:
    return user.plan.api_requests_per_hour if user.plan is not None else 0


def _take_hourly(name: str, per_hour: int) -> None:
    """Count one request against `per_hour` (0: unlimited) in the limiter's storage (Redis when shared)."""
    if per_hour <= 0:
        return
    allowed, reset_at = count_hit(RateLimitItemPerHour(per_hour), "shoebox-api", name)
    if not allowed:
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise RateLimited(_("This key or account has used its %(count)s requests for this hour. "
                            "Try again in %(seconds)s seconds.", count=per_hour, seconds=retry_after),
                          code="rate_limited", retry_after=retry_after)
