"""From a GitSource ref to the ls-remote query, and from ls-remote's answer to a commit."""

import pytest

from gitmoor.errors import RefNotFoundError, SourceConfigError
from gitmoor.model.resources import GitRef
from gitmoor.sources.remote import (
    Query,
    exact_commit,
    listed,
    parse_ls_remote,
    query_for,
    resolve,
    revision_of,
)

URL = "https://git.example.com/repo.git"
A = "a" * 40
B = "b" * 40
C = "c" * 40
T = "7" * 40  # an annotated tag object

LISTING = f"""\
ref: refs/heads/main\tHEAD
{A}\tHEAD
{A}\trefs/heads/main
{B}\trefs/heads/release
{B}\trefs/tags/v1.0.0
{T}\trefs/tags/v1.1.0
{C}\trefs/tags/v1.1.0^{{}}
{A}\trefs/tags/v2.0.0-rc.1
{A}\trefs/tags/nightly
"""


def test_parse_ls_remote() -> None:
    refs = parse_ls_remote(LISTING)
    assert refs.head == "refs/heads/main"
    assert refs.commit("refs/heads/release") == B
    assert refs.commit("refs/tags/v1.1.0") == C  # peeled
    assert refs.commit("refs/tags/missing") is None
    assert sorted(refs.tags()) == ["nightly", "v1.0.0", "v1.1.0", "v2.0.0-rc.1"]


@pytest.mark.parametrize(
    ("ref", "revision", "sha", "name"),
    [
        (GitRef(), f"main@sha1:{A}", A, "refs/heads/main"),
        (GitRef(branch="release"), f"release@sha1:{B}", B, "refs/heads/release"),
        (GitRef(tag="v1.0.0"), f"v1.0.0@sha1:{B}", B, "refs/tags/v1.0.0"),
        (GitRef(tag="v1.1.0"), f"v1.1.0@sha1:{C}", C, "refs/tags/v1.1.0"),
        (GitRef(semver="^1"), f"v1.1.0@sha1:{C}", C, "refs/tags/v1.1.0"),
        (GitRef(semver=">=2.0.0-0"), f"v2.0.0-rc.1@sha1:{A}", A, "refs/tags/v2.0.0-rc.1"),
    ],
)
def test_resolve(ref: GitRef, revision: str, sha: str, name: str) -> None:
    target = resolve(ref, parse_ls_remote(LISTING), url=URL)
    assert (target.revision, target.sha, target.ref) == (revision, sha, name)


def test_head_without_symref_is_named_head() -> None:
    target = resolve(GitRef(), parse_ls_remote(f"{A}\tHEAD\n"), url=URL)
    assert target.revision == f"HEAD@sha1:{A}"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (GitRef(branch="gone"), f"branch 'gone' not found in {URL}"),
        (GitRef(tag="v9"), f"tag 'v9' not found in {URL}"),
        (
            GitRef(semver="~3.0"),
            f"no tag matches semver range '~3.0' in {URL} (tags: v1.0.0, v1.1.0, v2.0.0-rc.1)",
        ),
    ],
)
def test_missing_refs(ref: GitRef, message: str) -> None:
    with pytest.raises(RefNotFoundError) as caught:
        resolve(ref, parse_ls_remote(LISTING), url=URL)
    assert str(caught.value) == message


def test_an_empty_repository_has_no_head() -> None:
    with pytest.raises(RefNotFoundError, match="has no HEAD"):
        resolve(GitRef(), parse_ls_remote(""), url=URL)


def test_semver_no_match_lists_at_most_ten_tags() -> None:
    listing = "".join(f"{A}\trefs/tags/v1.{minor}.0\n" for minor in range(15))
    with pytest.raises(RefNotFoundError) as caught:
        resolve(GitRef(semver=">=2"), parse_ls_remote(listing), url=URL)
    assert "(tags: ..., v1.5.0, v1.6.0," in str(caught.value)
    assert "v1.4.0," not in str(caught.value)


@pytest.mark.parametrize(
    ("ref", "query"),
    [
        (GitRef(), Query(("--symref",), ("HEAD",))),
        (GitRef(branch="feature/x"), Query((), ("refs/heads/feature/x",))),
        (GitRef(tag="v1.0.0"), Query((), ("refs/tags/v1.0.0", "refs/tags/v1.0.0^{}"))),
        (GitRef(semver="^1"), Query(("--tags",), ())),
    ],
)
def test_query_for(ref: GitRef, query: Query) -> None:
    assert query_for(ref, url=URL) == query


@pytest.mark.parametrize(
    "ref",
    [
        GitRef(branch="-upload-pack"),
        GitRef(branch="a..b"),
        GitRef(branch="a*"),
        GitRef(branch="with space"),
        GitRef(tag="v1^{}"),
        GitRef(tag="x.lock"),
        GitRef(semver="not-a-range"),
    ],
)
def test_malformed_refs_are_config_errors(ref: GitRef) -> None:
    with pytest.raises(SourceConfigError):
        query_for(ref, url=URL)


def test_exact_commit_needs_no_remote_for_a_full_sha() -> None:
    assert exact_commit(GitRef(commit=A)) == A
    assert exact_commit(GitRef(commit="abcdef1")) is None
    assert exact_commit(GitRef(branch="main")) is None
    assert revision_of(None, A) == f"sha1:{A}"
    assert revision_of("main", "f" * 64) == f"main@sha256:{'f' * 64}"


# --- the in-process check: the server's advertisement -> what ls-remote prints --------------

ADVERTISED = {
    "HEAD": A,
    "refs/heads/main": A,
    "refs/heads/main2": B,  # a ref-prefix match that ls-remote's pattern does not match
    "refs/heads/feature/main": C,  # ends with heads/main, not with /refs/heads/main
    "refs/tags/v1.1.0": T,
    "refs/tags/v1.1.0^{}": C,
    "refs/tags/v1.1.0-rc.1": B,
}


@pytest.mark.parametrize(
    ("ref", "prefixes", "shas", "head"),
    [
        (GitRef(), ("HEAD",), {"HEAD": A}, "refs/heads/main"),
        (GitRef(branch="main"), ("refs/heads/main",), {"refs/heads/main": A}, None),
        (
            GitRef(tag="v1.1.0"),
            ("refs/tags/v1.1.0",),
            {"refs/tags/v1.1.0": T, "refs/tags/v1.1.0^{}": C},
            None,
        ),
        (
            GitRef(semver="^1"),
            ("refs/tags/",),
            {"refs/tags/v1.1.0": T, "refs/tags/v1.1.0^{}": C, "refs/tags/v1.1.0-rc.1": B},
            None,
        ),
    ],
)
def test_listed_keeps_what_ls_remote_prints(
    ref: GitRef, prefixes: tuple[str, ...], shas: dict[str, str], head: str | None
) -> None:
    query = query_for(ref, url=URL)
    assert query.prefixes == prefixes
    refs = listed(query, ADVERTISED, {"HEAD": "refs/heads/main"})
    assert (refs.shas, refs.head) == (shas, head)


def test_listed_matches_a_pattern_by_its_tail_as_ls_remote_does() -> None:
    query = Query((), ("heads/main",))
    assert listed(query, ADVERTISED, {}).shas == {"refs/heads/main": A}
