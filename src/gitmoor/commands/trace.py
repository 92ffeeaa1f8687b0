"""`gitmoor trace KIND/NAME`: from a live object to what put it there: the Sync that manages it
(by the ownership labels gitmoor sets), that Sync's GitSource (URL, ref), the revision applied
and its commit, and the ledger record of the attempt that last changed the object.

`parse_target` reads the object's spelling (pure); `trace` reads the cluster and the ledger.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gitmoor.errors import GitmoorError, OperationError
from gitmoor.health import compute
from gitmoor.kube import Kube
from gitmoor.kube import inventory as stored_inventory
from gitmoor.ledger import Ledger, LedgerError
from gitmoor.model import Action, ObjectRef
from gitmoor.model.api import API_VERSION
from gitmoor.model.defaults import TRACE_FORMS
from gitmoor.model.labels import SYNC_NAME, SYNC_NAMESPACE
from gitmoor.model.names import name_problem
from gitmoor.model.record import Record, sha_of
from gitmoor.reconcile import conditions as cond

_VERSION = re.compile(r"^v[0-9]+((alpha|beta)[0-9]+)?$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_GROUP = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class TargetError(ValueError):
    """The object is not spelled in a form trace understands; the message says which are."""


class NotManagedError(GitmoorError):
    """The object exists but no Sync manages it."""


@dataclass(frozen=True)
class Target:
    """An object as the user named it: `kind` as typed (a kind, plural, singular or short
    name, any case); `group` None when not given ("" is the core group)."""

    kind: str
    name: str
    group: str | None = None
    version: str | None = None


def parse_target(text: str, name: str | None = None) -> Target:
    """`deployment/web`, `deploy/web`, `deployments.apps/web`, `v1/ConfigMap/settings`,
    `apps/v1/Deployment/web`; or the kind alone and the name as a second argument, as
    kubectl takes `deployment web`."""
    if name is not None and "/" in text:
        raise TargetError(f"{text!r} {name!r}: expected {TRACE_FORMS}, or KIND NAME")
    parts = text.split("/") + ([name] if name is not None else [])
    if any(not p for p in parts) or not 2 <= len(parts) <= 4:
        raise TargetError(f"{text!r}: expected {TRACE_FORMS}")
    *head, kind, object_name = parts
    group: str | None = None
    version: str | None = None
    if len(head) == 2:
        group, version = head
    elif len(head) == 1:
        if _VERSION.match(head[0]):
            group, version = "", head[0]
        else:
            group = head[0]
    elif "." in kind:
        kind, group = kind.split(".", 1)
        first, _, rest = group.partition(".")
        if _VERSION.match(first) and rest:  # kubectl's resource.version.group
            version, group = first, rest
    if not _KIND.match(kind):
        raise TargetError(f"{kind!r} is not a kind: expected {TRACE_FORMS}")
    if group and not _GROUP.match(group):
        raise TargetError(f"{group!r} is not an API group: expected {TRACE_FORMS}")
    if version is not None and not _VERSION.match(version):
        raise TargetError(f"{version!r} is not an API version (v1, v1beta1, ...)")
    problem = name_problem(object_name)
    if problem:
        raise TargetError(f"name: {problem}")
    return Target(kind, object_name, group, version)


@dataclass(frozen=True)
class Trace:
    """What `trace` found; each part a plain mapping (the JSON output), None when absent."""

    object: dict[str, Any]
    sync: dict[str, Any] | None = None
    source: dict[str, Any] | None = None
    commit: dict[str, Any] | None = None
    change: dict[str, Any] | None = None
    ledger: str = ""  # the ledger's URL (password masked)
    ledger_problem: str = ""  # why the ledger could not be read
    problems: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "sync": self.sync,
            "source": self.source,
            "commit": self.commit,
            "lastChange": self.change,
            "ledger": {"url": self.ledger, "problem": self.ledger_problem or None},
            "problems": list(self.problems),
        }


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _ref_text(ref: dict[str, Any]) -> str:
    for key in ("branch", "tag", "semver", "commit", "digest"):
        if ref.get(key):
            return f"{key} {ref[key]}"
    return "the default branch"


async def trace(kube: Kube, target: Target, namespace: str, *, ledger_url: str) -> Trace:
    """Follow `target` (in `namespace` when its kind is namespaced) to its Sync, GitSource,
    revision and last ledger record. Raises OperationError when the kind or the object does
    not exist, NotManagedError when no Sync manages it."""
    found = await kube.find_kind(target.kind, group=target.group, version=target.version)
    if not found:
        where = f" in {target.group or 'the core group'}" if target.group is not None else ""
        raise OperationError(f"the cluster has no resource type {target.kind!r}{where}")
    resource = found[0]
    ns = namespace if resource.namespaced else ""
    obj = await kube.get(resource.api_version, resource.kind, target.name, ns)
    ref = ObjectRef(resource.group, resource.kind, ns, target.name)
    if obj is None:
        raise OperationError(f"{ref.subject} not found")
    obj.setdefault("apiVersion", resource.api_version)
    obj.setdefault("kind", resource.kind)
    health = compute(obj)
    subject = {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "namespace": ns,
        "name": target.name,
        "health": health.status.value,
        "message": health.message,
    }
    labels = obj["metadata"].get("labels") or {}
    sync_name, sync_ns = labels.get(SYNC_NAME), labels.get(SYNC_NAMESPACE)
    if not sync_name or not sync_ns:
        raise NotManagedError(
            f"{ref.subject} is not managed by gitmoor: it has no {SYNC_NAME} label"
        )
    problems: list[str] = []
    sync = await kube.get(API_VERSION, "Sync", sync_name, sync_ns)
    sync_part: dict[str, Any] = {"namespace": sync_ns, "name": sync_name}
    source_part: dict[str, Any] | None = None
    applied = ""
    artifact: dict[str, Any] = {}
    if sync is None:
        problems.append(
            f"its Sync {sync_ns}/{sync_name} does not exist (deleted with deletionPolicy "
            "Orphan?): nothing manages the object now"
        )
    else:
        status = sync.get("status") or {}
        ready = cond.get_condition(sync, cond.READY) or {}
        applied = str(status.get("lastAppliedRevision") or "")
        held = any(e.ref == ref for e in await stored_inventory.load(kube, sync))
        sync_part |= {
            "path": str(sync["spec"].get("path") or "./"),
            "ready": str(ready.get("status", "Unknown")),
            "reason": str(ready.get("reason", "")),
            "message": str(ready.get("message", "")),
            "lastAppliedRevision": applied,
            "inInventory": held,
        }
        if not held:
            problems.append(
                f"the object is labelled for Sync {sync_ns}/{sync_name} but not in its "
                "inventory: it is no longer applied from Git"
            )
        source_ref = sync["spec"].get("sourceRef") or {}
        src_name = str(source_ref.get("name") or "")
        src_ns = str(source_ref.get("namespace") or sync_ns)
        src_kind = str(source_ref.get("kind") or "GitSource")  # or OCISource
        source = await kube.get(API_VERSION, src_kind, src_name, src_ns)
        source_part = {"namespace": src_ns, "name": src_name, "kind": src_kind}
        if source is None:
            problems.append(f"its {src_kind} {src_ns}/{src_name} does not exist")
        else:
            artifact = (source.get("status") or {}).get("artifact") or {}
            source_part |= {
                "url": str(source["spec"].get("url") or ""),
                "ref": _ref_text(source["spec"].get("ref") or {}),
                "revision": str(artifact.get("revision") or ""),
            }
    last, book, trouble = await _last_change(ledger_url, ref, sync_ns, sync_name)
    commit = None
    if applied:
        commit = {"revision": applied, "sha": sha_of(applied), "author": "", "subject": ""}
        if artifact.get("revision") == applied:
            commit |= {
                "author": str(artifact.get("author") or ""),
                "subject": str(artifact.get("message") or ""),
            }
        elif last is not None and last[0].revision == applied:
            commit |= {"author": last[0].commit_author, "subject": last[0].commit_message}
    change = None
    if last is not None:
        record, action = last
        change = {
            "id": record.id,
            "action": action.value,
            "cluster": record.cluster,
            "environment": record.environment,
            "revision": record.revision,
            "author": record.commit_author,
            "subject": record.commit_message,
            "commitTime": _time(record.commit_time),
            "trigger": record.trigger.value,
            "result": record.result.value,
            "startedAt": _time(record.started_at),
            "finishedAt": _time(record.finished_at),
        }
    return Trace(
        subject,
        sync_part,
        source_part,
        commit,
        change,
        ledger=book,
        ledger_problem=trouble,
        problems=tuple(problems),
    )


async def _last_change(
    url: str, ref: ObjectRef, sync_namespace: str, sync_name: str
) -> tuple[tuple[Record, Action] | None, str, str]:
    """The ledger's last change of `ref`, the ledger's URL as shown, and why it could not be
    read ("" when it could)."""
    try:
        ledger = await Ledger.open(url, create=False)
    except LedgerError as problem:
        return None, problem.url, str(problem)
    try:
        found = await ledger.last_change(ref, sync_namespace=sync_namespace, sync_name=sync_name)
    except LedgerError as problem:
        return None, ledger.url, str(problem)
    finally:
        await ledger.close()
    return found, ledger.url, ""
