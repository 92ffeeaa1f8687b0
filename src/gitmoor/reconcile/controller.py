"""The agent: watch GitSources and Syncs, reconcile each on its interval, on change and on
request; one worker per key at a time, a bounded number at once."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from gitmoor import metrics
from gitmoor.apply import prune as apply_prune
from gitmoor.errors import (
    ApplyError,
    GitmoorError,
    KubeApiError,
    PermanentError,
    SecretNotFoundError,
    SourceConfigError,
    TransientError,
)
from gitmoor.kube import Kube, WatchEvent
from gitmoor.ledger import Ledger, LedgerError
from gitmoor.model import Applied, Artifact, Health, InventoryEntry, ObjectRef
from gitmoor.model.credentials import GitCredentials
from gitmoor.model.durations import parse_duration
from gitmoor.model.notifications import NotificationEvent, NotificationKind, PushEvent
from gitmoor.model.record import Record
from gitmoor.model.resources import API_VERSION, GitRef, GitSource, Sync
from gitmoor.notify import Notifier
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile import events, records
from gitmoor.reconcile import status as st
from gitmoor.reconcile.dependencies import blocked, dependants
from gitmoor.reconcile.drift import Drift, DriftMonitor
from gitmoor.reconcile.informer import follow
from gitmoor.reconcile.pipeline import HealthGateError, Outcome, Stage, restore, run
from gitmoor.reconcile.queue import WorkQueue, backoff, jittered
from gitmoor.reconcile.snapshots import Snapshot, SnapshotStore
from gitmoor.sources import GitFetcher

log = structlog.get_logger("gitmoor.agent")

REQUESTED_AT = "gitmoor.io/reconcile-requested-at"
# Set to the same value as REQUESTED_AT: retry even a revision that was rolled back.
FORCE_AT = "gitmoor.io/force-requested-at"
FINALIZER = "gitmoor.io/finalizer"
# `gitmoor rollback` pins a Sync to a commit; `gitmoor resume` removes the pin.
PINNED = "gitmoor.io/pinned-revision"
_SOURCE_RETRY_CAP = 60.0

Key = tuple[str, str, str]  # (kind, namespace, name)


class Trigger:
    """What made a reconcile happen, as the ledger records it."""

    INTERVAL = "interval"
    RESOURCE = "resource"  # the GitSource/Sync itself changed
    SOURCE = "source"  # its source has a new revision
    CLI = "cli"  # gitmoor sync / rollback
    WEBHOOK = "webhook"
    STARTUP = "startup"


_PASSED_ON = (Trigger.INTERVAL, Trigger.WEBHOOK, Trigger.CLI)


@dataclass
class AgentOptions:
    cache_dir: Path
    concurrency: int = 4
    namespace: str = ""  # watch one namespace; empty: all
    shutdown_grace: float = 20.0
    ledger: Ledger | None = None
    # While the watch covers a Sync, its unchanged revision is fully re-planned only this often.
    full_resync: float = 3600.0
    cluster: str = "default"
    environment: str = ""


@dataclass
class _Running:
    task: asyncio.Task[Any]
    revision: str = ""
    stage: str = ""
    superseded: bool = False


@dataclass
class _State:
    failures: dict[Key, int] = field(default_factory=dict)
    artifacts: dict[tuple[str, str], Artifact] = field(default_factory=dict)


class Agent:
    def __init__(self, kube: Kube, options: AgentOptions) -> None:
        self.kube = kube
        self.options = options
        self.fetcher = GitFetcher(options.cache_dir)
        self.snapshots = SnapshotStore(options.cache_dir / "healthy")
        self.notifier = Notifier(self._read_secret)
        self.events = events.EventRecorder(kube)
        self.drift = DriftMonitor(kube, self._on_drift, self._on_health)
        # `drift: report` Syncs: what differs from Git, per Sync, until the next apply.
        self.reported: dict[tuple[str, str], dict[ObjectRef, tuple[str, ...]]] = {}
        self._corrections: dict[ObjectRef, list[float]] = {}
        self._restored: dict[tuple[str, str], Outcome] = {}
        self._full_at: dict[tuple[str, str], float] = {}
        self.queue: WorkQueue[Key] = WorkQueue()
        self.objects: dict[Key, dict[str, Any]] = {}
        self.running: dict[Key, _Running] = {}
        self.state = _State()
        self.synced = asyncio.Event()
        self._synced_kinds: set[str] = set()
        self._source_locks: dict[tuple[str, str], asyncio.Lock] = {}
        # Why each queued key is due; popped when its reconcile starts (default: its interval).
        self.triggers: dict[Key, str] = {}
        self.current_trigger: dict[Key, str] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile until `stop` is set, then finish in-flight work within the grace period."""
        gate = asyncio.Semaphore(self.options.concurrency)
        await self.notifier.start()
        try:
            await self._run(gate, stop)
        finally:
            await self.drift.close()
            await self.notifier.close()

    async def _run(self, gate: asyncio.Semaphore, stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as group:
            watchers = [
                group.create_task(self._informer("GitSource")),
                group.create_task(self._informer("Sync")),
            ]
            dispatcher = group.create_task(self._dispatch(gate))
            await stop.wait()
            log.info("shutting down", running=len(self.running))
            self.queue.close()
            for task in watchers:
                task.cancel()
            dispatcher.cancel()
            await self._drain()

    async def _drain(self) -> None:
        tasks = [r.task for r in self.running.values()]
        if not tasks:
            return
        # Reconciles in a health wait can take minutes: those are cancelled now; the rest get
        # the grace period to finish writing their status.
        for r in self.running.values():
            if r.stage == Stage.WAIT:
                r.task.cancel()
        _, pending = await asyncio.wait(tasks, timeout=self.options.shutdown_grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)

    # -- watching ----------------------------------------------------------------------------
    async def _informer(self, kind: str) -> None:
        async def listed(items: list[dict[str, Any]]) -> None:
            seen = set()
            for obj in items:
                key = self._key(obj)
                seen.add(key)
                self._observe(key, obj)
            for key in [k for k in self.objects if k[0] == kind and k not in seen]:
                self._gone(key)
            self._synced_kinds.add(kind)
            if self._synced_kinds >= {"GitSource", "Sync"}:
                self.synced.set()

        async def changed(event: WatchEvent) -> None:
            key = self._key(event.obj)
            if event.type == "DELETED":
                self._gone(key)
            else:
                self._observe(key, event.obj)

        await follow(
            self.kube,
            API_VERSION,
            kind,
            namespace=self.options.namespace,
            on_list=listed,
            on_event=changed,
        )

    @staticmethod
    def _key(obj: dict[str, Any]) -> Key:
        meta = obj["metadata"]
        return (str(obj["kind"]), str(meta.get("namespace", "")), str(meta["name"]))

    def _observe(self, key: Key, obj: dict[str, Any]) -> None:
        old = self.objects.get(key)
        self.objects[key] = obj
        if old is None:
            self._enqueue(key, Trigger.STARTUP if not self.synced.is_set() else Trigger.RESOURCE)
            return
        meta, old_meta = obj["metadata"], old["metadata"]
        requested = (meta.get("annotations") or {}).get(REQUESTED_AT)
        if meta.get("deletionTimestamp") and not old_meta.get("deletionTimestamp"):
            self._enqueue(key, Trigger.RESOURCE)
        elif requested != (old_meta.get("annotations") or {}).get(REQUESTED_AT):
            self._enqueue(key, Trigger.CLI)
        elif meta.get("generation") != old_meta.get("generation"):
            self._enqueue(key, Trigger.RESOURCE)

    def _enqueue(self, key: Key, trigger: str) -> None:
        """Reconcile `key` now, remembering why (the ledger records it)."""
        self.triggers.setdefault(key, trigger)
        self.queue.add(key)

    def _gone(self, key: Key) -> None:
        self.objects.pop(key, None)
        (metrics.forget_source if key[0] == "GitSource" else metrics.forget_sync)(key[1], key[2])
        self.queue.forget(key)
        running = self.running.get(key)
        if running is not None:
            running.task.cancel()
        if key[0] == "GitSource":
            self.state.artifacts.pop((key[1], key[2]), None)

    # -- webhooks ----------------------------------------------------------------------------
    def on_push(self, event: PushEvent) -> int:
        """A push announced by a webhook: every GitSource it may concern checks its remote now.
        Returns how many matched."""
        matched = 0
        for key, obj in list(self.objects.items()):
            if key[0] != "GitSource":
                continue
            spec = obj.get("spec") or {}
            ref = spec.get("ref") or {}
            if event.concerns(
                str(spec.get("url", "")),
                branch=ref.get("branch"),
                tag=ref.get("tag"),
                semver=ref.get("semver"),
                commit=ref.get("commit"),
            ):
                self._enqueue(key, Trigger.WEBHOOK)
                matched += 1
        log.info("push webhook", ref=event.ref, revision=event.revision, matched=matched)
        return matched

    async def _read_secret(self, namespace: str, name: str) -> dict[str, bytes]:
        secret = await self.kube.get("v1", "Secret", name, namespace)
        if secret is None:
            raise SecretNotFoundError(f"Secret {namespace}/{name} not found", url="")
        return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}

    def _notify(
        self,
        sync: Sync,
        kind: NotificationKind,
        revision: str,
        reason: str,
        message: str,
        *,
        restored: str = "",
    ) -> None:
        if not sync.spec.notifications:
            return
        source = (
            self.objects.get(
                (
                    "GitSource",
                    sync.spec.source_ref.namespace or sync.metadata.namespace,
                    sync.spec.source_ref.name,
                )
            )
            or {}
        )
        self.notifier.notify(
            NotificationEvent(
                kind=kind,
                namespace=sync.metadata.namespace,
                name=sync.metadata.name,
                revision=revision,
                reason=reason,
                message=message,
                sinks=tuple(sync.spec.notifications),
                source_url=str((source.get("spec") or {}).get("url", "")),
                restored_revision=restored,
            )
        )

    # -- dispatching -------------------------------------------------------------------------
    async def _dispatch(self, gate: asyncio.Semaphore) -> None:
        # Nothing runs before both caches are filled: a Sync must not find its GitSource
        # "missing" only because that list came back second.
        await self.synced.wait()
        while True:
            key = await self.queue.get()
            await gate.acquire()
            task = asyncio.create_task(self._work(key, gate), name=f"reconcile {key}")
            self.running[key] = _Running(task)

    async def _work(self, key: Key, gate: asyncio.Semaphore) -> None:
        self.current_trigger[key] = self.triggers.pop(key, Trigger.INTERVAL)
        # Every log line of this reconcile (this task's context) names what it is about.
        structlog.contextvars.bind_contextvars(
            **{"source" if key[0] == "GitSource" else "sync": f"{key[1]}/{key[2]}"},
            trigger=self.current_trigger[key],
        )
        try:
            obj = self.objects.get(key)
            if obj is None:
                return
            handler: Callable[[Key, dict[str, Any]], Awaitable[float | None]]
            handler = self._reconcile_source if key[0] == "GitSource" else self._reconcile_sync
            try:
                delay = await handler(key, obj)
            except asyncio.CancelledError:
                running = self.running.get(key)
                if running is not None and running.superseded:
                    self._enqueue(key, Trigger.SOURCE)
                    return
                raise
            except Exception:
                log.exception("reconcile crashed", object=f"{key[0]}/{key[1]}/{key[2]}")
                failures = self.state.failures[key] = self.state.failures.get(key, 0) + 1
                delay = backoff(failures)
            if delay is not None and key in self.objects:
                self.queue.schedule(key, delay)
        finally:
            self.running.pop(key, None)
            self.queue.done(key)
            gate.release()

    def _next(
        self, key: Key, interval: str, error: GitmoorError | None, retry: str | None
    ) -> float:
        if error is None:
            self.state.failures.pop(key, None)
            return jittered(parse_duration(interval))
        if isinstance(error, PermanentError):
            # Retrying the same input cannot help: wait a whole interval, no hot loop.
            self.state.failures.pop(key, None)
            return jittered(parse_duration(interval))
        failures = self.state.failures[key] = self.state.failures.get(key, 0) + 1
        cap = parse_duration(retry or interval)
        return backoff(failures, cap=cap)

    # -- GitSource ---------------------------------------------------------------------------
    async def _credentials(self, source: GitSource) -> GitCredentials | None:
        ref = source.spec.secret_ref
        if ref is None:
            return None
        secret = await self.kube.get("v1", "Secret", ref.name, source.metadata.namespace)
        if secret is None:
            raise SecretNotFoundError(
                f"Secret {source.metadata.namespace}/{ref.name} named in spec.secretRef not found",
                url=source.spec.url,
            )
        try:
            return GitCredentials.from_secret_data(dict(secret.get("data") or {}))
        except ValueError as err:
            raise SourceConfigError(
                f"Secret {source.metadata.namespace}/{ref.name}: {err}", url=source.spec.url
            ) from None

    async def fetch(self, source: GitSource) -> Artifact:
        """Fetch (or confirm with a cheap remote check) the source's revision, one at a time."""
        skey = (source.metadata.namespace, source.metadata.name)
        lock = self._source_locks.setdefault(skey, asyncio.Lock())
        async with lock:
            credentials = await self._credentials(source)
            artifact = await self.fetcher.fetch(
                f"{skey[0]}/{skey[1]}",
                source.spec,
                credentials,
                timeout=parse_duration(source.spec.timeout),
            )
        previous = self.state.artifacts.get(skey)
        self.state.artifacts[skey] = artifact
        if previous is None or previous.revision != artifact.revision:
            self._source_changed(skey, artifact)
        return artifact

    def _source_changed(self, skey: tuple[str, str], artifact: Artifact) -> None:
        for key, obj in list(self.objects.items()):
            if key[0] != "Sync":
                continue
            ref = (obj.get("spec") or {}).get("sourceRef") or {}
            if (ref.get("namespace") or key[1], ref.get("name")) != skey:
                continue
            running = self.running.get(key)
            if (
                running is not None
                and running.stage == Stage.WAIT
                and running.revision != artifact.revision
            ):
                # A newer revision makes waiting on the old one pointless.
                running.superseded = True
                running.task.cancel()
            else:
                # A commit found by polling, a webhook or a CLI request is what caused this.
                cause = self.current_trigger.get(("GitSource", *skey), Trigger.INTERVAL)
                self._enqueue(key, cause if cause in _PASSED_ON else Trigger.SOURCE)

    async def _reconcile_source(self, key: Key, obj: dict[str, Any]) -> float | None:
        try:
            source = GitSource.model_validate(obj)
        except ValueError as err:
            await self._write_status(
                key,
                obj,
                st.failed_before_apply(
                    obj.get("status") or {},
                    obj["metadata"].get("generation"),
                    "InvalidSpec",
                    str(err),
                    stalled=True,
                ),
            )
            return None
        if source.spec.suspend:
            return None
        generation = obj["metadata"].get("generation")
        requested = (obj["metadata"].get("annotations") or {}).get(REQUESTED_AT)
        artifact: Artifact | None = None
        error: GitmoorError | None = None
        started = time.monotonic()
        before = self.state.artifacts.get((key[1], key[2]))
        try:
            artifact = await self.fetch(source)
            result = "unchanged" if before and before.revision == artifact.revision else "success"
        except GitmoorError as err:
            error = err
            result = "failure"
            log.warning("fetch failed", source=f"{key[1]}/{key[2]}", error=str(err))
        metrics.GIT_FETCH_DURATION.labels(key[1], key[2], result).observe(
            time.monotonic() - started
        )
        metrics.GIT_FETCHES.labels(key[1], key[2], result).inc()
        new = st.source_status(obj.get("status") or {}, generation, artifact, error)
        if requested:
            new["lastHandledReconcileAt"] = requested
        await self._write_status(key, obj, new)
        for c in new.get("conditions") or []:
            metrics.set_condition("GitSource", key[1], key[2], str(c["type"]), str(c["status"]))
        if error is not None:
            await self.events.emit(obj, events.WARNING, st.error_reason(error)[0], str(error))
        elif artifact is not None and (before is None or before.revision != artifact.revision):
            subject = artifact.commit.message.splitlines()[0] if artifact.commit.message else ""
            await self.events.emit(
                obj, events.NORMAL, "NewArtifact", f"{artifact.revision}: {subject}"
            )
        return self._next(key, source.spec.interval, error, None)

    # -- Sync --------------------------------------------------------------------------------
    async def _reconcile_sync(self, key: Key, obj: dict[str, Any]) -> float | None:
        old = obj.get("status") or {}
        generation = obj["metadata"].get("generation")
        requested = (obj["metadata"].get("annotations") or {}).get(REQUESTED_AT)
        try:
            sync = Sync.model_validate(obj)
        except ValueError as err:
            await self._write_status(
                key,
                obj,
                st.failed_before_apply(old, generation, "InvalidSpec", str(err), stalled=True),
            )
            return None
        if obj["metadata"].get("deletionTimestamp"):
            self.drift.forget((key[1], key[2]))
            await self._finalize(key, obj, sync)
            return None
        if sync.spec.suspend:
            self.drift.forget((key[1], key[2]))
            return None
        if FINALIZER not in (obj["metadata"].get("finalizers") or []):
            obj = await self._add_finalizer(key, obj)
        waiting = blocked(sync, self._syncs())
        if waiting is not None:
            new = st.failed_before_apply(
                old, generation, waiting.reason, waiting.message, stalled=waiting.stalled
            )
            if requested:
                new["lastHandledReconcileAt"] = requested
            await self._write_status(key, obj, new)
            return waiting.retry
        annotations = obj["metadata"].get("annotations") or {}
        pinned = annotations.get(PINNED)
        artifact, delay = await self._sync_artifact(key, obj, sync, requested, pinned)
        if artifact is None:
            return delay
        previous = [
            InventoryEntry(e["id"], e["v"])
            for e in ((old.get("inventory") or {}).get("entries") or [])
        ]
        forced = bool(requested) and annotations.get(FORCE_AT) == requested
        if (
            sync.spec.atomic
            and old.get("lastFailedRevision") == artifact.revision
            and old.get("observedGeneration") == generation
            and not forced
        ):
            # Rolled back already: retrying the same revision would only fail and roll back
            # again. A new commit, a spec change or `gitmoor sync --force` tries it again.
            if requested and old.get("lastHandledReconcileAt") != requested:
                await self._write_status(key, obj, {**old, "lastHandledReconcileAt": requested})
            return jittered(parse_duration(sync.spec.interval))
        running = self.running.get(key)
        if running is not None:
            running.revision = artifact.revision
        if (
            old.get("lastAppliedRevision") != artifact.revision
            or old.get("observedGeneration") != generation
        ):
            await self._write_status(
                key,
                obj,
                st.reconciling(old, generation, f"Reconciling revision {artifact.revision}"),
            )
            obj = self.objects.get(key, obj)
            old = obj.get("status") or old

        def on_stage(name: str) -> None:
            if running is not None:
                running.stage = name

        structlog.contextvars.bind_contextvars(revision=artifact.revision)
        sk = (key[1], key[2])
        asked = bool(requested and old.get("lastHandledReconcileAt") != requested)
        # The drift watch vouches for what the last apply left while the Sync is Ready, nothing
        # was asked for, and the last full reconcile is recent; otherwise everything is checked.
        ready = cond.get_condition(obj, cond.READY) or {}
        watched = (
            not asked
            # Degraded since it applied is still applied: the watch reports when it recovers.
            and (ready.get("status") == "True" or ready.get("reason") == st.DEGRADED)
            and self.drift.count(sk) > 0
            and time.monotonic() - self._full_at.get(sk, 0.0) < self.options.full_resync
        )
        if (
            watched
            and old.get("lastAppliedRevision") == artifact.revision
            and old.get("observedGeneration") == generation
        ):
            # Nothing new, and the watch reports any drift within seconds: an unchanged
            # revision costs nothing here. A full reconcile still runs every `full_resync`.
            log.debug("unchanged, watched: nothing to do")
            return jittered(parse_duration(sync.spec.interval))
        outcome = Outcome(revision=artifact.revision)
        # `drift: report` applies new revisions and spec changes (and what a user asks for), but
        # never rewrites the revision it already applied: it reports what differs instead.
        detect_only = (
            sync.spec.drift == "report"
            and old.get("lastAppliedRevision") == artifact.revision
            and old.get("observedGeneration") == generation
            and not asked
        )
        known: dict[ObjectRef, Applied] | None = None
        if watched and not detect_only:
            # Objects found drifted (and left so: `drift: report`, or a fight) are checked anew.
            drifted = self.reported.get(sk, {})
            known = {r: a for r, a in self.drift.tracked(sk).items() if r not in drifted}
        else:
            self._full_at[sk] = time.monotonic()
        record_id: int | None = None
        begun: Record | None = None
        # A record is begun before writing whenever the attempt may change the cluster: a new
        # revision or spec. Re-running the applied revision is recorded only if it wrote.
        if not detect_only and (
            old.get("lastAppliedRevision") != artifact.revision
            or old.get("observedGeneration") != generation
        ):
            begun = self._record_start(key, sync, artifact, bool(pinned), outcome.started)
            record_id = await self._ledger_begin(begun)
        self.drift.pause(sk)
        try:
            await run(
                self.kube,
                sync,
                artifact,
                previous,
                on_stage=on_stage,
                outcome=outcome,
                detect_only=detect_only,
                known=known,
            )
        except asyncio.CancelledError:
            # Whatever was applied must stay in the inventory so a later prune finds it.
            if outcome.inventory is not None:
                with contextlib.suppress(GitmoorError):
                    await asyncio.shield(
                        self._write_status(
                            key,
                            obj,
                            {
                                **old,
                                "inventory": {
                                    "entries": [{"id": e.id, "v": e.v} for e in outcome.inventory]
                                },
                            },
                        )
                    )
            raise
        self._log_outcome(key, outcome)
        new = await self._settle(
            key,
            obj,
            sync,
            outcome,
            old,
            requested,
            pinned,
            detect_only=detect_only,
            on_stage=on_stage,
        )
        await self._write_status(key, obj, new)
        self._account(key, sync, outcome, new, old)
        if outcome.error is None:
            self._wake_dependants(key)
        if begun is None and (outcome.wrote or outcome.error is not None) and not detect_only:
            # An interval run that changed the cluster (or tried to) is an attempt too.
            begun = self._record_start(key, sync, artifact, bool(pinned), outcome.started)
            record_id = await self._ledger_begin(begun)
        if begun is not None and record_id is not None:
            final = records.finished(
                begun,
                outcome,
                reason=_ready_reason(new),
                message=new_message(new),
                restored=self._restored.pop(sk, None),
            )
            await self._ledger_finish(record_id, final)
        if new.get("lastFailedRevision") == outcome.revision and outcome.error is not None:
            return jittered(parse_duration(sync.spec.interval))
        return self._next(key, sync.spec.interval, outcome.error, sync.spec.retry_interval)

    async def _settle(
        self,
        key: Key,
        obj: dict[str, Any],
        sync: Sync,
        outcome: Outcome,
        old: dict[str, Any],
        requested: str | None,
        pinned: str | None,
        *,
        detect_only: bool,
        on_stage: Callable[[str], None],
    ) -> dict[str, Any]:
        """After an attempt: what the drift watch compares, the snapshot, Events, a rollback
        when an atomic Sync failed; returns the status to write."""
        generation = obj["metadata"].get("generation")
        ns, name = sk = (key[1], key[2])
        if outcome.error is None:
            self.drift.track(sk, outcome.tracked)
            if detect_only:
                self.reported[sk] = dict(outcome.drifted)
            else:
                self.reported.pop(sk, None)
            if (
                outcome.desired
                and not detect_only
                and old.get("lastHealthyRevision") != outcome.revision
            ):
                self.snapshots.save(ns, name, Snapshot(outcome.revision, outcome.desired))
            new = st.sync_status(old, generation, outcome, wait=sync.spec.wait, handled=requested)
            new = st.with_drift(new, generation, self.reported.get(sk, {}))
            metrics.DRIFTED_OBJECTS.labels(ns, name).set(len(self.reported.get(sk, {})))
            if outcome.drifted and detect_only:
                self._notify_drift(sync, outcome.revision, new)
            new.pop("lastFailedRevision", None)
            _mark_pinned(new, pinned, generation)
            recovered = old.get("lastFailedRevision") or (
                cond.get_condition(obj, cond.READY) and not cond.is_true(obj, cond.READY)
            )
            if recovered or outcome.wrote:
                message = f"applied revision {outcome.revision}: {outcome.changes.summary()}"
                await self.events.emit(obj, events.NORMAL, "ReconciliationSucceeded", message)
        elif sync.spec.atomic and isinstance(outcome.error, ApplyError | HealthGateError):
            self.drift.resume(sk)
            new = await self._roll_back(
                key, obj, sync, outcome, old, generation, requested, on_stage
            )
        else:
            self.drift.resume(sk)
            new = st.sync_status(old, generation, outcome, wait=sync.spec.wait, handled=requested)
            _mark_pinned(new, pinned, generation)
            if outcome.wrote or old.get("lastAttemptedRevision") != outcome.revision:
                reason = st.error_reason(outcome.error)[0]
                await self.events.emit(obj, events.WARNING, reason, str(outcome.error))
        return new

    async def _sync_artifact(
        self,
        key: Key,
        obj: dict[str, Any],
        sync: Sync,
        requested: str | None,
        pinned: str | None,
    ) -> tuple[Artifact | None, float | None]:
        """The artifact the Sync is to apply: its source's, or the pinned commit's. Without one,
        the Sync's status says why and the delay until the next try comes back instead."""
        src_ns = sync.spec.source_ref.namespace or sync.metadata.namespace
        skey = (src_ns, sync.spec.source_ref.name)
        artifact = self.state.artifacts.get(skey)
        if artifact is None:
            source_obj = self.objects.get(("GitSource", *skey))
            if source_obj is None:
                return None, await self._not_ready(
                    key, obj, "SourceNotFound", f"GitSource {src_ns}/{skey[1]} not found", requested
                )
            if not (source_obj.get("status") or {}).get("artifact"):
                # The source reports its own problem and wakes its Syncs when it succeeds.
                ready = cond.get_condition(source_obj, cond.READY) or {}
                return None, await self._not_ready(
                    key,
                    obj,
                    "SourceNotReady",
                    f"GitSource {src_ns}/{skey[1]} has no artifact yet"
                    + (f": {ready['message']}" if ready.get("message") else ""),
                    requested,
                )
            try:
                # Known to the cluster but not to this process (a restart): a cheap check.
                artifact = await self.fetch(GitSource.model_validate(source_obj))
            except (GitmoorError, ValueError) as err:
                return None, await self._not_ready(
                    key,
                    obj,
                    "SourceNotReady",
                    f"GitSource {src_ns}/{skey[1]} has no artifact: {err}",
                    requested,
                )
        if pinned:
            try:
                artifact = await self._pinned_artifact(skey, pinned)
            except (GitmoorError, ValueError) as err:
                return None, await self._not_ready(
                    key,
                    obj,
                    "PinnedRevisionUnavailable",
                    f"pinned revision {pinned}: {err}",
                    requested,
                )
        return artifact, None

    def _account(
        self, key: Key, sync: Sync, outcome: Outcome, new: dict[str, Any], old: dict[str, Any]
    ) -> None:
        """Metrics and notifications, both derived from the outcome and the status written."""
        ns, name = key[1], key[2]
        ready: dict[str, Any] = next(
            (c for c in new.get("conditions") or [] if c.get("type") == cond.READY), {}
        )
        reason = str(ready.get("reason", ""))
        if outcome.error is None:
            result = "success"
        elif reason in ("RolledBack", "RollbackFailed"):
            result = "rollback"
        else:
            result = (
                "stalled"
                if any(
                    c.get("type") == cond.STALLED and c.get("status") == "True"
                    for c in new.get("conditions") or []
                )
                else "failure"
            )
        metrics.RECONCILE_DURATION.labels(ns, name, result).observe(
            max(0.0, outcome.finished - outcome.started)
        )
        metrics.RECONCILES.labels(ns, name, result).inc()
        _condition_metrics((ns, name), new)
        entries = ((new.get("inventory") or {}).get("entries")) or []
        metrics.MANAGED_OBJECTS.labels(ns, name).set(len(entries))

        was_ready = next(
            (
                c.get("status") == "True"
                for c in old.get("conditions") or []
                if c.get("type") == cond.READY
            ),
            None,
        )
        message = str(ready.get("message", ""))
        if result == "rollback":
            self._notify(
                sync,
                NotificationKind.ROLLBACK,
                outcome.revision,
                reason,
                message,
                restored=str(new.get("lastAppliedRevision", "")),
            )
        elif outcome.error is not None:
            self._notify(sync, NotificationKind.FAILURE, outcome.revision, reason, message)
        elif was_ready is False:
            self._notify(sync, NotificationKind.RECOVERY, outcome.revision, reason, message)

    async def _roll_back(
        self,
        key: Key,
        obj: dict[str, Any],
        sync: Sync,
        failed: Outcome,
        old: dict[str, Any],
        generation: int | None,
        requested: str | None,
        on_stage: Callable[[str], None],
    ) -> dict[str, Any]:
        snapshot = self.snapshots.load(key[1], key[2])
        if snapshot is None or snapshot.revision == failed.revision:
            new = st.rolled_back(old, generation, failed, None, handled=requested)
            message = new_message(new)
            await self.events.emit(obj, events.WARNING, "RollbackImpossible", message)
            return new
        log.warning(
            "rolling back",
            sync=f"{key[1]}/{key[2]}",
            failed=failed.revision,
            to=snapshot.revision,
            error=str(failed.error),
        )
        failed_inventory = failed.inventory or failed.partial
        restored = await restore(self.kube, sync, snapshot, failed_inventory, on_stage=on_stage)
        self._restored[(key[1], key[2])] = restored
        self._log_outcome(key, restored)
        if restored.error is None:
            self.drift.track((key[1], key[2]), restored.tracked)
        new = st.rolled_back(old, generation, failed, restored, handled=requested)
        reason = "RolledBack" if restored.error is None else "RollbackFailed"
        await self.events.emit(obj, events.WARNING, reason, new_message(new))
        return new

    async def _pinned_artifact(self, skey: tuple[str, str], pinned: str) -> Artifact:
        """The artifact of a pinned commit (`gitmoor rollback`), fetched by its sha."""
        sha = pinned.rpartition("sha1:")[2] or pinned
        current = self.state.artifacts.get(skey)
        if current is not None and current.commit.sha.startswith(sha):
            return current
        source_obj = self.objects.get(("GitSource", *skey))
        if source_obj is None:
            raise GitmoorError(f"GitSource {skey[0]}/{skey[1]} not found")
        source = GitSource.model_validate(source_obj)
        spec = source.spec.model_copy(update={"ref": GitRef(commit=sha)})
        credentials = await self._credentials(source)
        return await self.fetcher.fetch(
            f"{skey[0]}/{skey[1]}#pinned", spec, credentials, timeout=parse_duration(spec.timeout)
        )

    # -- ledger ------------------------------------------------------------------------------
    def _record_start(
        self, key: Key, sync: Sync, artifact: Artifact, pinned: bool, at: float
    ) -> Record:
        src_ns = sync.spec.source_ref.namespace or sync.metadata.namespace
        source = self.objects.get(("GitSource", src_ns, sync.spec.source_ref.name)) or {}
        return records.started(
            namespace=key[1],
            name=key[2],
            environment=sync.spec.environment or self.options.environment or self.options.cluster,
            cluster=self.options.cluster,
            source_url=str((source.get("spec") or {}).get("url", "")),
            artifact=artifact,
            trigger=self.current_trigger.get(key, Trigger.INTERVAL),
            pinned=pinned,
            at=at,
        )

    async def _ledger_begin(self, record: Record) -> int | None:
        if self.options.ledger is None:
            return None
        try:
            return await self.options.ledger.begin(record)
        except LedgerError as err:
            log.warning("ledger unavailable: attempt not recorded", error=str(err))
            return None

    async def _ledger_finish(self, record_id: int, record: Record) -> None:
        if self.options.ledger is None:
            return
        try:
            await self.options.ledger.finish(record_id, record)
        except LedgerError as err:
            log.warning("ledger unavailable: attempt left in progress", error=str(err))

    # -- drift -------------------------------------------------------------------------------
    async def _on_drift(self, drift: Drift) -> None:
        key = ("Sync", *drift.sync)
        obj = self.objects.get(key)
        if obj is None or (obj.get("spec") or {}).get("suspend"):
            return
        what = "deleted" if drift.deleted else ", ".join(drift.fields)
        mode = (obj.get("spec") or {}).get("drift", "correct")
        if mode == "correct" and not self._fighting(drift.ref):
            await self.kube.apply(drift.desired)
            log.info(
                "drift corrected",
                sync=f"{drift.sync[0]}/{drift.sync[1]}",
                object=str(drift.ref),
                fields=what,
            )
            await self.events.emit(obj, events.NORMAL, "DriftCorrected", f"{drift.ref}: {what}")
            return
        sync = Sync.model_validate(obj)
        found = self.reported.setdefault(drift.sync, {})
        if found.get(drift.ref) == drift.fields:
            return
        found[drift.ref] = drift.fields
        generation = obj["metadata"].get("generation")
        new = st.with_drift(obj.get("status") or {}, generation, found)
        await self._write_status(key, obj, new)
        metrics.DRIFTED_OBJECTS.labels(*drift.sync).set(len(found))
        log.warning(
            "drift", sync=f"{drift.sync[0]}/{drift.sync[1]}", object=str(drift.ref), fields=what
        )
        await self.events.emit(obj, events.WARNING, "DriftDetected", f"{drift.ref}: {what}")
        self._notify_drift(sync, str((obj.get("status") or {}).get("lastAppliedRevision", "")), new)

    async def _on_health(self, sk: tuple[str, str], failing: tuple[Health, ...]) -> None:
        """A health-gated Sync whose applied objects turn Failed goes Ready=False at once (not
        at its next reconcile), and Ready again when they are Current again."""
        key = ("Sync", *sk)
        obj = self.objects.get(key)
        if obj is None:
            return
        sync = Sync.model_validate(obj)
        if sync.spec.suspend or not sync.spec.wait:
            return
        ready = cond.get_condition(obj, cond.READY) or {}
        old = obj.get("status") or {}
        generation = obj["metadata"].get("generation")
        revision = str(old.get("lastAppliedRevision", ""))
        if failing and ready.get("status") == "True":
            new = st.degraded(old, generation, failing)
            message = new_message(new)
            log.warning("health degraded", sync=f"{sk[0]}/{sk[1]}", message=message)
            await self._write_status(key, obj, new)
            await self.events.emit(obj, events.WARNING, st.DEGRADED, message)
            _condition_metrics(sk, new)
            self._notify(sync, NotificationKind.FAILURE, revision, st.DEGRADED, message)
        elif failing and ready.get("reason") == st.DEGRADED:
            await self._write_status(key, obj, st.degraded(old, generation, failing))
        elif not failing and ready.get("reason") == st.DEGRADED:
            new = st.recovered(old, generation)
            log.info("health recovered", sync=f"{sk[0]}/{sk[1]}")
            await self._write_status(key, obj, new)
            await self.events.emit(obj, events.NORMAL, "HealthRecovered", new_message(new))
            _condition_metrics(sk, new)
            self._notify(
                sync, NotificationKind.RECOVERY, revision, "HealthRecovered", "healthy again"
            )

    def _fighting(self, ref: ObjectRef) -> bool:
        """Another writer keeps changing what we correct: stop correcting, report instead."""
        now = time.monotonic()
        recent = [t for t in self._corrections.get(ref, []) if now - t < 60] + [now]
        self._corrections[ref] = recent
        if len(recent) > 5:
            log.warning(
                "another writer keeps changing this object; reporting instead", object=str(ref)
            )
            return True
        return False

    def _notify_drift(self, sync: Sync, revision: str, status: dict[str, Any]) -> None:
        drifted = next(
            (c for c in status.get("conditions") or [] if c.get("type") == st.DRIFTED), None
        )
        if drifted is not None:
            self._notify(
                sync, NotificationKind.DRIFT, revision, "DriftDetected", str(drifted["message"])
            )

    # -- deletion ----------------------------------------------------------------------------
    async def _add_finalizer(self, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
        finalizers = [*(obj["metadata"].get("finalizers") or []), FINALIZER]
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": _rv(obj)}}
        try:
            updated = await self.kube.patch_merge(API_VERSION, key[0], key[2], key[1], patch)
        except KubeApiError as err:
            if err.status in (404, 409):
                return obj  # changed meanwhile: the next event brings it back here
            raise
        self.objects[key] = updated
        return updated

    async def _finalize(self, key: Key, obj: dict[str, Any], sync: Sync) -> None:
        """A deleted Sync takes what it applied with it when it prunes (like `kubectl delete` of
        the whole revision); a suspended one, or one with prune off, leaves everything."""
        if FINALIZER not in (obj["metadata"].get("finalizers") or []):
            return
        entries = [
            InventoryEntry(e["id"], e["v"])
            for e in (((obj.get("status") or {}).get("inventory") or {}).get("entries") or [])
        ]
        if sync.spec.prune and not sync.spec.suspend and entries:
            changes = await apply_prune(
                self.kube, entries, owner_name=key[2], owner_namespace=key[1]
            )
            log.info("pruned on deletion", sync=f"{key[1]}/{key[2]}", changes=changes.summary())
        self.snapshots.delete(key[1], key[2])
        finalizers = [f for f in obj["metadata"].get("finalizers") or [] if f != FINALIZER]
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": _rv(obj)}}
        try:
            await self.kube.patch_merge(API_VERSION, key[0], key[2], key[1], patch)
        except KubeApiError as err:
            if err.status not in (404, 409):
                raise

    def _syncs(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(k[1], k[2]): o for k, o in self.objects.items() if k[0] == "Sync"}

    def _wake_dependants(self, key: Key) -> None:
        """Syncs waiting on this one need not wait for their dependency retry."""
        syncs = self._syncs()
        for sk in dependants((key[1], key[2]), syncs):
            if not cond.is_true(syncs[sk], cond.READY):
                self._enqueue(("Sync", *sk), Trigger.RESOURCE)

    async def _not_ready(
        self, key: Key, obj: dict[str, Any], reason: str, message: str, requested: str | None
    ) -> float:
        new = st.failed_before_apply(
            obj.get("status") or {},
            obj["metadata"].get("generation"),
            reason,
            message,
            stalled=False,
        )
        if requested:
            new["lastHandledReconcileAt"] = requested
        await self._write_status(key, obj, new)
        failures = self.state.failures[key] = self.state.failures.get(key, 0) + 1
        return backoff(failures, cap=_SOURCE_RETRY_CAP)

    def _log_outcome(self, key: Key, outcome: Outcome) -> None:
        fields = {
            "sync": f"{key[1]}/{key[2]}",
            "revision": outcome.revision,
            "changes": outcome.changes.summary(),
            "duration_ms": round((outcome.finished - outcome.started) * 1000),
        }
        if outcome.error is None:
            log.info("reconciled", **fields)
        else:
            log.warning("reconcile failed", stage=outcome.stage, error=str(outcome.error), **fields)

    # -- status ------------------------------------------------------------------------------
    async def _write_status(self, key: Key, obj: dict[str, Any], status: dict[str, Any]) -> None:
        current = obj.get("status") or {}
        if status == current:
            return  # nothing changed: no write
        # A merge patch keeps what it does not mention: fields we dropped are nulled explicitly.
        patch = {**status, **{k: None for k in current if k not in status}}
        try:
            updated = await self.kube.patch_merge(
                API_VERSION, key[0], key[2], key[1], {"status": patch}, subresource="status"
            )
        except KubeApiError as err:
            if err.status == 404:
                return
            raise
        except TransientError as err:
            log.warning(
                "status update failed", object=f"{key[0]}/{key[1]}/{key[2]}", error=str(err)
            )
            return
        if key in self.objects:
            self.objects[key] = updated


def _condition_metrics(sk: tuple[str, str], status: dict[str, Any]) -> None:
    for c in status.get("conditions") or []:
        metrics.set_condition("Sync", sk[0], sk[1], str(c["type"]), str(c["status"]))


def new_message(status: dict[str, Any]) -> str:
    for c in status.get("conditions") or []:
        if c.get("type") == cond.READY:
            return str(c.get("message", ""))
    return ""


def _rv(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["resourceVersion"])


def _mark_pinned(status: dict[str, Any], pinned: str | None, generation: int | None) -> None:
    if not pinned:
        status.pop("pinnedRevision", None)
        return
    status["pinnedRevision"] = pinned
    for c in status.get("conditions") or []:
        if c.get("type") == cond.READY and c.get("status") == "True":
            c["message"] = f"{c['message']} (pinned by gitmoor rollback; `gitmoor resume` unpins)"


def _ready_reason(status: dict[str, Any]) -> str:
    for c in status.get("conditions") or []:
        if c.get("type") == cond.READY:
            return str(c.get("reason", ""))
    return ""
