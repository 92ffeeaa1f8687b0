"""Carry out one phase of a Plan: server-side apply what differs, leave the rest untouched."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gitmoor.concurrency import gather
from gitmoor.errors import (
    ApplyError,
    GitmoorError,
    KubeApiError,
    ObjectFailure,
    TransientError,
)
from gitmoor.kube import Kube
from gitmoor.model import Action, ChangeSet, ObjectChange, ObjectRef, Phase, PlannedObject

_CONCURRENCY = 16
_RECREATE_WAIT = 60.0


async def apply_phase(kube: Kube, phase: Phase) -> ChangeSet:
    """Apply the objects of `phase` that differ from live; raise ApplyError (carrying the
    ChangeSet of what was written) when any object is refused.

    Cluster-scoped objects are written before namespaced ones; within each group the writes run
    concurrently. Every object is attempted even when one fails, so the error lists them all.
    """
    cluster = [p for p in phase.objects if not p.ref.namespace]
    namespaced = [p for p in phase.objects if p.ref.namespace]
    changes: list[ObjectChange] = []
    failures: list[ObjectFailure] = []
    transient = False
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def write(p: PlannedObject) -> None:
        nonlocal transient
        if p.action is Action.UNCHANGED:
            changes.append(
                ObjectChange(p.ref, p.api_version, Action.UNCHANGED, p.live_resource_version)
            )
            return
        try:
            async with gate:
                if p.recreate:
                    await _delete_and_wait(kube, p)
                result = await kube.apply(p.desired)
        except GitmoorError as err:
            transient = transient or isinstance(err, TransientError)
            detail = err.detail if isinstance(err, KubeApiError) else str(err)
            failures.append(ObjectFailure(p.ref, detail, where=p.manifest.where, error=err))
            changes.append(ObjectChange(p.ref, p.api_version, Action.FAILED, message=detail))
            return
        rv = str((result.get("metadata") or {}).get("resourceVersion", ""))
        action = Action.CREATED if p.recreate and not p.takeover else p.action
        note = "recreated: immutable field changed" if p.recreate else ", ".join(p.changed)
        if p.takeover:
            note = f"{p.takeover}; {note}" if note else p.takeover
        changes.append(ObjectChange(p.ref, p.api_version, action, rv, note))

    for group in (cluster, namespaced):
        await gather(write(p) for p in group)
    done = ChangeSet(tuple(sorted(changes, key=lambda c: c.ref)))
    if failures:
        raise ApplyError(failures, transient=transient, changes=done)
    return done


async def _delete_and_wait(kube: Kube, p: PlannedObject) -> None:
    await delete_and_wait(kube, p.api_version, p.ref)


async def delete_and_wait(kube: Kube, api_version: str, ref: ObjectRef) -> None:
    """Delete `ref` with its dependents first, and return once its name is free again."""
    await kube.delete(api_version, ref.kind, ref.name, ref.namespace, propagation="Foreground")
    deadline = asyncio.get_running_loop().time() + _RECREATE_WAIT
    delay = 0.1
    while await kube.get(api_version, ref.kind, ref.name, ref.namespace) is not None:
        if asyncio.get_running_loop().time() > deadline:
            raise TransientError(f"{ref}: still being deleted after {_RECREATE_WAIT:.0f}s")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


def merge(changesets: Sequence[ChangeSet]) -> ChangeSet:
    merged = ChangeSet()
    for c in changesets:
        merged = merged + c
    return merged
