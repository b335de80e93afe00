"""The API's own description: the OpenAPI document and the interactive docs that read it."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

import swagger_ui
from flask import current_app, jsonify, render_template, send_from_directory

from ..extensions import limiter
from . import bp

OPENAPI_FILE = Path(__file__).with_name("openapi.json")
SWAGGER_UI_DIR = Path(swagger_ui.__file__).parent / "static"
SWAGGER_UI_FILES = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"}


@cache
def _document() -> dict:
    return json.loads(OPENAPI_FILE.read_text())


def openapi_document() -> dict:
    """The OpenAPI document with this instance's base URL as its server."""
    document = copy.deepcopy(_document())
    document["servers"] = [{"url": current_app.config["SHOEBOX"]["server"]["base_url"]}]
    return document


@bp.get("/api/v1/openapi.json")
@limiter.exempt
def openapi():
    """The OpenAPI 3.1 description of every /api/v1 endpoint."""
    return jsonify(openapi_document())


@bp.get("/api/docs")
def docs():
    """Interactive API documentation, served from this app (works offline, under the CSP)."""
    return render_template("api/docs.html")


@bp.get("/api/docs/assets/<name>")
@limiter.exempt
def docs_asset(name: str):
    """Swagger UI's files, from the installed swagger-ui-py package."""
    if name not in SWAGGER_UI_FILES:
        from ..errors import NotFound

        raise NotFound()
    return send_from_directory(SWAGGER_UI_DIR, name, max_age=86400)
