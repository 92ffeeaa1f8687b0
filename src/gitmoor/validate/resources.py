"""gitmoor's own resources in the validated paths: GitSource, ChartSource, OCISource and Sync
documents.

They are checked by the very models `gitmoor run --config` loads them with (so the messages are
the same), then as a whole: every Sync's path exists, and dependsOn has no cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from gitmoor.errors import RenderError
from gitmoor.model.api import API_VERSION
from gitmoor.model.config import ConfigError, load_documents
from gitmoor.model.graph import describe, find_cycle
from gitmoor.model.images import IMAGE_KINDS
from gitmoor.model.resources import ChartSource, GitSource, OCISource, Sync
from gitmoor.validate.problems import parse_field_path
from gitmoor.validate.schema import Finding
from gitmoor.validate.units import RenderSpec, SyncKey, normalise

KINDS = ("GitSource", "ChartSource", "OCISource", "Sync", *IMAGE_KINDS)
_MAX_VALUES_BYTES = 32 * 1024 * 1024  # the agent's default --max-file-size


def is_gitmoor(obj: Mapping[str, Any]) -> bool:
    return obj.get("apiVersion") == API_VERSION and obj.get("kind") in KINDS


def model_findings(
    obj: Mapping[str, Any],
) -> tuple[list[Finding], GitSource | ChartSource | OCISource | Sync | None]:
    """What the resource's model says about `obj`, and the resource when it is valid."""
    text = yaml.safe_dump(dict(obj), sort_keys=False)
    try:
        loaded = load_documents(text, source="-")
    except ConfigError as err:
        return [(parse_field_path(p.field), p.message) for p in err.problems], None
    found = loaded[0] if loaded else None
    # The image kinds are checked by their models; nothing else here reads them.
    if isinstance(found, GitSource | ChartSource | Sync):
        return [], found
    return [], None


@dataclass(frozen=True)
class FoundSync:
    """A valid Sync, under the namespace it would really have; `origin` is where its document
    is (`file:line`), when known; `kind` what that document is: a Sync, or a Flux or Argo CD
    resource the Sync was made from (a Kustomization, a HelmRelease, an Application)."""

    key: SyncKey
    sync: Sync
    origin: str | None = None
    kind: str = "Sync"

    @property
    def path(self) -> str:
        return normalise(self.sync.spec.path)

    def render_spec(self) -> RenderSpec:
        """What the agent renders this Sync's path with (see reconcile's `render_options`)."""
        helm = self.sync.spec.helm
        return RenderSpec(
            release_name=(helm.release_name if helm else None) or self.key.name,
            namespace=(helm.namespace if helm else None)
            or self.sync.spec.target_namespace
            or self.key.namespace,
            values=dict(helm.values) if helm else {},
            values_files=tuple(helm.values_files) if helm else (),
        )

    def depends_on(self) -> list[SyncKey]:
        return [
            SyncKey(d.namespace or self.key.namespace, d.name) for d in self.sync.spec.depends_on
        ]

    def source(self) -> tuple[str, str] | None:
        """The GitSource; None for a chart with inline values only."""
        ref = self.sync.spec.source_ref
        return None if ref is None else (ref.namespace or self.key.namespace, ref.name)

    def from_artifact(self) -> bool:
        """Whether the Sync renders an OCISource's artifact: its path is inside the artifact
        the agent pulls, not inside the validated repository."""
        ref = self.sync.spec.source_ref
        return ref is not None and ref.kind == "OCISource"

    def chart(self) -> tuple[str, str] | None:
        """The ChartSource whose chart this Sync renders (its path then holds values only)."""
        ref = self.sync.spec.chart_ref
        return None if ref is None else (ref.namespace or self.key.namespace, ref.name)


def values_problems(found: FoundSync, root: Path) -> tuple[RenderError, ...]:
    """A chart Sync's (`chartRef`) values files, read from its path as the agent reads them:
    each must exist inside the repository and hold one YAML mapping. The chart itself comes
    from its repository when the agent runs: offline, only the values can be checked."""
    helm = found.sync.spec.helm
    directory = root.joinpath(*PurePosixPath(found.path).parts)
    problems: list[RenderError] = []
    for name in helm.values_files if helm else ():
        path = (directory / name).resolve()
        if not path.is_relative_to(root):
            problems.append(RenderError("values file outside the repository", file=name))
            continue
        if not path.is_file():
            problems.append(RenderError("values file not found", file=name))
            continue
        if path.stat().st_size > _MAX_VALUES_BYTES:
            problems.append(RenderError("values file larger than 32 MiB", file=name))
            continue
        try:
            loaded = yaml.safe_load(path.read_bytes())
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark
            line = mark.line + 1 if mark else None
            problems.append(RenderError(f"invalid YAML: {err.problem}", file=name, line=line))
            continue
        except (yaml.YAMLError, RecursionError) as err:
            problems.append(RenderError(f"invalid YAML: {err}", file=name))
            continue
        if loaded is not None and not isinstance(loaded, dict):
            problems.append(RenderError("a values file must hold a mapping", file=name, line=1))
    return tuple(problems)


def path_problem(found: FoundSync, root: Path) -> str | None:
    """Why a Sync's path cannot be rendered from the repository at `root`, if it cannot."""
    target = root.joinpath(*PurePosixPath(found.path).parts)
    if not target.exists():
        return f"{found.sync.spec.path!r} does not exist in the repository"
    if not target.is_dir():
        return f"{found.sync.spec.path!r} is not a directory"
    return None


def cycles(syncs: Mapping[SyncKey, FoundSync]) -> dict[SyncKey, tuple[int, str]]:
    """For each Sync on a dependsOn cycle: the index of its dependsOn entry that closes the
    cycle, and the cycle as `ns/a -> ns/b -> ns/a`."""
    edges = {
        (key.namespace, key.name): [(d.namespace, d.name) for d in found.depends_on()]
        for key, found in syncs.items()
    }
    out: dict[SyncKey, tuple[int, str]] = {}
    for key, found in syncs.items():
        cycle = find_cycle((key.namespace, key.name), edges)
        if cycle is None:
            continue
        following = SyncKey(*cycle[1])
        index = found.depends_on().index(following)
        out[key] = (index, describe(cycle))
    return out
