"""A chart's dependencies (Chart.yaml `dependencies`, or requirements.yaml of an apiVersion v1
chart) that its `charts/` does not hold, fetched from their repositories into the chart cache.

What is fetched, and at which version:
- With a Chart.lock (requirements.lock), its exact versions. The lock is first checked against
  Chart.yaml the way Helm checks it (its `digest` is Helm's hash of both dependency lists): a
  lock that no longer matches is refused, as `helm dependency build` refuses it.
- Without one, the highest version each dependency's range admits, as `helm dependency update`
  would pick it.
- `https://` repositories through their index, `oci://` through the registry (ChartFetcher:
  digests checked, archives cached by digest and unpacked once, with the same limits).
- `file://` paths relative to the chart, which must stay inside the artifact (the Git tree, or
  the unpacked chart) and hold a chart whose version the constraint admits.

Nothing is written into the chart: the render builds a copy with the fetched charts added.
Conditions, tags and aliases are left to Helm, which applies them at render time to whatever
`charts/` holds (one copy of a chart serves every alias of it).

Credentials: a dependency is fetched with what `credentials(url)` gives for its repository URL
(the agent: the Secret of a ChartSource with that URL), else anonymously.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitmoor.errors import (
    ChartDependencyError,
    ChartDependencyUnavailableError,
    ChartError,
    GitmoorError,
    TransientError,
)
from gitmoor.model.credentials import ChartCredentials
from gitmoor.model.resources import ChartSourceSpec
from gitmoor.sources.charts import ChartFetcher
from gitmoor.sources.semver_range import InvalidRangeError, SemverRange, parse_tag

CredentialsFor = Callable[[str], Awaitable[ChartCredentials | None]]
MAX_DEPENDENCIES = 100
_MAX_FILE = 1 << 20  # Chart.yaml, Chart.lock


@dataclass(frozen=True)
class Wanted:
    """One dependency to fetch: `version` is exact (from the lock) or a range."""

    name: str
    version: str
    repository: str


@dataclass(frozen=True)
class Resolved:
    """A fetched dependency: its chart directory, and what it is (for logs and errors)."""

    name: str
    version: str
    repository: str
    digest: str  # sha256:... of the archive; "" for a file:// chart
    path: Path

    @property
    def directory(self) -> str:
        """Its name under the render's `charts/`: Helm goes by Chart.yaml, not by this."""
        return f"{self.name}-{self.version}"


@dataclass(frozen=True)
class Declared:
    """What a chart says about its dependencies."""

    dependencies: list[dict[str, Any]]
    lock: list[dict[str, Any]] | None  # Chart.lock's `dependencies`; None without a lock
    lock_digest: str
    lock_file: str  # Chart.lock or requirements.lock
    file: str  # Chart.yaml or requirements.yaml


# -- pure parts --------------------------------------------------------------------------------


def helm_lock_digest(dependencies: Sequence[Mapping[str, Any]], lock: Sequence[Any]) -> str:
    """The `digest` Helm writes into Chart.lock: sha256 of Go's JSON of [dependencies, locked],
    each dependency with Helm's fields in its struct's order, empty ones left out."""
    body = json.dumps(
        [[_go_dependency(d) for d in dependencies], [_go_dependency(d) for d in lock]],
        separators=(",", ":"),
        ensure_ascii=False,
        sort_keys=False,
    )
    # Go's encoder escapes these for HTML safety; the hash is over its bytes.
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        body = body.replace(char, escaped)
    body = body.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


def _go_dependency(dep: Any) -> dict[str, Any]:
    dep = dep if isinstance(dep, Mapping) else {}
    out: dict[str, Any] = {"name": str(dep.get("name") or "")}
    if dep.get("version"):
        out["version"] = str(dep["version"])
    out["repository"] = str(dep.get("repository") or "")
    for key in ("condition", "tags", "enabled", "import-values", "alias"):
        value = dep.get(key)
        if value:
            out[key] = _sorted_maps(value)
    return out


