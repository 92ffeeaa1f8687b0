"""CRD `pattern`s read as the API server reads them: RE2 syntax (Go's `regexp`), not Python's.

The two engines disagree both ways. Python refuses `^((?i)january|february)$`, a flag group in
the middle, which Go takes; Python takes lookarounds and backreferences, which Go refuses, and
its `\\d` matches digits of every script where Go's matches 0-9 only. A CRD is checked, and its
objects matched, by RE2 through the `google-re2` binding, so `gitmoor validate` accepts and
refuses what the API server does.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

import re2
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from jsonschema.protocols import Validator

Path = tuple[str | int, ...]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error comes back as an exception; no copy on stderr


@functools.lru_cache(maxsize=4096)
def _compile(pattern: str) -> tuple[Any, str]:
    """(the compiled pattern, "") or (None, RE2's reason it cannot compile)."""
    try:
        return re2.compile(pattern, _OPTIONS), ""
    except re2.error as err:
        reason = err.args[0] if err.args else "invalid"
        return None, reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)


def pattern_error(pattern: str) -> str:
    """Why RE2 cannot compile `pattern`; empty when it can."""
    return _compile(pattern)[1]


def invalid_patterns(node: Mapping[str, Any], path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Each `pattern` under an openAPIV3Schema node that the API server would refuse, at its
    path below the node, in the API server's words."""
    pattern = node.get("pattern")
    if isinstance(pattern, str) and (reason := pattern_error(pattern)):
        yield (
            (*path, "pattern"),
            f'Invalid value: "{pattern}": must be a valid regular expression, but isn\'t: {reason}',
        )
    for key in ("items", "not", "additionalProperties"):
        child = node.get(key)
        if isinstance(child, Mapping):
            yield from invalid_patterns(child, (*path, key))
    properties = node.get("properties")
    for name, child in properties.items() if isinstance(properties, Mapping) else ():
        if isinstance(child, Mapping):
            yield from invalid_patterns(child, (*path, "properties", str(name)))
    for key in ("allOf", "anyOf", "oneOf"):
        branches = node.get(key)
        for index, child in enumerate(branches if isinstance(branches, list) else ()):
            if isinstance(child, Mapping):
                yield from invalid_patterns(child, (*path, key, index))


def _pattern(
    validator: Validator, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    """jsonschema's `pattern` keyword, matched by RE2: a search, as Go's MatchString."""
    compiled, _ = _compile(pattern)
    if validator.is_type(instance, "string") and compiled and not compiled.search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _regex_format(pattern: object) -> bool:
    return not isinstance(pattern, str) or not pattern_error(pattern)


# types-jsonschema leaves `extend` untyped; it returns a validator class like the one given.
CrdValidator: type[Validator] = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"pattern": _pattern}
)
"""Draft 2020-12 with CRD patterns matched by RE2."""

SCHEMA_FORMATS = FormatChecker(formats=[f for f in FormatChecker.checkers if f != "regex"])
"""Formats for checking a converted schema itself: its patterns are RE2, not Python `re`."""
SCHEMA_FORMATS.checks("regex")(_regex_format)
