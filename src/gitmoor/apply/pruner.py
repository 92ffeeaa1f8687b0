"""Delete what left the revision, and only what this Sync owns."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gitmoor.apply import guards
from gitmoor.concurrency import gather
from gitmoor.errors import GitmoorError, KubeApiError, UnknownKindError
from gitmoor.kube import Kube
from gitmoor.model import Action, ChangeSet, InventoryEntry, ObjectChange, ObjectRef
from gitmoor.model.labels import PRUNE, PRUNE_DISABLED, annotation, owned_by, owner_of

_CONCURRENCY = 16
_LAST = {("apiextensions.k8s.io", "CustomResourceDefinition"), ("", "Namespace")}


async def prune(
    kube: Kube, entries: Sequence[InventoryEntry], *, owner_name: str, owner_namespace: str
) -> ChangeSet:
    """Delete each entry still live, owned by the Sync and not marked `gitmoor.io/prune:
    disabled`; the rest is reported as skipped with the reason. Namespaced objects go first,
    then cluster-scoped ones, and Namespaces and CRDs last, since deleting those takes their
    contents with them: a CRD whose custom resources, or a Namespace whose objects, are not all
    this Sync's is kept (`Action.KEPT`, with what holds it). An object whose labels name
    another Sync is that Sync's now: kept, with `ObjectChange.owner` naming it, and no longer
    this Sync's to track."""
    waves: list[list[InventoryEntry]] = [[], [], []]
    for e in entries:
        ref = e.ref
        waves[2 if (ref.group, ref.kind) in _LAST else 0 if ref.namespace else 1].append(e)
    changes: list[ObjectChange] = []
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def delete(e: InventoryEntry) -> None:
        ref = e.ref
        async with gate:
            found = await examine(kube, e, owner_name=owner_name, owner_namespace=owner_namespace)
            if found is None:
                return
            if found.action is not Action.DELETED:
                changes.append(found)
                return
            try:
                gone = await kube.delete(e.api_version, ref.kind, ref.name, ref.namespace)
            except (KubeApiError, GitmoorError) as err:
                changes.append(ObjectChange(ref, e.api_version, Action.FAILED, message=str(err)))
                return
            if gone:
                changes.append(ObjectChange(ref, e.api_version, Action.DELETED))

    for wave in waves:
        await gather(delete(e) for e in wave)
    return ChangeSet(tuple(sorted(changes, key=lambda c: c.ref)))


@dataclass(frozen=True)
class Judgement:
    """What the prune rules say of one live object, before anything is deleted: `action`
    DELETED (delete it), KEPT (another Sync's now: `owner`) or SKIPPED, with why; `guarded`:
    a CRD or Namespace, deleted only when nobody else's objects would go with it."""

    action: Action
    message: str = ""
    owner: str = ""
    guarded: bool = False


def judge(ref: ObjectRef, live: dict[str, Any], owner_name: str, owner_namespace: str) -> Judgement:
    """The prune rules for a live object that left the revision, in order: another Sync took it
    over; not this Sync's (its labels were removed or changed by hand); opted out with
    `gitmoor.io/prune: disabled`; else deleted (a CRD or Namespace only if not in use)."""
    holder = owner_of(live)
    if holder is not None and holder != (owner_namespace, owner_name):
        # Another Sync took it over: it is that Sync's to keep or prune, not ours.
        other = f"{holder[0]}/{holder[1]}"
        return Judgement(Action.KEPT, f"owned by Sync {other} now", owner=other)
    if not owned_by(live, owner_name, owner_namespace):
        return Judgement(Action.SKIPPED, "not owned by this Sync")
    if annotation(live, PRUNE) == PRUNE_DISABLED:
        return Judgement(Action.SKIPPED, f"{PRUNE}: disabled")
    return Judgement(Action.DELETED, guarded=(ref.group, ref.kind) in _LAST)


async def examine(
    kube: Kube, entry: InventoryEntry, *, owner_name: str, owner_namespace: str
) -> ObjectChange | None:
    """What prune does with one inventory entry, read from the cluster but not yet done:
    None when it is gone already; `Action.DELETED` when it is to be deleted; else KEPT,
    SKIPPED or FAILED (not even allowed to look) with why. `gitmoor diff` shows the same."""
    ref = entry.ref
    try:
        live = await kube.get(entry.api_version, ref.kind, ref.name, ref.namespace)
    except UnknownKindError:
        return None  # its CRD went away, and the object with it
    except KubeApiError as err:
        # Not even allowed to look (a tenant's ServiceAccount): certainly not to delete.
        return ObjectChange(ref, entry.api_version, Action.FAILED, message=err.detail)
    if live is None:
        return None
    found = judge(ref, live, owner_name, owner_namespace)
    if found.guarded:
        in_use = await _in_use(kube, ref, live, owner_name, owner_namespace)
        if in_use:
            return ObjectChange(ref, entry.api_version, Action.KEPT, message=in_use)
    return ObjectChange(
        ref, entry.api_version, found.action, message=found.message, owner=found.owner
    )


async def _in_use(
    kube: Kube, ref: ObjectRef, live: dict[str, Any], owner_name: str, owner_namespace: str
) -> str:
    if (ref.group, ref.kind) == guards.CRD:
        return await guards.crd_in_use(kube, live, owner_name, owner_namespace)
    if (ref.group, ref.kind) == guards.NAMESPACE:
        return await guards.namespace_in_use(kube, ref.name, owner_name, owner_namespace)
    return ""
