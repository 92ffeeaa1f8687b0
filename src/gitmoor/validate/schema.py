"""JSON Schema errors -> (field path, message) pairs a person can act on.

jsonschema says `'three' is not of type 'integer', 'null'`; we say `spec.replicas: expected an
integer, got a string ("three")`. Values are left out of messages about Secrets.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import ValidationError
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator

Path = tuple[str | int, ...]
Finding = tuple[Path, str]

_MAX_VALUE = 60
_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}


def schema_findings(
    validator: Validator, instance: Any, *, show_values: bool = True
) -> list[Finding]:
    """Every schema violation of `instance`, each at the path of the offending field."""
    found: list[Finding] = []
    for error in validator.iter_errors(instance):
        found.extend(_translate(error, show_values))
    # One finding per field and message: anyOf branches may repeat one another.
    return list(dict.fromkeys(found))


def _translate(error: ValidationError, show: bool) -> Iterator[Finding]:
    path: Path = tuple(error.absolute_path)
    kind = error.validator
    value = error.instance
    bound: Any = error.validator_value
    if kind == "additionalProperties" and isinstance(value, Mapping):
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        known = schema.get("properties") or {}
        patterns = [re.compile(p) for p in schema.get("patternProperties") or {}]
        for key in value:
            if key not in known and not any(p.search(str(key)) for p in patterns):
                yield (*path, str(key)), "unknown field"
        return
    if kind == "required" and isinstance(value, Mapping):
        for name in bound if isinstance(bound, list) else ():
            if name not in value:
                yield (*path, name), "required field is missing"
        return
    if kind == "type":
        yield path, f"expected {_expected(error.validator_value)}, got {_describe(value, show)}"
        return
    if kind in ("oneOf", "anyOf"):
        types = _plain_types(error.validator_value)
        if types is not None:
            yield path, f"expected {_expected(types)}, got {_describe(value, show)}"
            return
        if error.context:
            best = best_match(error.context)
            if best is not None:
                yield from _translate(best, show)
                return
    if kind == "enum":
        allowed = ", ".join(str(v) for v in bound if v is not None)
        got = f", got {_describe(value, show)}"
        yield path, f"must be one of: {allowed}{got}"
        return
    if kind == "pattern":
        yield path, f"{_describe(value, show)} does not match the pattern {error.validator_value}"
        return
    yield path, _generic(error, show)


def _generic(error: ValidationError, show: bool) -> str:
    bound = error.validator_value
    messages = {
        "minLength": f"must be at least {bound} characters long",
        "maxLength": f"must be at most {bound} characters long",
        "minimum": f"must be at least {bound}",
        "maximum": f"must be at most {bound}",
        "exclusiveMinimum": f"must be greater than {bound}",
        "exclusiveMaximum": f"must be less than {bound}",
        "minItems": f"must have at least {bound} items",
        "maxItems": f"must have at most {bound} items",
        "minProperties": f"must have at least {bound} fields",
        "maxProperties": f"must have at most {bound} fields",
        "uniqueItems": "items must be unique",
        "multipleOf": f"must be a multiple of {bound}",
    }
    message = messages.get(str(error.validator))
    if message is not None:
        return message
    if show:
        return error.message
    return f"does not satisfy the schema's {error.validator} rule"


def _plain_types(branches: Any) -> list[str] | None:
    """The types of a `oneOf` whose branches only name a type (int-or-string, quantities)."""
    if not isinstance(branches, list):
        return None
    types: list[str] = []
    for branch in branches:
        if not isinstance(branch, Mapping) or set(branch) != {"type"}:
            return None
        named = branch["type"]
        types.extend(named if isinstance(named, list) else [named])
    return list(dict.fromkeys(types))


def _expected(types: Any) -> str:
    names = types if isinstance(types, list) else [types]
    words = [_TYPE_NAMES.get(str(t), str(t)) for t in names if t != "null"]
    if not words:
        return "null"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _describe(value: Any, show: bool) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        kind = "a boolean"
    elif isinstance(value, int):
        kind = "an integer"
    elif isinstance(value, float):
        kind = "a number"
    elif isinstance(value, str):
        kind = "a string"
    elif isinstance(value, list):
        return "a list"
    elif isinstance(value, dict):
        return "a mapping"
    else:
        kind = f"a {type(value).__name__}"
    if not show:
        return kind
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if len(text) > _MAX_VALUE:
        text = text[:_MAX_VALUE] + "..."
    return f'{kind} ("{text}")'
