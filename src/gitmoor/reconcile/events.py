"""Kubernetes Events on gitmoor's own resources, so `kubectl describe sync` tells the story."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import structlog

from gitmoor.errors import GitmoorError
from gitmoor.kube import Kube

log = structlog.get_logger("gitmoor.events")

NORMAL = "Normal"
WARNING = "Warning"


async def emit(kube: Kube, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
    """Record an Event for `obj`; a failure to record is logged, never raised."""
    meta = obj["metadata"]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {
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
        "message": message[:1024],
        "source": {"component": "gitmoor"},
        "reportingComponent": "gitmoor",
        "reportingInstance": "gitmoor",
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        await kube.create(event)
    except GitmoorError as err:
        log.warning("could not record an event", reason=reason, error=str(err))
