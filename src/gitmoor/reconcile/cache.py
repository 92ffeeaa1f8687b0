"""The agent's view of its own resources (GitSources and Syncs), filled by their watches."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from gitmoor.model.resources import Sync
from gitmoor.reconcile.memory import Key

Obj = dict[str, Any]


def key_of(obj: Obj) -> Key:
    meta = obj["metadata"]
    return Key(str(obj["kind"]), str(meta.get("namespace", "")), str(meta["name"]))


OnChange = Callable[[Key], None]


class Cache:
    """`on_change`, when given, hears of every key stored, refreshed or dropped (the UI's live
    updates follow the agent's own view this way, adding no load on the API server); it must
    be quick and never raise."""

    def __init__(self, on_change: OnChange | None = None) -> None:
        # By kind: the agent asks for one kind's objects on hot paths (every fetch looks for
        # the Syncs that read it), which must not walk every other kind's too.
        self._objects: dict[str, dict[Key, Obj]] = {}
        self.synced = asyncio.Event()  # both kinds listed once
        self._on_change = on_change

    def get(self, key: Key) -> Obj | None:
        return self._objects.get(key.kind, {}).get(key)

    def put(self, key: Key, obj: Obj) -> Obj | None:
        """Store `obj`; returns what was there before."""
        objects = self._objects.setdefault(key.kind, {})
        old = objects.get(key)
        objects[key] = obj
        self._changed(key)
        return old

    def refresh(self, key: Key, obj: Obj) -> None:
        """A newer copy from our own write, kept only while the object is known."""
        objects = self._objects.get(key.kind, {})
        if key in objects:
            objects[key] = obj
            self._changed(key)

    def drop(self, key: Key) -> None:
        if self._objects.get(key.kind, {}).pop(key, None) is not None:
            self._changed(key)

    def _changed(self, key: Key) -> None:
        if self._on_change is not None:
            self._on_change(key)

    def keys(self, kind: str) -> list[Key]:
        return list(self._objects.get(kind, {}))

    def items(self, kind: str) -> list[tuple[Key, Obj]]:
        return list(self._objects.get(kind, {}).items())

    def syncs(self) -> dict[tuple[str, str], Obj]:
        return {k.short: o for k, o in self._objects.get("Sync", {}).items()}

    @staticmethod
    def source_key(sync: Sync) -> Key | None:
        """The Sync's GitSource; None for a chart with inline values only (no sourceRef)."""
        ref = sync.spec.source_ref
        if ref is None:
            return None
        return Key(ref.kind, ref.namespace or sync.metadata.namespace, ref.name)

    def source_url(self, sync: Sync) -> str:
        """Where the Sync's content comes from, for the ledger: its GitSource's URL, else
        (a chart with inline values only) its ChartSource's."""
        key = self.source_key(sync)
        chart = sync.spec.chart_ref
        if key is None and chart is not None:
            key = Key("ChartSource", chart.namespace or sync.metadata.namespace, chart.name)
        source = (self.get(key) if key is not None else None) or {}
        return str((source.get("spec") or {}).get("url", ""))
