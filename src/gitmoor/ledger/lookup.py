"""What `where` is asked for: a revision, a chart or a container image, and how each is matched.

- A revision is `<ref>@sha1:<hex>`, `sha1:<hex>` or bare hex, with at least 7 hex digits; it
  matches every revision of that commit (a prefix of the hash; the ref name is not compared, so
  the same commit reached through a branch or a tag is one revision).
- `chart:NAME` or `chart:NAME@RANGE` (`chart:podinfo@6.x`) is a vendor's chart (a Sync with
  chartRef): the Syncs whose deployed revision is that chart at a version the semver range
  admits (any version without one). A Docker Hub image named `chart` is then written
  `docker.io/library/chart:TAG`.
- Anything else containing `:`, `/` or `@` is a container image, matched as written in the
  manifests, with Docker Hub's equivalent spellings (`nginx:1.27`, `library/nginx:1.27`,
  `docker.io/library/nginx:1.27`, `index.docker.io/library/nginx:1.27`) taken as one image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitmoor.model.semver_range import InvalidRangeError, SemverRange, parse_tag

MIN_SHA = 7
_REVISION = re.compile(
    r"^(?:(?:[^\s@]+@)?sha1:(?P<sha>[0-9a-fA-F]{7,40})|(?P<bare>[0-9a-fA-F]{7,40}))$"
)
_HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class RevisionQuery:
    sha_prefix: str  # lower-case hex, at least 7 digits


@dataclass(frozen=True)
class ImageQuery:
    image: str
    spellings: frozenset[str]  # every way the manifests may write this image


@dataclass(frozen=True)
class ChartQuery:
    chart: str
    versions: str  # a semver range; "" admits every version

    def admits(self, version: str) -> bool:
        if not self.versions:
            return True
        parsed = parse_tag(version)
        return parsed is not None and SemverRange.parse(self.versions).matches(parsed)


# A chart Sync's revision: `<chart>@<version>@sha256:<archive digest>;<ref>@sha1:<commit>`.
_CHART_REVISION = re.compile(r"^(?P<chart>[^@;\s]+)@(?P<version>[^@;\s]+)@sha256:[0-9a-f]{64};")


def chart_of(revision: str) -> tuple[str, str] | None:
    """(chart, version) of a chart Sync's revision, None for any other revision."""
    match = _CHART_REVISION.match(revision or "")
    return (match["chart"], match["version"]) if match else None


def parse_query(what: str) -> RevisionQuery | ChartQuery | ImageQuery:
    """Classify `where`'s argument; raises ValueError when it is none of them."""
    text = what.strip()
    if text.startswith("chart:"):
        name, _, versions = text.removeprefix("chart:").partition("@")
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9._]*[a-z0-9])?", name):
            raise ValueError(
                f"{what!r}: expected chart:NAME or chart:NAME@RANGE (chart:podinfo@6.x)"
            )
        try:
            SemverRange.parse(versions or "*")
        except InvalidRangeError as err:
            raise ValueError(f"{what!r}: {err}") from None
        return ChartQuery(name, versions)
    match = _REVISION.match(text)
    if match:
        return RevisionQuery((match.group("sha") or match.group("bare")).lower())
    if text and not any(c.isspace() for c in text) and any(c in text for c in ":/@"):
        return ImageQuery(text, image_spellings(text))
    raise ValueError(
        f"{what!r} is neither a revision (main@sha1:<hex>, or at least {MIN_SHA} hex digits "
        "of the commit), a chart (chart:NAME[@RANGE]) nor a container image (name:tag, "
        "registry/name:tag or name@sha256:...)"
    )


def image_spellings(image: str) -> frozenset[str]:
    """`image` and, for Docker Hub images, the other ways of writing the same reference."""
    first, slash, rest = image.partition("/")
    has_registry = bool(slash) and ("." in first or ":" in first or first == "localhost")
    if has_registry and first not in _HUB_HOSTS:
        return frozenset({image})
    path = rest if has_registry else image
    if "/" not in path.split("@", 1)[0].split(":", 1)[0]:
        path = f"library/{path}"
    spellings = {path, *(f"{host}/{path}" for host in _HUB_HOSTS), image}
    if path.startswith("library/"):
        spellings.add(path.removeprefix("library/"))
    return frozenset(spellings)
