"""What the UI shows, as JSON-ready dicts made from the agent's own objects and ledger records:
pure functions, so the overview of a thousand Syncs costs no API call and is tested from tables.

Secrets never reach a view: a Sync's status holds names and revisions only, ledger records hold
refs and counts, and a drifted object's field diff hides every value of a Secret.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitmoor.commands.operations import source_key, source_row, sync_row
from gitmoor.model import Action
from gitmoor.model.record import Record, Trigger
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile.records import corrected_fields
from gitmoor.reconcile.status import DRIFTED

Obj = dict[str, Any]
HIDDEN = "(hidden: a Secret's value)"
_SECRET_FIELDS = ("data", "stringData")


class State(enum.StrEnum):
    """The one word the overview gives a Sync or source (its badge and first filter)."""

    READY = "ready"
    FAILED = "failed"
    RECONCILING = "reconciling"
    SUSPENDED = "suspended"
    UNKNOWN = "unknown"


# What the status filter accepts: a State, or one of these flags a row may carry besides.
FLAGS = ("drifted", "unhealthy")


def state_of(ready: str, suspended: bool) -> State:
    if suspended:
        return State.SUSPENDED
    if ready == "Reconciling":
        return State.RECONCILING
    if ready == "True":
        return State.READY
    if ready == "False":
        return State.FAILED
    return State.UNKNOWN


def sync_view(sync: Obj, source: Obj | None) -> dict[str, Any]:
    """One row of the overview: the CLI's `get syncs` row, with the state, drift, environment
    and the commit (subject and author) when the source's revision is the one applied."""
    row = sync_row(sync, source).as_dict()
    drifted = cond.get_condition(sync, DRIFTED) or {}
    artifact = ((source or {}).get("status") or {}).get("artifact") or {}
    same = bool(row["applied_revision"]) and artifact.get("revision") == row["applied_revision"]
    row.update(
        kind="Sync",
        state=state_of(row["ready"], row["suspended"]).value,
        drifted=drifted.get("status") == "True",
        drift_message=str(drifted.get("message") or "") if drifted.get("status") == "True" else "",
        environment=str((sync.get("spec") or {}).get("environment") or ""),
        commit_subject=str(artifact.get("message") or "") if same else "",
        commit_author=str(artifact.get("author") or "") if same else "",
    )
    return row


def source_view(source: Obj) -> dict[str, Any]:
    row = source_row(source).as_dict()
    artifact = (source.get("status") or {}).get("artifact") or {}
    row.update(
        kind=str(source.get("kind") or "GitSource"),
        state=state_of(row["ready"], row["suspended"]).value,
        commit_subject=str(artifact.get("message") or ""),
        commit_author=str(artifact.get("author") or ""),
    )
    return row


@dataclass(frozen=True)
class Filter:
    """The overview's filters: a namespace, a state or flag, and text found anywhere in the
    row's names, revision, message or commit."""

    namespace: str = ""
    status: str = ""
    text: str = ""

    def problem(self) -> str | None:
        known = [s.value for s in State] + list(FLAGS)
        if self.status and self.status not in known:
            return f"status: one of {', '.join(known)}, not {self.status!r}"
        return None

    def admits(self, row: Mapping[str, Any]) -> bool:
        if self.namespace and row["namespace"] != self.namespace:
            return False
        if self.status == "drifted":
            if not row.get("drifted"):
                return False
        elif self.status == "unhealthy":
            if row.get("healthy") != "False":
                return False
        elif self.status and row["state"] != self.status:
            return False
        if self.text:
            needle = self.text.lower()
            haystack = " ".join(
                str(row.get(k) or "")
                for k in (
                    "namespace",
                    "name",
                    "source",
                    "url",
                    "applied_revision",
                    "revision",
                    "message",
                    "commit_subject",
                    "commit_author",
                    "environment",
                )
            ).lower()
            if needle not in haystack:
                return False
        return True


def counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Rows per state, and how many are drifted or unhealthy."""
    found = {s.value: 0 for s in State} | {flag: 0 for flag in FLAGS} | {"total": 0}
    for row in rows:
        found["total"] += 1
        found[row["state"]] += 1
        if row.get("drifted"):
            found["drifted"] += 1
        if row.get("healthy") == "False":
            found["unhealthy"] += 1
    return found


def overview(
    syncs: Iterable[Obj],
    sources: Iterable[Obj],
    readable: Collection[str],
    chosen: Filter,
) -> dict[str, Any]:
    """The overview of what `readable` namespaces hold: counts over all of it, rows that pass
    the filter (Syncs and sources sorted by namespace and name), and the namespaces there are.
    Sources are GitSources, OCISources and ChartSources; a Sync's commit comes from the
    source of its sourceRef."""
    sources = list(sources)
    by_key = {
        (
            str(s.get("kind") or "GitSource"),
            s["metadata"].get("namespace", ""),
            s["metadata"]["name"],
        ): s
        for s in sources
    }
    sync_rows = [
        sync_view(s, by_key.get(source_key(s)))
        for s in syncs
        if s["metadata"].get("namespace", "") in readable
    ]
    source_rows = [source_view(s) for s in sources if s["metadata"].get("namespace") in readable]
    sync_rows.sort(key=lambda r: (r["namespace"], r["name"]))
    source_rows.sort(key=lambda r: (r["namespace"], r["name"], r["kind"]))
    return {
        "counts": counts(sync_rows),
        "namespaces": sorted({r["namespace"] for r in sync_rows + source_rows}),
        "syncs": [r for r in sync_rows if chosen.admits(r)],
        "sources": [r for r in source_rows if chosen.admits(r)],
    }


def sync_detail(sync: Obj, source: Obj | None) -> dict[str, Any]:
    """A Sync's page head: its row, conditions, recent attempts from status, the spec a person
    asks about, and its GitSource's state."""
    spec = sync.get("spec") or {}
    status = sync.get("status") or {}
    return {
        "row": sync_view(sync, source),
        "conditions": [
            {k: c.get(k) for k in ("type", "status", "reason", "message", "lastTransitionTime")}
            for c in status.get("conditions") or []
        ],
        "history": list(status.get("history") or []),
        "spec": {
            k: spec.get(k)
            for k in ("path", "interval", "prune", "wait", "atomic", "drift", "environment")
            if k in spec
        },
        "source": source_view(source) if source is not None else None,
        "source_artifact": dict(((source or {}).get("status") or {}).get("artifact") or {}),
    }


# -- a drifted object's field diff -----------------------------------------------------------
def _at(obj: Any, path: str) -> Any:
    """The value at a `changed_paths` path (`spec.template.spec.containers[0].image`)."""
    current = obj
    for part in path.replace("]", "").split("."):
        name, _, index = part.partition("[")
        if name:
            if not isinstance(current, dict):
                return None
            current = current.get(name)
        if index:
            if not isinstance(current, list) or int(index) >= len(current):
                return None
            current = current[int(index)]
    return current


def field_diff(
    kind: str, fields: Iterable[str], git: Obj | None, live: Obj | None
) -> list[dict[str, Any]]:
    """Per drifted field, what Git (as the server stored it at the apply) and the cluster now
    hold. A Secret's `data`/`stringData` values are never shown, only that they differ."""
    diff = []
    for path in fields:
        secret = kind == "Secret" and path.split(".", 1)[0].split("[", 1)[0] in _SECRET_FIELDS
        git_value = None if git is None else _at(git, path)
        live_value = None if live is None else _at(live, path)
        diff.append(
            {
                "path": path,
                "git": HIDDEN if secret and git_value is not None else git_value,
                "live": HIDDEN if secret and live_value is not None else live_value,
            }
        )
    return diff


