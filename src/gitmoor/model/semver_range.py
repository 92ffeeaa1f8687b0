"""Semver ranges over tags, in the syntax Flux users write (Masterminds/semver).

A range is one or more groups joined by `||`; a group is comparators joined by commas or spaces,
all of which must hold. Comparators: `=`, `!=`, `>`, `>=`, `<`, `<=`, `~` (`~>`), `^`, wildcards
(`1.2.x`, `1.*`, `*`), partial versions (`1.2` means `1.2.x`) and hyphen ranges
(`1.2.3 - 1.4.5`). Tags may carry a `v` prefix.

Pre-releases: a version with a pre-release part matches a group only when some comparator of
that group names a pre-release (`>=1.0.0-0` admits every pre-release of 1.0.0 and above), so a
range like `^1.2` never picks `1.3.0-rc.1` by surprise.

Partial versions widen the way npm and Masterminds read them: `>1.2` is `>=1.3.0`, `<=1.2` is
`<1.3.0-0`, and the bound a tilde, caret or wildcard implies excludes the next version's
pre-releases (`~1.2` is `>=1.2.0 <1.3.0-0`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from semver import Version

_OPERATOR_SPACE = re.compile(r"(>=|=>|<=|=<|!=|~>|>|<|=|~|\^)\s+")
_TOKEN = re.compile(r"^(>=|=>|<=|=<|!=|~>|>|<|=|~|\^)?(.*)$")
_IDENT = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_PARTIAL = re.compile(
    r"^[vV]?(?P<major>\d+|[xX*])(?:\.(?P<minor>\d+|[xX*]))?(?:\.(?P<patch>\d+|[xX*]))?"
    rf"(?:-(?P<pre>{_IDENT}))?(?:\+(?P<build>{_IDENT}))?$"
)
_TAG = re.compile(
    rf"^[vV]?(?P<major>\d+)(?:\.(?P<minor>\d+))?(?:\.(?P<patch>\d+))?"
    rf"(?:-(?P<pre>{_IDENT}))?(?:\+(?P<build>{_IDENT}))?$"
)
# Lower than every other version: `< FLOOR` matches nothing.
_FLOOR = Version(0, 0, 0, "0")


class InvalidRangeError(ValueError):
    """The text is not a semver range; the message says which part and why."""


def parse_tag(tag: str) -> Version | None:
    """The version a tag names (`v1.2.3`, `1.2.3-rc.1`, `v1.2`), or None when it names none."""
    match = _TAG.match(tag)
    if match is None:
        return None
    return Version(
        int(match["major"]),
        int(match["minor"] or 0),
        int(match["patch"] or 0),
        match["pre"],
        match["build"],
    )


@dataclass(frozen=True)
class _Partial:
    """A version as written in a range: missing or wildcard parts are None."""

    major: int | None
    minor: int | None
    patch: int | None
    pre: str | None

    @property
    def complete(self) -> bool:
        return self.patch is not None

    def floor(self) -> Version:
        """The lowest release this partial version covers (`1.2` -> `1.2.0`)."""
        return Version(self.major or 0, self.minor or 0, self.patch or 0, self.pre)

    def ceiling(self) -> Version:
        """The first version above what this partial covers, as a `-0` pre-release
        (`1.2` -> `1.3.0-0`, `1` -> `2.0.0-0`); only for partial versions with a major."""
        assert self.major is not None
        assert self.patch is None
        if self.minor is None:
            return Version(self.major + 1, 0, 0, "0")
        return Version(self.major, self.minor + 1, 0, "0")


def _parse_partial(text: str, token: str) -> _Partial:
    match = _PARTIAL.match(text)
    if match is None:
        raise InvalidRangeError(f"{token!r} is not a version (expected e.g. 1.2.3, v1.2, 1.x)")
    parts: list[int | None] = []
    for name in ("major", "minor", "patch"):
        value = match[name]
        # After the first wildcard or missing part, the rest are wildcards too (`1.x.3` = `1.x`).
        if value is None or value in ("x", "X", "*") or (parts and parts[-1] is None):
            parts.append(None)
        else:
            parts.append(int(value))
    if match["pre"] and parts[2] is None:
        raise InvalidRangeError(f"{token!r}: a pre-release needs a full version (1.2.3-rc.1)")
    return _Partial(parts[0], parts[1], parts[2], match["pre"])


@dataclass(frozen=True)
class _Comparator:
    """`version op bound`; `!~` means "outside [bound, upper)" (from `!=1.2`)."""

    op: str
    bound: Version
    upper: Version | None = None

    def test(self, version: Version) -> bool:
        order = version.compare(self.bound)
        if self.op == ">=":
            return order >= 0
        if self.op == ">":
            return order > 0
        if self.op == "<":
            return order < 0
        if self.op == "<=":
            return order <= 0
        if self.op == "=":
            return order == 0
        if self.op == "!=":
            return order != 0
        assert self.op == "!~"
        assert self.upper is not None
        return order < 0 or version.compare(self.upper) >= 0


_NEVER = _Comparator("<", _FLOOR)


def _desugar(op: str, partial: _Partial) -> list[_Comparator]:
    """One written comparator as plain ones (an empty list matches everything)."""
    op = {"=>": ">=", "=<": "<=", "~>": "~", "": "="}.get(op, op)
    if partial.major is None:  # `*`, `x`, `>=*`, ...
        return [_NEVER] if op in (">", "<", "!=") else []
    floor = partial.floor()
    if op in ("=", "!="):
        if partial.complete:
            return [_Comparator(op, floor)]
        if op == "=":
            return [_Comparator(">=", floor), _Comparator("<", partial.ceiling())]
        return [_Comparator("!~", floor, partial.ceiling())]
    if op == ">=":
        return [_Comparator(">=", floor)]
    if op == ">":
        if partial.complete:
            return [_Comparator(">", floor)]
        return [_Comparator(">=", partial.ceiling())]
    if op == "<":
        # `<1.2` excludes 1.2.0's pre-releases too.
        below = floor if partial.complete else Version(floor.major, floor.minor, floor.patch, "0")
        return [_Comparator("<", below)]
    if op == "<=":
        if partial.complete:
            return [_Comparator("<=", floor)]
        return [_Comparator("<", partial.ceiling())]
    if op == "~":
        if partial.minor is None:
            upper = Version(floor.major + 1, 0, 0, "0")
        else:
            upper = Version(floor.major, floor.minor + 1, 0, "0")
        return [_Comparator(">=", floor), _Comparator("<", upper)]
    assert op == "^"
    return [_Comparator(">=", floor), _Comparator("<", _caret_upper(partial))]


def _caret_upper(partial: _Partial) -> Version:
    """`^` allows changes that do not touch the left-most non-zero part that was written."""
    major, minor, patch = partial.major or 0, partial.minor, partial.patch
    if major > 0 or minor is None:
        return Version(major + 1, 0, 0, "0")
    if minor > 0 or patch is None:
        return Version(0, minor + 1, 0, "0")
    return Version(0, 0, patch + 1, "0")


@dataclass(frozen=True)
class _Group:
    comparators: tuple[_Comparator, ...]
    allows_prerelease: bool

    def test(self, version: Version) -> bool:
        if version.prerelease and not self.allows_prerelease:
            return False
        return all(c.test(version) for c in self.comparators)


def _parse_group(text: str) -> _Group:
    tokens = [t for t in re.split(r"[\s,]+", _OPERATOR_SPACE.sub(r"\1", text.strip())) if t]
    if not tokens:
        raise InvalidRangeError("empty range between '||'")
    comparators: list[_Comparator] = []
    prerelease = False
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if index + 1 < len(tokens) and tokens[index + 1] == "-":
            if index + 2 >= len(tokens):
                raise InvalidRangeError(f"hyphen range after {token!r} has no upper end")
            low = _parse_partial(token, token)
            high = _parse_partial(tokens[index + 2], tokens[index + 2])
            comparators += _desugar(">=", low)
            comparators += _desugar("<=", high)
            prerelease = prerelease or bool(low.pre or high.pre)
            index += 3
            continue
        match = _TOKEN.match(token)
        assert match is not None
        op, written = match[1] or "", match[2]
        if not written or written == "-":
            raise InvalidRangeError(f"{token!r} has no version")
        partial = _parse_partial(written, token)
        comparators += _desugar(op, partial)
        prerelease = prerelease or bool(partial.pre)
        index += 1
    return _Group(tuple(comparators), prerelease)


@dataclass(frozen=True)
class SemverRange:
    """A parsed range; `str()` gives the text it was parsed from."""

    text: str
    groups: tuple[_Group, ...]

    @classmethod
    def parse(cls, text: str) -> SemverRange:
        if not text.strip():
            raise InvalidRangeError("empty semver range")
        try:
            groups = tuple(_parse_group(part) for part in text.split("||"))
        except InvalidRangeError as err:
            raise InvalidRangeError(f"invalid semver range {text!r}: {err}") from None
        return cls(text, groups)

    def matches(self, version: Version) -> bool:
        return any(group.test(version) for group in self.groups)

    def select(self, tags: Iterable[str]) -> str | None:
        """The tag naming the highest version in range; ties (`v1.0.0` and `1.0.0`) go to the
        tag that sorts last, so the choice never depends on the order tags were listed in."""
        best: tuple[Version, str] | None = None
        for tag in tags:
            version = parse_tag(tag)
            if version is None or not self.matches(version):
                continue
            if best is None or (version, tag) > best:
                best = (version, tag)
        return best[1] if best else None

    def __str__(self) -> str:
        return self.text


__all__ = ["InvalidRangeError", "SemverRange", "parse_tag"]
