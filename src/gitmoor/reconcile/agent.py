"""The agent's runtime: watch GitSources and Syncs, queue their keys, reconcile each with one
worker per key at a time and a bounded number at once, and drain on shutdown.

Which reconciler a key goes to is all it knows of reconciling; whatever a reconciler raises
ends in a published report (`report.crashed`), so nothing stays half-written.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from gitmoor import metrics
from gitmoor.errors import GitmoorError, SecretNotFoundError
from gitmoor.health import Overrides
from gitmoor.kube import Kube, WatchEvent
from gitmoor.ledger import Ledger
from gitmoor.ledger.spool import Spool
from gitmoor.model import Artifact, ChartArtifact, Health, Missing
from gitmoor.model.api import API_VERSION
from gitmoor.model.durations import parse_duration
from gitmoor.model.images import IMAGE_KINDS
from gitmoor.model.labels import REQUESTED_AT
from gitmoor.model.limits import DEFAULT_LIMITS, Limits
from gitmoor.model.notifications import ImagePushEvent, PushEvent
from gitmoor.model.record import Trigger
from gitmoor.model.resources import ChartSource, GitSource
from gitmoor.notify import Notifier
from gitmoor.reconcile import report
from gitmoor.reconcile.cache import Cache, Obj, OnChange, key_of
from gitmoor.reconcile.charts import ChartSourceReconciler
from gitmoor.reconcile.drift import Drift, DriftMonitor
from gitmoor.reconcile.events import EventRecorder
from gitmoor.reconcile.images import ImageReconciler
from gitmoor.reconcile.informer import follow
from gitmoor.reconcile.membership import Membership
from gitmoor.reconcile.memory import Key, Memory, SourceMemory
from gitmoor.reconcile.ocisource import OCISourceReconciler
from gitmoor.reconcile.outcome import Stage
from gitmoor.reconcile.publish import Publisher
from gitmoor.reconcile.queue import WorkQueue
from gitmoor.reconcile.retry import arrival, jittered
from gitmoor.reconcile.shards import WORKING_ON, Standing, View
from gitmoor.reconcile.snapshots import SnapshotStore, new_key
from gitmoor.reconcile.source import SourceReconciler
from gitmoor.reconcile.sync import Placement, SyncReconciler
from gitmoor.reconcile.tenancy import Tenancy
from gitmoor.sources.images.registry import ImageName
from gitmoor.sources.sweep import DEFAULT_KEEP, sweep

log = structlog.get_logger("gitmoor.agent")

# What made a source look that its Syncs inherit when it finds a new revision.
_PASSED_ON = (Trigger.INTERVAL, Trigger.WEBHOOK, Trigger.CLI)
_CRASH_INTERVAL = 300.0  # the cap of the backoff after a crash, when the spec cannot be read
_SPOOL_EVERY = 10.0  # seconds between tries to write spooled ledger records
_SWEEP_EVERY = 3600.0  # seconds between two sweeps of the chart and artifact cache
# What a revision may wait for: their arrival wakes the Syncs waiting on them.
_ARRIVALS = {
    Missing.NAMESPACE: ("v1", "Namespace"),
    Missing.KIND: ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
}

_CORE_KINDS = (
    "GitSource",
    "ChartSource",
    "OCISource",
    "Sync",
)  # listed before anything is reconciled
# Watched; the sources first. The image kinds do not hold up the start: a cluster whose CRDs
# predate them still gets its Syncs reconciled while their informers retry.
_KINDS = (
    "GitSource",
    "ChartSource",
    "OCISource",
    "Sync",
    "ImageRepository",
    "ImagePolicy",
    "ImageUpdateAutomation",
)


@dataclass
class AgentOptions:
    cache_dir: Path
    concurrency: int = 4
    namespace: str = ""  # watch these namespaces (comma-separated); empty: all
    shutdown_grace: float = 20.0
    ledger: Ledger | None = None
    # While the watch covers a Sync, its unchanged revision is fully re-planned only this often.
    full_resync: float = 3600.0
    cluster: str = "default"
    environment: str = ""
    tenancy: Tenancy = field(default_factory=Tenancy)
    # Seals the rollback snapshots on disk; kept in a Secret by `gitmoor run` (a key of this
    # process alone when none is given: snapshots then do not outlive it).
    snapshot_key: bytes = field(default_factory=new_key)
    render_limits: Limits = DEFAULT_LIMITS
    health_rules: Overrides = field(default_factory=dict)  # --health-rules, for every Sync
    # Where file:// sources may read (None: anywhere; empty: nowhere, the default in a cluster).
    file_roots: tuple[Path, ...] | None = None
    # Where records wait while the ledger is away: keep it on the ledger's volume.
    spool_dir: Path | None = None
    # Charts and artifacts unused this long (seconds) are removed from cache_dir.
    cache_keep: float = DEFAULT_KEEP
    # How to open the ledger when it could not be opened at start (tried again later).
    open_ledger: Callable[[], Awaitable[Ledger]] | None = None
    # Told of every GitSource, ChartSource and Sync the agent's cache stores or drops (the UI).
    on_change: OnChange | None = None


def shard_key(key: Key) -> str:
    """The name a key is sharded by: `Kind/namespace/name`."""
    return f"{key.kind}/{key.namespace}/{key.name}"


class Agent:
    def __init__(
        self, kube: Kube, options: AgentOptions, membership: Membership | None = None
    ) -> None:
        self.kube = kube
        self.options = options
        # Sharded (several replicas): only the keys this replica owns are worked; None: all.
        self.membership = membership
        self._mine: set[Key] = set()
        # Pushes passed on to other replicas, attempts of Syncs taken over marked interrupted.
        self._requests: set[asyncio.Task[None]] = set()
        self.cache = Cache(options.on_change)
        self.memory = Memory()
        self.queue: WorkQueue[Key] = WorkQueue()
        self.running: dict[Key, asyncio.Task[Any]] = {}
        self.notifier = Notifier(self._read_secret)
        self.drift = DriftMonitor(kube, self._on_drift, self._on_health, self._on_settled)
        self.publish = Publisher(
            kube,
            self.cache,
            self.memory,
            self.drift,
            EventRecorder(kube),
            self.notifier,
            SnapshotStore(options.cache_dir / "healthy", options.snapshot_key),
            options.ledger,
            Spool(options.spool_dir or options.cache_dir / "ledger-spool"),
            options.open_ledger,
            replica=membership.identity if membership is not None else None,
            cluster=options.cluster,
        )
        self.sources = SourceReconciler(
            kube,
            self.cache,
            self.memory,
            self.publish,
            options.cache_dir,
            self._new_artifact,
            options.tenancy,
            options.file_roots,
            self.enqueue,
        )
        self.charts = ChartSourceReconciler(
            kube,
            self.cache,
            self.memory,
            self.publish,
            options.cache_dir,
            self._new_chart,
            options.tenancy,
            options.render_limits,
        )
        self.oci = OCISourceReconciler(
            kube,
            self.cache,
            self.memory,
            self.publish,
            options.cache_dir,
            self._new_artifact,
            options.tenancy,
            options.render_limits,
        )
        self.syncs = SyncReconciler(
            kube,
            self.cache,
            self.memory,
            self.sources,
            self.drift,
            self.publish,
            self.publish.snapshots,
            Placement(
                options.cluster,
                options.environment,
                options.full_resync,
                options.render_limits,
                options.health_rules,
            ),
            self.enqueue,
            self._later,
            options.tenancy,
            self.charts,
            self.oci,
        )
        self.images = ImageReconciler(
            kube,
            self.cache,
            self.memory,
            self.publish,
            options.cache_dir,
            self.enqueue,
            options.tenancy,
        )
        self._listed: set[tuple[str, str]] = set()
        # Watches of Namespaces and CRDs, by what they provide: only while a Sync waits for one.
        self._arrival_watches: dict[str, asyncio.Task[None]] = {}

    @property
    def synced(self) -> asyncio.Event:
        return self.cache.synced

    @property
    def ledger(self) -> Ledger | None:
        """The ledger records go to, None while it is not open (or there is none)."""
        return self.publish.ledger

    # -- lifecycle ---------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, *, abort: asyncio.Event | None = None) -> None:
        """Reconcile until `stop` is set, then finish in-flight work within the grace period;
        with `abort` set too (leadership lost), cancel it at once: its writes would be refused."""
        gate = asyncio.Semaphore(self.options.concurrency)
        await self.notifier.start()
        try:
            async with asyncio.TaskGroup() as group:
                watchers = [
                    group.create_task(self._informer(kind, namespace))
                    for kind in _KINDS
                    for namespace in self.namespaces
                ]
                dispatcher = group.create_task(self._dispatch(gate))
                watchers.append(group.create_task(self._flush_spool()))
                watchers.append(group.create_task(self._sweep_cache()))
                await stop.wait()
                log.info("shutting down", running=len(self.running))
                self.queue.close()
                for task in [*watchers, dispatcher]:
                    task.cancel()
                await self._drain(at_once=abort is not None and abort.is_set())
        finally:
            for task in [*self._arrival_watches.values(), *self._requests]:
                task.cancel()
            await asyncio.gather(*self._requests, return_exceptions=True)
            await asyncio.gather(*self._arrival_watches.values(), return_exceptions=True)
            self._arrival_watches.clear()
            await self.drift.close()
            await self.sources.close()
            await self.notifier.close()
            await self.publish.close()

    async def _drain(self, *, at_once: bool = False) -> None:
        tasks = list(self.running.values())
        if not tasks:
            return
        if at_once:
            for task in tasks:
                task.cancel("this agent lost its lease")
            await asyncio.wait(tasks, timeout=5)
            return
        # Reconciles in a health wait can take minutes: those are cancelled now; the rest get
        # the grace period to finish writing their status.
        for key, task in self.running.items():
            progress = self.syncs.progress.get(key)
            if progress is not None and progress.stage is Stage.WAIT:
                task.cancel("the agent is stopping")
        _, pending = await asyncio.wait(tasks, timeout=self.options.shutdown_grace)
        for task in pending:
            task.cancel("the agent is stopping")
        if pending:
            await asyncio.wait(pending, timeout=5)

    async def _flush_spool(self) -> None:
        """Records spooled while the ledger was away are written as soon as it is back."""
        while True:
            await asyncio.sleep(_SPOOL_EVERY)
            try:
                await self.publish.flush_spool()
            except Exception:
                log.exception("flushing the ledger spool failed")

    async def _sweep_cache(self) -> None:
        """Charts and artifacts no source has used for `cache_keep` leave the disk."""
        while True:
            await asyncio.sleep(_SWEEP_EVERY)
            try:
                held = self.memory.cached_digests()
                await asyncio.to_thread(
                    sweep, self.options.cache_dir, keep=self.options.cache_keep, held=held
                )
            except Exception:
                log.exception("sweeping the chart and artifact cache failed")

    # -- watching ----------------------------------------------------------------------------
    @property
    def namespaces(self) -> tuple[str, ...]:
        """The namespaces watched: `options.namespace` is one, several (comma-separated), or
        empty for all."""
        return tuple(n.strip() for n in self.options.namespace.split(",") if n.strip()) or ("",)

    async def _informer(self, kind: str, namespace: str) -> None:
        async def listed(items: list[Obj]) -> None:
            seen = set()
            for obj in items:
                key = key_of(obj)
                seen.add(key)
                self._observe(key, obj)
            mine = [k for k in self.cache.keys(kind) if not namespace or k.namespace == namespace]
            for key in [k for k in mine if k not in seen]:
                self._gone(key)
            self._listed.add((kind, namespace))
            if all((k, n) in self._listed for k in _CORE_KINDS for n in self.namespaces):
                self.cache.synced.set()

        async def changed(event: WatchEvent) -> None:
            key = key_of(event.obj)
            if event.type == "DELETED":
                self._gone(key)
            else:
                self._observe(key, event.obj)

        await follow(
            self.kube,
            API_VERSION,
            kind,
            namespace=namespace,
            on_list=listed,
            on_event=changed,
        )

    def _watch_arrivals(self) -> None:
        """Namespaces (CRDs) are watched while some Sync waits for one, and only then: most
        of the time none does. A watch started late lists first, so what arrived before it
        started still wakes the Sync."""
        wanted = self.memory.awaited_kinds()
        for lack, (api_version, kind) in _ARRIVALS.items():
            task = self._arrival_watches.get(lack)
            if lack in wanted and (task is None or task.done()):
                self._arrival_watches[lack] = asyncio.create_task(
                    self._arrivals(api_version, kind),
                    name=f"watch {kind}",
                    context=contextvars.Context(),
                )
            elif lack not in wanted and task is not None:
                task.cancel()
                del self._arrival_watches[lack]

    async def _arrivals(self, api_version: str, kind: str) -> None:
        """Watch Namespaces (or CRDs): one that arrives, or turns usable, wakes at once the
        Syncs whose last attempt found it missing. The agent's own credentials watch: a
        tenant's ServiceAccount may not be allowed to."""

        async def listed(items: list[Obj]) -> None:
            self._arrived(items)

        async def changed(event: WatchEvent) -> None:
            if event.type != "DELETED":
                self._arrived([event.obj])

        await follow(self.kube, api_version, kind, on_list=listed, on_event=changed)

    def _arrived(self, objs: list[Obj]) -> None:
        provided = frozenset(m for o in objs if (m := arrival(o)) is not None)
        for key in self.memory.awaiting(provided):
            log.info("what the Sync waited for arrived", sync=str(key))
            self.enqueue(key, Trigger.CLUSTER)

    def _observe(self, key: Key, obj: Obj) -> None:
        old = self.cache.put(key, obj)
        if old is None:
            self.enqueue(key, Trigger.STARTUP if not self.synced.is_set() else Trigger.RESOURCE)
            return
        meta, old_meta = obj["metadata"], old["metadata"]
        requested = (meta.get("annotations") or {}).get(REQUESTED_AT)
        if meta.get("deletionTimestamp") and not old_meta.get("deletionTimestamp"):
            # Deleting cancels the work in flight at once, as a newer revision does.
            running = self.running.get(key)
            if running is not None:
                running.cancel("the Sync is being deleted")
            self.enqueue(key, Trigger.RESOURCE)
        elif requested != (old_meta.get("annotations") or {}).get(REQUESTED_AT):
            self.enqueue(key, Trigger.CLI)
        elif meta.get("generation") != old_meta.get("generation"):
            self.enqueue(key, Trigger.RESOURCE)
        elif key.kind != "Sync" and _revision(obj) != _revision(old) and not self.owns(key):
            # Its owner found a new revision: fetch it here for this replica's Syncs now,
            # not at this replica's own next look.
            self.enqueue(key, Trigger.RESOURCE)

    def enqueue(self, key: Key, trigger: Trigger) -> None:
        """Reconcile `key` now, remembering why (the ledger records it)."""
        if self.membership is not None:
            standing = self.standing(key)
            if key.kind == "Sync" and standing in (Standing.THEIRS, Standing.JOINING):
                # Another replica's (sources run everywhere: see `_follow`); while joining,
                # `reshard` takes up what is ours once the wait is over.
                return
            if standing is Standing.MINE:
                self._claim(key)
        memory = self.memory.of(key)
        if memory.due is None:
            memory.due = trigger
        if isinstance(memory, SourceMemory) and trigger is not Trigger.INTERVAL:
            memory.asked_at = time.monotonic()
        self.queue.add(key)

    def _later(self, key: Key, delay: float) -> None:
        """Look at `key` again after `delay` (a drift correction that failed), why: drift."""
        memory = self.memory.of(key)
        if memory.due is None:
            memory.due = Trigger.DRIFT
        self.queue.add(key, delay)

    def _gone(self, key: Key) -> None:
        self.cache.drop(key)
        if key in self._mine:
            self._mine.discard(key)
            metrics.REPLICA_OWNED.labels(key.kind).dec()
        if key.kind == "Sync":
            metrics.forget_sync(*key.short)
            # Its deletion let go of what it held. Woken here, where the deletion is seen, not
            # at the end of its finalizer: this very event cancels that finalizer's task, which
            # may still be waiting for the answer to its last write.
            for other in self.memory.held_by(f"{key.namespace}/{key.name}"):
                if other != key:
                    self.enqueue(other, Trigger.RESOURCE)
        else:
            metrics.forget_source(*key.short, kind=key.kind)
        self.queue.forget(key)
        running = self.running.get(key)
        if running is not None:
            running.cancel("the Sync is gone")
        else:
            self._forget(key)

    def _forget(self, key: Key) -> None:
        self.memory.forget(key)
        self.publish.forget(key)
        self.images.forget(key)
        if key.kind == "Sync":
            self.drift.forget(key.short)
            self._watch_arrivals()

    # -- shards ------------------------------------------------------------------------------
    def standing(self, key: Key) -> Standing:
        """What this replica may do with `key` now (work it, always, when not sharded)."""
        if self.membership is None:
            return Standing.MINE
        return self.membership.standing(shard_key(key))

    def owns(self, key: Key) -> bool:
        return self.standing(key) is Standing.MINE

    def _claim(self, key: Key) -> None:
        """Count `key` as this replica's."""
        if key not in self._mine:
            self._mine.add(key)
            metrics.REPLICA_OWNED.labels(key.kind).inc()

    def reshard(self, view: View) -> None:
        """The members changed (or this replica's grace ended): work what became ours at once,
        and stop what is no longer ours (its writes are refused from now on anyway)."""
        mine: set[Key] = set()
        for kind in _KINDS:
            for key in self.cache.keys(kind):
                if self.owns(key):
                    mine.add(key)
        gained, lost = mine - self._mine, self._mine - mine
        self._mine = mine
        for key in lost:
            running = self.running.get(key)
            if running is not None:
                running.cancel("it moved to another replica")
            if key.kind == "Sync":
                self.queue.forget(key)
                metrics.forget_sync(*key.short)
                if running is None:
                    self._forget(key)
        taken = [k.short for k in gained if k.kind == "Sync"]
        if taken:
            # Attempts their previous owner left in progress (it died mid-way, or was cut
            # short handing over) are marked interrupted: only those begun before now.
            task = asyncio.create_task(self.publish.interrupted(taken, datetime.now(UTC)))
            self._requests.add(task)
            task.add_done_callback(self._requests.discard)
        for key in gained:
            self.enqueue(key, Trigger.STARTUP)
        if taken:
            # The sources of Syncs just taken over are fetched here now, owned or not (a
            # follower fetched nothing while it had no Syncs of theirs); a revision they
            # find wakes those Syncs.
            for kind in ("GitSource", "ChartSource"):
                for key in self.cache.keys(kind):
                    if key not in self.running:
                        self.queue.add(key)
        owned = {kind: sum(1 for k in mine if k.kind == kind) for kind in _KINDS}
        for kind, count in owned.items():
            metrics.REPLICA_OWNED.labels(kind).set(count)
        metrics.REPLICA_MEMBERS.set(len(view.members))
        if gained or lost:
            log.info(
                "shares changed",
                members=len(view.members),
                gained=len(gained),
                lost=len(lost),
                syncs=owned["Sync"],
            )

    async def _follow(self, key: Key) -> float | None:
        """A source another replica owns: its owner writes its status, but the Syncs this
        replica owns need its artifact here, so fetch it (writing nothing) as often as the
        owner does. A Sync no longer ours is forgotten."""
        obj = self.cache.get(key)
        if key.kind == "Sync" or obj is None:
            if key.kind == "Sync" and obj is not None:
                self._forget(key)
            return None
        try:
            if key.kind == "GitSource":
                git = GitSource.model_validate(obj)
                if git.spec.suspend:
                    return None
                if self._needed(key):
                    await self.sources.fetch(key, git)
                return parse_duration(git.spec.interval)
            chart = ChartSource.model_validate(obj)
            if chart.spec.suspend:
                return None
            if self._needed(key):
                await self.charts.fetch(key, chart)
            return parse_duration(chart.spec.interval)
        except (GitmoorError, ValueError) as err:
            # The owner reports it in the source's status; this replica's Syncs wait for it.
            log.info("fetch for this replica's Syncs failed", error=str(err))
            return _interval(obj)

    def _needed(self, source: Key) -> bool:
        """Whether a Sync this replica owns reads `source`."""
        field = "sourceRef" if source.kind == "GitSource" else "chartRef"
        for key in self._mine:
            obj = self.cache.get(key) if key.kind == "Sync" else None
            ref = ((obj or {}).get("spec") or {}).get(field) or {}
            if ref.get("name") == source.name and (
                (ref.get("namespace") or key.namespace) == source.namespace
            ):
                return True
        return False

    # -- push triggers -----------------------------------------------------------------------
    def on_push(self, event: PushEvent) -> int:
        """A push announced by a webhook: every GitSource it may concern checks its remote now.
        Returns how many matched."""
        matched = 0
        for key, obj in self.cache.items("GitSource"):
            spec = obj.get("spec") or {}
            ref = spec.get("ref") or {}
            if event.concerns(
                str(spec.get("url", "")),
                branch=ref.get("branch"),
                tag=ref.get("tag"),
                semver=ref.get("semver"),
                commit=ref.get("commit"),
            ):
                self.enqueue(key, Trigger.WEBHOOK)
                if not self.owns(key):
                    # Another replica's source, which did not get this push: ask it to look.
                    task = asyncio.create_task(self._request_check(key))
                    self._requests.add(task)
                    task.add_done_callback(self._requests.discard)
                matched += 1
        log.info("push webhook", ref=event.ref, revision=event.revision, matched=matched)
        return matched

    async def _request_check(self, key: Key) -> None:
        """Annotate a source as `gitmoor sync` does: its owner (and every replica) sees the
        change in its watch and looks at once."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        try:
            await self.kube.patch_merge(
                API_VERSION,
                key.kind,
                key.name,
                key.namespace,
                {"metadata": {"annotations": {REQUESTED_AT: now}}},
            )
        except GitmoorError as err:
            log.warning("could not pass a push on to the source's owner", error=str(err))

    def on_image_push(self, event: ImagePushEvent) -> int:
        """A registry says tags were pushed: the ImageRepositories of those images scan now.
        Returns how many matched."""
        pushed = {ImageName.parse(i).canonical for i in event.images}
        matched = 0
        for key, obj in self.cache.items("ImageRepository"):
            image = str((obj.get("spec") or {}).get("image", ""))
            try:
                canonical = ImageName.parse(image).canonical
            except ValueError:
                continue
            if canonical in pushed:
                self.enqueue(key, Trigger.WEBHOOK)
                matched += 1
        log.info("image push webhook", images=list(event.images), matched=matched)
        return matched

    def _new_artifact(self, source: Key, artifact: Artifact, cause: Trigger) -> None:
        """A source found a new revision: its Syncs reconcile now, and one still waiting on the
        health of an older revision gives that up."""
        trigger = cause if cause in _PASSED_ON else Trigger.RESOURCE
        for key, obj in self.cache.items("Sync"):
            ref = (obj.get("spec") or {}).get("sourceRef") or {}
            kind = ref.get("kind") or "GitSource"
            if Key(kind, ref.get("namespace") or key.namespace, ref.get("name", "")) != source:
                continue
            progress = self.syncs.progress.get(key)
            running = self.running.get(key)
            if (
                running is not None
                and progress is not None
                and progress.stage is Stage.WAIT
                and progress.revision != artifact.revision
            ):
                running.cancel("a newer revision came")
            self.enqueue(key, trigger)

    def _new_chart(self, source: Key, chart: ChartArtifact, cause: Trigger) -> None:
        """A ChartSource resolved a new chart: the Syncs that render it reconcile now, and one
        still waiting on the health of an older chart gives that up."""
        trigger = cause if cause in _PASSED_ON else Trigger.RESOURCE
        for key, obj in self.cache.items("Sync"):
            ref = (obj.get("spec") or {}).get("chartRef") or {}
            if not ref or Key(
                "ChartSource", ref.get("namespace") or key.namespace, ref.get("name", "")
            ) != (source):
                continue
            progress = self.syncs.progress.get(key)
            running = self.running.get(key)
            if (
                running is not None
                and progress is not None
                and progress.stage is Stage.WAIT
                and not progress.revision.startswith(f"{chart.revision};")
            ):
                running.cancel()
            self.enqueue(key, trigger)

    async def _read_secret(self, namespace: str, name: str) -> dict[str, bytes]:
        secret = await self.kube.get("v1", "Secret", name, namespace)
        if secret is None:
            raise SecretNotFoundError(f"Secret {namespace}/{name} not found", url="")
        return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}

    # -- what the drift watch reports goes to the Sync reconciler ---------------------------
    async def _on_drift(self, drift: Drift) -> None:
        key = Key("Sync", *drift.sync)
        if self.owns(key):
            WORKING_ON.set(shard_key(key))
            await self.syncs.on_drift(drift)

    async def _on_health(self, sk: tuple[str, str], failing: tuple[Health, ...]) -> None:
        key = Key("Sync", *sk)
        if self.owns(key):
            WORKING_ON.set(shard_key(key))
            await self.syncs.on_health(sk, failing)

    async def _on_settled(self, sk: tuple[str, str]) -> None:
        self.syncs.on_settled(sk)

    # -- dispatching -------------------------------------------------------------------------
    async def _dispatch(self, gate: asyncio.Semaphore) -> None:
        # Nothing runs before both caches are filled: a Sync must not find its GitSource
        # "missing" only because that list came back second.
        await self.synced.wait()
        while True:
            key = await self.queue.get()
            await gate.acquire()
            # A fresh context per reconcile: its log context is its own.
            task = asyncio.create_task(
                self._work(key, gate), name=f"reconcile {key}", context=contextvars.Context()
            )
            self.running[key] = task

    async def _work(self, key: Key, gate: asyncio.Semaphore) -> None:
        memory = self.memory.of(key)
        memory.trigger, memory.due = memory.due or Trigger.INTERVAL, None
        # Every log line of this reconcile (this task's context) names what it is about.
        structlog.contextvars.bind_contextvars(
            **{"sync" if key.kind == "Sync" else "source": f"{key.namespace}/{key.name}"},
            trigger=memory.trigger.value,
        )
        delay: float | None = None
        # The client's write fence refuses this task's writes once the key is not ours.
        WORKING_ON.set(shard_key(key))
        standing = self.standing(key)
        if standing is Standing.MINE and self.membership is not None:
            self._claim(key)  # queued while this replica was unsure of it
        try:
            if standing is Standing.UNSURE:
                # Own Lease or view not fresh (a slow renewal): nothing may be written now,
                # and nothing is dropped either; the membership recovers or is lost.
                delay = self.membership.renew if self.membership is not None else None
            elif standing is not Standing.MINE:
                delay = await self._follow(key)
            elif key.kind == "GitSource":
                delay = await self.sources.reconcile(key)
            elif key.kind == "ChartSource":
                delay = await self.charts.reconcile(key)
            elif key.kind == "OCISource":
                delay = await self.oci.reconcile(key)
            elif key.kind in IMAGE_KINDS:
                delay = await self.images.reconcile(key)
            else:
                delay = await self.syncs.reconcile(key)
        except asyncio.CancelledError:
            if self.cache.get(key) is None:
                return
            # Superseded by a newer revision, or cut short by a deletion: look again now (a
            # closed queue, when stopping, takes nothing).
            self.enqueue(key, Trigger.RESOURCE)
            return
        except Exception as err:
            delay = await self._crashed(key, err)
        finally:
            self.running.pop(key, None)
            self.queue.done(key)
            gate.release()
            if self.cache.get(key) is None:
                self._forget(key)
            if key.kind == "Sync":
                self._watch_arrivals()
        if delay is not None and self.cache.get(key) is not None:
            self.queue.schedule(key, delay)

    async def _crashed(self, key: Key, error: Exception) -> float | None:
        log.exception("reconcile crashed", object=str(key))
        obj = self.cache.get(key)
        if obj is None:
            return None
        interval = _interval(obj)
        answer = report.crashed(
            obj,
            error,
            begun=self.publish.begun(key),
            failures=self.memory.of(key).failures,
            interval=interval,
            kind=key.kind,
        )
        try:
            return await self.publish(key, answer)
        except Exception:
            log.exception("could not report the crash", object=str(key))
            return jittered(interval)


def _revision(obj: Obj) -> str:
    return str(((obj.get("status") or {}).get("artifact") or {}).get("revision") or "")


def _interval(obj: Obj) -> float:
    try:
        return parse_duration(str((obj.get("spec") or {}).get("interval") or "5m"))
    except (ValueError, GitmoorError):
        return _CRASH_INTERVAL
