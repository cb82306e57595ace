"""Shared kernel for the schema classes (pydantic v2) that the domains declare.

A domain declares its input and output shapes once, as pydantic models; this module turns
pydantic's errors into our ``ValidationError`` with one short message per field (the wording
is decided here, once, for the API, the CLI and the admin), and serialises models for JSON.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic
from pydantic_core import ErrorDetails

from newsletter.exceptions import ValidationError

M = TypeVar("M", bound=pydantic.BaseModel)


# Error kinds whose message needs nothing from the error itself.
_FIXED_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string",
    "string_sub_type": "must be a string",
    "string_too_short": "must not be empty",
    "too_short": "must not be empty",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
}


def _message(error: ErrorDetails) -> str:
    """One short English sentence for a pydantic error, without pydantic's prefixes."""
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind in _FIXED_MESSAGES:
        return _FIXED_MESSAGES[kind]
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "too_long":
        return f"must hold at most {ctx.get('max_length')} items"
    if kind in ("enum", "literal_error"):
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        given = error.get("input")
        shown = f", not {given!r}" if isinstance(given, str) and len(given) <= 40 else ""
        return f"must be one of {expected}{shown}" if expected else "is not an allowed value"
    return str(error["msg"])


def field_errors(exc: pydantic.ValidationError) -> dict[str, str]:
    """``{field: message}``, the first error of each top-level field (``body`` for the whole)."""
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        name = str(loc[0]) if loc else "body"
        errors.setdefault(name, _message(error))
    return errors


def validate(model: type[M], data: Any, *, context: Any = None) -> M:
    """``model`` validated from ``data``; ValidationError naming each bad field otherwise
    (its message describes the first one)."""
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object", {"body": "must be an object"})
    try:
        return model.model_validate(data, context=context)
    except pydantic.ValidationError as exc:
        errors = field_errors(exc)
        first, message = next(iter(errors.items()))
        raise ValidationError(describe(first, message), errors) from None


def dump(model: pydantic.BaseModel) -> dict[str, Any]:
    """The JSON-ready dict of an output model (dates as ISO 8601 strings)."""
    return model.model_dump(mode="json")


def describe(name: str, message: str) -> str:
    """``"<field> <message>"``, or the message alone when it names the field already."""
    singular = name[:-1] if name.endswith("s") else name
    return message if singular in message else f"{name} {message}"
