"""One Sync reconcile: render -> prepare -> plan -> apply phase by phase -> health -> prune.

This is the only place that knows the order of the stages. It returns an Outcome; status,
logs (and later the ledger and notifications) are derived from that value.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import structlog

from gitmoor import apply, health, plan
from gitmoor.apply import HookObject
from gitmoor.errors import (
    ApplyError,
    DryRunError,
    EmptyRevisionError,
    GitmoorError,
    HealthGateError,
    HookFailedError,
    PruneBlockedError,
    RenderError,
)
from gitmoor.health import Overrides
from gitmoor.kube import Kube
from gitmoor.model import (
    Action,
    Applied,
    Artifact,
    ChangeSet,
    InventoryEntry,
    Manifest,
    ObjectChange,
    ObjectRef,
    Phase,
    Plan,
    PlannedObject,
    Verdict,
)
from gitmoor.model.content import content_digest
from gitmoor.model.durations import parse_duration
from gitmoor.model.hooks import DELETION, TRACKED, HookPoint, HookRuns
from gitmoor.model.limits import DEFAULT_LIMITS, Limits
from gitmoor.model.resources import Sync
from gitmoor.reconcile.outcome import Outcome, Stage
from gitmoor.reconcile.snapshots import Snapshot
from gitmoor.render import Keys, RenderOptions, render
from gitmoor.render.options import DependencyFetcher

log = structlog.get_logger("gitmoor.reconcile")

# Told each time a health gate learns more (which objects it still waits on, and why).
WaitWatcher = Callable[[Verdict], None] | None


def render_options(
    sync: Sync, decryption: Keys | None = None, limits: Limits = DEFAULT_LIMITS
) -> RenderOptions:
    helm = sync.spec.helm
    namespace = (
        (helm.namespace if helm else None) or sync.spec.target_namespace or sync.metadata.namespace
    )
    return RenderOptions(
        release_name=(helm.release_name if helm else None) or sync.metadata.name,
        namespace=namespace,
        values=dict(helm.values) if helm else {},
        values_files=tuple(helm.values_files) if helm else (),
        decryption=decryption,
        limits=limits,
    )


def _targets(phase: Phase) -> list[tuple[ObjectRef, str]]:
    return [(p.ref, p.api_version) for p in phase.objects]


async def run(
    kube: Kube,
    sync: Sync,
    artifact: Artifact,
    previous: Sequence[InventoryEntry] | Callable[[], Awaitable[Sequence[InventoryEntry]]],
    *,
    on_stage: Callable[[Stage], None] = lambda _: None,
    outcome: Outcome | None = None,
    detect_only: bool = False,
    known: Mapping[ObjectRef, Applied] | None = None,
    allow_prune: bool = False,
    decryption: Keys | None = None,
    limits: Limits = DEFAULT_LIMITS,
    health_rules: Overrides | None = None,
    hooks_done: HookRuns | None = None,
    on_wait: WaitWatcher = None,
    dependencies: DependencyFetcher | None = None,
) -> Outcome:
    """Reconcile `sync` onto `artifact`. Never raises GitmoorError: it lands in Outcome.error.

    Hooks run at the points `hooks_done` (the Sync's `status.hooks`) does not list as done for
    the content to deploy: all of them for a new commit of the Sync's path; for a retry or a
    recovery of the same content, only those that did not complete. A reconcile of what is
    deployed already (drift, interval) runs none.

    With `detect_only`, nothing is written: differences from Git are listed in
    `Outcome.drifted` (a `drift: report` Sync on the revision it already applied).

    `known` is what the last apply left, when the caller vouches that it is still live as sent
    (the drift watch saw no change): objects whose manifests did not change are not dry-run
    again. A changed CRD or Namespace makes every object be checked.

    When cancelled (a newer revision arrived, or shutdown), `outcome` (pass one in to see it)
    still tells what was written and carries an inventory that includes every object that may
    have been created, so a later prune finds them.

    `previous` may be how to read the inventory (kept in chunks beside the status): read
    first, so an unreadable one fails the attempt before anything is written.
    """
    outcome = outcome or Outcome(revision=artifact.revision)

    async def body(stage: Callable[[Stage], None]) -> None:
        prior = previous if isinstance(previous, Sequence) else await previous()
        stage(Stage.RENDER)
        _refuse_unsafe_entries(artifact)
        # A chart's .Capabilities: this cluster's version and APIs, as Helm would see them.
        options = dataclasses.replace(
            render_options(sync, decryption, limits),
            capabilities=await kube.capabilities(),
            # A chart from its repository (chartRef): the path holds its values files.
            chart=Path(artifact.chart.path) if artifact.chart is not None else None,
            # What a chart's charts/ lacks comes from its repositories, never written to Git.
            dependencies=dependencies,
        )
        rendered = await render(Path(artifact.path), sync.spec.path, options)
        if not rendered.manifests and not sync.spec.allow_empty:
            raise EmptyRevisionError(
                f"path {sync.spec.path!r} renders no objects at {artifact.revision}; nothing "
                "was applied or pruned (set spec.allowEmpty: true if that is intended)"
            )
        await _converge(
            kube,
            sync,
            list(rendered.manifests),
            prior,
            outcome,
            stage,
            detect_only=detect_only,
            known=known,
            prune_limit=None if allow_prune else sync.spec.prune_limit,
            health_rules=health_rules,
            hooks_done=hooks_done or HookRuns(),
            on_wait=on_wait,
        )

    return await _attempt(outcome, on_stage, body)


async def restore(
    kube: Kube,
    sync: Sync,
    snapshot: Snapshot,
    failed_inventory: Sequence[InventoryEntry],
    *,
    on_stage: Callable[[Stage], None] = lambda _: None,
    outcome: Outcome | None = None,
    health_rules: Overrides | None = None,
) -> Outcome:
    """Bring back the last healthy revision from its local snapshot (no Git, no render): its
    objects are applied again and whatever only the failed revision created is pruned. Its
    hooks do not run again: they ran when it was deployed."""
    outcome = outcome or Outcome(revision=snapshot.revision)
    manifests = [
        Manifest(obj, source=f"snapshot of {snapshot.revision}") for obj in snapshot.objects
    ]

    async def body(stage: Callable[[Stage], None]) -> None:
        await _converge(
            kube,
            sync,
            manifests,
            failed_inventory,
            outcome,
            stage,
            prune=True,
            health_rules=health_rules,
            hooks_done=None,
        )

    return await _attempt(outcome, on_stage, body)


async def deletion_hooks(
    kube: Kube,
    sync: Sync,
    artifact: Artifact,
    *,
    decryption: Keys | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> list[plan.Desired]:
    """The delete hooks (pre-delete, post-delete) of `artifact`, rendered and prepared as a
    deployment of it would be (namespace, ownership labels, generated names). Raises
    GitmoorError when the revision cannot be rendered."""
    options = dataclasses.replace(
        render_options(sync, decryption, limits),
        capabilities=await kube.capabilities(),
        chart=Path(artifact.chart.path) if artifact.chart is not None else None,
    )
    _refuse_unsafe_entries(artifact)
    rendered = await render(Path(artifact.path), sync.spec.path, options)
    owner = plan.Owner(sync.metadata.name, sync.metadata.namespace)
    desired, _ = await plan.prepare(
        kube, list(rendered.manifests), owner, target_namespace=sync.spec.target_namespace
    )
    return [
        d
        for d in desired
        if d.hook is not None and any(d.hook.runs_at(p, installing=False) for p in DELETION)
    ]


async def run_deletion_hooks(
    kube: Kube,
    sync: Sync,
    hooks: Sequence[plan.Desired],
    point: HookPoint,
    *,
    health_rules: Overrides | None = None,
) -> Outcome:
    """Run the hooks of `point` (pre-delete or post-delete) of a Sync being deleted, by weight,
    each awaited up to the Sync's timeout. Never raises GitmoorError: it is in Outcome.error
    (HookFailedError for a hook that did not complete). Delete policies as for every hook: one
    that none removes stays after the Sync is gone, as Helm leaves it after an uninstall."""
    due = [d for d in hooks if d.hook is not None and d.hook.runs_at(point, installing=False)]
    outcome = Outcome(revision="")
    timeout = parse_duration(sync.spec.timeout)

    async def body(stage: Callable[[Stage], None]) -> None:
        await _Hooks(kube, due, False, outcome, stage, timeout, health_rules).run(point)

    return await _attempt(outcome, lambda _: None, body)


async def _attempt(
    outcome: Outcome,
    on_stage: Callable[[Stage], None],
    body: Callable[[Callable[[Stage], None]], Awaitable[None]],
) -> Outcome:
    started = {"at": time.monotonic()}

    def finish_stage() -> None:
        took = round((time.monotonic() - started["at"]) * 1000)
        log.info("stage", stage=outcome.stage, duration_ms=took)

    def stage(name: Stage) -> None:
        # One line per stage, with its duration; the sync and revision come from the context.
        if outcome.stage:
            finish_stage()
        started["at"] = time.monotonic()
        outcome.stage = name
        on_stage(name)

    outcome.stage = Stage.NONE
    try:
        await body(stage)
    except GitmoorError as err:
        outcome.error = err
        changes = getattr(err, "changes", None)
        if isinstance(changes, ChangeSet):
            outcome.changes = outcome.changes + changes
        if outcome.inventory is None and outcome.partial:
            outcome.inventory = outcome.partial
    except asyncio.CancelledError:
        if outcome.inventory is None and outcome.partial:
            outcome.inventory = outcome.partial
        raise
    finally:
        if outcome.stage:
            finish_stage()
        outcome.finished = time.time()
    return outcome


async def _converge(
    kube: Kube,
    sync: Sync,
    manifests: list[Manifest],
    previous: Sequence[InventoryEntry],
    outcome: Outcome,
    stage: Callable[[Stage], None],
    *,
    prune: bool | None = None,
    detect_only: bool = False,
    known: Mapping[ObjectRef, Applied] | None = None,
    prune_limit: int | str | None = None,
    health_rules: Overrides | None = None,
    hooks_done: HookRuns | None = None,
    on_wait: WaitWatcher = None,
) -> None:
    """Validate every object (hooks included), then run the pre hooks, apply phase by phase
    with the main hooks of each wave, health-gate, prune, and run the post hooks; when writing
    fails, the on-failure hooks. Raises. `hooks_done` None: run no hooks (a restore)."""
    owner = plan.Owner(sync.metadata.name, sync.metadata.namespace)
    timeout = parse_duration(sync.spec.timeout)
    target = sync.spec.target_namespace

    stage(Stage.PLAN)
    desired, failures = await plan.prepare(kube, manifests, owner, target_namespace=target)
    desired, hooks = _split_hooks(desired)
    if prune_limit is not None and sync.spec.prune and not detect_only:
        kept = {d.ref for d in desired} | {f.ref for f in failures}
        _check_prune_limit(prune_limit, kept, previous, sync)
    foundation = [d for d in desired if d.phase == plan.FOUNDATION]
    rest = [d for d in desired if d.phase != plan.FOUNDATION]
    if failures and not foundation:
        _set_content(outcome, desired, hooks)
        due, outcome.hooks = _due_hooks(hooks, outcome.content, hooks_done, installing=not previous)
        raise DryRunError([*failures, *(await plan.check_hooks(kube, due) if due else [])])
    if known and foundation and plan.carried_over(foundation, known)[1]:
        known = None  # a new or changed CRD or Namespace may change how the rest validates
    created: list[ObjectChange] = []
    if sync.spec.create_namespace and not detect_only:
        created = await _create_namespace(kube, sync, desired, owner)
        outcome.changes = outcome.changes + ChangeSet(tuple(created))
    # CRDs and Namespaces first: the rest cannot even be dry-run before they exist.
    if detect_only:
        planned_all = await plan.plan_objects(
            kube, desired, owner, force_recreate=False, failures=failures
        )
        # Nothing is written: what another Sync owns stays that Sync's to watch.
        _track(outcome, [p for p in planned_all if p.action is not Action.TAKEN_OVER])
        outcome.drifted = {
            p.ref: p.changed for p in planned_all if p.action is not Action.UNCHANGED
        }
        _set_content(outcome, desired, hooks)
        outcome.inventory = tuple(previous)
        outcome.applied = True
        return
    if foundation:
        planned = await plan.plan_objects(
            kube, foundation, owner, force_recreate=sync.spec.force, failures=failures, known=known
        )
        base = plan.phases(planned, foundation)[0]
        _track(outcome, planned)
        stage(Stage.APPLY)
        outcome.changes = outcome.changes + await apply.apply_phase(kube, base)
        created = [c for c in outcome.changes.changes if c.action is Action.CREATED]
        outcome.partial = tuple(
            sorted(
                {*previous, *(InventoryEntry.of(d.ref, d.api_version) for d in foundation)}, key=_id
            )
        )
        stage(Stage.WAIT)
        verdict = await health.wait_healthy(
            kube, _targets(base), timeout=timeout, rules=health_rules, on_progress=on_wait
        )
        if not verdict.healthy:
            outcome.verdict = verdict
            raise HealthGateError(verdict)
        for d in foundation:
            if d.ref.kind == "CustomResourceDefinition":
                kube.forget_crd(d.obj)
        stage(Stage.PLAN)
        desired, failures = await plan.prepare(kube, manifests, owner, target_namespace=target)
        desired, hooks = _split_hooks(desired)
        rest = [d for d in desired if d.phase != plan.FOUNDATION]
    installing = not previous
    _set_content(outcome, desired, hooks)
    due, outcome.hooks = _due_hooks(hooks, outcome.content, hooks_done, installing=installing)
    try:
        if due:
            failures = [*failures, *await plan.check_hooks(kube, due)]
        planned_rest = await plan.plan_objects(
            kube, rest, owner, force_recreate=sync.spec.force, failures=failures, known=known
        )
    except DryRunError:
        # Nothing of this revision may stay behind when it is refused: the CRDs and Namespaces
        # created only so that the rest could be validated go again.
        if created:
            outcome.changes = outcome.changes + await _remove(kube, created, owner)
            outcome.partial = tuple(previous)
        raise
    the_plan = plan.make_plan(planned_rest, desired, previous)
    _track(outcome, planned_rest)
    outcome.partial = tuple(sorted({*previous, *the_plan.inventory}, key=_id))
    log.info(
        "planned",
        objects=len(desired),
        to_write=sum(1 for p in the_plan.objects if p.action is not Action.UNCHANGED),
        to_prune=len(the_plan.prune),
        hooks=len(due),
    )
    hooked = _Hooks(kube, due, installing, outcome, stage, timeout, health_rules, on_wait)
    try:
        await hooked.run(HookPoint.PRE)
        await _apply_phases(
            kube, sync, the_plan.phases, hooked, outcome, stage, timeout, health_rules, on_wait
        )
        hooked.completed(HookPoint.MAIN)
        outcome.applied = True
        outcome.applied_at = outcome.applied_at or time.time()
        outcome.inventory = the_plan.inventory
        await _prune(kube, sync, the_plan, owner, outcome, stage, prune)
        await _extra_checks(kube, sync, outcome, stage, timeout, health_rules, on_wait)
        await hooked.run(HookPoint.POST)
    except GitmoorError as err:
        await hooked.failed(err)
        raise
    if outcome.verdict is None and sync.spec.wait:
        outcome.verdict = Verdict(healthy=True, timed_out=False)


async def _apply_phases(
    kube: Kube,
    sync: Sync,
    phases: Sequence[Phase],
    hooked: _Hooks,
    outcome: Outcome,
    stage: Callable[[Stage], None],
    timeout: float,
    health_rules: Overrides | None,
    on_wait: WaitWatcher,
) -> None:
    """Each phase (wave) in turn: its objects, then its main hooks, then the gate."""
    waves = {p.order: p for p in phases if p.order is not None}
    steps = [p for p in phases if p.order is None] + [
        waves.get(w) or Phase(f"order-{w}", (), w) for w in sorted({*waves, *hooked.waves()})
    ]
    # Post hooks start from a healthy revision, whether or not the Sync waits otherwise.
    gate_last = sync.spec.wait or hooked.has(HookPoint.POST)
    for index, phase in enumerate(steps):
        stage(Stage.APPLY)
        outcome.changes = outcome.changes + await apply.apply_phase(kube, phase)
        if phase.order is not None:
            await hooked.run(HookPoint.MAIN, wave=phase.order)
        last = index == len(steps) - 1
        outcome.applied = last
        if last:
            outcome.applied_at = time.time()
        # Explicit order phases are always gated; the last one only when the Sync waits.
        if phase.objects and ((not last) or gate_last):
            stage(Stage.WAIT)
            verdict = await health.wait_healthy(
                kube, _targets(phase), timeout=timeout, rules=health_rules, on_progress=on_wait
            )
            outcome.verdict = verdict
            if not verdict.healthy:
                raise HealthGateError(verdict)


async def _prune(
    kube: Kube,
    sync: Sync,
    the_plan: Plan,
    owner: plan.Owner,
    outcome: Outcome,
    stage: Callable[[Stage], None],
    prune: bool | None,
) -> None:
    """Delete what the revision no longer holds, when the Sync prunes; say what stays."""
    if (sync.spec.prune if prune is None else prune) and the_plan.prune:
        stage(Stage.PRUNE)
        pruned = await apply.prune(
            kube, the_plan.prune, owner_name=owner.name, owner_namespace=owner.namespace
        )
        outcome.changes = outcome.changes + pruned
        # Kept because others still use them, or refused (a tenant may not delete what it
        # could not have created): still there, so still ours to try again next time.
        kept = {c.ref for c in pruned.changes if c.action in (Action.KEPT, Action.FAILED)}
        kept -= {c.ref for c in pruned.changes if c.owner}  # another Sync's now
        if kept:
            held = [e for e in the_plan.prune if e.ref in kept]
            outcome.inventory = tuple(sorted({*the_plan.inventory, *held}, key=_id))
    elif the_plan.prune:
        # Without prune the objects stay, and so do they in the inventory.
        outcome.inventory = tuple(sorted({*the_plan.inventory, *the_plan.prune}, key=_id))


async def _extra_checks(
    kube: Kube,
    sync: Sync,
    outcome: Outcome,
    stage: Callable[[Stage], None],
    timeout: float,
    health_rules: Overrides | None,
    on_wait: WaitWatcher = None,
) -> None:
    """The Sync's spec.healthChecks: objects it does not apply but whose health it waits on."""
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
        verdict = await health.wait_healthy(
            kube, extra, timeout=timeout, rules=health_rules, on_progress=on_wait
        )
        outcome.verdict = _combine(outcome.verdict, verdict)
        if not verdict.healthy:
            raise HealthGateError(outcome.verdict)


class _Hooks:
    """The hooks due in one attempt, run at their points: clear earlier runs, create, await
    completion, delete as their policy says. A hook that does not complete fails the revision
    (HookFailedError); on-failure hooks run once when the attempt fails after writing began."""

    def __init__(
        self,
        kube: Kube,
        due: Sequence[plan.Desired],
        installing: bool,
        outcome: Outcome,
        stage: Callable[[Stage], None],
        timeout: float,
        rules: Overrides | None,
        on_wait: WaitWatcher = None,
    ) -> None:
        self.kube = kube
        self.on_wait = on_wait
        self.due = due
        self.installing = installing
        self.outcome = outcome
        self.stage = stage
        self.timeout = timeout
        self.rules = rules
        self.began = False  # writing began: on-failure hooks have something to answer

    def at(self, point: HookPoint) -> list[plan.Desired]:
        runs = self.outcome.hooks
        if runs is not None and point in runs.done:
            return []  # completed for this content in an earlier attempt
        return [
            d
            for d in self.due
            if d.hook is not None and d.hook.runs_at(point, installing=self.installing)
        ]

    def completed(self, point: HookPoint) -> None:
        if self.outcome.hooks is not None and point in TRACKED:
            self.outcome.hooks = self.outcome.hooks.with_done(point)

    def has(self, point: HookPoint) -> bool:
        return bool(self.at(point))

    def waves(self) -> set[int]:
        return {d.order for d in self.at(HookPoint.MAIN)}

    async def run(self, point: HookPoint, *, wave: int | None = None) -> None:
        todo = [d for d in self.at(point) if wave is None or d.order == wave]
        self.began = True
        for weight in sorted({d.order for d in todo}):
            group = [_hook_object(d) for d in todo if d.order == weight]
            await self._run_group(point, group)
        if wave is None:
            self.completed(point)

    async def failed(self, error: GitmoorError) -> None:
        """Run the on-failure hooks after `error`; their own failure is logged, never raised:
        the attempt already failed, for the reason it carries."""
        if not self.began or not self.has(HookPoint.ON_FAILURE):
            return
        self.began = False  # once per attempt
        try:
            await self.run(HookPoint.ON_FAILURE)
        except GitmoorError as err:
            log.warning("on-failure hooks did not complete", error=str(err), cause=str(error))

    async def _run_group(self, point: HookPoint, group: list[HookObject]) -> None:
        self.stage(Stage.HOOKS)
        try:
            self.outcome.changes = self.outcome.changes + await apply.clear_hooks(self.kube, group)
            created, changes = await apply.create_hooks(self.kube, group)
        except ApplyError as err:
            if isinstance(err.changes, ChangeSet):
                self.outcome.changes = self.outcome.changes + err.changes
                err.changes = None
            raise
        self.outcome.changes = self.outcome.changes + changes
        log.info("hooks started", point=str(point), objects=[str(c.ref) for c in created])
        verdict = await health.wait_healthy(
            self.kube,
            [(c.ref, c.api_version) for c in created],
            timeout=self.timeout,
            rules=self.rules,
            on_progress=self.on_wait,
        )
        self.outcome.changes = self.outcome.changes + await apply.remove_hooks(
            self.kube, created, succeeded=verdict.healthy
        )
        if not verdict.healthy:
            raise HookFailedError(str(point), verdict)


def _set_content(outcome: Outcome, desired: list[plan.Desired], hooks: list[plan.Desired]) -> None:
    """What the attempt deploys (hooks included), its digest (the content hooks run for), and
    whether it holds delete hooks."""
    outcome.desired = [d.obj for d in (*desired, *hooks)]
    outcome.content = content_digest(outcome.desired)
    outcome.delete_hooks = any(
        d.hook is not None and any(d.hook.runs_at(p, installing=False) for p in DELETION)
        for d in hooks
    )


def _due_hooks(
    hooks: list[plan.Desired],
    content: str,
    done: HookRuns | None,
    *,
    installing: bool,
) -> tuple[list[plan.Desired], HookRuns | None]:
    """The hooks an attempt of `content` may run (those of points not done yet for it), and
    the record of runs it starts from. `done` None: no hooks at all (a restore)."""
    if done is None:
        return [], None
    skip = done.done_for(content)
    due = [
        d
        for d in hooks
        if d.hook is not None
        and any(d.hook.runs_at(p, installing=installing) for p in HookPoint if p not in skip)
    ]
    return due, HookRuns(content, skip)


def _split_hooks(desired: list[plan.Desired]) -> tuple[list[plan.Desired], list[plan.Desired]]:
    return [d for d in desired if d.hook is None], [d for d in desired if d.hook is not None]


def _hook_object(d: plan.Desired) -> HookObject:
    assert d.hook is not None
    return HookObject(d.obj, d.hook, d.manifest.where)


async def _create_namespace(
    kube: Kube, sync: Sync, desired: Sequence[plan.Desired], owner: plan.Owner
) -> list[ObjectChange]:
    """`spec.createNamespace`: the namespace created (outside the inventory) when missing."""
    helm = sync.spec.helm
    declared = {d.ref.name for d in desired if (d.ref.group, d.ref.kind) == ("", "Namespace")}
    name = apply.namespace_to_create(
        sync.spec.target_namespace, helm.namespace if helm else None, declared
    )
    if name is None:
        return []
    change = await apply.create_namespace(
        kube, name, owner_name=owner.name, owner_namespace=owner.namespace
    )
    return [] if change is None else [change]


_UNSAFE_SHOWN = 20  # unsafe entries a refusal names


def _refuse_unsafe_entries(artifact: Artifact) -> None:
    """The fetch left out unsafe entries: a manifest below the Sync's path would silently be
    missing (and prune take its objects away), and one elsewhere may still be read through an
    in-tree link, a Kustomize base or a chart dependency outside the path (a chart's `files/ext
    -> ../../chain2` whose `chain2/k` led to the agent's kubeconfig rendered as ''). Which of
    them a render reaches is each renderer's business, so any of them refuses the revision:
    say which, and change nothing. Entries excluded by the GitSource's spec.ignore are never
    judged, so a repository keeps links it does not deploy out of the way that way."""
    refused = sorted(artifact.refused)
    if refused:
        shown = ", ".join(refused[:_UNSAFE_SHOWN]) + (
            f" and {len(refused) - _UNSAFE_SHOWN} more" if len(refused) > _UNSAFE_SHOWN else ""
        )
        raise RenderError(
            f"the commit holds entries left out as unsafe (symlinks leading out of the checkout "
            f"or nowhere, or paths climbing out): {shown}; nothing was applied. Remove them, or "
            "exclude them with the GitSource's spec.ignore if no Sync deploys them"
        )


def _check_prune_limit(
    limit: int | str, kept: set[ObjectRef], previous: Sequence[InventoryEntry], sync: Sync
) -> None:
    """Before anything is written: a revision pruning too much of the inventory is held."""
    pruned = sum(1 for e in previous if e.ref not in kept)
    why = plan.over_prune_limit(limit, pruned, len(previous))
    if why is not None:
        meta = sync.metadata
        raise PruneBlockedError(
            f"{why}; nothing was applied. Check the commit; if the deletion is intended, run "
            f"`gitmoor sync {meta.name} -n {meta.namespace} --allow-prune` or raise "
            "spec.pruneLimit",
            pruned=pruned,
            inventory=len(previous),
        )


def _track(outcome: Outcome, planned: Sequence[PlannedObject]) -> None:
    for p in planned:
        if p.applied is not None:
            outcome.tracked[p.ref] = p.applied
        elif p.baseline is not None:
            outcome.tracked[p.ref] = Applied.of(p.api_version, p.desired, p.baseline)


async def _remove(kube: Kube, created: Sequence[ObjectChange], owner: plan.Owner) -> ChangeSet:
    entries = [InventoryEntry.of(c.ref, c.api_version) for c in created]
    return await apply.prune(kube, entries, owner_name=owner.name, owner_namespace=owner.namespace)


def _combine(a: Verdict | None, b: Verdict) -> Verdict:
    if a is None:
        return b
    return Verdict(a.healthy and b.healthy, a.timed_out or b.timed_out, a.objects + b.objects)


def _id(entry: InventoryEntry) -> str:
    return entry.id
