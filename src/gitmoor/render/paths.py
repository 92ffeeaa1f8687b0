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


def check_tree(root: Path, directory: Path) -> None:
    """Refuse a tree a tool will read whole (Helm loads every file of a chart, following
    symlinks) when anything in it really resolves outside `root`, leads nowhere, or loops.

    Each entry is resolved by the operating system (`realpath`), never judged by the text of a
    link: a link to `up1/..` where `up1 -> ..` climbs one level per link however harmless its
    text looks. Symlinked directories are walked too, each real directory once.
    """
    problems = Problems()
    seen: set[str] = set()
    # (real directory, path shown to the author, real directories above it on this walk)
    pending: list[tuple[str, PurePosixPath, frozenset[str]]] = []
    real_top = _real(directory)
    if real_top is None or not _inside(root, real_top):
        raise RenderError(f"{directory} leads outside the source")
    pending.append((real_top, PurePosixPath(), frozenset()))
    while pending:
        real_dir, shown_dir, above = pending.pop()
        if real_dir in seen:
            continue
        seen.add(real_dir)
        try:
            entries = sorted(os.scandir(real_dir), key=lambda e: e.name)
        except OSError as err:
            problems.add(RenderError(f"cannot list: {err.strerror}", file=str(shown_dir)))
            continue
        for entry in entries:
            shown = (shown_dir / entry.name).as_posix()
            if not entry.is_symlink():
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, shown_dir / entry.name, above | {real_dir}))
                continue
            target = _real(entry.path)
            if target is None:
                problems.add(RenderError("is a symlink that leads nowhere or loops", file=shown))
            elif not _inside(root, target):
                problems.add(RenderError("is a symlink leading outside the source", file=shown))
            elif Path(target).is_dir():
                if target == real_dir or target in above:
                    problems.add(RenderError("is a symlink to a directory above it", file=shown))
                else:
                    pending.append((target, shown_dir / entry.name, above | {real_dir}))
    problems.raise_if_any()


def _real(path: str | Path) -> str | None:
    """Where the operating system resolves `path` to, or None when it cannot (missing, loop)."""
    try:
        return os.path.realpath(path, strict=True)
    except (OSError, RuntimeError):
        return None


def _inside(root: Path, real: str) -> bool:
    return real == str(root) or real.startswith(str(root).rstrip(os.sep) + os.sep)


def resolve_path(root: Path, path: str) -> Path:
    """The directory `path` names inside the artifact `root`, checked to stay inside it."""
    real_root = root.resolve()
    directory = resolve_relative(real_root, real_root, path, what="path")
    if not directory.exists():
        raise RenderError(f"path {path!r} does not exist in the source")
    if not directory.is_dir():
        raise RenderError(f"path {path!r} is not a directory")
    return directory.resolve()
