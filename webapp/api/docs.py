"""The API's own description: the OpenAPI document and the interactive docs that read it."""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from flask import render_template, send_from_directory
from pydantic import ConfigDict

from ..extensions import unlimited
from ..schemas import Out
from . import bp
from .contract import document, operation

SWAGGER_UI_DIR = Path(swagger_ui.__file__).parent / "static"
SWAGGER_UI_FILES = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"}


class OpenAPIDocument(Out):
    """An OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow")
    openapi: str


@bp.get("/api/v1/openapi.json")
@unlimited
@operation("openapi", (200, OpenAPIDocument, "The OpenAPI 3.1 document."), tag="operations", public=True)
def openapi():
    """This document: every /api/v1 operation, generated from the code (on first request, then kept)."""
    return document()


@bp.get("/api/docs")
def docs():
    """Interactive API documentation, served from this app (works offline, under the CSP)."""
    return render_template("api/docs.html")


@bp.get("/api/docs/assets/<name>")
@unlimited
def docs_asset(name: str):
    """Swagger UI's files, from the installed swagger-ui-py package."""
    if name not in SWAGGER_UI_FILES:
        from ..errors import NotFound

        raise NotFound()
    return send_from_directory(SWAGGER_UI_DIR, name, max_age=86400)
