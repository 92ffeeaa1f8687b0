"""Syncs: one reconcile read top to bottom, the rollback of an atomic Sync, what deleting a
Sync does, and the reactions to drift and health the watch reports."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from gitmoor import apply, plan
from gitmoor.apply import prune as apply_prune
from gitmoor.errors import (
    ApplyError,
    DependencyCycleError,
    GitmoorError,
    InventoryUnreadableError,
    KubeApiError,
    NotLeaderError,
    NotReadyError,
    OwnershipConflictError,
)
from gitmoor.health import Overrides, sync_rules
from gitmoor.kube import Kube
from gitmoor.kube import inventory as stored_inventory
from gitmoor.model import Artifact, Health, Verdict, inventory
from gitmoor.model.api import API_VERSION
from gitmoor.model.durations import parse_duration
from gitmoor.model.hooks import HookPoint, HookRuns
from gitmoor.model.labels import ALLOW_PRUNE_AT, FINALIZER, REQUESTED_AT
from gitmoor.model.limits import DEFAULT_LIMITS, Limits
from gitmoor.model.pipeline import ChartArtifact, Commit
from gitmoor.model.record import Record, Trigger
from gitmoor.model.resources import Sync
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile import decide, pipeline, records, report
from gitmoor.reconcile.cache import Cache, Obj
from gitmoor.reconcile.charts import ChartSourceReconciler
from gitmoor.reconcile.decryption import decryption_keys
from gitmoor.reconcile.dependencies import Blocked, blocked, dependants
from gitmoor.reconcile.drift import Drift, DriftMonitor
from gitmoor.reconcile.memory import Key, Memory
from gitmoor.reconcile.ocisource import OCISourceReconciler
from gitmoor.reconcile.outcome import Outcome, Stage
from gitmoor.reconcile.publish import Publisher
from gitmoor.reconcile.snapshots import SnapshotStore
from gitmoor.reconcile.source import SourceReconciler
from gitmoor.reconcile.tenancy import Tenancy
from gitmoor.render import Keys

log = structlog.get_logger("gitmoor.agent")
_FIGHT_WINDOW = 60.0  # seconds
_GATE_REPORT_EVERY = 2.0  # seconds between two status writes saying what a gate waits on
_FIGHT_LIMIT = 5  # corrections of one object within the window before we stop fighting
_DRIFT = "drift"  # the publisher's slot for a correction's ledger record
_CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "syncs.gitmoor.io")


@dataclass(frozen=True)
class Placement:
    """Where this agent records its attempts."""

    cluster: str
    environment: str
    full_resync: float  # seconds between full attempts of an unchanged, watched revision
    limits: Limits = DEFAULT_LIMITS  # what rendering one revision may cost
    # The agent's --health-rules: user health rules for every Sync (a Sync's own override them).
    health_rules: Overrides = field(default_factory=dict)


@dataclass
class GateWatch:
    """The latest interim verdict of a health gate, handed from the attempt to its reporter."""

    verdict: Verdict | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def update(self, verdict: Verdict) -> None:
        self.verdict = verdict
        self.changed.set()


@dataclass
class Progress:
    """The attempt running for a Sync, as the runtime sees it (to cancel a superseded one)."""

    revision: str = ""
    stage: Stage = Stage.NONE


class SyncReconciler:
    def __init__(
        self,
        kube: Kube,
        cache: Cache,
        memory: Memory,
        sources: SourceReconciler,
        drift: DriftMonitor,
        publish: Publisher,
        snapshots: SnapshotStore,
        placement: Placement,
        wake: Callable[[Key, Trigger], None],
        later: Callable[[Key, float], None],
        tenancy: Tenancy,
        charts: ChartSourceReconciler | None = None,
        oci: OCISourceReconciler | None = None,
    ) -> None:
        self.kube = kube
        self.cache = cache
        self.memory = memory
        self.sources = sources
        self.drift = drift
        self.publish = publish
        self.snapshots = snapshots
        self.placement = placement
        self.wake = wake
        self.later = later
        self.tenancy = tenancy
        self.charts = charts
        self.oci = oci
        self.progress: dict[Key, Progress] = {}

    async def reconcile(self, key: Key) -> float | None:
        obj = self.cache.get(key)
        if obj is None:
            return None
        try:
            sync = Sync.model_validate(obj)
        except ValueError as err:
            return await self.publish(key, report.invalid(obj, err))
        if obj["metadata"].get("deletionTimestamp"):
            await self.publish(key, report.Report(drift=report.DriftAction.FORGET))
            return await self.finalize(key, obj, sync)
        if (obj := await self.lifecycle(key, obj, sync)) is None:
            return None
        ctx = self.context(key, obj, sync)
        ready = await self.prerequisites(sync, ctx)
        if isinstance(ready, GitmoorError):
            return await self.publish(key, report.waiting(ctx, ready), sync=sync)
        artifact, keys = ready
        attempt = decide.attempt(self.facts(key, obj, sync, artifact))
        if isinstance(attempt, decide.Skip):
            return await self.publish(key, report.skipped(ctx, attempt), sync=sync)
        structlog.contextvars.bind_contextvars(revision=artifact.revision)
        self.progress[key] = Progress(artifact.revision)
        record = self.record(key, sync, artifact, ctx)
        await self.publish(key, report.started(ctx, attempt, record), sync=sync)
        ctx = dataclasses.replace(ctx, obj=self.cache.get(key) or obj)
        outcome = Outcome(revision=artifact.revision)
        self.drift.pause(key.short)
        try:
            # New content shows Reconciling: it also says which objects a health gate waits on.
            async with self.gate_reporter(key, ctx, sync, attempt.new_content) as on_wait:
                await self.run(key, sync, ctx, artifact, attempt, keys, outcome, on_wait)
                restored = (
                    await self.roll_back(key, sync, outcome)
                    if report.rollback_due(sync.spec.atomic, outcome)
                    else None
                )
        except asyncio.CancelledError as cancelled:
            # Why, as whoever cancelled it said (a newer revision, the deletion, a lost lease).
            why = str(cancelled.args[0]) if cancelled.args else "superseded, deleted or stopping"
            cut = f"cancelled while applying {artifact.revision} ({why})"
            begun = self.publish.begun(key)
            await asyncio.shield(self.publish(key, report.cancelled(ctx, outcome, begun, cut)))
            raise
        finally:
            self.progress.pop(key, None)
        answer = self.finished(key, sync, ctx, attempt, outcome, record, restored)
        # Remembered before the refusal is published: whoever reads it may let go at once.
        self.memory.sync(key).held_by = _holders(outcome)
        delay = await self.publish(key, answer, sync=sync, revision=artifact.revision)
        if outcome.error is None:
            self.wake_dependants(key)
            # Only an applied attempt can let objects go: a refused one waking the Syncs it
            # refused would let two Syncs that each hold what the other wants wake each other
            # for ever.
            self.wake_held(key)
        return delay

    async def run(
        self,
        key: Key,
        sync: Sync,
        ctx: report.Context,
        artifact: Artifact,
        attempt: decide.Run,
        keys: Keys | None,
        outcome: Outcome,
        on_wait: Callable[[Verdict], None] | None,
    ) -> None:
        """The attempt itself: render, plan, apply, health and prune of `artifact`, filling in
        `outcome` as it goes (a cancelled attempt still tells what it wrote)."""
        progress = self.progress[key]
        await pipeline.run(
            self.kube_for(sync),
            sync,
            artifact,
            functools.partial(stored_inventory.load, self.kube, ctx.obj),
            on_stage=lambda stage: setattr(progress, "stage", stage),
            outcome=outcome,
            detect_only=attempt.mode is decide.Mode.DETECT,
            known=self.known(key, attempt),
            allow_prune=_allowed_prune(ctx.obj),
            decryption=keys,
            limits=self.placement.limits,
            health_rules=self.health_rules(key, sync),
            hooks_done=HookRuns.of_status(ctx.old.get("hooks")),
            on_wait=on_wait,
            dependencies=self.charts.dependencies_for(sync) if self.charts else None,
        )

    def finished(
        self,
        key: Key,
        sync: Sync,
        ctx: report.Context,
        attempt: decide.Run,
        outcome: Outcome,
        record: Record,
        restored: report.Restored | None,
    ) -> report.Report:
        """What the attempt ends with, its record (opened or not) and the snapshot kept."""
        kept = self.snapshots.kept(key.namespace, key.name) if sync.spec.atomic else None
        begun = self.publish.begun(key)
        return report.finished(
            ctx,
            attempt,
            outcome,
            begun=begun,
            unbegun=record,
            restored=restored,
            kept_snapshot=kept,
        )

    @contextlib.asynccontextmanager
    async def gate_reporter(
        self, key: Key, ctx: report.Context, sync: Sync, shown: bool
    ) -> AsyncIterator[Callable[[Verdict], None] | None]:
        """While the body runs, publish what its health gate waits on (only when `shown`: an
        attempt of new content); yields where the gate hands its interim verdicts (None when
        not shown). Stopped, and its last write done, before the body's own report."""
        if not shown:
            yield None
            return
        gate = GateWatch()
        revision = self.progress[key].revision
        task = asyncio.create_task(self.report_gate(key, ctx, revision, gate, sync))
        try:
            yield gate.update
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def report_gate(
        self, key: Key, ctx: report.Context, revision: str, gate: GateWatch, sync: Sync
    ) -> None:
        """Publish what the health gate waits on as it changes, at most every few seconds."""
        shown: Verdict | None = None
        while True:
            await gate.changed.wait()
            gate.changed.clear()
            verdict = gate.verdict
            if verdict is not None and verdict.not_ready and verdict != shown:
                shown = verdict
                await self.publish(key, report.gate_progress(ctx, revision, verdict), sync=sync)
            await asyncio.sleep(_GATE_REPORT_EVERY)

    # -- the parts of a reconcile ------------------------------------------------------------
    async def prerequisites(
        self, sync: Sync, ctx: report.Context
    ) -> tuple[Artifact, Keys | None] | GitmoorError:
        """The artifact to apply and the decryption keys, or why the Sync must wait: its
        dependencies, its source, a pinned commit, its keys."""
        # Most Syncs depend on nothing: no copy of every Sync for them (O(Syncs) each time).
        if sync.spec.depends_on and (why := blocked(sync, self.cache.syncs())) is not None:
            return _blocked_error(why)
        artifact = await self.artifact(sync, ctx.pinned)
        if isinstance(artifact, GitmoorError):
            return artifact
        try:
            keys = await decryption_keys(self.kube, sync)
        except GitmoorError as err:
            return err
        return artifact, keys

    async def artifact(self, sync: Sync, pinned: str | None) -> Artifact | GitmoorError:
        """What the Sync renders: its source's artifact (or the pinned commit's), with its
        chart when it has a chartRef, or the chart alone; else why there is none (yet)."""
        artifact: Artifact | None = None
        if sync.spec.source_ref is not None:
            if sync.spec.source_ref.kind == "OCISource":
                if self.oci is None:
                    return NotReadyError("SourceNotReady", "this agent does not read OCISources")
                source = await self.oci.artifact_for(sync, pinned)
            else:
                source = await self.sources.artifact_for(sync, pinned)
            if source.artifact is None:
                assert source.problem is not None
                return source.problem
            artifact = source.artifact
        if sync.spec.chart_ref is not None:
            if self.charts is None:
                return NotReadyError("SourceNotReady", "this agent does not read ChartSources")
            chart = await self.charts.chart_for(sync)
            if chart.chart is None:
                assert chart.problem is not None
                return chart.problem
            if artifact is None:
                artifact = chart_only(chart.chart)
            else:
                # One revision for both: a new chart and a new values commit each are new.
                revision = f"{chart.chart.revision};{artifact.revision}"
                artifact = dataclasses.replace(artifact, revision=revision, chart=chart.chart)
        assert artifact is not None  # the model requires a sourceRef or a chartRef
        return artifact

    def context(self, key: Key, obj: Obj, sync: Sync) -> report.Context:
        return report.Context(
            obj=obj,
            interval=parse_duration(sync.spec.interval),
            retry_interval=parse_duration(sync.spec.retry_interval)
            if sync.spec.retry_interval
            else None,
            wait=sync.spec.wait,
            failures=self.memory.sync(key).failures,
            atomic=sync.spec.atomic,
        )

    def kube_for(self, sync: Sync) -> Kube:
        """The client a Sync's objects are read and written with: its ServiceAccount's
        identity when it has one (tenancy), else the agent's."""
        user = self.tenancy.user_for(sync)
        return self.kube if user is None else self.kube.impersonating(user)

    def facts(self, key: Key, obj: Obj, sync: Sync, artifact: Artifact) -> decide.Facts:
        memory = self.memory.sync(key)
        return decide.facts(
            obj,
            artifact.revision,
            atomic=sync.spec.atomic,
            report_drift=sync.spec.drift == "report",
            watched=self.drift.count(key.short),
            since_full=time.monotonic() - memory.full_at,
            full_every=self.placement.full_resync,
        )

    def known(self, key: Key, attempt: decide.Run) -> dict[Any, Any] | None:
        """What the drift watch vouches for (an incremental attempt); None: check everything."""
        memory = self.memory.sync(key)
        if attempt.mode is not decide.Mode.INCREMENTAL:
            memory.full_at = time.monotonic()
            return None
        drifted = memory.reported
        return {r: a for r, a in self.drift.tracked(key.short).items() if r not in drifted}

    def place(self, key: Key, sync: Sync) -> records.Place:
        environment = sync.spec.environment or self.placement.environment
        return records.Place(
            key.namespace,
            key.name,
            environment or self.placement.cluster,
            self.placement.cluster,
            self.cache.source_url(sync),
        )

    def record(self, key: Key, sync: Sync, artifact: Artifact, ctx: report.Context) -> Record:
        trigger = self.memory.sync(key).trigger
        pinned = bool(ctx.pinned)
        return records.started(
            self.place(key, sync), artifact, trigger=trigger, pinned=pinned, at=time.time()
        )

    async def roll_back(self, key: Key, sync: Sync, failed: Outcome) -> report.Restored:
        """Restore the last healthy revision of an atomic Sync whose attempt failed. The drift
        watch stays paused: the restore's own writes are not drift."""
        if not report.restorable(self.snapshots.kept(key.namespace, key.name), failed):
            return report.Restored(None)
        snapshot = self.snapshots.load(key.namespace, key.name)
        if snapshot is None:
            return report.Restored(None)
        log.warning(
            "rolling back", failed=failed.revision, to=snapshot.revision, error=str(failed.error)
        )
        failed_inventory = failed.inventory or failed.partial
        kube = self.kube_for(sync)
        restored = await pipeline.restore(
            kube, sync, snapshot, failed_inventory, health_rules=self.health_rules(key, sync)
        )
        return report.Restored(restored)

    def health_rules(self, key: Key, sync: Sync) -> Overrides:
        """The user health rules of `sync`, also handed to the continuous health watch."""
        rules = sync_rules(sync.spec.health_check_exprs, self.placement.health_rules)
        self.drift.use_rules(key.short, rules)
        return rules

    def wake_dependants(self, key: Key) -> None:
        """Syncs waiting on this one need not wait for their dependency retry."""
        syncs = self.cache.syncs()
        for other in dependants(key.short, syncs):
            if not _ready(syncs[other]):
                self.wake(Key("Sync", *other), Trigger.RESOURCE)

    def wake_held(self, key: Key) -> None:
        """Syncs refused for objects this one holds: its new revision may have let some go, so
        they need not wait for their interval to find out."""
        for other in self.memory.held_by(f"{key.namespace}/{key.name}"):
            if other != key:
                self.wake(other, Trigger.RESOURCE)

    # -- lifecycle: finalizer, suspension, deletion ------------------------------------------
    async def lifecycle(self, key: Key, obj: Obj, sync: Sync) -> Obj | None:
        """The Sync to reconcile (with its finalizer), or None when there is nothing to do."""
        if sync.spec.suspend:
            await self.publish(key, report.Report(drift=report.DriftAction.FORGET))
            return None
        if FINALIZER in (obj["metadata"].get("finalizers") or []):
            return obj
        finalizers = [*(obj["metadata"].get("finalizers") or []), FINALIZER]
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": _rv(obj)}}
        try:
            updated = await self.kube.patch_merge(
                API_VERSION, key.kind, key.name, key.namespace, patch
            )
        except KubeApiError as err:
            if err.status in (404, 409):
                return obj  # changed meanwhile: the next event brings it back here
            raise
        self.cache.refresh(key, updated)
        return updated

    async def finalize(self, key: Key, obj: Obj, sync: Sync) -> float | None:
        """A deleted Sync takes what it applied with it only when its deletionPolicy says
        Delete, and never while gitmoor itself is being uninstalled (its CRD deleted). Its
        pre-delete hooks run first: one that fails keeps the Sync (its finalizer) and what it
        applied, and is tried again (the retry's delay is returned); post-delete hooks run
        after the prune."""
        if FINALIZER not in (obj["metadata"].get("finalizers") or []):
            return None
        listed = inventory.count((obj.get("status") or {}).get("inventory"))
        left = ""
        if not listed:
            pass
        elif not sync.spec.deletes_on_removal or sync.spec.suspend:
            left = "its deletionPolicy is Orphan" if not sync.spec.suspend else "it is suspended"
        elif await self._uninstalling():
            left = "gitmoor's CRD is being deleted (uninstall)"
        else:
            try:
                entries = await stored_inventory.load(self.kube, obj)
            except InventoryUnreadableError as err:
                # Never pruned from a partial inventory: held until it reads whole (or Orphan).
                ctx = self.context(key, obj, sync)
                return await self.publish(key, report.deletion_unreadable(ctx, err))
            kube = self.kube_for(sync)
            hooks = await self.deletion_hooks(key, kube, sync, obj)
            rules = self.health_rules(key, sync)
            before = await pipeline.run_deletion_hooks(
                kube, sync, hooks, HookPoint.PRE_DELETE, health_rules=rules
            )
            if before.error is not None:
                ctx = self.context(key, obj, sync)
                return await self.publish(key, report.deletion_held(ctx, before))
            changes = await apply_prune(
                kube, entries, owner_name=key.name, owner_namespace=key.namespace
            )
            await self.publish(key, report.pruned_on_deletion(before.changes + changes))
            after = await pipeline.run_deletion_hooks(
                kube, sync, hooks, HookPoint.POST_DELETE, health_rules=rules
            )
            await self.publish(key, report.post_delete_hooks(after))
        if left:
            await self.publish(key, report.orphaned(listed, left))
        self.snapshots.delete(key.namespace, key.name)
        finalizers = [f for f in obj["metadata"].get("finalizers") or [] if f != FINALIZER]
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": _rv(obj)}}
        try:
            await self.kube.patch_merge(API_VERSION, key.kind, key.name, key.namespace, patch)
        except KubeApiError as err:
            if err.status not in (404, 409):
                raise
        # The Syncs it held are woken when its deletion is seen (the agent's `_gone`).
        return None

    async def deletion_hooks(
        self, key: Key, kube: Kube, sync: Sync, obj: Obj
    ) -> list[plan.Desired]:
        """The delete hooks of what the Sync would deploy now (its source's revision, or its
        pin). When there is no revision to read them from (the source gone or failing, a render
        error) the deletion does not wait for one: a Warning Event says no hook ran."""
        artifact = await self.artifact(sync, self.context(key, obj, sync).pinned)
        try:
            if isinstance(artifact, GitmoorError):
                raise artifact
            keys = await decryption_keys(self.kube, sync)
            hooks = await pipeline.deletion_hooks(
                kube, sync, artifact, decryption=keys, limits=self.placement.limits
            )
            # A namespace being deleted takes no new objects: its hooks could never run, and
            # holding the Sync would hold the namespace's deletion for ever.
            for namespace in sorted({str(d.obj["metadata"].get("namespace") or "") for d in hooks}):
                found = await self.kube.get("v1", "Namespace", namespace) if namespace else {}
                if found is None or (found.get("metadata") or {}).get("deletionTimestamp"):
                    raise GitmoorError(
                        f"namespace {namespace} of the delete hooks is being deleted"
                    )
            return hooks
        except GitmoorError as err:
            expected = (obj.get("status") or {}).get("deleteHooks") is not False
            await self.publish(key, report.deletion_hooks_unread(err, expected=expected))
            return []

    async def _uninstalling(self) -> bool:
        """gitmoor's Sync CRD is being deleted: every Sync goes with it, and none may take its
        applications along."""
        try:
            crd = await self.kube.get(_CRD[0], _CRD[1], _CRD[2])
        except GitmoorError:
            return True  # cannot tell: pruning is the one thing that cannot be undone
        return crd is None or bool(crd["metadata"].get("deletionTimestamp"))

    # -- what the watch reports after the apply ----------------------------------------------
    async def on_drift(self, drift: Drift) -> None:
        key = Key("Sync", *drift.sync)
        obj = self.cache.get(key)
        if obj is None or (obj.get("spec") or {}).get("suspend"):
            return
        if drift.taken_by:
            self.taken_over(key, drift)
            return
        what = "deleted" if drift.deleted else ", ".join(drift.fields)
        mode = (obj.get("spec") or {}).get("drift", "correct")
        if mode == "correct" and not self._fighting(key, drift):
            await self.correct(key, obj, drift)
            return
        found = dict(self.memory.sync(key).reported)
        if found.get(drift.ref) == drift.fields:
            return
        found[drift.ref] = drift.fields
        sync = Sync.model_validate(obj)
        await self.publish(key, report.drift_reported(obj, found, drift.ref, what), sync=sync)

    def taken_over(self, key: Key, drift: Drift) -> None:
        """Another Sync took one of this Sync's objects over: never corrected (that is how two
        Syncs fight), but checked at once in full, so a Sync that still declares the object is
        refused with OwnershipConflict instead of staying Ready."""
        memory = self.memory.sync(key)
        memory.full_at = -math.inf
        memory.reported.pop(drift.ref, None)
        memory.corrections.pop(drift.ref, None)
        self.wake(key, Trigger.DRIFT)

    async def correct(self, key: Key, obj: Obj, drift: Drift) -> None:
        """Put a drifted object back through `apply`, as one attempt with its ledger record;
        a refused correction makes the Sync not Ready and is tried again with backoff."""
        sync = Sync.model_validate(obj)
        ctx = self.context(key, obj, sync)
        revision = str(ctx.old.get("lastAppliedRevision") or "")
        source = self.cache.source_key(sync)
        artifact = self.memory.source(source).artifact if source is not None else None
        record = records.correction(self.place(key, sync), revision, artifact, at=time.time())
        fix = apply.Correction(
            drift.ref, drift.api_version, drift.desired, drift.fields, drift.resource_version
        )
        try:
            await self.publish(key, report.Report(begin=record), slot=_DRIFT)
        except NotLeaderError as err:
            # Deposed (or the Sync moved to another replica): whoever may write corrects it.
            log.info("drift left to the agent that may write", object=str(drift.ref), why=str(err))
            return
        try:
            try:
                changes = await apply.correct(self.kube_for(sync), [fix])
            except ApplyError as err:
                answer = report.correction_failed(ctx, self.publish.begun(key, _DRIFT), err)
            else:
                answer = report.corrected(self.publish.begun(key, _DRIFT), changes)
            delay = await self.publish(key, answer, sync=sync, revision=revision, slot=_DRIFT)
        except Exception as err:  # a bug, a refused write: never a record left in progress
            delay = await self.correction_crashed(key, ctx, sync, revision, err)
        if delay is not None:
            self.later(key, delay)

    async def correction_crashed(
        self, key: Key, ctx: report.Context, sync: Sync, revision: str, error: Exception
    ) -> float | None:
        """As a crashed reconcile: not Ready, the correction's record finished as failed, a
        backoff. When even that cannot be written, the backoff still comes."""
        log.exception("drift correction crashed", object=str(key))
        answer = report.correction_crashed(ctx, self.publish.begun(key, _DRIFT), error)
        try:
            return await self.publish(key, answer, sync=sync, revision=revision, slot=_DRIFT)
        except Exception:
            log.exception("could not report the crashed drift correction", object=str(key))
            return answer.delay

    async def on_health(self, sk: tuple[str, str], failing: tuple[Health, ...]) -> None:
        key = Key("Sync", *sk)
        obj = self.cache.get(key)
        if obj is None:
            return
        sync = Sync.model_validate(obj)
        if sync.spec.suspend or not sync.spec.wait:
            return
        answer = report.health_changed(obj, failing)
        if answer is not None:
            await self.publish(key, answer, sync=sync)

    def on_settled(self, sk: tuple[str, str]) -> None:
        """What the Sync's timed-out health gate waited for is Current now: try it again at
        once (an attempt that writes nothing unless the gate stopped before a later phase)."""
        key = Key("Sync", *sk)
        obj = self.cache.get(key)
        if obj is not None and decide.health_recovery_due(obj):
            log.info("what the health gate waited for is healthy now", sync=f"{sk[0]}/{sk[1]}")
            self.wake(key, Trigger.HEALTH)

    def _fighting(self, key: Key, drift: Drift) -> bool:
        """Another writer keeps changing what we correct: stop correcting, report instead."""
        now = time.monotonic()
        corrections = self.memory.sync(key).corrections
        recent = [t for t in corrections.get(drift.ref, []) if now - t < _FIGHT_WINDOW] + [now]
        corrections[drift.ref] = recent
        if len(recent) > _FIGHT_LIMIT:
            log.warning(
                "another writer keeps changing this object; reporting instead",
                object=str(drift.ref),
            )
            return True
        return False


