"""`gitmoor tree`: what a Sync manages, from its status inventory, with the health of each
object, and the Syncs it manages (bootstrap, app-of-apps) as subtrees.

Only inventory objects appear: what the cluster's controllers make of them (a Deployment's
ReplicaSets and Pods) is not what the Sync manages. An inventory object whose ownerReferences
name another inventory object of the same Sync is shown under that owner.

`build` is pure (a Sync, the live objects by ref); `read_tree` reads what it needs: per kind and
namespace one LIST by the Sync's ownership labels where a Sync manages several objects, a GET
for the rest and for any object the list did not return (its labels were removed).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitmoor.errors import GitmoorError, UnknownKindError
from gitmoor.health import compute
from gitmoor.kube import Kube
from gitmoor.kube import inventory as stored_inventory
from gitmoor.model import ObjectRef, Status, inventory
from gitmoor.model.api import API_VERSION, GROUP
from gitmoor.model.labels import owner_selector
from gitmoor.model.pipeline import InventoryEntry

# At least this many objects of one kind in one namespace are read with one LIST.
LIST_AT = 4
_CONCURRENCY = 16
_CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")

Live = Mapping[ObjectRef, dict[str, Any]]


class SyncNotFoundError(GitmoorError):
    """The Sync to show does not exist."""


@dataclass(frozen=True)
class Node:
    """One object of the tree: its health (a kstatus status, NotFound when it is not in the
    cluster) and what it manages or owns."""

    ref: ObjectRef
    api_version: str
    health: str
    message: str = ""
    children: tuple[Node, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.ref.kind,
            "namespace": self.ref.namespace,
            "name": self.ref.name,
            "health": self.health,
            "message": self.message,
            "children": [c.as_dict() for c in self.children],
        }

    def walk(self, depth: int = 0) -> Iterable[tuple[int, Node]]:
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)


def is_sync(ref: ObjectRef) -> bool:
    return (ref.group, ref.kind) == (GROUP, "Sync")


def _rank(ref: ObjectRef) -> tuple[int, str, str, str]:
    """The order children are shown in, grouped by kind: CRDs and Namespaces first (as they
    are applied), then cluster-scoped kinds, namespaced kinds, and the Syncs (subtrees) last."""
    if (ref.group, ref.kind) == _CRD:
        rank = 0
    elif (ref.group, ref.kind) == ("", "Namespace"):
        rank = 1
    elif is_sync(ref):
        rank = 4
    elif not ref.namespace:
        rank = 2
    else:
        rank = 3
    return rank, ref.kind, ref.namespace, ref.name


def build(
    sync: dict[str, Any],
    live: Live,
    *,
    problems: Mapping[ObjectRef, str] | None = None,
    now: float | None = None,
) -> Node:
    """The tree of `sync`: its inventory's objects looked up in `live`, each with its health;
    nested Syncs expanded from their own inventories (each Sync once: a cycle is not
    followed). `problems` are reasons an object could not be read (its health is Unknown)."""
    live = {**live, ObjectRef.from_object(sync): sync}  # a Sync below may manage the root
    return _sync_node(sync, live, problems or {}, now, frozenset())


def _sync_node(
    sync: dict[str, Any],
    live: Live,
    problems: Mapping[ObjectRef, str],
    now: float | None,
    seen: frozenset[ObjectRef],
    owned: tuple[Node, ...] = (),
) -> Node:
    ref = ObjectRef.from_object(sync)
    health = compute(sync, now=now)
    entries = inventory.decode((sync.get("status") or {}).get("inventory"))
    children = _children(entries, live, problems, now, seen | {ref})
    return Node(
        ref,
        str(sync.get("apiVersion") or API_VERSION),
        health.status.value,
        health.message,
        tuple(sorted((*owned, *children), key=lambda n: _rank(n.ref))),
    )


def _owners(objects: Mapping[ObjectRef, dict[str, Any] | None]) -> dict[ObjectRef, ObjectRef]:
    """Which inventory object owns which, by ownerReferences' uids; chains that loop are cut."""
    by_uid = {
        str(obj["metadata"]["uid"]): ref
        for ref, obj in objects.items()
        if obj is not None and (obj.get("metadata") or {}).get("uid")
    }
    owner: dict[ObjectRef, ObjectRef] = {}
    for ref, obj in objects.items():
        for reference in ((obj or {}).get("metadata") or {}).get("ownerReferences") or []:
            found = by_uid.get(str(reference.get("uid") or ""))
            if found is not None and found != ref:
                owner[ref] = found
                break
    for ref in list(owner):
        chain, current = {ref}, owner.get(ref)
        while current is not None and current not in chain:
            chain.add(current)
            current = owner.get(current)
        if current is not None:  # back to an object of the chain: a loop
            owner.pop(ref, None)
    return owner