def _sorted_maps(value: Any) -> Any:
    """Go writes a map's keys sorted."""
    if isinstance(value, Mapping):
        return {str(k): _sorted_maps(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted_maps(v) for v in value]
    return value


def wanted(declared: Declared, vendored: frozenset[str]) -> list[Wanted]:
    """The dependencies to fetch, each once; raises ValueError (naming the dependency) for a
    lock that does not match, or a dependency without a name or repository."""
    deps = declared.dependencies
    if len(deps) > MAX_DEPENDENCIES:
        raise ValueError(f"{declared.file} lists more than {MAX_DEPENDENCIES} dependencies")
    lock = declared.lock
    if lock is not None and (problem := _stale(declared, lock)):
        raise ValueError(
            f"{declared.lock_file} is out of date with {declared.file} ({problem}): run "
            "`helm dependency update` and commit it"
        )
    out: list[Wanted] = []
    for index, dep in enumerate(deps):
        name = str(dep.get("name") or "")
        if not name:
            raise ValueError(f"{declared.file}: dependency #{index + 1} has no name")
        if name in vendored:
            continue
        repository = str(dep.get("repository") or "").strip()
        if not repository:
            raise ValueError(
                f"dependency {name!r} names no repository and charts/ does not hold it"
            )
        if repository.startswith(("@", "alias:")):
            raise ValueError(
                f"dependency {name!r}: repository {repository!r} is a name from a local Helm "
                "configuration; write the repository's URL"
            )
        version = str(dep.get("version") or "*").strip()
        if lock is not None:
            version = str((lock[index] or {}).get("version") or version)
        item = Wanted(name, version, repository.rstrip("/"))
        if item not in out:
            out.append(item)
    return out


def _stale(declared: Declared, lock: list[Any]) -> str:
    """Why the lock does not match the dependencies ("" when it does): Helm's digest, else
    (for `import-values`, whose hashed form this does not reproduce) the same dependencies in
    the same order, each locked version admitted by its constraint."""
    deps = declared.dependencies
    if len(lock) != len(deps):
        return f"it locks {len(lock)} dependencies, {declared.file} lists {len(deps)}"
    expected = helm_lock_digest(deps, lock)
    if declared.lock_digest == expected:
        return ""
    if not any(d.get("import-values") for d in deps):
        return f"its digest is not {expected}"
    for dep, locked in zip(deps, lock, strict=True):
        locked = locked if isinstance(locked, Mapping) else {}
        same = all(
            str(dep.get(k) or "").rstrip("/") == str(locked.get(k) or "").rstrip("/")
            for k in ("name", "repository")
        )
        version = parse_tag(str(locked.get("version") or ""))
        try:
            admitted = version is not None and SemverRange.parse(
                str(dep.get("version") or "*")
            ).matches(version)
        except InvalidRangeError:
            admitted = False
        if not same or not admitted:
            return f"dependency {dep.get('name')!r} is locked as {dict(locked)}"
    return ""


def read_declared(chart: Path) -> Declared:
    """Chart.yaml's dependencies and Chart.lock (requirements.* for an apiVersion v1 chart).
    Raises ValueError naming the file that cannot be read."""
    meta = _load(chart / "Chart.yaml") or {}
    v1 = str(meta.get("apiVersion") or "v1") == "v1" and (chart / "requirements.yaml").is_file()
    file, lock_file = (
        ("requirements.yaml", "requirements.lock") if v1 else ("Chart.yaml", "Chart.lock")
    )
    source = _load(chart / file) if v1 else meta
    deps = [d for d in (source or {}).get("dependencies") or [] if isinstance(d, dict)]
    locked = _load(chart / lock_file)
    if locked is None:
        return Declared(deps, None, "", lock_file, file)
    lock = locked.get("dependencies") or []
    if not isinstance(lock, list):
        raise ValueError(f"{lock_file}: dependencies is not a list")
    return Declared(deps, lock, str(locked.get("digest") or ""), lock_file, file)


def _load(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    if path.stat().st_size > _MAX_FILE:
        raise ValueError(f"{path.name} is larger than {_MAX_FILE} bytes")
    try:
        loaded = yaml.safe_load(path.read_bytes())
    except yaml.YAMLError as err:
        raise ValueError(f"{path.name} is not valid YAML: {err}") from None
    if loaded is None:
        return None
    if not isinstance(loaded, dict):
        raise ValueError(f"{path.name} does not hold a mapping")
    return loaded


def local_chart(root: Path, chart: Path, item: Wanted) -> Path:
    """The chart directory a `file://` dependency names; it must stay inside `root` (after
    links are followed) and hold a chart the version admits. Raises ValueError."""
    relative = item.repository.removeprefix("file://")
    real_root = root.resolve()
    target = (chart / relative).resolve()
    if target != real_root and real_root not in target.parents:
        raise ValueError(f"{item.repository} leaves the repository: refused")
    meta = _load(target / "Chart.yaml")
    if meta is None:
        raise ValueError(f"{item.repository} holds no Chart.yaml")
    if str(meta.get("name") or "") != item.name:
        raise ValueError(f"{item.repository} holds chart {meta.get('name')!r}, not {item.name!r}")
    version = str(meta.get("version") or "")
    parsed = parse_tag(version)
    try:
        admitted = parsed is not None and SemverRange.parse(item.version).matches(parsed)
    except InvalidRangeError as err:
        raise ValueError(f"version {item.version!r}: {err}") from None
    if not admitted:
        raise ValueError(f"{item.repository} holds version {version}, not {item.version}")
    return target


# -- fetching ----------------------------------------------------------------------------------


class DependencyFetcher:
    """Fetches a chart's missing dependencies for the render (`RenderOptions.dependencies`)."""

    def __init__(
        self, fetcher: ChartFetcher, credentials: CredentialsFor, *, timeout: float
    ) -> None:
        self.fetcher = fetcher
        self.credentials = credentials
        self.timeout = timeout

    async def __call__(
        self, root: Path, chart: Path, vendored: frozenset[str]
    ) -> list[tuple[str, Path]]:
        return [(r.directory, r.path) for r in await self.resolve(root, chart, vendored)]

    async def resolve(self, root: Path, chart: Path, vendored: frozenset[str]) -> list[Resolved]:
        try:
            declared = await asyncio.to_thread(read_declared, chart)
            items = wanted(declared, vendored)
        except ValueError as err:
            raise ChartDependencyError(str(err), url="", chart=chart.name) from None
        resolved: list[Resolved] = []
        for item in items:
            resolved.append(await self._one(root, chart, item))
        return resolved

    async def _one(self, root: Path, chart: Path, item: Wanted) -> Resolved:
        named = f"dependency {item.name} {item.version} from {item.repository}"
        if item.repository.startswith("file://"):
            try:
                path = await asyncio.to_thread(local_chart, root, chart, item)
            except ValueError as err:
                raise ChartDependencyError(
                    f"{named}: {err}", url=item.repository, chart=item.name
                ) from None
            return Resolved(item.name, item.version, item.repository, "", path)
        try:
            spec = ChartSourceSpec(url=item.repository, chart=item.name, version=item.version)
        except ValueError:
            raise ChartDependencyError(
                f"{named}: not a https:// or oci:// repository URL, or not a chart name",
                url=item.repository,
                chart=item.name,
            ) from None
        try:
            credentials = await self.credentials(item.repository)
            fetched = await self.fetcher.fetch(spec, credentials, timeout=self.timeout)
        except ChartError as err:
            kind = (
                ChartDependencyUnavailableError
                if isinstance(err, TransientError)
                else ChartDependencyError
            )
            raise kind(f"{named}: {err}", url=item.repository, chart=item.name) from None
        except GitmoorError as err:
            raise ChartDependencyError(
                f"{named}: {err}", url=item.repository, chart=item.name
            ) from None
        path = Path(fetched.path)
        nested = await asyncio.to_thread(_unvendored, path)
        if nested:
            raise ChartDependencyError(
                f"{named}: its own dependencies {', '.join(nested)} are not in its charts/ "
                "(a packaged chart carries them)",
                url=item.repository,
                chart=item.name,
            )
        return Resolved(item.name, fetched.version, item.repository, fetched.digest, path)


def _unvendored(chart: Path) -> list[str]:
    declared = read_declared(chart)
    present = (
        {p.name for p in (chart / "charts").iterdir()} if (chart / "charts").is_dir() else set()
    )
    names = [str(d.get("name") or "") for d in declared.dependencies]
    return [n for n in names if not any(p == n or p.startswith(f"{n}-") for p in present)]
