"""One Sync reconcile: render -> prepare -> plan -> apply phase by phase -> health -> prune.

This is the only place that knows the order of the stages. It returns an Outcome; status,
logs (and later the ledger and notifications) are derived from that value.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from gitmoor import apply, health, plan
from gitmoor.errors import DryRunError, GitmoorError
from gitmoor.kube import Kube
from gitmoor.model import (
    Action,
    Artifact,
    ChangeSet,
    InventoryEntry,
    ObjectRef,
    Phase,
    Verdict,
)
from gitmoor.model.durations import parse_duration
from gitmoor.model.resources import Sync
from gitmoor.render import RenderOptions, render

log = structlog.get_logger("gitmoor.reconcile")


class Stage:
    RENDER = "render"
    PLAN = "plan"
    APPLY = "apply"
    WAIT = "wait"
    PRUNE = "prune"


@dataclass
class Outcome:
    """What one reconcile did. `error` is set when it stopped early; `stage` says where."""

    revision: str
    stage: str = Stage.RENDER
    changes: ChangeSet = field(default_factory=ChangeSet)
    inventory: tuple[InventoryEntry, ...] | None = None
    verdict: Verdict | None = None
    error: GitmoorError | None = None
    started: float = field(default_factory=time.time)
    finished: float = 0.0
    applied: bool = False  # every object of the revision was applied (health aside)

    @property
    def wrote(self) -> bool:
        return bool(self.changes.written)


def render_options(sync: Sync) -> RenderOptions:
    helm = sync.spec.helm
    namespace = (
        (helm.namespace if helm else None) or sync.spec.target_namespace or sync.metadata.namespace
    )
    return RenderOptions(
        release_name=(helm.release_name if helm else None) or sync.metadata.name,
        namespace=namespace,
        values=dict(helm.values) if helm else {},
        values_files=tuple(helm.values_files) if helm else (),
    )


def _targets(phase: Phase) -> list[tuple[ObjectRef, str]]:
    return [(p.ref, p.api_version) for p in phase.objects]


async def run(
    kube: Kube,
    sync: Sync,
    artifact: Artifact,
    previous: Sequence[InventoryEntry],
    *,
    on_stage: Callable[[str], None] = lambda _: None,
    outcome: Outcome | None = None,
) -> Outcome:
    """Reconcile `sync` onto `artifact`. Never raises GitmoorError: it lands in Outcome.error.

    When cancelled (a newer revision arrived, or shutdown), `outcome` (pass one in to see it)
    still tells what was written and carries an inventory that includes every object that may
    have been created, so a later prune finds them.
    """
    outcome = outcome or Outcome(revision=artifact.revision)
    partial: tuple[InventoryEntry, ...] = ()

    def stage(name: str) -> None:
        outcome.stage = name
        on_stage(name)

    owner = plan.Owner(sync.metadata.name, sync.metadata.namespace)
    timeout = parse_duration(sync.spec.timeout)
    try:
        stage(Stage.RENDER)
        rendered = await render(Path(artifact.path), sync.spec.path, render_options(sync))

        stage(Stage.PLAN)
        desired, failures = await plan.prepare(
            kube, list(rendered.manifests), owner, target_namespace=sync.spec.target_namespace
        )
        foundation = [d for d in desired if d.phase == plan.FOUNDATION]
        rest = [d for d in desired if d.phase != plan.FOUNDATION]
        if failures and not foundation:
            raise DryRunError(list(failures))
        # CRDs and Namespaces first: the rest cannot even be dry-run before they exist.
        if foundation:
            planned = await plan.plan_objects(
                kube, foundation, owner, force_recreate=sync.spec.force, failures=failures
            )
            base = plan.phases(planned, foundation)[0]
            stage(Stage.APPLY)
            outcome.changes = await apply.apply_phase(kube, base)
            stage(Stage.WAIT)
            verdict = await health.wait_healthy(kube, _targets(base), timeout=timeout)
            if not verdict.healthy:
                outcome.verdict = verdict
                raise HealthGateError(verdict)
            for d in foundation:
                if d.ref.kind == "CustomResourceDefinition":
                    spec = d.obj.get("spec") or {}
                    for v in spec.get("versions") or []:
                        kube.forget(f"{spec.get('group')}/{v.get('name')}")
            stage(Stage.PLAN)
            desired, failures = await plan.prepare(
                kube, list(rendered.manifests), owner, target_namespace=sync.spec.target_namespace
            )
            rest = [d for d in desired if d.phase != plan.FOUNDATION]
        planned_rest = await plan.plan_objects(
            kube, rest, owner, force_recreate=sync.spec.force, failures=failures
        )
        the_plan = plan.make_plan(planned_rest, desired, previous)
        partial = tuple(sorted({*previous, *the_plan.inventory}, key=_id))
        phases = the_plan.phases
        log.info(
            "planned",
            objects=len(desired),
            to_write=sum(1 for p in the_plan.objects if p.action is not Action.UNCHANGED),
            to_prune=len(the_plan.prune),
        )

        for index, phase in enumerate(phases):
            stage(Stage.APPLY)
            outcome.changes = outcome.changes + await apply.apply_phase(kube, phase)
            last = index == len(phases) - 1
            outcome.applied = last
            # Explicit order phases are always gated; the last one only when the Sync waits.
            if (not last) or sync.spec.wait:
                stage(Stage.WAIT)
                verdict = await health.wait_healthy(kube, _targets(phase), timeout=timeout)
                outcome.verdict = verdict
                if not verdict.healthy:
                    raise HealthGateError(verdict)
        outcome.applied = True
        outcome.inventory = the_plan.inventory

        if sync.spec.prune and the_plan.prune:
            stage(Stage.PRUNE)
            outcome.changes = outcome.changes + await apply.prune(
                kube, the_plan.prune, owner_name=owner.name, owner_namespace=owner.namespace
            )
        elif the_plan.prune:
            # Without prune the objects stay, and so do they in the inventory.
            outcome.inventory = tuple(sorted({*the_plan.inventory, *the_plan.prune}, key=_id))

        extra = [
            (
                ObjectRef(
                    c.api_version.rpartition("/")[0],
                    c.kind,
                    c.namespace or sync.metadata.namespace,
                    c.name,
                ),
                c.api_version,
            )
            for c in sync.spec.health_checks
        ]
        if extra:
            stage(Stage.WAIT)
            verdict = await health.wait_healthy(kube, extra, timeout=timeout)
            outcome.verdict = _combine(outcome.verdict, verdict)
            if not verdict.healthy:
                raise HealthGateError(outcome.verdict)
        if outcome.verdict is None and sync.spec.wait:
            outcome.verdict = Verdict(healthy=True, timed_out=False)
    except GitmoorError as err:
        outcome.error = err
        changes = getattr(err, "changes", None)
        if isinstance(changes, ChangeSet):
            outcome.changes = outcome.changes + changes
        if outcome.inventory is None and partial:
            outcome.inventory = partial
    except asyncio.CancelledError:
        if outcome.inventory is None and partial:
            outcome.inventory = partial
        raise
    finally:
        outcome.finished = time.time()
    return outcome


class HealthGateError(GitmoorError):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.summary())
        self.verdict = verdict


def _combine(a: Verdict | None, b: Verdict) -> Verdict:
    if a is None:
        return b
    return Verdict(a.healthy and b.healthy, a.timed_out or b.timed_out, a.objects + b.objects)


def _id(entry: InventoryEntry) -> str:
    return entry.id
