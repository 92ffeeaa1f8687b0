"""Drift by watching: the objects gitmoor manages are watched, and a change away from what Git
says (in the fields the manifests set) is seen within seconds, not at the next interval.

Per object only what comparison needs is kept, as JSON bytes (model.Applied): the fields the
manifest sets as the server stored them (the baseline) and the object as sent (to re-apply it).
Fields the manifests do not set (an HPA's replicas left out of Git, a webhook's defaults, a
sidecar) are never compared, so they are never fought over.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from gitmoor.errors import GitmoorError
from gitmoor.health import Overrides, compute
from gitmoor.kube import Kube, WatchEvent
from gitmoor.model import Applied, Health, ObjectRef, Status
from gitmoor.model.labels import SYNC_NAME, SYNC_NAMESPACE, owned_by, owner_of
from gitmoor.plan import changed_paths, project
from gitmoor.reconcile.informer import follow

log = structlog.get_logger("gitmoor.drift")

SyncKey = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class Drift:
    sync: SyncKey
    ref: ObjectRef
    api_version: str
    desired: dict[str, Any]
    fields: tuple[str, ...]  # empty when the object was deleted
    deleted: bool
    # Another Sync (`namespace/name`) owns the object now: no longer watched for this one,
    # never corrected; the Sync is checked again (and refused while it still declares it).
    taken_by: str = ""
    # The live object's resourceVersion when the drift was seen: a correction applies only
    # onto that version, never over a later write (a takeover among them).
    resource_version: str = ""


OnDrift = Callable[[Drift], Awaitable[None]]
# A Sync's objects that turned Failed since its last apply (and are not Current again yet);
# called whenever that set changes, with the set as it is now.
OnHealth = Callable[[SyncKey, tuple[Health, ...]], Awaitable[None]]


class DriftMonitor:
    def __init__(self, kube: Kube, on_drift: OnDrift, on_health: OnHealth) -> None:
        self._kube = kube
        self._on_drift = on_drift
        self._on_health = on_health
        # Per Sync, objects seen Failed since it last applied, until they are Current again:
        # the same watch that sees drift sees a rollout fail or a workload degrade.
        self._failing: dict[SyncKey, dict[ObjectRef, Health]] = {}
        self._objects: dict[ObjectRef, tuple[SyncKey, Applied]] = {}
        self._by_sync: dict[SyncKey, set[ObjectRef]] = {}
        self._paused: set[SyncKey] = set()
        # Objects that changed while their Sync was paused, as last seen (None: deleted): checked
        # against what the reconcile applied once it resumes.
        self._missed: dict[SyncKey, dict[ObjectRef, bytes | None]] = {}
        self._watches: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._rechecks: set[asyncio.Task[None]] = set()
        self._rules: dict[SyncKey, Overrides] = {}

    # -- what to watch -----------------------------------------------------------------------
    def track(self, sync: SyncKey, objects: dict[ObjectRef, Applied]) -> None:
        """From now on compare these objects of `sync` (replacing what it had) and resume.
        An object another Sync watched so far is `sync`'s now (it applied it with its labels):
        that Sync is told it was taken over."""
        self._untrack(sync)
        kept = {ref: a for ref, a in objects.items() if not a.ignore_drift}
        self._by_sync[sync] = set(kept)
        # What was just applied passed its health gate (or has none): failing starts afresh.
        self._failing.pop(sync, None)
        for ref, applied in kept.items():
            before = self._objects.get(ref)
            if before is not None and before[0] != sync:
                # Applied by `sync` with its labels: the Sync that watched it lost it (a
                # takeover whose relabel the watch has not delivered yet).
                self._taken(before[0], ref, before[1], f"{sync[0]}/{sync[1]}")
            self._objects[ref] = (sync, applied)
            self._ensure_watch(applied.api_version, ref.kind)
        self.resume(sync)

    def tracked(self, sync: SyncKey) -> dict[ObjectRef, Applied]:
        """What `sync` last applied, as compared with the live objects now."""
        return {ref: self._objects[ref][1] for ref in self._by_sync.get(sync, ())}

    def pause(self, sync: SyncKey) -> None:
        """While a Sync reconciles, its own writes are not drift."""
        self._paused.add(sync)

    def resume(self, sync: SyncKey) -> None:
        """Compare again; what changed while paused (someone else's edit among our own writes)
        is read and compared once more."""
        self._paused.discard(sync)
        missed = self._missed.pop(sync, {})
        if missed:
            task = asyncio.create_task(
                self._recheck(missed), name="drift recheck", context=contextvars.Context()
            )
            self._rechecks.add(task)
            task.add_done_callback(self._rechecks.discard)

    def use_rules(self, sync: SyncKey, rules: Overrides) -> None:
        """Judge the health of `sync`'s objects by these user rules from now on."""
        self._rules[sync] = rules

    def forget(self, sync: SyncKey) -> None:
        self._rules.pop(sync, None)
        self._untrack(sync)
        self._paused.discard(sync)
        self._missed.pop(sync, None)
        self._failing.pop(sync, None)

    def _untrack(self, sync: SyncKey) -> None:
        for ref in self._by_sync.pop(sync, set()):
            if self._objects.get(ref, (None,))[0] == sync:
                self._objects.pop(ref, None)

    def count(self, sync: SyncKey) -> int:
        return len(self._by_sync.get(sync, ()))

    async def close(self) -> None:
        tasks = [*self._watches.values(), *self._rechecks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._watches.clear()

    # -- watching ----------------------------------------------------------------------------
    def _ensure_watch(self, api_version: str, kind: str) -> None:
        key = (api_version, kind)
        if key not in self._watches:
            # An empty context: the reconcile that happens to start a watch must not lend it
            # its Sync and revision for every log line the watch ever writes.
            self._watches[key] = asyncio.create_task(
                self._watch(api_version, kind),
                name=f"drift watch {kind}",
                context=contextvars.Context(),
            )

    async def _watch(self, api_version: str, kind: str) -> None:
        async def listed(items: list[dict[str, Any]]) -> None:
            # Deleted while we were not watching: the list is the truth.
            present = {ObjectRef.from_object(i) for i in items}
            for ref, (_, applied) in list(self._objects.items()):
                if ref.kind == kind and applied.api_version == api_version and ref not in present:
                    await self._deleted(ref)
            for item in items:
                await self._check(item)

        async def changed(event: WatchEvent) -> None:
            if event.type == "DELETED":
                await self._deleted(ObjectRef.from_object(event.obj))
            else:
                await self._check(event.obj)

        await follow(
            self._kube,
            api_version,
            kind,
            on_list=listed,
            on_event=changed,
            label_selector=f"{SYNC_NAME},{SYNC_NAMESPACE}",
        )

    async def _check(self, live: dict[str, Any]) -> None:
        ref = ObjectRef.from_object(live)
        entry = self._objects.get(ref)
        if entry is None or live["metadata"].get("deletionTimestamp"):
            return
        sync, applied = entry
        if sync in self._paused:
            self._missed.setdefault(sync, {})[ref] = orjson.dumps(live)
            return
        holder = owner_of(live)
        if holder is not None and holder != sync:
            # Another Sync's labels: it took the object over. Correcting it would take it back,
            # and the two would fight; it is that Sync's now.
            self._taken(sync, ref, applied, f"{holder[0]}/{holder[1]}")
            return
        await self._observe_health(sync, ref, live)
        fields = _drifted(applied, live)
        if not fields:
            return
        rv = str(live["metadata"].get("resourceVersion") or "")
        drift = Drift(sync, ref, applied.api_version, applied.desired(), fields, False)
        await self._report(dataclasses.replace(drift, resource_version=rv))

    async def _deleted(self, ref: ObjectRef) -> None:
        entry = self._objects.get(ref)
        if entry is None:
            return
        sync, applied = entry
        if sync in self._paused:
            self._missed.setdefault(sync, {})[ref] = None
            return
        # A watch by label also says "deleted" when an object merely lost our labels: someone
        # took it over on purpose. Like prune, drift then leaves it to them.
        try:
            live = await self._kube.get(applied.api_version, ref.kind, ref.name, ref.namespace)
        except GitmoorError:
            live = None
        holder = None if live is None else owner_of(live)
        if holder is not None and holder != sync:
            self._taken(sync, ref, applied, f"{holder[0]}/{holder[1]}")
            return
        if live is not None and not owned_by(live, sync[1], sync[0]):
            log.info("object released by its ownership labels", object=str(ref))
            self._objects.pop(ref, None)
            self._by_sync.get(sync, set()).discard(ref)
            return
        if live is not None:
            await self._check(live)
            return
        await self._report(Drift(sync, ref, applied.api_version, applied.desired(), (), True))

    def _taken(self, sync: SyncKey, ref: ObjectRef, applied: Applied, by: str) -> None:
        """`sync` no longer owns `ref`: stop comparing it for `sync` and tell its reconciler."""
        if self._objects.get(ref, (None,))[0] == sync:
            self._objects.pop(ref, None)
        self._by_sync.get(sync, set()).discard(ref)
        self._failing.get(sync, {}).pop(ref, None)
        log.warning("object taken over by another Sync", object=str(ref), owner=by)
        drift = Drift(sync, ref, applied.api_version, applied.desired(), (), False, taken_by=by)
        task = asyncio.create_task(
            self._report(drift), name="drift takeover", context=contextvars.Context()
        )
        self._rechecks.add(task)
        task.add_done_callback(self._rechecks.discard)

    async def _recheck(self, missed: dict[ObjectRef, bytes | None]) -> None:
        # Mostly these are the reconcile's own writes, which agree with what it applied; the
        # others are read again, since the last event seen may predate the reconcile's write.
        for ref, raw in missed.items():
            entry = self._objects.get(ref)
            if entry is None:
                continue
            applied = entry[1]
            if raw is not None and not _drifted(applied, orjson.loads(raw)):
                continue
            try:
                live = await self._kube.get(applied.api_version, ref.kind, ref.name, ref.namespace)
            except GitmoorError as err:
                log.warning("drift recheck failed", object=str(ref), error=str(err))
                continue
            if live is None:
                await self._deleted(ref)
            else:
                await self._check(live)

    async def _observe_health(self, sync: SyncKey, ref: ObjectRef, live: dict[str, Any]) -> None:
        health = compute(live, rules=self._rules.get(sync))
        failing = self._failing.setdefault(sync, {})
        if health.status is Status.FAILED:
            changed = ref not in failing or failing[ref].message != health.message
            failing[ref] = health
        elif health.status is Status.CURRENT:
            changed = failing.pop(ref, None) is not None
        else:
            changed = False  # progressing: it stays failing until it is Current again
        if not changed:
            return
        try:
            await self._on_health(sync, tuple(failing.values()))
        except Exception:
            log.exception("handling a health change failed", object=str(ref))

    async def _report(self, drift: Drift) -> None:
        try:
            await self._on_drift(drift)
        except Exception:
            log.exception("handling drift failed", object=str(drift.ref))


def _drifted(applied: Applied, live: dict[str, Any]) -> tuple[str, ...]:
    """The fields the manifest sets that differ live from what the server stored at the apply."""
    baseline = applied.baseline_object()
    now = project(baseline, live)
    return () if now == baseline else tuple(changed_paths(baseline, now))
