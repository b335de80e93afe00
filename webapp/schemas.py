"""What every domain's pydantic models share: the base of a JSON body, required text, timestamps, errors."""

from __future__ import annotations

from typing import Annotated, Any

from flask_babel import gettext as _
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from .errors import InvalidInput


class Body(BaseModel):
    """A JSON request body: unknown fields are refused, and types are not coerced ("5" is not 5, 1 is not true)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """A query string: every value arrives as text; parameters nobody documented are ignored."""

    model_config = ConfigDict(extra="ignore")


class Out(BaseModel):
    """A response body."""

    model_config = ConfigDict(extra="forbid")


def _text(value):
    if not isinstance(value, str):
        raise PydanticCustomError("blank", "blank")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "blank")
    return value


# Text that must say something: missing, empty and white space alone are all "missing_field".
RequiredText = Annotated[str, BeforeValidator(_text), AfterValidator(_not_blank), Field(min_length=1, json_schema_extra={"pattern": r"\S"})]
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"}, examples=["2025-05-01T12:00:00+00:00"])]
Url = Annotated[str, Field(json_schema_extra={"format": "uri"})]


def iso(moment) -> str | None:
    """A datetime as the API writes it (ISO 8601), or None."""
    return moment.isoformat() if moment is not None else None


class ErrorDetail(Out):
    code: str = Field(description="snake_case, stable; switch on this.", examples=["not_found"])
    message: str = Field(description="One sentence for people, in the request's language.")
    field: str | None = Field(None, description="The request field or query parameter at fault, as a dotted path "
                                                "into the body when it is nested (`transformations.resize.width`).",
                              examples=["title"])


class Error(Out):
    """Every refusal: `{"error": {"code", "message", "field"?}}`."""

    error: ErrorDetail


class Message(Out):
    message: str = Field(description="One sentence for people, in the request's language.")


def schema_extra(**extra: Any) -> dict:
    """Keywords for the document that the domain checks itself, with its own error codes."""
    return {"json_schema_extra": extra}


def refuse_nul(*values) -> None:
    """InvalidInput if any text in `values` (nested in lists and objects too) holds the NUL character:
    nobody types one, and PostgreSQL cannot store it."""
    stack = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInput(_("Text sent to the API cannot contain the NUL character (\\u0000)."),
                               code="nul_character")
        if isinstance(value, dict):
            stack.extend([*value.keys(), *value.values()])
        elif isinstance(value, list):
            stack.extend(value)


def invalid_input(error: ValidationError, code: str | None = None) -> InvalidInput:
    """The first problem pydantic found, as InvalidInput naming its field by its dotted path, in the
    request's language. `code`, when given, replaces the code of every kind of problem."""
    problems = error.errors(include_url=False)
    unknown = [_path(p["loc"]) for p in problems if p["type"] == "extra_forbidden"]
    if unknown:
        return InvalidInput(_("Unknown fields: %(fields)s.", fields=", ".join(unknown)),
                            code=code or "unknown_field", field=unknown[0])
    problem = problems[0]
    field = _path(problem["loc"]) or None
    kind, message = _explain(problem["type"], field or _("the body"), problem.get("ctx") or {})
    return InvalidInput(message, code=code or kind, field=field)


def _path(loc: tuple) -> str:
    # pydantic puts a union's member name in the path (`str`, `function-after[...]`); a client never sees those.
    return ".".join(str(part) for part in loc if isinstance(part, int) or "[" not in str(part)
                    and part not in {"str", "int", "bool", "list", "dict", "float"})


def _explain(kind: str, field: str, ctx: dict) -> tuple[str, str]:
    """(error code, sentence) for one kind of pydantic error."""
    if kind in ("missing", "blank"):
        return "missing_field", _("The field %(field)s is required.", field=field)
    if kind == "string_too_long":
        return "too_long", _("%(field)s has at most %(count)s characters.", field=field, count=ctx["max_length"])
    sentences = {
        "string_type": lambda: _("%(field)s must be text.", field=field),
        "string_too_short": lambda: _("The field %(field)s is required.", field=field),
        "bool_type": lambda: _("%(field)s must be true or false.", field=field),
        "bool_parsing": lambda: _("%(field)s must be true or false.", field=field),
        "int_type": lambda: _("%(field)s must be a whole number.", field=field),
        "int_parsing": lambda: _("%(field)s must be a whole number.", field=field),
        "int_from_float": lambda: _("%(field)s must be a whole number.", field=field),
        "greater_than_equal": lambda: _("%(field)s must be at least %(limit)s.", field=field, limit=ctx.get("ge")),
        "less_than_equal": lambda: _("%(field)s must be at most %(limit)s.", field=field, limit=ctx.get("le")),
        "literal_error": lambda: _("%(field)s must be one of %(choices)s.", field=field,
                                   choices=ctx.get("expected", "")),
        "string_pattern_mismatch": lambda: _("%(field)s is not in the expected form.", field=field),
        "list_type": lambda: _("%(field)s must be a list.", field=field),
        "too_short": lambda: _("%(field)s needs at least %(count)s items.", field=field,
                               count=ctx.get("min_length")),
        "too_long": lambda: _("%(field)s has at most %(count)s items.", field=field, count=ctx.get("max_length")),
        "model_type": lambda: _("%(field)s must be an object.", field=field),
        "dict_type": lambda: _("%(field)s must be an object.", field=field),
        "model_attributes_type": lambda: _("%(field)s must be an object.", field=field),
    }
    explain = sentences.get(kind, lambda: _("%(field)s is not valid.", field=field))
    return "invalid_field", explain()


def parse(model: type[BaseModel], data):
    """`data` as `model`; InvalidInput naming the first bad field (for the pages that take the API's input)."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid_input(error) from None
