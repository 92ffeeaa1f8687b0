"""Whether a Sync may run now, as far as its `dependsOn` goes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitmoor.model.graph import describe, find_cycle
from gitmoor.model.resources import Sync
from gitmoor.reconcile import conditions as cond

SyncKey = tuple[str, str]  # (namespace, name)
RETRY = 5.0  # seconds; a dependency turning Ready also wakes its dependants at once


@dataclass(frozen=True)
class Blocked:
    reason: str
    message: str
    stalled: bool  # a cycle: waiting cannot help
    retry: float | None


def blocked(sync: Sync, syncs: Mapping[SyncKey, dict[str, Any]]) -> Blocked | None:
    """Why `sync` cannot run yet given all Syncs known (`syncs`, live objects), or None."""
    if not sync.spec.depends_on:
        return None  # no edge out of it: it cannot be on a cycle, and waits for nothing
    ns = sync.metadata.namespace
    edges = {key: _depends_on(key, obj) for key, obj in syncs.items()}
    cycle = find_cycle((ns, sync.metadata.name), edges)
    if cycle:
        return Blocked("DependencyCycle", f"dependsOn forms a cycle: {describe(cycle)}", True, None)
    for dep in sync.spec.depends_on:
        target = (dep.namespace or ns, dep.name)
        other = syncs.get(target)
        if other is None:
            return Blocked(
                "DependencyNotReady",
                f"dependency Sync {target[0]}/{target[1]} not found",
                False,
                RETRY,
            )
        current = (other.get("status") or {}).get("observedGeneration") == other["metadata"].get(
            "generation"
        )
        if not (cond.is_true(other, cond.READY) and current):
            return Blocked(
                "DependencyNotReady",
                f"dependency Sync {target[0]}/{target[1]} is not ready",
                False,
                RETRY,
            )
    return None


def dependants(target: SyncKey, syncs: Mapping[SyncKey, dict[str, Any]]) -> list[SyncKey]:
    """The Syncs whose `dependsOn` names `target`."""
    return [key for key, obj in syncs.items() if target in _depends_on(key, obj)]


def _depends_on(key: SyncKey, obj: dict[str, Any]) -> list[SyncKey]:
    deps = (obj.get("spec") or {}).get("dependsOn") or []
    return [(d.get("namespace") or key[0], d.get("name", "")) for d in deps]