def chart_only(chart: ChartArtifact) -> Artifact:
    """What a Sync with a chartRef and no sourceRef deploys: the chart alone, its revision the
    chart's (`podinfo@6.5.1@sha256:...`), its values inline (nothing is read from Git: the
    chart's own directory stands in for the values path, and no file is read from it)."""
    return Artifact(
        url=chart.url,
        revision=chart.revision,
        digest=chart.digest,
        path=chart.path,
        commit=Commit("", "", "", chart.fetched_at, f"{chart.chart} {chart.version}"),
        fetched_at=chart.fetched_at,
        chart=chart,
    )


def _blocked_error(why: Blocked) -> GitmoorError:
    if why.stalled:
        return DependencyCycleError(why.message)
    return NotReadyError(why.reason, why.message, retry_after=why.retry)


def _holders(outcome: Outcome) -> frozenset[str]:
    """The Syncs (`namespace/name`) holding objects that refused the attempt, if any."""
    error = outcome.error
    return frozenset(error.owners.values() if isinstance(error, OwnershipConflictError) else ())


def _allowed_prune(obj: Obj) -> bool:
    """`gitmoor sync --allow-prune`: the request being handled carries the permission."""
    annotations = obj["metadata"].get("annotations") or {}
    requested = annotations.get(REQUESTED_AT)
    handled = (obj.get("status") or {}).get("lastHandledReconcileAt")
    return bool(requested) and requested != handled and annotations.get(ALLOW_PRUNE_AT) == requested


def _ready(obj: Obj) -> bool:
    return cond.is_true(obj, cond.READY)


def _rv(obj: Obj) -> str:
    return str(obj["metadata"]["resourceVersion"])
