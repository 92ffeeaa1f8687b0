"""Which tag an ImagePolicy picks from a scanned tag list, with Flux's semantics.

`filterTags.pattern` keeps the tags it matches; `filterTags.extract` turns each kept tag into
the value that is ordered (a template of the first match: `$1`, `${1}`, `$name`, `${name}`,
`$$` for a dollar, as Go's Regexp.Expand reads it); the policy then orders those values:
semver (the highest version in range, tags that are not versions ignored), alphabetical or
numerical (asc: the highest wins, desc: the lowest). Numerical ignores values that are not
numbers (Flux refuses the whole list); when nothing is left, `NoTagMatchError` says why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from gitmoor.model.images import Policy, TagFilter
from gitmoor.sources.semver_range import InvalidRangeError, SemverRange

_REFERENCE = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")


class NoTagMatchError(ValueError):
    """No tag satisfies the policy; the message says how many tags there were and why."""


class InvalidPolicyError(ValueError):
    """The policy itself cannot be used (a semver range that does not parse)."""


@dataclass(frozen=True)
class Choice:
    tag: str  # the tag as listed
    value: str  # what was ordered (the extracted part, or the tag)


def expand(template: str, match: re.Match[str]) -> str:
    """`template` with `match`'s groups filled in, as Go's Regexp.Expand does: an unknown or
    unmatched group is empty; `$name` takes the longest run of letters, digits and '_'."""

    def group(ref: re.Match[str]) -> str:
        if ref.group(0) == "$$":
            return "$"
        name = ref.group(1) or ref.group(2)
        try:
            value = match.group(int(name)) if name.isdigit() else match.group(name)
        except IndexError:  # re's answer to an unknown group name or number
            return ""
        return value or ""

    return _REFERENCE.sub(group, template)


def filtered(tags: Iterable[str], tag_filter: TagFilter | None) -> dict[str, str]:
    """value -> tag for every tag the filter keeps (a later tag with the same value wins)."""
    if tag_filter is None:
        return {t: t for t in tags}
    pattern = re.compile(tag_filter.pattern)
    out: dict[str, str] = {}
    for tag in tags:
        match = pattern.search(tag)
        if match is None:
            continue
        out[expand(tag_filter.extract, match) if tag_filter.extract else tag] = tag
    return out


def select(tags: Iterable[str], policy: Policy, tag_filter: TagFilter | None = None) -> Choice:
    """The tag `policy` picks among `tags`; raises NoTagMatchError or InvalidPolicyError."""
    listed = list(tags)
    values = filtered(listed, tag_filter)
    kept = f"{len(values)} of {len(listed)} tags" if tag_filter else f"{len(listed)} tags"
    if tag_filter is not None and not values:
        raise NoTagMatchError(
            f"none of {len(listed)} tags matches filterTags.pattern {tag_filter.pattern!r}"
        )
    if policy.semver is not None:
        try:
            wanted = SemverRange.parse(policy.semver.range)
        except InvalidRangeError as err:
            raise InvalidPolicyError(str(err)) from None
        best = wanted.select(values)
        if best is None:
            raise NoTagMatchError(f"no version in range {policy.semver.range!r} among {kept}")
        return Choice(values[best], best)
    if policy.numerical is not None:
        numbers = [(n, v) for v in values if (n := _number(v)) is not None]
        if not numbers:
            raise NoTagMatchError(f"no numerical value among {kept}")
        numbers.sort()
        _, value = numbers[-1] if policy.numerical.order == "asc" else numbers[0]
        return Choice(values[value], value)
    assert policy.alphabetical is not None
    if not values:
        raise NoTagMatchError("the repository has no tags")
    ordered = sorted(values)
    value = ordered[-1] if policy.alphabetical.order == "asc" else ordered[0]
    return Choice(values[value], value)


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number else None  # NaN orders nowhere


def latest(tags: Iterable[str], count: int = 10) -> list[str]:
    """The `count` tags that sort last, highest first (the status' latestTags)."""
    return sorted(tags, reverse=True)[:count]
