"""`gitmoor events`: the Kubernetes Events of gitmoor's resources (GitSources and Syncs), or of
one Sync and its GitSource, oldest first; and following new ones.

The API server selects them (`involvedObject.apiVersion`, or kind and name), so a namespace
full of other Events costs nothing to read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gitmoor.errors import GitmoorError, KubeApiError, OperationError
from gitmoor.kube import Kube
from gitmoor.model.api import API_VERSION

_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Scope:
    """Events of one namespace ("" for all) that a field selector picks."""

    namespace: str
    selector: str


@dataclass(frozen=True)
class EventRow:
    namespace: str
    name: str
    last_seen: datetime | None
    first_seen: datetime | None
    type: str
    reason: str
    kind: str
    object_name: str
    message: str
    count: int

    @property
    def object(self) -> str:
        """`sync/web`: the object as kubectl's OBJECT column names it."""
        return f"{self.kind.lower()}/{self.object_name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "name": self.name,
            "lastSeen": self.last_seen.isoformat() if self.last_seen else None,
            "firstSeen": self.first_seen.isoformat() if self.first_seen else None,
            "type": self.type,
            "reason": self.reason,
            "object": {"kind": self.kind, "name": self.object_name},
            "message": self.message,
            "count": self.count,
        }


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def event_row(event: dict[str, Any]) -> EventRow:
    """One Event as a row; its last time is the first of lastTimestamp, eventTime (and the
    series' last observation), firstTimestamp and the creation time that is set."""
    meta = event.get("metadata") or {}
    involved = event.get("involvedObject") or {}
    series = event.get("series") or {}
    last = (
        _time(event.get("lastTimestamp"))
        or _time(series.get("lastObservedTime"))
        or _time(event.get("eventTime"))
        or _time(event.get("firstTimestamp"))
        or _time(meta.get("creationTimestamp"))
    )
    first = (
        _time(event.get("firstTimestamp"))
        or _time(event.get("eventTime"))
        or _time(meta.get("creationTimestamp"))
    )
    return EventRow(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        last_seen=last,
        first_seen=first,
        type=str(event.get("type") or ""),
        reason=str(event.get("reason") or ""),
        kind=str(involved.get("kind") or ""),
        object_name=str(involved.get("name") or ""),
        message=str(event.get("message") or "").strip(),
        count=int(event.get("count") or series.get("count") or 1),
    )


def oldest_first(rows: list[EventRow]) -> list[EventRow]:
    return sorted(rows, key=lambda r: (r.last_seen or _EPOCH, r.namespace, r.name))


async def scopes_for(kube: Kube, namespace: str, sync: str | None) -> list[Scope]:
    """What to read: every gitmoor resource's Events in `namespace` ("" for all), or those of
    Sync `sync` and of its sources, GitSource and ChartSource (maybe in other namespaces)."""
    if sync is None:
        return [Scope(namespace, f"involvedObject.apiVersion={API_VERSION}")]
    obj = await kube.get(API_VERSION, "Sync", sync, namespace)
    if obj is None:
        raise OperationError(f"Sync {namespace}/{sync} not found")
    scopes = [Scope(namespace, f"involvedObject.kind=Sync,involvedObject.name={sync}")]
    for kind, key in (("GitSource", "sourceRef"), ("ChartSource", "chartRef")):
        ref = obj["spec"].get(key)
        if ref:
            where = str(ref.get("namespace") or namespace)
            scopes.append(
                Scope(where, f"involvedObject.kind={kind},involvedObject.name={ref.get('name')}")
            )
    return scopes


async def list_events(kube: Kube, scopes: list[Scope]) -> tuple[list[EventRow], list[str]]:
    """The Events of each scope, oldest first, and each scope's resourceVersion to watch from."""
    rows: list[EventRow] = []
    versions: list[str] = []
    for scope in scopes:
        items, version = await kube.list_with_version(
            "v1", "Event", scope.namespace, field_selector=scope.selector
        )
        rows.extend(event_row(e) for e in items)
        versions.append(version)
    return oldest_first(rows), versions


async def follow(kube: Kube, scopes: list[Scope], versions: list[str]) -> AsyncIterator[EventRow]:
    """New and updated Events (a repeat raises an Event's count) of every scope, as they come,
    until cancelled. A watch the server ends is resumed; one whose version is too old starts
    again from a fresh list, whose Events were shown already or are older."""
    queue: asyncio.Queue[EventRow | BaseException] = asyncio.Queue()

    async def one(scope: Scope, version: str) -> None:
        try:
            while True:
                try:
                    async for change in kube.watch(
                        "v1",
                        "Event",
                        scope.namespace,
                        resource_version=version,
                        field_selector=scope.selector,
                    ):
                        version = str(change.obj["metadata"].get("resourceVersion") or version)
                        if change.type in ("ADDED", "MODIFIED"):
                            await queue.put(event_row(change.obj))
                except KubeApiError as problem:
                    if problem.status != 410:
                        raise
                    _, version = await kube.list_with_version(
                        "v1", "Event", scope.namespace, field_selector=scope.selector
                    )
        except (GitmoorError, OSError) as problem:
            await queue.put(problem)

    tasks = [asyncio.create_task(one(s, v)) for s, v in zip(scopes, versions, strict=True)]
    try:
        while True:
            item = await queue.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, GitmoorError, OSError):
                await task
