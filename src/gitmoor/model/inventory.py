"""A Sync's inventory as its status holds it: every entry listed while that stays small,
gzip-compressed beyond, and past `INLINE_LIMIT` stored in chunks beside the status, which then
names each chunk with its digest. However many objects a Sync manages, its status stays far
below what the API server accepts in one write (3 MiB) and etcd stores (1.5 MiB).

`{"count": 3, "entries": [{"id": "apps_Deployment_web_web", "v": "v1"}, ...]}`,
`{"count": 20000, "compressed": "<base64 of gzip of the entries' JSON>"}` or
`{"count": 100000, "digest": "sha256:...", "chunks": [{"name": "...", "digest": "sha256:..."}]}`
where the chunks, in order, hold the gzip of the entries' JSON and `digest` is that of the
whole gzip.

This module is pure: `split` says what to store, `assemble` checks what was read back.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gitmoor.model.pipeline import InventoryEntry

PLAIN_LIMIT = 256 * 1024  # bytes of listed entries; more are compressed
# Bytes of an inventory's JSON kept in the status itself; a larger one goes to chunks. Chosen
# so the status keeps room for conditions, history and hooks well inside etcd's 1.5 MiB.
INLINE_LIMIT = 512 * 1024
# Bytes of gzip per chunk: a ConfigMap holds at most 1 MiB, and base64 adds a third.
CHUNK_BYTES = 512 * 1024
_NAME_PREFIX = 30  # characters of the Sync's name that lead its chunks' names (<= 63 in all)


def encode(entries: Iterable[InventoryEntry]) -> dict[str, Any]:
    """The inventory as the status would hold it inline; `split` moves a large one out."""
    listed = [{"id": e.id, "v": e.v} for e in entries]
    raw = orjson.dumps(listed)
    if len(raw) <= PLAIN_LIMIT:
        return {"count": len(listed), "entries": listed}
    return {"count": len(listed), "compressed": base64.b64encode(_pack(raw)).decode()}


def decode(inventory: Any) -> list[InventoryEntry]:
    """The entries of an inline `status.inventory`; [] when there is none. An inventory kept
    in chunks cannot be read from the status alone: `ValueError` (read it with the store)."""
    if not isinstance(inventory, dict):
        return []
    if is_chunked(inventory):
        raise ValueError("the inventory is stored in chunks beside the status")
    listed: Any = inventory.get("entries")
    packed = inventory.get("compressed")
    if not listed and isinstance(packed, str) and packed:
        listed = orjson.loads(gzip.decompress(base64.b64decode(packed)))
    return _entries(listed)


def count(inventory: Any) -> int:
    if not isinstance(inventory, dict):
        return 0
    if isinstance(inventory.get("count"), int):
        return int(inventory["count"])
    return len(inventory.get("entries") or [])


def is_chunked(inventory: Any) -> bool:
    chunks = inventory.get("chunks") if isinstance(inventory, dict) else None
    return isinstance(chunks, list) and bool(chunks)


def chunk_names(inventory: Any) -> list[str]:
    """The names of the chunks an inventory refers to, in order ([] for an inline one)."""
    if not is_chunked(inventory):
        return []
    return [str(c.get("name") or "") for c in inventory["chunks"] if isinstance(c, dict)]


@dataclass(frozen=True)
class Chunk:
    """One piece of an inventory kept beside the status."""

    name: str
    data: bytes
    digest: str


@dataclass(frozen=True)
class Split:
    """What the status holds (`inventory`) and the chunks to store before it is written."""

    inventory: dict[str, Any]
    chunks: tuple[Chunk, ...] = ()


def split(
    inventory: dict[str, Any],
    *,
    owner: str,
    uid: str,
    inline_limit: int = INLINE_LIMIT,
    chunk_bytes: int = CHUNK_BYTES,
) -> Split:
    """Keep `inventory` inline while its JSON fits `inline_limit`; beyond, cut its gzip into
    chunks named after the Sync `owner` (uid `uid`) and the content, so the same inventory
    always yields the same status and the same chunk names (an unchanged status writes
    nothing). An inventory already in chunks stays as it is."""
    if is_chunked(inventory) or len(orjson.dumps(inventory)) <= inline_limit:
        return Split(inventory)
    packed = inventory.get("compressed")
    if isinstance(packed, str) and packed:
        data = base64.b64decode(packed)
    else:
        data = _pack(orjson.dumps(inventory.get("entries") or []))
    whole = digest(data)
    stem = _stem(owner, hashlib.sha256(f"{uid}/{whole}".encode()).hexdigest()[:12])
    pieces = [data[at : at + chunk_bytes] for at in range(0, len(data), chunk_bytes)]
    chunks = tuple(Chunk(f"{stem}-{i}", p, digest(p)) for i, p in enumerate(pieces))
    refs = [{"name": c.name, "digest": c.digest} for c in chunks]
    return Split({"count": count(inventory), "digest": whole, "chunks": refs}, chunks)


@dataclass(frozen=True)
class Broken:
    """Why chunks read back do not make the inventory the status names: `chunk` is the one
    at fault (empty when it is the whole)."""

    chunk: str
    why: str

    def __str__(self) -> str:
        return f"chunk {self.chunk} {self.why}" if self.chunk else self.why


def assemble(
    inventory: dict[str, Any], found: Mapping[str, bytes | None]
) -> list[InventoryEntry] | Broken:
    """The entries of a chunked inventory from its chunks as read (`None`: not found), each
    checked against the digest the status names: a missing or changed chunk is
    `Broken`, never a partial list (pruning from a partial inventory would keep too little
    and pruning from a changed one could delete what was never applied)."""
    pieces: list[bytes] = []
    for ref in inventory.get("chunks") or []:
        name = str((ref or {}).get("name") or "") if isinstance(ref, dict) else ""
        if not name:
            return Broken("", "a chunk reference without a name")
        data = found.get(name)
        if data is None:
            return Broken(name, "is missing")
        if digest(data) != ref.get("digest"):
            return Broken(name, "was changed (its digest does not match the status)")
        pieces.append(data)
    whole = b"".join(pieces)
    if digest(whole) != inventory.get("digest"):
        return Broken("", "the chunks do not add up to the inventory's digest")
    try:
        listed = orjson.loads(gzip.decompress(whole))
    except (OSError, EOFError, zlib.error, orjson.JSONDecodeError) as err:
        return Broken("", f"the chunks do not hold an inventory: {err}")
    entries = _entries(listed)
    if len(entries) != count(inventory):
        return Broken("", f"{len(entries)} entries where the status counts {count(inventory)}")
    return entries


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _pack(raw: bytes) -> bytes:
    return gzip.compress(raw, compresslevel=6, mtime=0)


def _entries(listed: Any) -> list[InventoryEntry]:
    if not isinstance(listed, list):
        return []
    return [InventoryEntry(str(e["id"]), str(e["v"])) for e in listed if isinstance(e, dict)]


def _stem(owner: str, tag: str) -> str:
    """`<sync>-inventory-<tag>`: the Sync's name (cut so a chunk's name stays a valid
    object name) leads, so `kubectl get configmaps` shows whose chunks they are."""
    lead = owner[:_NAME_PREFIX].rstrip("-.") or "sync"
    return f"{lead}-inventory-{tag}"
