"""What `kubectl kustomize` printed -> objects, each named by the file it came from, read in the
render worker (`gitmoor.render.worker`, which imports no asyncio).

The agent builds through a throwaway kustomization that asks for `originAnnotations`
(`gitmoor.render.kustomize`): each object's source is read from its origin annotation, which is
stripped again unless the directory's own kustomization asked for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from gitmoor.model import Manifest
from gitmoor.model.limits import Limits
from gitmoor.render.documents import Document, parse_yaml
from gitmoor.render.objects import to_manifests
from gitmoor.render.problems import Problems
from gitmoor.render.sops import without_metadata

ORIGIN = "config.kubernetes.io/origin"


@dataclass(frozen=True)
class Build:
    """One kustomize run: the directory it builds and where origin paths are relative to."""

    target: Path
    origin_base: Path
    strip_origin: bool


def parse_output(
    output: bytes,
    build: Build,
    directory: Path,
    kfile: str,
    limits: Limits,
    *,
    as_written: bool = False,
) -> list[Manifest]:
    """The objects of kustomize's output, each named by the file it came from; with
    `as_written`, SOPS files' metadata dropped from them. Blocking (the render worker runs
    it)."""
    problems = Problems()
    parsed = parse_yaml(output, kfile, lines=False, limits=limits)
    if as_written:
        parsed = (replace(d, obj=without_metadata(d.obj)) for d in parsed)
    documents = _with_sources(parsed, build, directory, kfile)
    manifests = to_manifests(documents, problems, limits)
    problems.raise_if_any()
    return manifests


def _with_sources(
    documents: Iterator[Document], build: Build, directory: Path, kfile: str
) -> Iterator[Document]:
    for document in documents:
        obj = document.obj
        source = kfile
        annotations = _annotations(obj)
        if annotations is not None and isinstance(annotations.get(ORIGIN), str):
            source = _origin_source(annotations[ORIGIN], build.origin_base, directory) or kfile
            if build.strip_origin:
                del annotations[ORIGIN]
                if not annotations:
                    del obj["metadata"]["annotations"]
        yield Document(obj, source, None)


def _annotations(obj: Any) -> dict[str, Any] | None:
    if not isinstance(obj, dict):
        return None
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return None
    annotations = meta.get("annotations")
    return annotations if isinstance(annotations, dict) else None


def _origin_source(text: str, base: Path, directory: Path) -> str | None:
    """The file an origin annotation names, relative to the rendered directory."""
    try:
        origin = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return None
    if not isinstance(origin, dict):
        return None
    path = origin.get("path") or origin.get("configuredIn")
    if not isinstance(path, str):
        return None
    if isinstance(origin.get("repo"), str):
        ref = origin.get("ref")
        return f"{origin['repo']}//{path}" + (f"?ref={ref}" if isinstance(ref, str) else "")
    absolute = os.path.normpath(base / path)
    return Path(os.path.relpath(absolute, directory)).as_posix()
