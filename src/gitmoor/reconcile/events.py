"""Kubernetes Events on gitmoor's own resources, so `kubectl describe sync` tells the story.

Repeats are folded the way kubectl shows them: the same reason and message for the same object
within a window bump `count` and `lastTimestamp` of one Event instead of creating another.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

import structlog

from gitmoor.errors import GitmoorError
from gitmoor.kube import Kube

log = structlog.get_logger("gitmoor.events")

NORMAL = "Normal"
WARNING = "Warning"
_WINDOW = 600.0  # seconds within which a repeat is folded into the earlier Event
_MEMORY = 4096  # Events remembered for folding; the oldest are forgotten first


class EventRecorder:
    def __init__(self, kube: Kube) -> None:
        self._kube = kube
        # (uid, type, reason, message) -> (event namespace, name, count, last time)
        self._seen: dict[tuple[str, str, str, str], tuple[str, str, int, float]] = {}

    async def emit(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        """Record an Event for `obj`; a failure to record is logged, never raised."""
        meta = obj["metadata"]
        message = message[:1024]
        key = (str(meta.get("uid", "")), type_, reason, message)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        seen = self._seen.get(key)
        try:
            if seen is not None and time.monotonic() - seen[3] < _WINDOW:
                namespace, name, count, _ = seen
                await self._kube.patch_merge(
                    "v1", "Event", name, namespace, {"count": count + 1, "lastTimestamp": now}
                )
                self._seen[key] = (namespace, name, count + 1, time.monotonic())
                return
            created = await self._kube.create(_event(obj, type_, reason, message, now))
        except GitmoorError as err:
            self._seen.pop(key, None)
            log.warning("could not record an event", reason=reason, error=str(err))
            return
        self._seen[key] = (meta["namespace"], created["metadata"]["name"], 1, time.monotonic())
        if len(self._seen) > _MEMORY:
            oldest = min(self._seen, key=lambda k: self._seen[k][3])
            del self._seen[oldest]


def _event(obj: dict[str, Any], type_: str, reason: str, message: str, now: str) -> dict[str, Any]:
    meta = obj["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{secrets.token_hex(8)}",
            "namespace": meta["namespace"],
        },
        "involvedObject": {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        },
        "type": type_,
        "reason": reason,
        "message": message,
        "source": {"component": "gitmoor"},
        "reportingComponent": "gitmoor",
        "reportingInstance": "gitmoor",
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
