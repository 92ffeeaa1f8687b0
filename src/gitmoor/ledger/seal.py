"""How a record is sealed into its cluster's chain: the canonical form and the two hashes.

Pure functions, no database: the store seals with them and `gitmoor ledger verify` recomputes
them from what the database holds. The format is fixed (records sealed years ago must still
verify): change it only with a new format, never in place.

**Canonical JSON.** `json.dumps(value, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)` encoded as UTF-8: keys sorted by code point at every level, no spaces,
strings as their exact code points (no Unicode normalisation: `é` precomposed and `e` +
combining accent are different text and hash differently), `null` for None, integers as
integers, and every time as UTC with microseconds, `YYYY-MM-DDTHH:MM:SS.ffffffZ` (naive times are
refused). Nothing else (floats, bytes) occurs in a record and is refused too.

**Content digest** of a record: SHA-256 (hex) of the canonical JSON of an object holding
- `id`, and every column of `ledger_records` listed in `COLUMNS` as the database stores it
  (the derived `deployed_revision`/`deployed_sha`/`deployed_at` included: `where` and `at` read
  them);
- `objects`: a list, in the record's order, of `{"action", "api_version", "group", "kind",
  "name", "namespace"}`;
- `images`: the images, sorted, each once.
A column added by a later migration goes into `LATER_COLUMNS`: it joins the form only when it
holds a value (omitted while NULL), so records sealed before it existed still verify (such a
migration must leave it NULL in existing rows).

**Content digest** of an image update row (`ledger_image_updates`, one image field an update
automation's commit changed): SHA-256 (hex) of the canonical JSON of an object holding `id` and
every column listed in `IMAGE_UPDATE_COLUMNS` as the database stores it. Its entry's event is
`imgseal` (written once, with the row), or `imgprune` when retention deletes it: an update
row's id is of its own table, so the event says which table the entry's `record` names.

**Link hash** of a chain entry: SHA-256 (hex) of the canonical JSON of
`{"cluster", "digest", "event", "prev", "record", "seq"}`: the cluster whose chain it is, the
record's content digest, the event (`seal`, `prune`, `imgseal`, `imgprune`), the previous
entry's link hash (`GENESIS` for the first entry, seq 1), the record id (of the image update
row for `imgseal`/`imgprune`) and the position in the chain.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

# The `prev` of the first entry of every chain.
GENESIS = "0" * 64

# The columns of `ledger_records` a content digest covers (besides `id`), in no particular
# order: the canonical form sorts keys. `chain_seq` is not content: it points at the seal.
COLUMNS = (
    "cluster",
    "environment",
    "sync_namespace",
    "sync_name",
    "source_url",
    "revision",
    "commit_sha",
    "commit_author",
    "commit_time",
    "commit_message",
    "trigger",
    "result",
    "reason",
    "message",
    "started_at",
    "applied_at",
    "healthy_at",
    "finished_at",
    "created",
    "configured",
    "deleted",
    "unchanged",
    "rolled_back_to",
    "deployed_revision",
    "deployed_sha",
    "deployed_at",
    "signer",
    "attempts",
    "content",
)

# Columns added after the chain was introduced: in the form only when not NULL (none yet).
LATER_COLUMNS: tuple[str, ...] = ()


# The columns of `ledger_image_updates` an update row's digest covers (besides `id`).
# `chain_seq` is not content: it points at the seal.
IMAGE_UPDATE_COLUMNS = (
    "cluster",
    "automation_namespace",
    "automation_name",
    "policy",
    "image",
    "old_tag",
    "new_tag",
    "digest",
    "image_pushed_at",
    "source_url",
    "branch",
    "commit_sha",
    "committed_at",
    "file",
)


class Event(enum.StrEnum):
    """What a chain entry says about its record (at most 8 characters: the column's width)."""

    SEAL = "seal"  # the record's final state (again after a repeat, or when interrupted)
    PRUNE = "prune"  # retention deleted the record: its absence is expected from here on
    IMAGE_SEAL = "imgseal"  # an image update row as written (it is never changed)
    IMAGE_PRUNE = "imgprune"  # retention deleted the image update row

    @property
    def image_update(self) -> bool:
        """The entry names a row of `ledger_image_updates`, not of `ledger_records`."""
        return self in (Event.IMAGE_SEAL, Event.IMAGE_PRUNE)


def _time(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"the canonical form holds aware times only, got {value!r}")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, datetime):
        return _time(value)
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"the canonical form has text keys only, got {key!r}")
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    raise TypeError(f"no canonical form for {type(value).__name__}: {value!r}")


def canonical(value: Any) -> bytes:
    """The canonical JSON of `value` (see the module's documentation)."""
    return json.dumps(
        _plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def sha256(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def content(
    row: Mapping[Any, Any],
    objects: Sequence[Mapping[Any, Any]],
    images: Iterable[str],
) -> dict[str, Any]:
    """The canonical content of a record: `row` maps the columns of `ledger_records` (id
    included) to their stored values; `objects` are its `ledger_objects` rows in position order;
    `images` its images."""
    data: dict[str, Any] = {"id": int(row["id"])}
    for name in COLUMNS:
        data[name] = row[name]
    for name in LATER_COLUMNS:
        if row.get(name) is not None:
            data[name] = row[name]
    data["objects"] = [
        {
            "group": o["api_group"],
            "kind": o["kind"],
            "namespace": o["namespace"],
            "name": o["name"],
            "api_version": o["api_version"],
            "action": o["action"],
        }
        for o in objects
    ]
    data["images"] = sorted(set(images))
    return data


def digest(
    row: Mapping[Any, Any],
    objects: Sequence[Mapping[Any, Any]],
    images: Iterable[str],
) -> str:
    """The content digest of a record (see `content`)."""
    return sha256(content(row, objects, images))


def update_digest(row: Mapping[Any, Any]) -> str:
    """The content digest of an image update row (`row` maps its columns, id included)."""
    data: dict[str, Any] = {"id": int(row["id"])}
    for name in IMAGE_UPDATE_COLUMNS:
        data[name] = row[name]
    return sha256(data)


def link(*, cluster: str, seq: int, event: Event, record: int, digest: str, prev: str) -> str:
    """The link hash of a chain entry."""
    return sha256(
        {
            "cluster": cluster,
            "seq": seq,
            "event": event.value,
            "record": record,
            "digest": digest,
            "prev": prev,
        }
    )
