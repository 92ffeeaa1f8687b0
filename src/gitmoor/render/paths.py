"""Where a render may read: inside the artifact, never through `..` or a symlink leading out."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Literal

from gitmoor.errors import RenderError
from gitmoor.render.problems import Problems

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
Kind = Literal["kustomize", "helm", "plain"]


def detect(directory: Path) -> Kind:
    """Which renderer a directory calls for: a kustomization wins over a chart."""
    if kustomization_file(directory) is not None:
        return "kustomize"
    if (directory / "Chart.yaml").is_file():
        return "helm"
    return "plain"


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def is_inside(root: Path, candidate: Path) -> bool:
    """Whether `candidate`, symlinks resolved, lies in `root` (itself resolved)."""
    try:
        candidate.resolve().relative_to(root)
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def resolve_relative(root: Path, base: Path, relative: str, *, what: str) -> Path:
    """`base / relative`, refused when `relative` is absolute, climbs with `..` out of `root`, or
    leads out of `root` through a symlink. `root` must be resolved already."""
    parts = PurePosixPath(relative.replace("\\", "/"))
    if parts.is_absolute() or ".." in parts.parts:
        raise RenderError(f"{what} {relative!r} must be relative and stay inside the source")
    target = base.joinpath(*parts.parts)
    if not is_inside(root, target):
        raise RenderError(f"{what} {relative!r} leads outside the source (through a symlink)")
    return target


def check_symlinks(root: Path, directory: Path) -> None:
    """Refuse a tree holding a symlink that leads out of `root`: a tool reading the tree (Helm
    follows symlinks) must not pull files of the agent's own disk into manifests."""
    problems = Problems()
    for current, dirs, files in os.walk(directory):
        for name in (*dirs, *files):
            path = Path(current, name)
            if path.is_symlink() and not is_inside(root, path):
                where = path.relative_to(directory).as_posix()
                problems.add(RenderError("is a symlink leading outside the source", file=where))
    problems.raise_if_any()


def resolve_path(root: Path, path: str) -> Path:
    """The directory `path` names inside the artifact `root`, checked to stay inside it."""
    real_root = root.resolve()
    directory = resolve_relative(real_root, real_root, path, what="path")
    if not directory.exists():
        raise RenderError(f"path {path!r} does not exist in the source")
    if not directory.is_dir():
        raise RenderError(f"path {path!r} is not a directory")
    return directory.resolve()
