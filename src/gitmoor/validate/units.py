"""What is validated: directories of a repository, each rendered the way the agent would."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Any

from gitmoor.errors import GitmoorError
from gitmoor.model import Manifest


@dataclass(frozen=True)
class RenderSpec:
    """How to render a directory: the Helm release it would be (ignored for plain and
    Kustomize directories). Mirrors `gitmoor.render.RenderOptions`, which this stage may not
    import."""

    release_name: str = "release"
    namespace: str = "default"
    values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    values_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rendering:
    """A directory's objects, and the errors rendering it met. A directory that failed may
    still give the objects of its files that did parse."""

    manifests: tuple[Manifest, ...] = ()
    errors: tuple[GitmoorError, ...] = ()


Renderer = Callable[[str, RenderSpec], Awaitable[Rendering]]
"""Renders a directory given relative to the repository root."""


@dataclass(frozen=True)
class SyncKey:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, eq=False)
class Unit:
    """One rendered directory: a PATH given on the command line, or the path of a Sync found
    in the validated documents (rendered with that Sync's settings)."""

    directory: str  # relative to the repository root, POSIX, "." for the root itself
    rendering: Rendering
    target_namespace: str | None = None
    sync: SyncKey | None = None
    sync_origin: str | None = None  # where the Sync's document is, `file:line`
    sync_kind: str = "Sync"  # or the Flux or Argo CD kind it was made from
    named: bool = False  # a PATH given to validate, rendered as a Sync that names it

    @property
    def manifests(self) -> tuple[Manifest, ...]:
        return self.rendering.manifests

    def file_of(self, source: str) -> str:
        """A manifest's or render error's file, relative to the repository root."""
        if "//" in source:  # a remote kustomize base: not a file of this repository
            return source
        return PurePosixPath(os.path.normpath(PurePosixPath(self.directory) / source)).as_posix()

    def describe(self) -> str:
        return f"{self.directory} ({self.sync_kind} {self.sync})" if self.sync else self.directory


def normalise(path: str) -> str:
    """`./apps/web/` -> `apps/web`; the root is `.`."""
    return PurePosixPath(os.path.normpath(path.replace("\\", "/") or ".")).as_posix()
