"""Where a Sync's inventory lives when its status alone cannot hold it: immutable ConfigMaps in
the Sync's namespace, owned by the Sync (so the garbage collector removes them with it) and
labelled with its uid, each named after its content.

The order makes every crash safe: the chunks are created before the status that names them is
written, and old chunks are deleted only after a status naming others was accepted. Reading
checks every chunk against the digest the status names (status is writable only through the
status subresource, which tenants are not granted; ConfigMaps may be), so a chunk changed or
lost is an `InventoryUnreadableError`, never a partial inventory.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterable
from typing import Any

import orjson
import structlog

from gitmoor.errors import (
    GitmoorError,
    InventoryUnreadableError,
    KubeApiError,
    StatusTooLargeError,
)
from gitmoor.kube.client import Kube
from gitmoor.model import inventory
from gitmoor.model.api import API_VERSION
from gitmoor.model.inventory import Broken, Chunk
from gitmoor.model.labels import INVENTORY_DIGEST, INVENTORY_OF, SYNC_ANNOTATION
from gitmoor.model.pipeline import InventoryEntry

log = structlog.get_logger("gitmoor.inventory")

KEY = "inventory.json.gz"  # the binaryData key of a chunk
# A status larger than this is not sent: etcd refuses objects over 1.5 MiB, and the status
# shares the object with the spec and metadata.
STATUS_LIMIT = 1024 * 1024


async def load(kube: Kube, sync: dict[str, Any], *, again: bool = True) -> list[InventoryEntry]:
    """The entries of `sync`'s inventory, read from its chunks when it has them. A chunk
    missing when the status has moved on since `sync` was read (its chunks replaced) is read
    again once from the fresh Sync."""
    held = (sync.get("status") or {}).get("inventory")
    if not isinstance(held, dict) or not inventory.is_chunked(held):
        return inventory.decode(held)
    meta = sync["metadata"]
    namespace, name = str(meta.get("namespace") or ""), str(meta["name"])
    names = inventory.chunk_names(held)
    read = await asyncio.gather(*(kube.get("v1", "ConfigMap", n, namespace) for n in names))
    result = inventory.assemble(held, {n: _data(cm) for n, cm in zip(names, read, strict=True)})
    if not isinstance(result, Broken):
        return result
    if again:
        fresh = await kube.get(API_VERSION, "Sync", name, namespace)
        if fresh is not None and (fresh.get("status") or {}).get("inventory") != held:
            return await load(kube, fresh, again=False)
    log.warning("inventory unreadable", sync=f"{namespace}/{name}", problem=str(result))
    raise InventoryUnreadableError(namespace, name, chunk=result.chunk, why=str(result))


async def store(kube: Kube, sync: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """`status` as it is to be written for `sync`: an inventory too large to stay inline is
    replaced by its chunks' names and digests, and those chunks exist when this returns.
    Raises StatusTooLargeError rather than send a status the API server would refuse."""
    meta = sync["metadata"]
    held = status.get("inventory")
    if isinstance(held, dict):
        split = inventory.split(
            held,
            owner=str(meta["name"]),
            uid=str(meta["uid"]),
            inline_limit=inventory.INLINE_LIMIT,  # read now: tests lower them
            chunk_bytes=inventory.CHUNK_BYTES,
        )
        status = {**status, "inventory": split.inventory}
        current = (sync.get("status") or {}).get("inventory")
        if split.chunks and split.inventory != current:
            for chunk in split.chunks:
                await _create(kube, sync, chunk)
    size = len(orjson.dumps(status))
    if size > STATUS_LIMIT:
        raise StatusTooLargeError(
            str(meta.get("namespace") or ""), str(meta["name"]), size=size, limit=STATUS_LIMIT
        )
    return status


async def sweep(kube: Kube, sync: dict[str, Any], keep: Iterable[str] = ()) -> int:
    """Delete `sync`'s chunks other than `keep` (those its status names now); how many went.
    Best effort: a chunk left behind is deleted by a later sweep or with the Sync."""
    meta = sync["metadata"]
    namespace, kept = str(meta.get("namespace") or ""), set(keep)
    try:
        found = await kube.list(
            "v1", "ConfigMap", namespace, label_selector=f"{INVENTORY_OF}={meta['uid']}"
        )
        gone = 0
        for cm in found:
            name = str(cm["metadata"]["name"])
            if name not in kept:
                gone += await kube.delete("v1", "ConfigMap", name, namespace)
        return gone
    except GitmoorError as err:
        log.warning("old inventory chunks not deleted", sync=meta["name"], error=str(err))
        return 0


def chunk_object(sync: dict[str, Any], chunk: Chunk) -> dict[str, Any]:
    meta = sync["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": chunk.name,
            "namespace": meta.get("namespace") or "",
            "labels": {INVENTORY_OF: str(meta["uid"]), "app.kubernetes.io/managed-by": "gitmoor"},
            "annotations": {SYNC_ANNOTATION: str(meta["name"]), INVENTORY_DIGEST: chunk.digest},
            # Deleted with the Sync by the garbage collector; never blocks the Sync's deletion.
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "Sync",
                    "name": str(meta["name"]),
                    "uid": str(meta["uid"]),
                }
            ],
        },
        "immutable": True,
        "binaryData": {KEY: base64.b64encode(chunk.data).decode()},
    }


async def _create(kube: Kube, sync: dict[str, Any], chunk: Chunk) -> None:
    """Create one chunk; one already there under its name is kept when its content is this
    chunk's (written before a crash, or by a retry) and replaced otherwise."""
    obj = chunk_object(sync, chunk)
    meta = obj["metadata"]
    for _ in range(2):
        try:
            await kube.create(obj)
            return
        except KubeApiError as err:
            if err.status != 409:
                raise
        existing = await kube.get("v1", "ConfigMap", meta["name"], meta["namespace"])
        if existing is not None and inventory.digest(_data(existing) or b"") == chunk.digest:
            return
        if existing is not None:
            # Immutable: a changed chunk can only be replaced.
            await kube.delete("v1", "ConfigMap", meta["name"], meta["namespace"])
    await kube.create(obj)


def _data(cm: dict[str, Any] | None) -> bytes | None:
    """A chunk's bytes; None when there is no such ConfigMap, b"" when it holds no chunk."""
    if cm is None:
        return None
    encoded = (cm.get("binaryData") or {}).get(KEY)
    try:
        return base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
    except ValueError:
        return b""


async def inline(kube: Kube, sync: dict[str, Any]) -> dict[str, Any]:
    """`sync` with its inventory listed in its status (a copy, when it was kept in chunks), for
    code that reads inventories from Sync resources as they are."""
    held = (sync.get("status") or {}).get("inventory")
    if not inventory.is_chunked(held):
        return sync
    entries = await load(kube, sync)
    listed = {"count": len(entries), "entries": [{"id": e.id, "v": e.v} for e in entries]}
    return {**sync, "status": {**sync["status"], "inventory": listed}}
