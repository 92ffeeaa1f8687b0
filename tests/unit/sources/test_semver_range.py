"""Semver ranges as Flux users write them: which versions match, which tag wins."""

import pytest
from semver import Version

from gitmoor.sources.semver_range import InvalidRangeError, SemverRange, parse_tag

TAGS = [
    "v0.9.0",
    "v1.0.0",
    "v1.1.0",
    "v1.2.0",
    "v1.2.5",
    "v1.3.0-rc.1",
    "v1.4.5",
    "v1.5.0",
    "v2.0.0",
    "v2.1.0-beta.2",
    "latest",
    "release-7",
]


@pytest.mark.parametrize(
    ("text", "matching", "not_matching"),
    [
        (">=1.0.0 <2.0.0", ["1.0.0", "1.9.9"], ["0.9.9", "2.0.0", "1.5.0-rc.1"]),
        (">= 1.2, < 3.0", ["1.2.0", "2.9.0"], ["1.1.9", "3.0.0"]),
        (">=1.2,<3", ["1.2.0", "2.99.99"], ["3.0.0"]),
        ("~1.2", ["1.2.0", "1.2.99"], ["1.3.0", "1.1.0"]),
        ("~1.2.3", ["1.2.3", "1.2.9"], ["1.2.2", "1.3.0"]),
        ("~1", ["1.0.0", "1.9.0"], ["2.0.0", "0.9.0"]),
        ("~>1.2", ["1.2.0", "1.2.7"], ["1.3.0"]),
        ("^1.2.3", ["1.2.3", "1.9.0"], ["1.2.2", "2.0.0"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0", "0.2.2"]),
        ("^0.0.3", ["0.0.3"], ["0.0.4", "0.0.2"]),
        ("^1.2", ["1.2.0", "1.99.0"], ["2.0.0", "1.1.0"]),
        ("^0", ["0.0.1", "0.99.0"], ["1.0.0"]),
        ("1.2.x", ["1.2.0", "1.2.99"], ["1.3.0", "1.1.99"]),
        ("1.2.*", ["1.2.4"], ["1.3.0"]),
        ("1.x", ["1.0.0", "1.99.0"], ["2.0.0"]),
        ("1.2", ["1.2.0", "1.2.5"], ["1.3.0"]),
        ("=1.2.3", ["1.2.3"], ["1.2.4"]),
        ("1.2.3", ["1.2.3", "1.2.3+build.5"], ["1.2.4"]),
        ("!=1.2.3", ["1.2.4", "1.2.2"], ["1.2.3"]),
        ("!=1.2, ~1", ["1.1.0", "1.3.0"], ["1.2.0", "1.2.9"]),
        (">1.2", ["1.3.0"], ["1.2.9", "1.2.0"]),
        (">1.2.3", ["1.2.4"], ["1.2.3"]),
        ("<=1.2", ["1.2.9", "1.0.0"], ["1.3.0"]),
        ("<1.2", ["1.1.9"], ["1.2.0"]),
        ("=>1.0.0 =<1.1.0", ["1.0.0", "1.1.0"], ["1.1.1"]),
        ("1.2.3 - 1.4.5", ["1.2.3", "1.4.5", "1.3.0"], ["1.2.2", "1.4.6"]),
        ("1.2 - 1.4", ["1.2.0", "1.4.9"], ["1.5.0", "1.1.9"]),
        ("1.0.0 - 1.0.5 || >=2.0.0", ["1.0.3", "2.5.0"], ["1.1.0"]),
        ("1.0.0 || 2.0.0", ["1.0.0", "2.0.0"], ["1.5.0"]),
        ("*", ["0.0.1", "99.0.0"], ["1.0.0-rc.1"]),
        ("x", ["1.0.0"], []),
        (">=*", ["1.0.0"], []),
        ("v1.2.x", ["1.2.3"], ["1.3.0"]),
    ],
)
def test_matching(text: str, matching: list[str], not_matching: list[str]) -> None:
    semver_range = SemverRange.parse(text)
    for version in matching:
        assert semver_range.matches(Version.parse(version)), f"{text} should match {version}"
    for version in not_matching:
        assert not semver_range.matches(Version.parse(version)), f"{text} matched {version}"


@pytest.mark.parametrize(
    ("text", "matching", "not_matching"),
    [
        # Named pre-releases admit pre-releases, in the group that names them only.
        (">=1.0.0-0", ["1.3.0-rc.1", "2.1.0-beta.2", "1.0.0"], ["0.9.0-rc.1"]),
        (">=1.2.3-alpha <2.0.0", ["1.2.3-alpha", "1.2.3-beta", "1.5.0-rc.1"], ["1.2.3-0"]),
        ("~1.2.3-beta.2", ["1.2.3-beta.2", "1.2.3-beta.3", "1.2.4"], ["1.2.3-beta.1"]),
        ("1.2.3-rc.1", ["1.2.3-rc.1"], ["1.2.3-rc.2", "1.2.3"]),
        (">=2.0.0-0 || ~1.0", ["2.0.0-rc.1", "1.0.5"], ["1.0.6-rc.1"]),
        # A caret or tilde bound does not let the next version's pre-releases in.
        ("~1.2.0-0", ["1.2.5-rc.1"], ["1.3.0-0", "1.3.0-rc.1"]),
    ],
)
def test_prereleases_only_when_the_range_names_one(
    text: str, matching: list[str], not_matching: list[str]
) -> None:
    semver_range = SemverRange.parse(text)
    for version in matching:
        assert semver_range.matches(Version.parse(version)), f"{text} should match {version}"
    for version in not_matching:
        assert not semver_range.matches(Version.parse(version)), f"{text} matched {version}"


@pytest.mark.parametrize(
    ("text", "chosen"),
    [
        (">=1.0.0 <2.0.0", "v1.5.0"),
        ("~1.2", "v1.2.5"),
        ("^1.2.3", "v1.5.0"),
        ("1.2.x", "v1.2.5"),
        ("1.2.3 - 1.4.5", "v1.4.5"),
        (">= 1.2, < 3.0", "v2.0.0"),
        ("*", "v2.0.0"),
        (">=1.3.0-0 <1.4.0", "v1.3.0-rc.1"),
        (">=2.0.0-0", "v2.1.0-beta.2"),
        ("<1", "v0.9.0"),
        ("~3.0", None),
    ],
)
def test_select_picks_the_highest_matching_tag(text: str, chosen: str | None) -> None:
    assert SemverRange.parse(text).select(TAGS) == chosen


def test_select_does_not_depend_on_tag_order() -> None:
    semver_range = SemverRange.parse("^1")
    tags = ["1.5.0", "v1.5.0", "v1.4.0"]
    assert semver_range.select(tags) == semver_range.select(list(reversed(tags))) == "v1.5.0"


@pytest.mark.parametrize(
    ("tag", "version"),
    [
        ("v1.2.3", Version(1, 2, 3)),
        ("1.2.3", Version(1, 2, 3)),
        ("V2.0.0-rc.1+meta", Version(2, 0, 0, "rc.1", "meta")),
        ("v1.2", Version(1, 2, 0)),
        ("v3", Version(3, 0, 0)),
        ("latest", None),
        ("release-1.2.3", None),
        ("v1.2.3.4", None),
        ("1.2.3-", None),
    ],
)
def test_parse_tag(tag: str, version: Version | None) -> None:
    assert parse_tag(tag) == version


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty semver range"),
        ("   ", "empty semver range"),
        ("latest", "'latest' is not a version"),
        (">=1.0 ||", "empty range between '||'"),
        ("|| 1.0", "empty range between '||'"),
        (">=", "'>=' has no version"),
        ("1.x-rc.1", "a pre-release needs a full version"),
        ("1.0 -", "hyphen range after '1.0' has no upper end"),
        (">>1.0", "is not a version"),
        ("1.2.3.4", "is not a version"),
    ],
)
def test_invalid_ranges_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(InvalidRangeError) as caught:
        SemverRange.parse(text)
    assert problem in str(caught.value)


def test_str_is_the_text_parsed() -> None:
    assert str(SemverRange.parse(">= 1.2, < 3.0")) == ">= 1.2, < 3.0"
