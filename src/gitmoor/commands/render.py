"""`gitmoor render`: which Helm release a directory renders as, decided like the agent.

The agent names a chart's release after the Sync (unless `spec.helm.releaseName` says
otherwise) and installs it in the Sync's namespace. Offline, the Sync is the document in the
repository that is named with `--sync`, else the only one whose `spec.path` is the rendered
directory; with none, the release is `release` in `default`, as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitmoor.errors import GitmoorError
from gitmoor.model.resources import Sync
from gitmoor.validate.resources import FoundSync, is_gitmoor, model_findings
from gitmoor.validate.units import RenderSpec, SyncKey, normalise

_MAX_FILE = 1024 * 1024  # Sync documents are small: larger files are charts' data, not Syncs


class SyncNotFoundError(GitmoorError):
    """`--sync NAME` names no Sync document in the repository."""


@dataclass(frozen=True)
class ReleaseChoice:
    spec: RenderSpec
    sync: SyncKey | None  # the Sync the settings come from; None: the defaults


def release_for(
    root: Path, path: str, *, sync: str | None = None, namespace: str | None = None
) -> ReleaseChoice:
    """The render settings of `path` (relative to `root`): those of the Sync named `sync`
    (in `namespace` when given), else of the one Sync whose path it is, else the defaults."""
    found = list(_syncs(root))
    if sync is not None:
        named = [
            f
            for f in found
            if f.key.name == sync and (namespace is None or f.key.namespace == namespace)
        ]
        if not named:
            where = f"{namespace}/{sync}" if namespace else sync
            raise SyncNotFoundError(f"no Sync {where} among the repository's documents in {root}")
        return ReleaseChoice(named[0].render_spec(), named[0].key)
    here = [f for f in found if f.path == normalise(path)]
    if len(here) == 1:
        return ReleaseChoice(here[0].render_spec(), here[0].key)
    return ReleaseChoice(RenderSpec(namespace=namespace or "default"), None)


def _syncs(root: Path) -> Iterator[FoundSync]:
    for file in _yaml_files(root):
        try:
            documents = list(yaml.safe_load_all(file.read_bytes()))
        except (OSError, yaml.YAMLError):
            continue  # not for this question: `gitmoor validate` reports broken files
        for doc in documents:
            if isinstance(doc, dict) and is_gitmoor(doc) and doc.get("kind") == "Sync":
                found = _found(doc)
                if found is not None:
                    yield found


def _found(doc: dict[str, Any]) -> FoundSync | None:
    _, resource = model_findings(doc)
    if not isinstance(resource, Sync):
        return None
    key = SyncKey(resource.metadata.namespace or "default", resource.metadata.name)
    return FoundSync(key, resource)


def _yaml_files(root: Path) -> Iterator[Path]:
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(current, name)
            if (
                name.lower().endswith((".yaml", ".yml"))
                and not path.is_symlink()
                and path.stat().st_size <= _MAX_FILE
            ):
                yield path
