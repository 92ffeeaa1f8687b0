"""Which Kubernetes releases the installed schemas cover, found without importing them.

`gitmoor validate --help` names the oldest and newest release, so this runs at every start of
the CLI: the schemas' package (kubernetes-validate) imports jsonschema when imported, so its
directory is located through its import spec instead, which imports nothing.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

_PACKAGE = "kubernetes_validate"
_SCHEMAS = "kubernetes-json-schema"
_RELEASE_DIR = re.compile(r"^v(\d+)\.(\d+)\.\d+-local-strict$")


def available_versions() -> list[str]:
    """`1.25` ... `1.37`: the releases whose schemas are installed, oldest first."""
    return list(release_dirs())


def schemas_dir(version: str) -> Path:
    """The directory of the schemas of `version` (one of `available_versions()`)."""
    return _schemas() / release_dirs()[version]


@functools.cache
def release_dirs() -> dict[str, str]:
    """`1.37` -> `v1.37.0-local-strict`, oldest release first."""
    found: dict[tuple[int, int], str] = {}
    for entry in _schemas().iterdir():
        match = _RELEASE_DIR.match(entry.name)
        if match:
            found[(int(match.group(1)), int(match.group(2)))] = entry.name
    return {f"{major}.{minor}": found[(major, minor)] for major, minor in sorted(found)}


def _schemas() -> Path:
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{_PACKAGE} is not installed", name=_PACKAGE)
    return Path(next(iter(spec.submodule_search_locations))) / _SCHEMAS
