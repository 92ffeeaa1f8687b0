"""A chart's dependencies must be in its `charts/` directory before it renders: without them
Helm's SDK renders the rest and says nothing, and a Sync would prune the missing part.

Those a chart does not vendor are fetched by the sources (`RenderOptions.dependencies`) and
added to a copy of the chart made for the render (`with_dependencies`): the Git work tree and
the chart cache are never written to."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitmoor.errors import DependenciesNotVendoredError
from gitmoor.render.documents import load_single


def vendored(chart: Path) -> frozenset[str]:
    """Names of the charts `chart/charts/` holds."""
    return frozenset(_vendored(chart / "charts"))


def missing(chart: Path) -> bool:
    """Whether `chart` declares a dependency its `charts/` does not hold."""
    wanted = _dependencies(chart)
    present = _vendored(chart / "charts") if wanted else set()
    return any(str(d.get("name", "")) not in present for d in wanted)


def with_dependencies(chart: Path, fetched: Sequence[tuple[str, Path]]) -> Path:
    """A copy of `chart` in a new temporary directory (the caller removes its parent), its
    `charts/` holding `fetched` beside what it vendors. Links inside the chart were checked
    against its repository (check_tree) and are copied as the files they point to."""
    parent = Path(tempfile.mkdtemp(prefix="gitmoor-chart-"))
    try:
        copy = parent / chart.name
        shutil.copytree(chart, copy, symlinks=False)
        charts = copy / "charts"
        charts.mkdir(exist_ok=True)
        for name, directory in fetched:
            target = charts / name
            if not target.exists():
                shutil.copytree(directory, target, symlinks=False)
    except BaseException:
        shutil.rmtree(parent, ignore_errors=True)
        raise
    return copy


def check_vendored(chart: Path) -> None:
    """Raise RenderError naming every dependency of `chart` (Chart.yaml, or requirements.yaml
    of an apiVersion v1 chart) that `charts/` does not hold, as a directory or an archive."""
    wanted = _dependencies(chart)
    if not wanted:
        return
    present = _vendored(chart / "charts")
    missing = [d for d in wanted if str(d.get("name", "")) not in present]
    if not missing:
        return
    listed = ", ".join(
        f"{d.get('name')} {d.get('version', '')} from {d.get('repository', '?')}".strip()
        for d in missing
    )
    raise DependenciesNotVendoredError(
        f"dependencies not in charts/: {listed}. The agent fetches them from their "
        "repositories; here nothing was rendered (vendor them with `helm dependency build` to "
        "render offline)",
        file="Chart.yaml",
    )


def _dependencies(chart: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for name in ("Chart.yaml", "requirements.yaml"):
        path = chart / name
        if not path.is_file():
            continue
        loaded = load_single(path.read_bytes(), name)
        if isinstance(loaded, dict):
            found += [d for d in loaded.get("dependencies") or [] if isinstance(d, dict)]
    return found


def _vendored(charts: Path) -> set[str]:
    """Names of the charts in `charts/`: subdirectories and .tgz archives, by their Chart.yaml."""
    names: set[str] = set()
    if not charts.is_dir():
        return names
    for entry in charts.iterdir():
        if entry.is_dir() and (entry / "Chart.yaml").is_file():
            loaded = load_single((entry / "Chart.yaml").read_bytes(), "Chart.yaml")
            if isinstance(loaded, dict) and loaded.get("name"):
                names.add(str(loaded["name"]))
        elif entry.suffix == ".tgz" and entry.is_file():
            names |= _archived(entry)
    return names


def _archived(archive: Path) -> set[str]:
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                parts = member.name.split("/")
                if len(parts) == 2 and parts[1] == "Chart.yaml" and member.isfile():
                    handle = tar.extractfile(member)
                    if handle is None:
                        continue
                    loaded = load_single(handle.read(1 << 20), "Chart.yaml")
                    if isinstance(loaded, dict) and loaded.get("name"):
                        return {str(loaded["name"])}
    except (OSError, tarfile.TarError):
        return set()
    return set()
