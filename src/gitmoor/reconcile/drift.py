"""Drift by watching: the objects gitmoor manages are watched, and a change away from what Git
says (in the fields the manifests set) is seen within seconds, not at the next interval.

Per object only what comparison needs is kept: the fields the manifest sets as the server stored
them (the baseline) and the object as sent (to re-apply it). Fields the manifests do not set
(an HPA's replicas left out of Git, a webhook's defaults, a sidecar) are never compared, so they
are never fought over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from gitmoor.errors import GitmoorError
from gitmoor.kube import Kube, WatchEvent
from gitmoor.model import ObjectRef
from gitmoor.model.labels import (
    DRIFT,
    DRIFT_IGNORE,
    SYNC_NAME,
    SYNC_NAMESPACE,
    annotation,
    owned_by,
)
from gitmoor.plan import changed_paths, project
from gitmoor.reconcile.informer import follow
from gitmoor.reconcile.pipeline import Tracked

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


OnDrift = Callable[[Drift], Awaitable[None]]


class DriftMonitor:
    def __init__(self, kube: Kube, on_drift: OnDrift) -> None:
        self._kube = kube
        self._on_drift = on_drift
        self._objects: dict[ObjectRef, tuple[SyncKey, Tracked]] = {}
        self._by_sync: dict[SyncKey, set[ObjectRef]] = {}
        self._paused: set[SyncKey] = set()
        self._watches: dict[tuple[str, str], asyncio.Task[None]] = {}

    # -- what to watch -----------------------------------------------------------------------
    def track(self, sync: SyncKey, objects: dict[ObjectRef, Tracked]) -> None:
        """From now on compare these objects of `sync` (replacing what it had) and resume."""
        for ref in self._by_sync.pop(sync, set()):
            self._objects.pop(ref, None)
        kept = {
            ref: t for ref, t in objects.items() if annotation(t.desired, DRIFT) != DRIFT_IGNORE
        }
        self._by_sync[sync] = set(kept)
        for ref, tracked in kept.items():
            self._objects[ref] = (sync, tracked)
            self._ensure_watch(tracked.api_version, ref.kind)
        self._paused.discard(sync)

    def pause(self, sync: SyncKey) -> None:
        """While a Sync reconciles, its own writes are not drift."""
        self._paused.add(sync)

    def resume(self, sync: SyncKey) -> None:
        """Compare again with what was tracked before (a reconcile failed before applying)."""
        self._paused.discard(sync)

    def forget(self, sync: SyncKey) -> None:
        for ref in self._by_sync.pop(sync, set()):
            self._objects.pop(ref, None)
        self._paused.discard(sync)

    def count(self, sync: SyncKey) -> int:
        return len(self._by_sync.get(sync, ()))

    async def close(self) -> None:
        for task in self._watches.values():
            task.cancel()
        await asyncio.gather(*self._watches.values(), return_exceptions=True)
        self._watches.clear()

    # -- watching ----------------------------------------------------------------------------
    def _ensure_watch(self, api_version: str, kind: str) -> None:
        key = (api_version, kind)
        if key not in self._watches:
            self._watches[key] = asyncio.create_task(
                self._watch(api_version, kind), name=f"drift watch {kind}"
            )

    async def _watch(self, api_version: str, kind: str) -> None:
        async def listed(items: list[dict[str, Any]]) -> None:
            # Deleted while we were not watching: the list is the truth.
            present = {ObjectRef.from_object(i) for i in items}
            for ref, (_, tracked) in list(self._objects.items()):
                if ref.kind == kind and tracked.api_version == api_version and ref not in present:
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
        if entry is None:
            return
        sync, tracked = entry
        if sync in self._paused or live["metadata"].get("deletionTimestamp"):
            return
        now = project(tracked.baseline, live)
        if now == tracked.baseline:
            return
        fields = tuple(changed_paths(tracked.baseline, now))
        await self._report(Drift(sync, ref, tracked.api_version, tracked.desired, fields, False))

    async def _deleted(self, ref: ObjectRef) -> None:
        entry = self._objects.get(ref)
        if entry is None or entry[0] in self._paused:
            return
        sync, tracked = entry
        # A watch by label also says "deleted" when an object merely lost our labels: someone
        # took it over on purpose. Like prune, drift then leaves it to them.
        try:
            live = await self._kube.get(tracked.api_version, ref.kind, ref.name, ref.namespace)
        except GitmoorError:
            live = None
        if live is not None and not owned_by(live, sync[1], sync[0]):
            log.info("object released by its ownership labels", object=str(ref))
            self._objects.pop(ref, None)
            self._by_sync.get(sync, set()).discard(ref)
            return
        if live is not None:
            await self._check(live)
            return
        await self._report(Drift(sync, ref, tracked.api_version, tracked.desired, (), True))

    async def _report(self, drift: Drift) -> None:
        try:
            await self._on_drift(drift)
        except Exception:
            log.exception("handling drift failed", object=str(drift.ref))
