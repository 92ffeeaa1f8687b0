"""`gitmoor import`: read Flux and Argo CD resources from files or a cluster, and convert them
(`gitmoor.migrate`). Credentials Secrets are never read: Argo CD's repository Secrets are
named only when they are among the files given."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitmoor.errors import MigrationInputError, UnknownKindError
from gitmoor.migrate import KINDS, parse_documents

if TYPE_CHECKING:
    # Only a type here: `gitmoor import -f FILE` reads files without the Kubernetes client.
    from gitmoor.kube import Kube

_SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"


@dataclass(frozen=True)
class FilesRead:
    """The documents read, and the files of the directories given that were not YAML (each
    `file: why`): a repository holds more than manifests."""

    objects: tuple[dict[str, Any], ...]
    unreadable: tuple[str, ...]


def read_files(paths: Sequence[str], stdin: bytes | None = None) -> FilesRead:
    """The documents of `paths`: files, directories (their *.yaml, *.yml, *.json below; hidden
    ones and Helm charts' templates left out) or `-` for `stdin`. A file named on its own that
    cannot be read raises `MigrationInputError` naming it; one found in a directory is listed
    in `unreadable`."""
    found: list[dict[str, Any]] = []
    unreadable: list[str] = []
    for given in paths:
        if given == STDIN:
            found.extend(parse_documents(stdin or b"", "<stdin>"))
            continue
        path = Path(given)
        if not path.exists():
            raise MigrationInputError(given, None, "no such file or directory")
        if not path.is_dir():
            found.extend(_read(path))
            continue
        for file in _files(path):
            try:
                found.extend(_read(file))
            except MigrationInputError as problem:
                unreadable.append(str(problem))
    return FilesRead(tuple(found), tuple(unreadable))


def _read(file: Path) -> list[dict[str, Any]]:
    try:
        data = file.read_bytes()
    except OSError as err:
        raise MigrationInputError(str(file), None, f"cannot read: {err.strerror}") from None
    return parse_documents(data, str(file))


def _files(path: Path) -> list[Path]:
    out: list[Path] = []
    for current, dirs, files in os.walk(path):
        if "Chart.yaml" in files:
            dirs[:] = [d for d in dirs if d != "templates" and not d.startswith(".")]
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(
            Path(current, name)
            for name in sorted(files)
            if not name.startswith(".") and name.lower().endswith(_SUFFIXES)
        )
    return out


@dataclass(frozen=True)
class ClusterRead:
    """What the cluster served: the objects, and the kinds none of whose versions it serves
    (their CRDs are not installed: nothing of them to import)."""

    objects: tuple[dict[str, Any], ...]
    not_served: tuple[str, ...]


async def read_cluster(kube: Kube, namespace: str = "") -> ClusterRead:
    """Every Flux and Argo CD resource in `namespace` (all namespaces when empty), each in the
    newest version the server serves. Secrets are not read."""
    objects: list[dict[str, Any]] = []
    missing: list[str] = []
    for versions, kind in KINDS:
        for api_version in versions:
            try:
                items = await kube.list(api_version, kind, namespace)
            except UnknownKindError:
                continue
            for item in items:
                # A list's items carry no apiVersion and kind of their own.
                objects.append({"apiVersion": api_version, "kind": kind, **item})
            break
        else:
            missing.append(kind)
    return ClusterRead(tuple(objects), tuple(missing))
