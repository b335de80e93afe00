"""The API contract: each route declares its models once; spectree validates requests against them and
generates the OpenAPI 3.1 document from them and the routes."""

from __future__ import annotations

import copy
from functools import partial, wraps

from flask import request
from flask_babel import gettext as _
from spectree import Response, SpecTree

from ..errors import InvalidInput
from ..schemas import Error, invalid_input

TITLE = "Shoebox API"
DESCRIPTION = ("JSON API of Shoebox, a self-hosted image and file host. Authenticate with "
               "`Authorization: Bearer <access token>` or `X-API-Key: sbx_…`. Errors are "
               "`{\"error\": {\"code\", \"message\", \"field\"?}}`; lists are `{\"items\", \"next_cursor\"}`; "
               "429 answers carry `Retry-After`.")
TAGS = [
    {"name": "operations", "description": "Health and the API's own description."},
    {"name": "auth", "description": "Signing up, logging in, tokens, email links."},
    {"name": "account", "description": "The authenticated account."},
    {"name": "api-keys", "description": "Long-lived keys for scripts."},
    {"name": "images", "description": "Uploading, listing, changing, transforming and deleting photos."},
    {"name": "albums", "description": "Albums: ordered collections of your photos; a photo may be in many."},
    {"name": "shares", "description": "Share links: a photo, an album or a selection for people without an account."},
    {"name": "jobs", "description": "Background work (backups, restores) and how far it has got."},
    {"name": "backups", "description": "Archives of your account (or, for admins, the whole instance): made, read "
                                        "back, downloaded, restored, and kept on a schedule."},
    {"name": "admin", "description": "The admin panel's data: people, plans, groups, the dashboard's figures, "
                                     "the audit log and instance settings. Each operation needs one permission; "
                                     "without it the answer is 404."},
    {"name": "compatible", "description": "Calls in the shapes of the image-host APIs Shoebox was specified from, "
                                          "so that scripts written for them work unchanged (README: Compatible "
                                          "calls)."},
]
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
               "description": "A 15-minute access token from /api/v1/auth/login or /api/v1/auth/refresh."},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
               "description": "A key made on the settings page or with POST /api/v1/api-keys; starts with sbx_. "
                              "Its scope limits it: `upload` keys may only upload and read the upload quota, "
                              "`read` keys may only GET; elsewhere they get 403 `insufficient_scope`."},
}
# What each refusal means unless the operation says more.
ERRORS = {
    400: "Bad input; `error.message` says what is wrong and `error.field` names the field.",
    401: "Missing, expired, revoked or wrong credentials.",
    403: "Not allowed; `insufficient_scope` when the API key's scope does not cover the operation.",
    404: "No such thing, or not yours.",
    409: "Conflicts with what exists.",
    410: "The link or token has expired or was used.",
    413: "Too large for the plan, or the storage allowance.",
    415: "Not an accepted kind of file.",
    429: "A limit is used up; see `Retry-After`.",
    503: "A service this needs is unreachable; nothing was changed.",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.",
                               "schema": {"type": "integer", "minimum": 0}}}
# Operations whose JSON body may be left out altogether (spectree marks every body required).
OPTIONAL_BODIES: set[str] = set()
# Other media types an operation's success may come as (an export as CSV, say), by operation id.
OTHER_MEDIA: dict[str, dict[str, dict]] = {}


def _refuse_invalid(_request, _response, error, _instance, _adapter, code: str | None = None) -> None:
    """spectree's hook after validating a request: a refusal in our error shape, never its default 422."""
    if error is not None:
        raise invalid_input(error, code=code)


spec = SpecTree(
    "flask", mode="strict", annotations=False, title=TITLE, description=DESCRIPTION, version="1",
    path="api/docs", validation_error_status=400, validation_error_model=Error, before=_refuse_invalid,
    naming_strategy=lambda model: model.__name__, nested_naming_strategy=lambda _parent, child: child,
    security=[{"bearer": []}, {"apiKey": []}],
)


