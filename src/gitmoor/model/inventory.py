"""A Sync's inventory as its status holds it: every entry listed while that stays small, and
gzip-compressed beyond, so that a Sync of 50,000 objects still fits one status write (the API
server refuses requests over 3 MiB and etcd objects over 1.5 MiB).

`{"count": 3, "entries": [{"id": "apps_Deployment_web_web", "v": "v1"}, ...]}` or
`{"count": 50000, "compressed": "<base64 of gzip of the entries' JSON>"}`.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterable
from typing import Any

import orjson

from gitmoor.model.pipeline import InventoryEntry

PLAIN_LIMIT = 256 * 1024  # bytes of listed entries; more are compressed


def encode(entries: Iterable[InventoryEntry]) -> dict[str, Any]:
    listed = [{"id": e.id, "v": e.v} for e in entries]
    raw = orjson.dumps(listed)
    if len(raw) <= PLAIN_LIMIT:
        return {"count": len(listed), "entries": listed}
    packed = base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode()
    return {"count": len(listed), "compressed": packed}


def decode(inventory: Any) -> list[InventoryEntry]:
    """The entries of `status.inventory` in either form; [] when there is none."""
    if not isinstance(inventory, dict):
        return []
    listed: Any = inventory.get("entries")
    packed = inventory.get("compressed")
    if not listed and isinstance(packed, str) and packed:
        listed = orjson.loads(gzip.decompress(base64.b64decode(packed)))
    return [InventoryEntry(str(e["id"]), str(e["v"])) for e in listed or [] if isinstance(e, dict)]


def count(inventory: Any) -> int:
    if not isinstance(inventory, dict):
        return 0
    if isinstance(inventory.get("count"), int):
        return int(inventory["count"])
    return len(inventory.get("entries") or [])