def _children(
    entries: list[InventoryEntry],
    live: Live,
    problems: Mapping[ObjectRef, str],
    now: float | None,
    seen: frozenset[ObjectRef],
) -> tuple[Node, ...]:
    versions = {e.ref: e.api_version for e in entries}
    objects = {ref: live.get(ref) for ref in versions}
    owner = _owners(objects)
    owned: dict[ObjectRef, list[ObjectRef]] = defaultdict(list)
    for child, parent in owner.items():
        owned[parent].append(child)

    def node(ref: ObjectRef) -> Node:
        below = tuple(node(r) for r in sorted(owned.get(ref, ()), key=_rank))
        obj = objects[ref]
        if obj is None:
            if ref in problems:
                return Node(ref, versions[ref], Status.UNKNOWN.value, problems[ref], below)
            return Node(ref, versions[ref], Status.NOT_FOUND.value, "not in the cluster", below)
        if is_sync(ref):
            if ref in seen:
                health = compute(obj, now=now)
                return Node(
                    ref,
                    versions[ref],
                    health.status.value,
                    "manages a Sync above it: not shown again",
                    below,
                )
            return _sync_node(obj, live, problems, now, seen, below)
        health = compute(obj, now=now)
        return Node(ref, versions[ref], health.status.value, health.message, below)

    return tuple(node(ref) for ref in sorted(versions, key=_rank) if ref not in owner)


def label(node: Node) -> str:
    return f"{node.ref.kind}/{node.ref.name}"


def lines(root: Node) -> list[tuple[str, Node]]:
    """Each node with its label: the tree drawn before `Kind/name` (the namespace is a column
    of its own, as in `kubectl tree`)."""
    drawn: list[tuple[str, Node]] = [(label(root), root)]

    def walk(node: Node, prefix: str) -> None:
        for i, child in enumerate(node.children):
            last = i == len(node.children) - 1
            drawn.append((f"{prefix}{'└── ' if last else '├── '}{label(child)}", child))
            walk(child, prefix + ("    " if last else "│   "))

    walk(root, "")
    return drawn


# -- reading ---------------------------------------------------------------------------------


async def read_tree(kube: Kube, name: str, namespace: str) -> Node:
    """The tree of Sync `namespace/name` as the cluster has it now."""
    root = await kube.get(API_VERSION, "Sync", name, namespace)
    if root is None:
        raise SyncNotFoundError(f"Sync {namespace}/{name} not found")
    root.setdefault("apiVersion", API_VERSION)
    root.setdefault("kind", "Sync")
    root = await stored_inventory.inline(kube, root)
    live: dict[ObjectRef, dict[str, Any]] = {ObjectRef.from_object(root): root}
    problems: dict[ObjectRef, str] = {}
    done = {ObjectRef.from_object(root)}
    level = [root]
    while level:
        wanted = [
            (sync, entry)
            for sync in level
            for entry in inventory.decode((sync.get("status") or {}).get("inventory"))
            if entry.ref not in live
        ]
        found, failed = await read_objects(kube, wanted)
        live.update(found)
        problems.update(failed)
        level = []
        for ref, obj in found.items():
            if is_sync(ref) and ref not in done:
                done.add(ref)
                # Listed here, so the tree is built from inventories as the Syncs hold them.
                live[ref] = await stored_inventory.inline(kube, obj)
                level.append(live[ref])
    return build(root, live, problems=problems)


async def read_objects(
    kube: Kube, wanted: list[tuple[dict[str, Any], InventoryEntry]]
) -> tuple[dict[ObjectRef, dict[str, Any]], dict[ObjectRef, str]]:
    """The live objects of inventory entries (each with the Sync whose inventory holds it):
    groups of LIST_AT or more of one kind in one namespace in one LIST by ownership labels,
    the others (and any the LIST missed) by GET. Returns what was found, and why what could
    not be read could not."""
    groups: dict[tuple[str, str, str, str, str], list[InventoryEntry]] = defaultdict(list)
    for sync, entry in wanted:
        meta = sync["metadata"]
        key = (
            entry.api_version,
            entry.ref.kind,
            entry.ref.namespace,
            meta["name"],
            meta["namespace"],
        )
        groups[key].append(entry)
    found: dict[ObjectRef, dict[str, Any]] = {}
    failed: dict[ObjectRef, str] = {}
    limit = asyncio.Semaphore(_CONCURRENCY)

    async def by_list(key: tuple[str, str, str, str, str], entries: list[InventoryEntry]) -> None:
        api_version, kind, namespace, sync_name, sync_namespace = key
        if len(entries) >= LIST_AT:
            try:
                async with limit:
                    items, _ = await kube.list_with_version(
                        api_version,
                        kind,
                        namespace,
                        label_selector=owner_selector(sync_name, sync_namespace),
                    )
            except GitmoorError:
                items = []  # read one by one below, where the reason is kept
            refs = {e.ref for e in entries}
            for item in items:
                ref = ObjectRef.from_object(item)
                if ref in refs:
                    found[ref] = item
        await asyncio.gather(*(by_get(e) for e in entries if e.ref not in found))

    async def by_get(entry: InventoryEntry) -> None:
        ref = entry.ref
        try:
            async with limit:
                obj = await kube.get(entry.api_version, ref.kind, ref.name, ref.namespace)
        except UnknownKindError:
            return  # the kind is no longer served: the object is gone with it
        except GitmoorError as problem:
            failed[ref] = f"cannot read it: {problem}"
            return
        if obj is not None:
            obj.setdefault("apiVersion", entry.api_version)
            obj.setdefault("kind", ref.kind)
            found[ref] = obj

    await asyncio.gather(*(by_list(key, entries) for key, entries in groups.items()))
    return found, failed