def operation(operation_id: str, ok: tuple, *, tag: str, also: tuple | None = None, query=None, json=None,
              form=None, public: bool = False, errors: dict[int, str | None] | None = None,
              body_optional: bool = False, admit=None, invalid_code: str | None = None, streamed: bool = False,
              other_media: dict[str, dict] | None = None):
    """Declare one API operation: who may call it, its models, its answers.

    `ok` is (status, response model or None, description), `also` another success like it; `errors` maps each refusal status the operation
    gives to its description (None: the usual one). Unless `public`, the request is authenticated first
    (401 before any 400); `admit(user)` then runs before the body is read (an upload's size, say). The
    view receives the validated models as the keyword arguments `query`, `json` and `form`. A refused body
    says `invalid_code` instead of the usual codes, where the operation has always had one code for all.
    A `streamed` operation (a file download, with no parameters to validate) answers with the view's response
    as it is: spectree reads a response whole into memory to check it, and an archive may be gigabytes.
    `other_media` documents other media types of the success answer ({media type: schema}).
    """
    from .auth import authenticate_request  # the API's credentials; imported late, it imports this module's peers

    status, model, description = ok
    refusals = {**({} if public else {401: None, 403: None, 429: None}), **(errors or {})}
    responses = {f"HTTP_{status}": (model, description)}
    if also is not None:
        responses[f"HTTP_{also[0]}"] = also[1:]
    for code, text in refusals.items():
        responses[f"HTTP_{code}"] = (Error, text or ERRORS[code])
    if json is not None or form is not None or query is not None:
        responses.setdefault("HTTP_400", (Error, ERRORS[400]))
    models = {"query": query, "json": json, "form": form}
    assert not (streamed and any(models.values())), "a streamed operation validates no parameters"
    if body_optional:
        OPTIONAL_BODIES.add(operation_id)
    if other_media:
        OTHER_MEDIA[operation_id] = {media: {"schema": schema} for media, schema in other_media.items()}

    def decorate(view):
        @wraps(view)
        def with_models(*args, **kwargs):
            for name, declared in models.items():
                if declared is not None:
                    kwargs[name] = getattr(request.context, name)
            return view(*args, **kwargs)

        validated = spec.validate(query=query, json=json, form=form, resp=Response(**responses), tags=[tag],
                                  security=[] if public else None, operation_id=operation_id,
                                  before=partial(_refuse_invalid, code=invalid_code))(with_models)

        @wraps(validated)
        def entry(*args, **kwargs):
            user = None if public else authenticate_request()
            if admit is not None:
                admit(user)
            if json is not None:
                _refuse_body_that_is_not_an_object(body_optional, form is not None)
            if streamed:
                return view(*args, **kwargs)
            return validated(*args, **kwargs)

        return entry
    return decorate


def _refuse_body_that_is_not_an_object(optional: bool, form_too: bool) -> None:
    """InvalidInput unless the body is a JSON object (or, where allowed, absent, or a form)."""
    if form_too and not request.is_json:
        return
    if optional and not request.get_data():
        return
    if not isinstance(request.get_json(silent=True), dict):
        raise InvalidInput(_("The request body must be a JSON object."), code="invalid_json")


def document() -> dict:
    """The OpenAPI 3.1 document of every /api/v1 operation, with this instance's base URL as its server."""
    from ..web import public_base_url

    generated = copy.deepcopy(spec.spec)
    generated["servers"] = [{"url": public_base_url()}]
    generated["tags"] = TAGS
    generated["components"]["securitySchemes"] = SECURITY_SCHEMES
    _drop_null_defaults(generated)
    for item in generated["paths"].values():
        for op in item.values():
            _finish_operation(op)
    return generated


def _drop_null_defaults(node) -> None:
    """Leave out `default: null`: an optional field is left out, never null (`T = Field(None)`)."""
    if isinstance(node, dict):
        if "default" in node and node["default"] is None:
            del node["default"]
        for value in node.values():
            _drop_null_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _drop_null_defaults(value)


def _finish_operation(op: dict) -> None:
    """What spectree leaves out: Retry-After on 429 and 503, empty descriptions, an optional body."""
    for status, answer in op["responses"].items():
        if status in ("429", "503"):
            answer["headers"] = RETRY_AFTER
    if not op.get("description"):
        op.pop("description", None)
    for parameter in op.get("parameters", []):
        if not parameter.get("description"):
            parameter.pop("description", None)
    for status, answer in op["responses"].items():
        if status.startswith("2") and "content" in answer:
            answer["content"].update(OTHER_MEDIA.get(op["operationId"], {}))
    if op["operationId"] in OPTIONAL_BODIES and "requestBody" in op:
        op["requestBody"]["required"] = False

