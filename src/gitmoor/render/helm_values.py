"""A Helm render's values: mappings merged key by key, and the values files read from the
repository (in the render worker, `gitmoor.render.worker`, which imports no asyncio)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gitmoor.errors import RenderError
from gitmoor.model.limits import Limits
from gitmoor.render.documents import load_single
from gitmoor.render.files import read_bounded
from gitmoor.render.paths import resolve_relative
from gitmoor.render.problems import Problems


def merge_values(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` over `base`: mappings merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = merge_values(current, value)
        else:
            merged[key] = value
    return merged


def read_values_files(
    root: Path, directory: Path, files: Sequence[str], limits: Limits
) -> dict[str, Any]:
    """The values files `files` (relative to `directory`) merged in order; raises every
    problem at once. Blocking (the render worker runs it)."""
    problems = Problems()
    values: dict[str, Any] = {}
    for name in files:
        try:
            path = resolve_relative(root, directory, name, what="values file")
            data = read_bounded(path, name, limits)
        except RenderError as err:
            problems.add(err)
            continue
        except OSError as err:
            problems.add(RenderError(f"cannot read values file: {err.strerror}", file=name))
            continue
        try:
            loaded = load_single(data, name, limits=limits)
        except RenderError as err:
            problems.add(err)
            continue
        if loaded is None:
            continue
        if not isinstance(loaded, dict):
            problems.add(RenderError("a values file must hold a mapping", file=name, line=1))
            continue
        values = merge_values(values, loaded)
    problems.raise_if_any()
    return values
