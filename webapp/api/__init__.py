"""The JSON API under /api/v1 and its OpenAPI description."""

from flask import Blueprint

from ..extensions import csrf

bp = Blueprint("api", __name__)
csrf.exempt(bp)  # the API authenticates with tokens and keys, never with the session cookie

from . import accounts, albums, docs, images, transforms  # noqa: E402,F401  (routes register themselves on bp)
