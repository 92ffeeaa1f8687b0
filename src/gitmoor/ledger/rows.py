"""Records to rows and back. The only place that knows both `Record` and the tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gitmoor.ledger.schema import records
from gitmoor.model.pipeline import Action
from gitmoor.model.record import ObjectAction, Record, Result, Trigger, sha_of
from gitmoor.model.refs import ObjectRef

# Columns written from a Record as they are; `deployed_*` are derived, `id` is the database's.
_PLAIN = (
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
    "signer",
    "attempts",
    "content",
)


def record_values(record: Record) -> dict[str, Any]:
    """The row of `records` for `record` (without id, objects and images)."""
    values: dict[str, Any] = {name: getattr(record, name) for name in _PLAIN}
    values["trigger"] = record.trigger.value
    values["result"] = record.result.value
    deployed = record.deployed_revision
    values["deployed_revision"] = deployed
    values["deployed_sha"] = (sha_of(deployed) or None) if deployed else None
    values["deployed_at"] = record.deployed_at
    return values


def object_rows(record_id: int, objects: Sequence[ObjectAction]) -> list[dict[str, Any]]:
    return [
        {
            "record_id": record_id,
            "position": position,
            "api_group": o.ref.group,
            "kind": o.ref.kind,
            "namespace": o.ref.namespace,
            "name": o.ref.name,
            "api_version": o.api_version,
            "action": o.action.value,
        }
        for position, o in enumerate(objects)
    ]


def image_rows(record_id: int, images: Iterable[str]) -> list[dict[str, Any]]:
    return [{"record_id": record_id, "image": image} for image in sorted(set(images))]


def object_of(row: Mapping[Any, Any]) -> ObjectAction:
    ref = ObjectRef(row["api_group"], row["kind"], row["namespace"], row["name"])
    return ObjectAction(ref, row["api_version"], Action(row["action"]))


def record_of(
    row: Mapping[Any, Any],
    objects: Sequence[ObjectAction] = (),
    images: Sequence[str] = (),
) -> Record:
    values = {name: row[name] for name in _PLAIN}
    values["trigger"] = Trigger(row["trigger"])
    values["result"] = Result(row["result"])
    return Record(**values, objects=tuple(objects), images=tuple(sorted(images)), id=int(row["id"]))


COLUMNS = tuple(records.c[name] for name in ("id", *_PLAIN))
