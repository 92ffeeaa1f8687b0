"""Sync documents read for what they say about other directories: the repository's own files,
and `--sync FILE|DIR` (a fleet repository's Syncs, say, kept outside the one validated). With a
`Convert`, other documents count too: Flux's Kustomizations and HelmReleases and Argo CD's
Applications, as the Syncs `gitmoor import` makes of them (the caller passes the conversion in:
this stage does not import another).

A PATH that one of these Syncs names (its `spec.path`, relative to the repository root) is
rendered and checked as that Sync's: its `targetNamespace`, Helm release and values. They are
context, not validated paths: their own mistakes are reported when their directory is validated.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitmoor.model.api import API_VERSION
from gitmoor.validate.problems import Problem
from gitmoor.validate.resources import FoundSync, model_findings
from gitmoor.validate.units import SyncKey

_SUFFIXES = (".yaml", ".yml", ".json")
_MARKER = API_VERSION.encode()  # a file without it holds no Sync: it is not parsed
MAX_FILE_BYTES = 32 * 1024 * 1024  # the agent's default --max-file-size
_Loader: type[yaml.CSafeLoader] | type[yaml.SafeLoader] = (
    yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
)


Convert = Callable[[Mapping[str, Any]], list[dict[str, Any]]]
"""The Sync documents another tool's document stands for; [] when it stands for none."""


@dataclass(frozen=True)
class Foreign:
    """Documents of other tools read as Syncs: files holding none of `markers` are not
    parsed for them."""

    convert: Convert
    markers: tuple[bytes, ...]


@dataclass(frozen=True)
class SyncFiles:
    """The valid Syncs found, and the problems of the files given explicitly."""

    syncs: tuple[FoundSync, ...]
    problems: tuple[Problem, ...]


def scan_repository(root: Path, foreign: Foreign | None = None) -> SyncFiles:
    """The valid Sync documents among the plain manifest files of the repository at `root`.

    Hidden directories (`.git`) and Helm charts (a directory holding `Chart.yaml`: templates
    are not YAML until rendered) are skipped, and so are files that do not parse or hold an
    invalid Sync: validating their own directory reports those.
    """
    syncs: list[FoundSync] = []
    for file in _repository_files(root):
        found, _ = _read(file, _display(file, root), foreign=foreign)
        syncs.extend(found)
    return SyncFiles(tuple(syncs), ())


def read_sync_files(paths: Sequence[Path], root: Path, foreign: Foreign | None = None) -> SyncFiles:
    """The Sync documents of `paths` (files, or directories searched for *.yaml, *.yml and
    *.json); a file that cannot be read or parsed, or an invalid Sync, is an error, as they
    were named on purpose. Other documents are ignored."""
    syncs: list[FoundSync] = []
    problems: list[Problem] = []
    for file in _given_files(paths):
        found, trouble = _read(file, _display(file, root), strict=True, foreign=foreign)
        syncs.extend(found)
        problems.extend(trouble)
    return SyncFiles(tuple(syncs), tuple(problems))


def _read(
    file: Path, name: str, *, strict: bool = False, foreign: Foreign | None = None
) -> tuple[list[FoundSync], list[Problem]]:
    def problem(line: int | None, message: str, subject: str = "", field: str = "") -> Problem:
        return Problem(name, line, subject, field, message, check="sync-files")

    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            return [], [problem(None, "larger than 32 MiB: not read")] if strict else []
        data = file.read_bytes()
    except OSError as err:
        return [], [problem(None, f"cannot read: {err.strerror}")] if strict else []
    markers = (_MARKER, *(foreign.markers if foreign else ()))
    if not any(marker in data for marker in markers):
        return [], []
    found: list[FoundSync] = []
    problems: list[Problem] = []
    loader = _Loader(data)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            obj = loader.construct_document(node)
            line = node.start_mark.line + 1
            if not isinstance(obj, dict):
                continue
            if not (obj.get("apiVersion") == API_VERSION and obj.get("kind") == "Sync"):
                if foreign is not None:
                    found.extend(_converted(obj, foreign.convert, f"{name}:{line}"))
                continue
            findings, resource = model_findings(obj)
            if resource is None or resource.kind != "Sync":
                meta = obj.get("metadata")
                subject = f"Sync/{meta.get('name', '')}" if isinstance(meta, dict) else "Sync"
                problems.extend(
                    problem(line, message, subject, ".".join(str(p) for p in path))
                    for path, message in findings
                )
                continue
            key = SyncKey(resource.metadata.namespace, resource.metadata.name)
            found.append(FoundSync(key, resource, origin=f"{name}:{line}"))
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problems.append(
            problem(mark.line + 1 if mark else None, f"invalid YAML: {err.problem or err}")
        )
    except (yaml.YAMLError, ValueError, RecursionError) as err:
        problems.append(problem(None, f"cannot read YAML: {err}"))
    finally:
        loader.dispose()
    return found, problems if strict else []


def _converted(obj: Mapping[str, Any], convert: Convert, origin: str) -> list[FoundSync]:
    found: list[FoundSync] = []
    for document in convert(obj):
        _, resource = model_findings(document)
        if resource is not None and resource.kind == "Sync":
            key = SyncKey(resource.metadata.namespace, resource.metadata.name)
            found.append(FoundSync(key, resource, origin, kind=str(obj.get("kind"))))
    return found


def _repository_files(root: Path) -> Iterator[Path]:
    for current, dirs, files in os.walk(root):
        if "Chart.yaml" in files:
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(_SUFFIXES):
                path = Path(current, name)
                if path.is_file() and not path.is_symlink():
                    yield path


def _given_files(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in _SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            yield path


def _display(file: Path, root: Path) -> str:
    try:
        return file.resolve().relative_to(root).as_posix()
    except ValueError:
        return file.as_posix()