# -- drift corrections: what the agent put back, from the ledger ------------------------------
def corrections(found: Iterable[Record]) -> list[dict[str, Any]]:
    """The drift corrections among `found` (newest first, as the ledger answers): when, how
    each ended, and per object written (or refused) the fields put back, which the record's
    message names (`gitmoor.reconcile.records.correction_message`); records written before it
    did name objects only."""
    shown = []
    for record in found:
        if record.trigger is not Trigger.DRIFT:
            continue
        fields = corrected_fields(record.message)
        shown.append(
            {
                "record": record.id,
                "at": (record.finished_at or record.applied_at or record.started_at).isoformat(),
                "result": record.result.value,
                "revision": record.revision,
                "objects": [
                    {
                        "kind": o.ref.kind,
                        "namespace": o.ref.namespace,
                        "name": o.ref.name,
                        "action": o.action.value,
                        "fields": list(fields.get(o.ref.subject, ())),
                    }
                    for o in record.objects
                    if o.action not in (Action.UNCHANGED, Action.SKIPPED)
                ],
                "message": "" if fields else record.message,
            }
        )
    return shown


# -- rollback: what going back to an earlier record changes ----------------------------------
def content_diff(current: Record | None, target: Record) -> dict[str, Any]:
    """What returning to `target`'s content changes against what runs now (`current`): the
    revision, the images, and objects only one of them has. Names and refs only."""

    def objects(record: Record | None) -> set[str]:
        if record is None:
            return set()
        return {
            f"{o.ref.kind}/{o.ref.namespace}/{o.ref.name}".replace("//", "/")
            for o in record.objects
        }

    now_images = set(current.images) if current is not None else set()
    then_images = set(target.images)
    now_objects, then_objects = objects(current), objects(target)
    return {
        "from": {
            "revision": current.deployed_revision if current else None,
            "record": current.id if current else None,
            "commit_message": current.commit_message if current else "",
        },
        "to": {
            "revision": target.deployed_revision or target.revision,
            "record": target.id,
            "commit_message": target.commit_message,
            "content": target.content,
        },
        "images_removed": sorted(now_images - then_images),
        "images_added": sorted(then_images - now_images),
        "objects_removed": sorted(now_objects - then_objects),
        "objects_added": sorted(then_objects - now_objects),
    }


# -- environments: which revision and images run where, since when ---------------------------
def matrix(running: Iterable[tuple[Record, str, str]]) -> dict[str, Any]:
    """Syncs (rows, by namespace/name) by environment (columns): what each runs and since
    when. Each item is a record of what runs now, the revision its content came from, and
    since when. Syncs of one namespace/name line up across environments (the same app in
    staging and prod); when one environment has that namespace/name in more than one cluster
    (a ledger shared by clusters), its rows are split by cluster instead of overwriting."""
    items = list(running)
    spread: dict[tuple[str, str, str], set[str]] = {}
    for record, _, _ in items:
        key = (record.sync_namespace, record.sync_name, record.environment)
        spread.setdefault(key, set()).add(record.cluster)
    split = {(ns, name) for (ns, name, _), clusters in spread.items() if len(clusters) > 1}
    environments: set[str] = set()
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for record, revision, since in items:
        environments.add(record.environment)
        namespace, name = record.sync_namespace, record.sync_name
        cluster = record.cluster if (namespace, name) in split else ""
        row = rows.setdefault(
            (namespace, name, cluster),
            {
                "sync": f"{namespace}/{name}",
                "namespace": namespace,
                "name": name,
                "cluster": cluster,
                "cells": {},
            },
        )
        row["cells"][record.environment] = {
            "namespace": namespace,
            "sync": name,
            "cluster": record.cluster,
            "revision": revision,
            "images": list(record.images),
            "since": since,
            "record": record.id,
            "commit_message": record.commit_message,
        }
    return {"environments": sorted(environments), "rows": [rows[k] for k in sorted(rows)]}
