"""The labels and annotations by which gitmoor marks and steers the objects it applies."""

from __future__ import annotations

from typing import Any

SYNC_NAME = "gitmoor.io/sync-name"
SYNC_NAMESPACE = "gitmoor.io/sync-namespace"
ORDER = "gitmoor.io/order"
HOOK = "gitmoor.io/hook"  # on hook objects: which hook of the Sync they were created from
PRUNE = "gitmoor.io/prune"
DRIFT = "gitmoor.io/drift"
PRUNE_DISABLED = "disabled"
DRIFT_IGNORE = "ignore"
# On a desired object: take it over even while the Sync owning it still declares it.
TAKEOVER = "gitmoor.io/takeover"
TAKEOVER_ALLOWED = "true"
# On the ConfigMaps holding a large inventory: the uid of the Sync whose inventory they hold,
# the Sync's name (for people) and the chunk's digest.
INVENTORY_OF = "gitmoor.io/inventory-of"
SYNC_ANNOTATION = "gitmoor.io/sync"
INVENTORY_DIGEST = "gitmoor.io/inventory-digest"


def owner_selector(sync_name: str, sync_namespace: str) -> str:
    """A label selector for everything one Sync applied."""
    return f"{SYNC_NAME}={sync_name},{SYNC_NAMESPACE}={sync_namespace}"


def owned_by(obj: dict[str, Any], sync_name: str, sync_namespace: str) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(SYNC_NAME) == sync_name and labels.get(SYNC_NAMESPACE) == sync_namespace


def owner_of(obj: dict[str, Any]) -> tuple[str, str] | None:
    """The Sync (namespace, name) an object's ownership labels name, or None when they name
    none (an object nobody applied through gitmoor, or whose labels someone removed)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    name = labels.get(SYNC_NAME)
    if not name:
        return None
    return str(labels.get(SYNC_NAMESPACE) or ""), str(name)


def annotation(obj: dict[str, Any], key: str) -> str | None:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(key)
    return None if value is None else str(value)


# Annotations on gitmoor's own resources, written by the CLI and read by the agent.
FINALIZER = "gitmoor.io/finalizer"
REQUESTED_AT = "gitmoor.io/reconcile-requested-at"  # `gitmoor sync`: reconcile now
# Set to the same value as REQUESTED_AT: retry even a revision that was rolled back.
FORCE_AT = "gitmoor.io/force-requested-at"
# `gitmoor rollback` pins a Sync to a commit; `gitmoor resume` removes the pin.
PINNED = "gitmoor.io/pinned-revision"
# Set to the same value as REQUESTED_AT: accept a prune over the Sync's pruneLimit once.
ALLOW_PRUNE_AT = "gitmoor.io/allow-prune-requested-at"
