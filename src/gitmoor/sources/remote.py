"""From a GitSource's ref to what `git ls-remote` must ask, and from its answer to a commit.

Pure: no processes here, so the rules (annotated tags peel to their commit, semver picks the
highest tag in range, HEAD names the default branch) are tested without a server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from gitmoor.errors import RefNotFoundError, SourceConfigError
from gitmoor.model.resources import GitRef
from gitmoor.sources.semver_range import InvalidRangeError, SemverRange, parse_tag

_FULL_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
# What check-ref-format refuses, plus glob characters: ls-remote treats patterns as globs.
_BAD_REF = re.compile(r"(^[-/.])|(\.\.)|(@\{)|([\x00-\x20\x7f~^:?*\[\\])|([/.]$)|(\.lock$)|//")
_TAGS_SHOWN = 10


@dataclass(frozen=True)
class Target:
    """The commit a ref resolved to: `revision` reads `main@sha1:<hex>` (`sha1:<hex>` for an
    exact commit); `ref` is the full ref name, to fetch by name if the server will not serve
    the bare sha; `tag` the annotated tag object the ref names, whose signature `verify` may
    need (None for a lightweight tag or any other ref)."""

    revision: str
    sha: str
    ref: str | None
    tag: str | None = None


@dataclass(frozen=True)
class Query:
    """The arguments for `git ls-remote` (before `--`) and the patterns (after the URL)."""

    options: tuple[str, ...]
    patterns: tuple[str, ...]

    @property
    def prefixes(self) -> tuple[str, ...]:
        """The protocol v2 `ls-refs` ref-prefix arguments that cover the query: what the server
        need list (`listed` then keeps exactly what ls-remote would print)."""
        if "--tags" in self.options:
            return ("refs/tags/",)
        return tuple(dict.fromkeys(p.removesuffix("^{}") for p in self.patterns))


def revision_of(name: str | None, sha: str) -> str:
    algorithm = "sha1" if len(sha) == 40 else "sha256"
    return f"{name}@{algorithm}:{sha}" if name else f"{algorithm}:{sha}"


def exact_commit(ref: GitRef) -> str | None:
    """The full sha when the ref pins one; no remote needs asking then."""
    if ref.commit and _FULL_SHA.match(ref.commit):
        return ref.commit
    return None


def query_for(ref: GitRef, *, url: str) -> Query:
    """What to ask `ls-remote` for this ref; raises SourceConfigError for a malformed ref."""
    if ref.branch:
        _check_name("branch", ref.branch, url)
        return Query((), (f"refs/heads/{ref.branch}",))
    if ref.tag:
        _check_name("tag", ref.tag, url)
        return Query((), (f"refs/tags/{ref.tag}", f"refs/tags/{ref.tag}^{{}}"))
    if ref.semver:
        parse_range(ref.semver, url=url)
        return Query(("--tags",), ())
    return Query(("--symref",), ("HEAD",))


def parse_range(text: str, *, url: str) -> SemverRange:
    try:
        return SemverRange.parse(text)
    except InvalidRangeError as err:
        raise SourceConfigError(str(err), url=url) from None


def _check_name(kind: str, name: str, url: str) -> None:
    if _BAD_REF.search(name):
        raise SourceConfigError(f"{kind} {name!r} is not a valid git ref name", url=url)


@dataclass(frozen=True)
class RemoteRefs:
    """What ls-remote listed: ref -> the object it names, tags peeled to their commits, and the
    branch HEAD points at when the server said (`--symref`)."""

    shas: dict[str, str]
    head: str | None

    def commit(self, name: str) -> str | None:
        return self.shas.get(f"{name}^{{}}") or self.shas.get(name)

    def tag_object(self, name: str) -> str | None:
        """The annotated tag object `name` names; None for a lightweight tag."""
        return self.shas.get(name) if f"{name}^{{}}" in self.shas else None

    def tags(self) -> list[str]:
        return [
            name.removeprefix("refs/tags/")
            for name in self.shas
            if name.startswith("refs/tags/") and not name.endswith("^{}")
        ]


def parse_ls_remote(output: str) -> RemoteRefs:
    shas: dict[str, str] = {}
    head: str | None = None
    for line in output.splitlines():
        first, _, name = line.partition("\t")
        if first.startswith("ref: "):
            if name == "HEAD":
                head = first.removeprefix("ref: ")
        elif name:
            shas[name] = first
    return RemoteRefs(shas, head)


def listed(query: Query, refs: Mapping[str, str], symrefs: Mapping[str, str]) -> RemoteRefs:
    """What `git ls-remote <query>` prints, from a server's ref advertisement: `refs` maps each
    ref (and `<tag>^{}` for a peeled tag) to its object, `symrefs` each symbolic ref to its
    target. Patterns match as ls-remote matches them: the whole name or a tail after a `/`."""

    def wanted(name: str) -> bool:
        if "--tags" in query.options and not name.startswith("refs/tags/"):
            return False
        return not query.patterns or any(
            name == p or name.endswith(f"/{p}") for p in query.patterns
        )

    shas = {name: sha for name, sha in refs.items() if wanted(name)}
    head = symrefs.get("HEAD") if "--symref" in query.options and "HEAD" in shas else None
    return RemoteRefs(shas, head)


def resolve(ref: GitRef, refs: RemoteRefs, *, url: str) -> Target:
    """The commit `ref` names among `refs`; RefNotFoundError says what was missing."""
    if ref.branch:
        name = f"refs/heads/{ref.branch}"
        sha = refs.commit(name)
        if sha is None:
            raise RefNotFoundError(f"branch {ref.branch!r} not found in {url}", url=url)
        return Target(revision_of(ref.branch, sha), sha, name)
    if ref.tag:
        name = f"refs/tags/{ref.tag}"
        sha = refs.commit(name)
        if sha is None:
            raise RefNotFoundError(f"tag {ref.tag!r} not found in {url}", url=url)
        return Target(revision_of(ref.tag, sha), sha, name, refs.tag_object(name))
    if ref.semver:
        return _resolve_semver(ref.semver, refs, url)
    sha = refs.commit("HEAD")
    if sha is None:
        raise RefNotFoundError(f"{url} has no HEAD: is the repository empty?", url=url)
    if refs.head and refs.head.startswith("refs/heads/"):
        branch = refs.head.removeprefix("refs/heads/")
        return Target(revision_of(branch, sha), sha, refs.head)
    return Target(revision_of("HEAD", sha), sha, "HEAD")


def _resolve_semver(text: str, refs: RemoteRefs, url: str) -> Target:
    tags = refs.tags()
    chosen = parse_range(text, url=url).select(tags)
    if chosen is None:
        versioned = sorted(
            (version, tag) for tag in tags if (version := parse_tag(tag)) is not None
        )
        shown = ", ".join(tag for _, tag in versioned[-_TAGS_SHOWN:]) or "none"
        if len(versioned) > _TAGS_SHOWN:
            shown = f"..., {shown}"
        raise RefNotFoundError(
            f"no tag matches semver range {text!r} in {url} (tags: {shown})", url=url
        )
    name = f"refs/tags/{chosen}"
    sha = refs.commit(name)
    assert sha is not None
    return Target(revision_of(chosen, sha), sha, name, refs.tag_object(name))
