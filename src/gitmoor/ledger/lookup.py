"""What `where` is asked for: a revision or a container image, and how either is matched.

- A revision is `<ref>@sha1:<hex>`, `sha1:<hex>` or bare hex, with at least 7 hex digits; it
  matches every revision of that commit (a prefix of the hash; the ref name is not compared, so
  the same commit reached through a branch or a tag is one revision).
- Anything else containing `:`, `/` or `@` is a container image, matched as written in the
  manifests, with Docker Hub's equivalent spellings (`nginx:1.27`, `library/nginx:1.27`,
  `docker.io/library/nginx:1.27`, `index.docker.io/library/nginx:1.27`) taken as one image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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


def parse_query(what: str) -> RevisionQuery | ImageQuery:
    """Classify `where`'s argument; raises ValueError when it is neither."""
    text = what.strip()
    match = _REVISION.match(text)
    if match:
        return RevisionQuery((match.group("sha") or match.group("bare")).lower())
    if text and not any(c.isspace() for c in text) and any(c in text for c in ":/@"):
        return ImageQuery(text, image_spellings(text))
    raise ValueError(
        f"{what!r} is neither a revision (main@sha1:<hex>, or at least {MIN_SHA} hex digits "
        "of the commit) nor a container image (name:tag, registry/name:tag or name@sha256:...)"
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
