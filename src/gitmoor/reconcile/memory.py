"""What the agent remembers of each GitSource and Sync between reconciles, one value per key,
forgotten with the object."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import NamedTuple

from gitmoor.model import Artifact, ChartArtifact, Missing, ObjectRef
from gitmoor.model.record import Trigger


class Key(NamedTuple):
    kind: str  # GitSource, ChartSource, OCISource or Sync
    namespace: str
    name: str

    @property
    def short(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass
class SourceMemory:
    failures: int = 0
    due: Trigger | None = None  # why it is queued (None: its interval)
    trigger: Trigger = Trigger.INTERVAL  # why the current or last reconcile ran
    # When (monotonic) it was last asked to look for something new (a push, a person, a
    # change): a remote check begun after that answers it, whichever source asked it.
    asked_at: float | None = None
    artifact: Artifact | None = None  # the last fetched
    chart: ChartArtifact | None = None  # a ChartSource's: the last resolved
    # (commit, verdict) spec.verify refused last, already told to the Syncs' sinks.
    refusal: tuple[str, str] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class SyncMemory:
    failures: int = 0
    due: Trigger | None = None
    trigger: Trigger = Trigger.INTERVAL
    full_at: float = -math.inf  # monotonic time of the last full attempt
    # `drift: report`: what differs from Git, per object, until the next apply.
    reported: dict[ObjectRef, tuple[str, ...]] = field(default_factory=dict)
    # Recent corrections per object (monotonic times): another writer fighting us shows here.
    corrections: dict[ObjectRef, list[float]] = field(default_factory=dict)
    begun: int | None = None  # the ledger record of the attempt in progress
    # The Syncs (`namespace/name`) whose objects refused its last attempt (OwnershipConflict):
    # when one of them changes what it holds, this Sync is tried again at once.
    held_by: frozenset[str] = frozenset()
    # What the last attempt found missing in the cluster (a Namespace, a CRD's kind): its
    # arrival, seen by the agent's watch, wakes the Sync.
    awaiting: frozenset[Missing] = frozenset()


class Memory:
    def __init__(self) -> None:
        self._sources: dict[Key, SourceMemory] = {}
        self._syncs: dict[Key, SyncMemory] = {}

    def source(self, key: Key) -> SourceMemory:
        return self._sources.setdefault(key, SourceMemory())

    def sync(self, key: Key) -> SyncMemory:
        return self._syncs.setdefault(key, SyncMemory())

    def cached_digests(self) -> set[str]:
        """Hex digests of the charts and artifacts sources hand out now: the cache keeps them."""
        held: set[str] = set()
        for memory in self._sources.values():
            for digest in (
                memory.chart.digest if memory.chart else "",
                memory.artifact.digest if memory.artifact else "",
            ):
                if digest.startswith("sha256:"):
                    held.add(digest.removeprefix("sha256:"))
        return held

    def held_by(self, owner: str) -> list[Key]:
        """The Syncs whose last attempt was refused for objects `owner` holds."""
        return [key for key, memory in self._syncs.items() if owner in memory.held_by]

    def of(self, key: Key) -> SourceMemory | SyncMemory:
        return self.sync(key) if key.kind == "Sync" else self.source(key)

    def awaiting(self, lacking: frozenset[Missing]) -> list[Key]:
        """The Syncs whose last attempt waits for any of `lacking`."""
        return [k for k, m in self._syncs.items() if m.awaiting & lacking]

    def awaited_kinds(self) -> set[str]:
        """What any Sync waits for: Missing.NAMESPACE, Missing.KIND, or nothing."""
        return {m.kind for s in self._syncs.values() for m in s.awaiting}

    def forget(self, key: Key) -> None:
        self._sources.pop(key, None)
        self._syncs.pop(key, None)

    def __len__(self) -> int:
        return len(self._sources) + len(self._syncs)
