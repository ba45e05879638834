"""Validation errors in our own words: a bot developer reads "Must be 0 or more.", not the
validation library's "Input should be greater than or equal to 0" or "Value error, ...".

`plain_message` words one error (a pydantic error dict, as django-ninja passes it on);
`known_fields` finds the fields of the object an unknown field was sent in, so the message
can suggest the one that was meant.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any, get_args

from pydantic import BaseModel

EXAMPLE_TIME = "2026-03-01T12:00:00Z"


def _unknown_field(error: dict[str, Any], ctx: dict[str, Any]) -> str:
    known = ctx.get("known_fields") or []
    name = str(error["loc"][-1]) if error.get("loc") else ""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f'Unknown field; did you mean "{close[0]}"?'
    if known:
        return "Unknown field; this object takes: " + ", ".join(known) + "."
    return "Unknown field."


def _length(ctx: dict[str, Any], bound: str, word: str) -> str:
    n = ctx.get(bound)
    if bound == "min_length" and n == 1:
        return "Must not be empty."
    return f"Must be {word} {n} character{'s' if n != 1 else ''}."


def _items(ctx: dict[str, Any], bound: str, word: str) -> str:
    n = ctx.get(bound)
    actual = ctx.get("actual_length")
    got = f" (got {actual})" if actual is not None else ""
    return f"Must have {word} {n} item{'s' if n != 1 else ''}{got}."


def _datetime(error: dict[str, Any], ctx: dict[str, Any]) -> str:
    reason = ctx.get("error")
    because = f" ({reason})" if reason else ""
    return f"Must be an ISO-8601 date and time, e.g. {EXAMPLE_TIME}{because}."


def _literal(ctx: dict[str, Any]) -> str:
    expected = str(ctx.get("expected", "")).replace("'", '"')
    return f"Must be {expected}." if expected else "Not one of the allowed values."


def _value_error(error: dict[str, Any], ctx: dict[str, Any]) -> str:
    reason = ctx.get("error")
    return str(reason) if reason else _strip_library_wording(error.get("msg", ""))


_MESSAGES: dict[str, Callable[[dict[str, Any], dict[str, Any]], str]] = {
    "missing": lambda e, c: "Required.",
    "extra_forbidden": _unknown_field,
    "string_type": lambda e, c: "Must be a string.",
    "string_too_short": lambda e, c: _length(c, "min_length", "at least"),
    "string_too_long": lambda e, c: _length(c, "max_length", "at most"),
    "string_pattern_mismatch": lambda e, c: "Does not have the expected format.",
    "int_type": lambda e, c: "Must be a whole number.",
    "int_parsing": lambda e, c: "Must be a whole number.",
    "int_from_float": lambda e, c: "Must be a whole number.",
    "int_parsing_size": lambda e, c: "Must be a whole number of reasonable size.",
    "bool_type": lambda e, c: "Must be true or false.",
    "bool_parsing": lambda e, c: "Must be true or false.",
    "greater_than_equal": lambda e, c: f"Must be {c.get('ge')} or more.",
    "greater_than": lambda e, c: f"Must be more than {c.get('gt')}.",
    "less_than_equal": lambda e, c: f"Must be {c.get('le')} or less.",
    "less_than": lambda e, c: f"Must be less than {c.get('lt')}.",
    "literal_error": lambda e, c: _literal(c),
    "enum": lambda e, c: _literal(c),
    "dict_type": lambda e, c: "Must be a JSON object.",
    "model_type": lambda e, c: "Must be a JSON object.",
    "model_attributes_type": lambda e, c: "Must be a JSON object.",
    "list_type": lambda e, c: "Must be a list.",
    "too_long": lambda e, c: _items(c, "max_length", "at most"),
    "too_short": lambda e, c: _items(c, "min_length", "at least"),
    "datetime_type": _datetime,
    "datetime_parsing": _datetime,
    "datetime_from_date_parsing": _datetime,
    "datetime_object_invalid": _datetime,
    "value_error": _value_error,
    "assertion_error": _value_error,
}


def plain_message(error: dict[str, Any]) -> str:
    """One validation error in plain words, ending with a full stop."""
    ctx = error.get("ctx") or {}
    wording = _MESSAGES.get(error.get("type", ""))
    message = wording(error, ctx) if wording else _strip_library_wording(error.get("msg", ""))
    message = message.strip() or "Invalid value."
    return message if message.endswith((".", "?")) else message + "."


def _strip_library_wording(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message.replace(" after validation", "").replace("Input should be", "Must be")


def known_fields(model: type[BaseModel], path: Sequence[str | int]) -> list[str]:
    """The field names of the object at `path` (list indexes skipped) inside `model`."""
    current: Any = model
    for part in path:
        if isinstance(part, int):
            continue
        found = _model_in(current)
        if found is None or part not in found.model_fields:
            return []
        current = found.model_fields[part].annotation
    found = _model_in(current)
    return list(found.model_fields) if found is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside an annotation such as `list[HistoryItemIn] | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
