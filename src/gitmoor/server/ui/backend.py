"""Where the UI's data comes from: the running agent's own cache, drift findings and ledger
(`AgentBackend`), or, on a laptop, a cache of the same kind the UI fills with its own watches
under the person's credentials (`LocalBackend`)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

from gitmoor.commands.run import Readiness
from gitmoor.kube import Kube
from gitmoor.ledger import Ledger
from gitmoor.model import ObjectRef
from gitmoor.model.api import API_VERSION
from gitmoor.reconcile.cache import Cache, OnChange, key_of
from gitmoor.reconcile.informer import follow
from gitmoor.reconcile.memory import Key

Obj = dict[str, Any]
KINDS = ("GitSource", "OCISource", "ChartSource", "Sync")


class Backend(Protocol):
    @property
    def kube(self) -> Kube | None:
        """The client that reads on demand (trees, Events, live objects) and writes actions;
        None while this agent is not the active one."""
        ...

    @property
    def ledger(self) -> Ledger | None: ...

    @property
    def cluster(self) -> str: ...

    def objects(self, kind: str) -> list[Obj]: ...

    def get(self, kind: str, namespace: str, name: str) -> Obj | None: ...

    def drift(self, namespace: str, name: str) -> dict[ObjectRef, tuple[str, ...]]:
        """The drifted objects of a Sync (drift: report) and their fields."""
        ...

    def baseline(self, namespace: str, name: str, ref: ObjectRef) -> Obj | None:
        """What the server stored of `ref` at the Sync's last apply (the fields Git sets)."""
        ...

    def listen(self, listener: OnChange) -> None: ...


class AgentBackend:
    """The active agent's view: nothing here asks the API server."""

    def __init__(self, readiness: Readiness) -> None:
        self._readiness = readiness

    @property
    def kube(self) -> Kube | None:
        agent = self._readiness.agent
        return None if agent is None else agent.kube

    @property
    def ledger(self) -> Ledger | None:
        agent = self._readiness.agent
        return None if agent is None else agent.ledger

    @property
    def cluster(self) -> str:
        agent = self._readiness.agent
        return "" if agent is None else agent.options.cluster

    def objects(self, kind: str) -> list[Obj]:
        agent = self._readiness.agent
        return [] if agent is None else [o for _, o in agent.cache.items(kind)]

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        agent = self._readiness.agent
        return None if agent is None else agent.cache.get(Key(kind, namespace, name))

    def drift(self, namespace: str, name: str) -> dict[ObjectRef, tuple[str, ...]]:
        agent = self._readiness.agent
        key = Key("Sync", namespace, name)
        if agent is None or agent.cache.get(key) is None:
            return {}
        return dict(agent.memory.sync(key).reported)

    def baseline(self, namespace: str, name: str, ref: ObjectRef) -> Obj | None:
        agent = self._readiness.agent
        if agent is None:
            return None
        applied = agent.drift.tracked((namespace, name)).get(ref)
        return None if applied is None else applied.baseline_object()

    def listen(self, listener: OnChange) -> None:
        self._readiness.listeners.append(listener)


class LocalBackend:
    """`gitmoor ui`: GitSources, OCISources, ChartSources and Syncs watched with the person's own
    credentials (the agent's informer, into a cache of the agent's kind), and a ledger if one
    is given."""

    def __init__(
        self, kube: Kube, *, namespace: str = "", ledger: Ledger | None = None, cluster: str = ""
    ) -> None:
        self._kube = kube
        self._namespace = namespace
        self._ledger = ledger
        self._cluster = cluster
        self._listeners: list[OnChange] = []
        self._cache = Cache(self._changed)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._follow(kind)) for kind in KINDS]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self, kind: str) -> None:
        async def listed(items: list[Obj]) -> None:
            seen = set()
            for obj in items:
                obj.setdefault("kind", kind)
                seen.add(key_of(obj))
                self._cache.put(key_of(obj), obj)
            for key in self._cache.keys(kind):
                if key not in seen:
                    self._cache.drop(key)

        async def changed(event: Any) -> None:
            event.obj.setdefault("kind", kind)
            if event.type == "DELETED":
                self._cache.drop(key_of(event.obj))
            else:
                self._cache.put(key_of(event.obj), event.obj)

        await follow(
            self._kube,
            API_VERSION,
            kind,
            namespace=self._namespace,
            on_list=listed,
            on_event=changed,
        )

    def _changed(self, key: Key) -> None:
        for listener in self._listeners:
            listener(key)

    @property
    def kube(self) -> Kube | None:
        return self._kube

    @property
    def ledger(self) -> Ledger | None:
        return self._ledger

    @property
    def cluster(self) -> str:
        return self._cluster

    def objects(self, kind: str) -> list[Obj]:
        return [o for _, o in self._cache.items(kind)]

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self._cache.get(Key(kind, namespace, name))

    def drift(self, namespace: str, name: str) -> dict[ObjectRef, tuple[str, ...]]:
        return {}  # the agent's drift watch is not here: the page shows the Drifted condition

    def baseline(self, namespace: str, name: str, ref: ObjectRef) -> Obj | None:
        return None

    def listen(self, listener: OnChange) -> None:
        self._listeners.append(listener)
