"""Validate directories of a repository as the agent would see them, and report every problem.

PATHs are rendered first; every valid Sync among their objects has its own path rendered with
its own settings (Helm release and values, targetNamespace), and so on for the Syncs found there.
A PATH that is also a Sync's path is validated as that Sync's: a Sync found in the PATHs, or one
of `Options.syncs` (read from the rest of the repository and from `--sync` files), once per Sync
naming it. A PATH no Sync names is rendered with the command line's settings. Then each object
is checked on its own (`objects`), and all of them together: duplicates, namespaces declared
nowhere, gitmoor's resources (Sync paths, dependsOn cycles).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitmoor.errors import DependenciesNotVendoredError, GitmoorError, RenderError, RenderErrors
from gitmoor.model import Manifest, ObjectRef
from gitmoor.validate.builtin import BuiltinCatalog
from gitmoor.validate.crdfiles import load_crd_files
from gitmoor.validate.crds import CustomKinds
from gitmoor.validate.lines import Locator
from gitmoor.validate.objects import Checked, check_object
from gitmoor.validate.problems import Problem, Severity, field_path, sort_key
from gitmoor.validate.resources import (
    FoundSync,
    cycles,
    is_gitmoor,
    model_findings,
    path_problem,
    values_problems,
)
from gitmoor.validate.scopes import SYSTEM_NAMESPACES
from gitmoor.validate.units import Renderer, Rendering, RenderSpec, SyncKey, Unit, normalise

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Options:
    """How to validate.

    `render` and `target_namespace` apply to the PATHs themselves (a Sync's path uses the
    Sync's settings); `known_namespaces` exist in the cluster without being declared in the
    paths; `follow_syncs` renders the paths of the Syncs found (they are taken to be paths of
    this same repository). `syncs` are Syncs declared outside the PATHs: each PATH one of them
    names is validated as that Sync's (its settings replace `render` and `target_namespace`),
    and nothing else of theirs is validated.
    """

    kubernetes_version: str | None = None
    render: RenderSpec = field(default_factory=RenderSpec)
    target_namespace: str | None = None
    known_namespaces: frozenset[str] = frozenset()
    follow_syncs: bool = True
    syncs: tuple[FoundSync, ...] = ()


@dataclass(frozen=True)
class SyncUse:
    """A directory validated as a Sync's: which Sync, declared where, with which namespace.
    `named` is True for a PATH given to validate (rather than a path followed from a Sync)."""

    directory: str
    sync: str
    origin: str | None
    target_namespace: str | None
    named: bool
    kind: str = "Sync"

    def as_dict(self) -> dict[str, str | bool | None]:
        return {
            "directory": self.directory,
            "kind": self.kind,
            "sync": self.sync,
            "declaredAt": self.origin,
            "targetNamespace": self.target_namespace,
            "named": self.named,
        }


@dataclass(frozen=True)
class Report:
    problems: tuple[Problem, ...]
    objects: int
    directories: tuple[str, ...]
    kubernetes_version: str
    syncs: tuple[SyncUse, ...] = ()

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for p in self.problems if p.severity is Severity.WARNING)


async def validate(
    root: Path,
    paths: Sequence[str],
    render: Renderer,
    *,
    options: Options,
    crd_files: Sequence[Path] = (),
) -> Report:
    """Validate `paths` (relative to the repository `root`, which must be resolved);
    `crd_files` (files or directories) hold extra CustomResourceDefinitions.

    Raises `KubernetesVersionError` when no schemas exist for the version asked for; every
    problem of the paths themselves is in the report.
    """
    started = time.monotonic()
    builtin = await asyncio.to_thread(BuiltinCatalog.load, options.kubernetes_version)
    crds, crd_problems = await asyncio.to_thread(load_crd_files, crd_files, root)
    units = await _render_all(root, [normalise(p) for p in paths], render, options)
    custom = CustomKinds()
    custom.add_all((m, u.file_of(m.source)) for u in units for m in u.manifests)
    custom.add_all((m, m.source) for m in crds)
    session = _Session(root, builtin, custom, options)
    session.problems.extend(crd_problems)
    for unit in units:
        session.check_unit(unit)
    session.check_together()
    problems = tuple(sorted(set(session.problems), key=sort_key))
    objects = sum(len(u.manifests) for u in units)
    log.debug("validated %d objects in %.2fs", objects, time.monotonic() - started)
    uses = tuple(
        SyncUse(u.directory, str(u.sync), u.sync_origin, u.target_namespace, u.named, u.sync_kind)
        for u in units
        if u.sync is not None
    )
    return Report(problems, objects, tuple(u.describe() for u in units), builtin.version, uses)


# --- rendering ----------------------------------------------------------------------------------


async def _render_all(
    root: Path, paths: list[str], render: Renderer, options: Options
) -> list[Unit]:
    """The PATHs' units, then the units of the Syncs found, wave by wave."""
    spec = options.render

    async def path_unit(path: str) -> Unit:
        return Unit(path, await render(path, spec), options.target_namespace)

    async def sync_unit(found: FoundSync, *, named: bool = False) -> Unit:
        if found.chart() is not None:
            # A vendor's chart (chartRef): the path holds its values, the chart is fetched by
            # the agent. Only the values files can be checked offline.
            errors = await asyncio.to_thread(values_problems, found, root)
            rendering = Rendering((), errors)
        elif found.from_artifact():
            # An OCISource's artifact is pulled by the agent: nothing to render offline.
            rendering = Rendering((), ())
        else:
            rendering = await render(found.path, found.render_spec())
        spec = found.sync.spec
        created = (spec.target_namespace or (spec.helm.namespace if spec.helm else None)) or None
        return Unit(
            found.path,
            rendering,
            spec.target_namespace,
            found.key,
            found.origin,
            found.kind,
            named,
            created_namespace=created if spec.create_namespace else None,
        )

    # Each Sync naming a PATH once; the same name with other settings is another Sync (of
    # another cluster's directory, say).
    naming: dict[str, dict[tuple[SyncKey, str], FoundSync]] = defaultdict(dict)
    for found in options.syncs:
        naming[found.path].setdefault((found.key, found.sync.spec.model_dump_json()), found)
    first: list[Coroutine[Any, Any, Unit]] = []
    for path in dict.fromkeys(paths):
        if path in naming:
            first.extend(sync_unit(f, named=True) for f in naming[path].values())
        else:
            first.append(path_unit(path))
    units = list(await asyncio.gather(*first))
    followed: set[SyncKey] = {u.sync for u in units if u.sync is not None}
    if not options.follow_syncs:
        return units
    pending = units
    while pending:
        wave = [
            found
            for found in _syncs(pending)
            if found.key not in followed and path_problem(found, root) is None
        ]
        wave = list({f.key: f for f in wave}.values())
        followed.update(f.key for f in wave)
        pending = list(await asyncio.gather(*(sync_unit(f) for f in wave)))
        units.extend(pending)
    covered = {u.directory for u in units if u.sync is not None}
    return [u for u in units if u.sync is not None or u.directory not in covered]


def _syncs(units: Iterable[Unit]) -> list[FoundSync]:
    found: list[FoundSync] = []
    for unit in units:
        for manifest in unit.manifests:
            sync = _found_sync(unit, manifest)
            if sync is not None:
                found.append(sync)
    return found


def _found_sync(unit: Unit, manifest: Manifest) -> FoundSync | None:
    if manifest.obj.get("kind") != "Sync" or not is_gitmoor(manifest.obj):
        return None
    _, resource = model_findings(manifest.obj)
    if resource is None or resource.kind != "Sync":
        return None
    namespace = unit.target_namespace or resource.metadata.namespace
    origin = unit.file_of(manifest.source) + (f":{manifest.line}" if manifest.line else "")
    return FoundSync(SyncKey(namespace, resource.metadata.name), resource, origin)


# --- checks -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Placed:
    unit: Unit
    checked: Checked

    @property
    def origin(self) -> tuple[str, int | None]:
        return self.unit.file_of(self.checked.manifest.source), self.checked.manifest.line


class _Session:
    """The problems of one validation run, and what the checks across objects need."""

    def __init__(
        self, root: Path, builtin: BuiltinCatalog, custom: CustomKinds, options: Options
    ) -> None:
        self.root = root
        self.builtin = builtin
        self.custom = custom
        self.options = options
        self.locator = Locator(root)
        self.problems: list[Problem] = []
        self.placed: list[_Placed] = []
        self.syncs: dict[SyncKey, tuple[_Placed, FoundSync]] = {}
        self.sources: set[tuple[str, str]] = set()
        self.charts: set[tuple[str, str]] = set()
        self.oci_sources: set[tuple[str, str]] = set()

    def check_unit(self, unit: Unit) -> None:
        for error in unit.rendering.errors:
            self._render_problems(unit, error)
        for manifest in unit.manifests:
            checked = check_object(
                manifest,
                builtin=self.builtin,
                custom=self.custom,
                target_namespace=unit.target_namespace,
            )
            placed = _Placed(unit, checked)
            self.placed.append(placed)
            for (path, message), check in checked.findings:
                self.report(placed, path, message, check=check)
            self._remember_gitmoor(placed)

    def check_together(self) -> None:
        self._duplicates()
        self._namespaces()
        self._gitmoor()

    def report(
        self,
        placed: _Placed,
        path: tuple[str | int, ...],
        message: str,
        *,
        check: str,
        severity: Severity = Severity.ERROR,
    ) -> None:
        manifest = placed.checked.manifest
        file = placed.unit.file_of(manifest.source)
        line = (
            self.locator.line(self.root.joinpath(file), manifest.obj, manifest.line, path)
            if "//" not in file
            else manifest.line
        )
        self.problems.append(
            Problem(
                file,
                line,
                placed.checked.ref.subject,
                field_path(path),
                message,
                severity,
                check,
            )
        )

    # --- across objects ---

    def _duplicates(self) -> None:
        by_ref: dict[ObjectRef, list[_Placed]] = defaultdict(list)
        for placed in self.placed:
            by_ref[placed.checked.ref].append(placed)
        for entries in by_ref.values():
            first = entries[0]
            for other in entries[1:]:
                same_place = other.origin == first.origin
                same_owner = other.unit.sync == first.unit.sync
                if same_place and (same_owner or None in (other.unit.sync, first.unit.sync)):
                    continue  # one manifest reached through two overlapping paths
                if same_place and first.unit.named and other.unit.named:
                    # A PATH validated once per Sync naming it: Syncs of several clusters
                    # deploy one directory, each to its own.
                    continue
                where = ":".join(str(p) for p in first.origin if p)
                owners = f" (by Sync {first.unit.sync})" if first.unit.sync else ""
                self.report(other, (), f"defined twice: also at {where}{owners}", check="duplicate")

    def _namespaces(self) -> None:
        declared = {
            p.checked.ref.name
            for p in self.placed
            if (p.checked.ref.group, p.checked.ref.kind) == ("", "Namespace")
        }
        created = {p.unit.created_namespace for p in self.placed if p.unit.created_namespace}
        known = declared | created | SYSTEM_NAMESPACES | self.options.known_namespaces
        for placed in self.placed:
            namespace = placed.checked.ref.namespace
            if not namespace or namespace in known or placed.checked.namespaced is not True:
                continue
            source = ""
            if placed.checked.namespace_from_target:
                unit = placed.unit
                source = " (--target-namespace)"
                if unit.sync:
                    at = f", {unit.sync_origin}" if unit.sync_origin else ""
                    source = f" (targetNamespace of {unit.sync_kind} {unit.sync}{at})"
            self.report(
                placed,
                ("metadata", "namespace"),
                f"namespace {namespace!r}{source} is declared nowhere in the validated paths: "
                "right if another Sync or the cluster's owner creates it (the agent waits for "
                f"it); say so with --known-namespace {namespace}, or add the Namespace",
                check="namespace",
                # A warning: many real repositories leave namespaces to a platform Sync or to
                # whoever set up the cluster, and deploy cleanly.
                severity=Severity.WARNING,
            )

    def _remember_gitmoor(self, placed: _Placed) -> None:
        obj = placed.checked.manifest.obj
        if not is_gitmoor(obj):
            return
        ref = placed.checked.ref
        if ref.kind == "GitSource":
            self.sources.add((ref.namespace or "default", ref.name))
            return
        if ref.kind == "ChartSource":
            self.charts.add((ref.namespace or "default", ref.name))
            return
        if ref.kind == "OCISource":
            self.oci_sources.add((ref.namespace or "default", ref.name))
            return
        _, resource = model_findings(obj)
        if resource is None or resource.kind != "Sync":
            return
        key = SyncKey(ref.namespace or resource.metadata.namespace, ref.name)
        self.syncs.setdefault(key, (placed, FoundSync(key, resource)))

    def _gitmoor(self) -> None:
        found = {key: sync for key, (_, sync) in self.syncs.items()}
        loops = cycles(found)
        for key, (placed, sync) in self.syncs.items():
            if self.options.follow_syncs and not sync.from_artifact():
                problem = path_problem(sync, self.root)
                if problem is not None:
                    self.report(placed, ("spec", "path"), problem, check="gitmoor")
            if key in loops:
                index, cycle = loops[key]
                self.report(
                    placed,
                    ("spec", "dependsOn", index),
                    f"dependsOn cycle: {cycle}: none of these Syncs can ever become Ready",
                    check="gitmoor",
                )
            for index, needed in enumerate(sync.depends_on()):
                if needed not in found:
                    self.report(
                        placed,
                        ("spec", "dependsOn", index),
                        f"Sync {needed} is declared nowhere in the validated paths",
                        check="gitmoor",
                        severity=Severity.WARNING,
                    )
            source = sync.source()
            ref = sync.sync.spec.source_ref
            kind = ref.kind if ref is not None else "GitSource"
            known = self.oci_sources if kind == "OCISource" else self.sources
            if source is not None and source not in known:
                self.report(
                    placed,
                    ("spec", "sourceRef"),
                    f"{kind} {source[0]}/{source[1]} is declared nowhere in the validated paths",
                    check="gitmoor",
                    severity=Severity.WARNING,
                )
            chart = sync.chart()
            if chart is not None and chart not in self.charts:
                self.report(
                    placed,
                    ("spec", "chartRef"),
                    f"ChartSource {chart[0]}/{chart[1]} is declared nowhere in the validated paths",
                    check="gitmoor",
                    severity=Severity.WARNING,
                )

    # --- render errors ---

    def _render_problems(self, unit: Unit, error: GitmoorError) -> None:
        errors = error.errors if isinstance(error, RenderErrors) else [error]
        for one in errors:
            if isinstance(one, DependenciesNotVendoredError):
                # Not wrong: the agent fetches them. Only this offline check cannot render it.
                self.problems.append(
                    Problem(
                        unit.file_of(one.file) if one.file else unit.directory,
                        None,
                        "",
                        "",
                        one.cause,
                        severity=Severity.WARNING,
                        check="render",
                    )
                )
            elif isinstance(one, RenderError):
                self.problems.append(
                    Problem(
                        unit.file_of(one.file) if one.file else unit.directory,
                        one.line,
                        one.ref.subject if one.ref else "",
                        "",
                        one.cause,
                        check="render",
                    )
                )
            else:
                self.problems.append(
                    Problem(unit.directory, None, "", "", str(one), check="render")
                )
