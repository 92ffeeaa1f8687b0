"""Tag selection with Flux's semantics, from a table of cases."""

from __future__ import annotations

import re

import pytest

from gitmoor.model.images import OrderPolicy, Policy, SemverPolicy, TagFilter
from gitmoor.sources.images.policy import (
    InvalidPolicyError,
    NoTagMatchError,
    expand,
    filtered,
    select,
)

TAGS = ["1.0.0", "v1.2.0", "1.10.0-rc.1", "1.9.3", "2.0.0", "latest", "main-abc-100", "main-def-99"]


def semver(r: str) -> Policy:
    return Policy(semver=SemverPolicy(range=r))


def alpha(order: str = "asc") -> Policy:
    return Policy(alphabetical=OrderPolicy(order=order))  # type: ignore[arg-type]


def num(order: str = "asc") -> Policy:
    return Policy(numerical=OrderPolicy(order=order))  # type: ignore[arg-type]


CASES = [
    ("highest in range, v prefix kept", TAGS, semver("^1.0.0"), None, "1.9.3"),
    ("v-prefixed tag wins its range", TAGS, semver("~1.2"), None, "v1.2.0"),
    ("pre-release only when named", TAGS, semver(">=1.10.0-0 <2.0.0"), None, "1.10.0-rc.1"),
    ("non-semver tags ignored", ["latest", "abc", "3.1.4"], semver("*"), None, "3.1.4"),
    ("alphabetical asc takes the last", ["b", "c", "a"], alpha(), None, "c"),
    ("alphabetical desc takes the first", ["b", "c", "a"], alpha("desc"), None, "a"),
    (
        "numerical over an extracted build number",
        TAGS,
        num(),
        TagFilter(pattern=r"^main-[a-f0-9]+-(?P<ts>[0-9]+)", extract="$ts"),
        "main-abc-100",
    ),
    (
        "numerical desc",
        TAGS,
        num("desc"),
        TagFilter(pattern=r"^main-[a-f0-9]+-(?P<ts>[0-9]+)", extract="${ts}"),
        "main-def-99",
    ),
    ("numerical ignores non-numbers", ["10", "9", "x"], num(), None, "10"),
    (
        "filter then semver on the extracted part",
        ["app-1.2.0", "app-1.3.0", "other-9.0.0"],
        semver(">=1.0.0"),
        TagFilter(pattern=r"^app-(.*)$", extract="$1"),
        "app-1.3.0",
    ),
    (
        "filter without extract orders whole tags",
        ["rc-1", "rc-2", "x-9"],
        alpha(),
        TagFilter(pattern=r"^rc-"),
        "rc-2",
    ),
]


@pytest.mark.parametrize(
    ("tags", "policy", "tag_filter", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_select(
    tags: list[str], policy: Policy, tag_filter: TagFilter | None, expected: str
) -> None:
    assert select(tags, policy, tag_filter).tag == expected


def test_the_choice_does_not_depend_on_the_listing_order() -> None:
    assert select(reversed(TAGS), semver("^1.0.0")).tag == select(TAGS, semver("^1.0.0")).tag


NO_MATCH = [
    (["latest", "main"], semver("^1.0.0"), None, "no version in range '^1.0.0' among 2 tags"),
    (["1.0.0"], semver("^1.0.0"), TagFilter(pattern="^x"), "none of 1 tags matches"),
    (["a", "b"], num(), None, "no numerical value among 2 tags"),
    ([], alpha(), None, "the repository has no tags"),
]


@pytest.mark.parametrize(("tags", "policy", "tag_filter", "message"), NO_MATCH)
def test_nothing_matches_says_why(
    tags: list[str], policy: Policy, tag_filter: TagFilter | None, message: str
) -> None:
    with pytest.raises(NoTagMatchError, match=re.escape(message)):
        select(tags, policy, tag_filter)


def test_an_invalid_range_is_its_own_error() -> None:
    with pytest.raises(InvalidPolicyError, match="semver range"):
        select(["1.0.0"], semver(">>1"))


def test_expand_reads_templates_as_go_does() -> None:
    match = re.match(r"(?P<a>x)(y)", "xy")
    assert match is not None
    assert expand("$a-$2-${1}-$$-$nope-$9", match) == "x-y-x-$--"


def test_the_last_tag_with_a_value_wins() -> None:
    assert filtered(["a-1", "b-1"], TagFilter(pattern=r"-(\d)", extract="$1")) == {"1": "b-1"}
