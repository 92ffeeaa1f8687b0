"""What the CLI asks of a cluster running gitmoor: status rows, "sync now and wait", suspend.

The CLI never reconciles itself: it writes an annotation or a spec field and watches the
status the agent writes, so the same rules apply whoever asks.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from gitmoor.errors import (
    KubeApiError,
    KubeNotFoundError,
    OperationError,
    UnknownRevisionError,
)
from gitmoor.kube import Kube
from gitmoor.model.api import API_VERSION
from gitmoor.model.labels import ALLOW_PRUNE_AT, FORCE_AT, PINNED, REQUESTED_AT
from gitmoor.reconcile import conditions as cond


@dataclass(frozen=True)
class SyncRow:
    namespace: str
    name: str
    source: str
    source_revision: str
    applied_revision: str
    ready: str
    ready_reason: str
    healthy: str
    suspended: bool
    last_change: str
    message: str
    pinned: str = ""
    created: str = ""  # metadata.creationTimestamp, for an AGE
    replica: str = ""  # the agent replica that owns it, when several share the Syncs

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SourceRow:
    namespace: str
    name: str
    url: str
    revision: str
    ready: str
    ready_reason: str
    suspended: bool
    message: str
    created: str = ""
    kind: str = "GitSource"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _cond(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return cond.get_condition(obj, type_) or {}


def source_row(s: dict[str, Any]) -> SourceRow:
    """A GitSource or OCISource as one row (pure: the CLI's `get` and the UI's overview share
    it)."""
    return SourceRow(
        namespace=s["metadata"]["namespace"],
        name=s["metadata"]["name"],
        url=str((s.get("spec") or {}).get("url", "")),
        revision=str(((s.get("status") or {}).get("artifact") or {}).get("revision", "")),
        ready=str(_cond(s, cond.READY).get("status", "Unknown")),
        ready_reason=str(_cond(s, cond.READY).get("reason", "")),
        suspended=bool((s.get("spec") or {}).get("suspend")),
        message=str(_cond(s, cond.READY).get("message", "")),
        created=str(s["metadata"].get("creationTimestamp") or ""),
        kind=str(s.get("kind") or "GitSource"),
    )


def source_key(sync: dict[str, Any]) -> tuple[str, str, str]:
    """(kind, namespace, name) of the source a Sync reads: a GitSource or an OCISource (name
    "" when it reads none: a chart with inline values)."""
    ref = (sync.get("spec") or {}).get("sourceRef") or {}
    return (
        str(ref.get("kind") or "GitSource"),
        str(ref.get("namespace") or sync["metadata"]["namespace"]),
        str(ref.get("name", "")),
    )


def sync_row(s: dict[str, Any], source: dict[str, Any] | None) -> SyncRow:
    """A Sync as one row, with the revision its source offers (pure)."""
    meta, spec, status = s["metadata"], s.get("spec") or {}, s.get("status") or {}
    _, src_ns, src_name = source_key(s)
    history = status.get("history") or []
    ready = _cond(s, cond.READY)
    return SyncRow(
        namespace=meta["namespace"],
        name=meta["name"],
        source=f"{src_ns}/{src_name}" if src_name else "",
        source_revision=str(
            (((source or {}).get("status") or {}).get("artifact") or {}).get("revision", "")
        ),
        applied_revision=str(status.get("lastAppliedRevision") or ""),
        ready="Reconciling"
        if cond.is_true(s, cond.RECONCILING)
        else str(ready.get("status", "Unknown")),
        ready_reason=str(ready.get("reason", "")),
        healthy=str(_cond(s, cond.HEALTHY).get("status", "Unknown")),
        suspended=bool(spec.get("suspend")),
        last_change=str(history[0].get("finishedAt", "")) if history else "",
        pinned=str((meta.get("annotations") or {}).get(PINNED) or ""),
        message=str(ready.get("message", "")),
        replica=str(status.get("replica") or ""),
        created=str(meta.get("creationTimestamp") or ""),
    )


async def status_rows(kube: Kube, namespace: str = "") -> tuple[list[SourceRow], list[SyncRow]]:
    listing = await status_listing(kube, namespace)
    return listing.sources, listing.syncs


@dataclass(frozen=True)
class StatusListing:
    """The rows of `gitmoor status`, the Sync list's resourceVersion to watch from, and the
    sources by `source_key`, which give a Sync row its source's revision."""

    sources: list[SourceRow]
    syncs: list[SyncRow]
    version: str
    source_objects: dict[tuple[str, str, str], dict[str, Any]]


async def status_listing(kube: Kube, namespace: str = "") -> StatusListing:
    sources = [
        {**s, "kind": kind}
        for kind in ("GitSource", "OCISource")
        for s in await kube.list(API_VERSION, kind, namespace)
    ]
    syncs, version = await kube.list_with_version(API_VERSION, "Sync", namespace)
    by_key = {(s["kind"], s["metadata"]["namespace"], s["metadata"]["name"]): s for s in sources}
    return StatusListing(
        [source_row(s) for s in sources],
        [sync_row(s, by_key.get(source_key(s))) for s in syncs],
        version,
        by_key,
    )


async def sync_changes(
    kube: Kube,
    namespace: str,
    version: str,
    sources: dict[tuple[str, str, str], dict[str, Any]],
) -> AsyncIterator[SyncRow]:
    """Each Sync of `namespace` ("" for all) as it changes after `version`, until cancelled;
    a deleted one comes as its last state. A watch the server ends is resumed; one whose
    version is too old starts again from a fresh list (whose rows were shown or are older)."""
    while True:
        try:
            async for change in kube.watch(
                API_VERSION, "Sync", namespace, resource_version=version
            ):
                version = str(change.obj["metadata"].get("resourceVersion") or version)
                yield sync_row(change.obj, sources.get(source_key(change.obj)))
        except KubeApiError as problem:
            if problem.status != 410:
                raise
            _, version = await kube.list_with_version(API_VERSION, "Sync", namespace)


def _token() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def _get(kube: Kube, kind: str, name: str, namespace: str) -> dict[str, Any]:
    obj = await kube.get(API_VERSION, kind, name, namespace)
    if obj is None:
        raise OperationError(f"{kind} {namespace}/{name} not found")
    return obj


def reconcile_request(
    token: str, *, force: bool = False, allow_prune: bool = False
) -> dict[str, Any]:
    """The patch that asks the agent to reconcile an object now (what `gitmoor sync` writes):
    the agent reconciles when the annotation's value changes."""
    annotations = {REQUESTED_AT: token}
    if force:
        annotations[FORCE_AT] = token
    if allow_prune:
        annotations[ALLOW_PRUNE_AT] = token
    return {"metadata": {"annotations": annotations}}


async def request_reconcile(
    kube: Kube,
    kind: str,
    name: str,
    namespace: str,
    *,
    force: bool = False,
    allow_prune: bool = False,
) -> str:
    """Ask for a reconcile of `kind` `namespace/name` now, without waiting; returns the token
    the agent writes to `status.lastHandledReconcileAt` once it has handled the request."""
    token = _token()
    patch = reconcile_request(token, force=force, allow_prune=allow_prune)
    try:
        await kube.patch_merge(API_VERSION, kind, name, namespace, patch)
    except KubeNotFoundError:
        raise OperationError(f"{kind} {namespace}/{name} not found") from None
    return token


def pin_request(revision: str) -> dict[str, Any]:
    """The patch that pins a Sync to `revision` and asks for a reconcile in the same write
    (a changed annotation alone wakes nothing): what `gitmoor rollback` writes."""
    return {"metadata": {"annotations": {PINNED: revision, REQUESTED_AT: _token()}}}


async def _request_and_wait(
    kube: Kube,
    kind: str,
    name: str,
    namespace: str,
    *,
    deadline: float,
    progress: Callable[[str], None],
    force: bool = False,
    allow_prune: bool = False,
) -> dict[str, Any]:
    token = await request_reconcile(
        kube, kind, name, namespace, force=force, allow_prune=allow_prune
    )
    loop = asyncio.get_running_loop()
    last = ""
    while True:
        obj = await _get(kube, kind, name, namespace)
        status = obj.get("status") or {}
        ready = _cond(obj, cond.RECONCILING) or _cond(obj, cond.READY)
        reason, message = ready.get("reason", "Waiting"), ready.get("message", "")
        line = f"{kind} {namespace}/{name}: {reason}: {message}"
        if line != last:
            progress(line)
            last = line
        if status.get("lastHandledReconcileAt") == token:
            return obj
        if loop.time() > deadline:
            raise OperationError(
                f"{kind} {namespace}/{name} was not reconciled in time: is the agent running?"
            )
        await asyncio.sleep(0.5)


async def sync_now(
    kube: Kube,
    name: str,
    namespace: str,
    *,
    timeout: float,
    with_source: bool = True,
    force: bool = False,
    allow_prune: bool = False,
    progress: Callable[[str], None] = lambda _: None,
    hint_flags: str = "",
) -> dict[str, Any]:
    """Ask the agent to fetch the source and reconcile the Sync now; return the Sync when the
    agent has handled the request (Ready or not). `force` retries a revision that an atomic
    Sync rolled back; `allow_prune` lets this one attempt prune more than `pruneLimit`.
    `hint_flags` end the command a refusal suggests (` --context prod`), so it works pasted."""
    sync = await _get(kube, "Sync", name, namespace)
    if sync["spec"].get("suspend"):
        resume = f"gitmoor resume {name} -n {namespace}{hint_flags}"
        raise OperationError(f"Sync {namespace}/{name} is suspended: `{resume}` first")
    deadline = asyncio.get_running_loop().time() + timeout
    # Its sources fetch first: the GitSource, and the ChartSource of a chart Sync.
    sources = [
        (kind, ref) for kind, key in _SOURCE_KINDS if (ref := sync["spec"].get(key)) and with_source
    ]
    for kind, ref in sources:
        src_ns = ref.get("namespace") or namespace
        kind = ref.get("kind") or "GitSource"  # or OCISource
        source = await _request_and_wait(
            kube, kind, ref["name"], src_ns, deadline=deadline, progress=progress
        )
        if not cond.is_true(source, cond.READY):
            raise OperationError(
                f"{kind} {src_ns}/{ref['name']}: {_cond(source, cond.READY).get('message', '')}"
            )
    return await _request_and_wait(
        kube,
        "Sync",
        name,
        namespace,
        deadline=deadline,
        progress=progress,
        force=force,
        allow_prune=allow_prune,
    )


async def set_suspended(kube: Kube, kind: str, name: str, namespace: str, value: bool) -> None:
    try:
        await kube.patch_merge(API_VERSION, kind, name, namespace, {"spec": {"suspend": value}})
    except KubeNotFoundError:
        raise OperationError(f"{kind} {namespace}/{name} not found") from None


@dataclass(frozen=True)
class RollbackResult:
    sync: dict[str, Any]
    pinned: str
    head: str  # the source's current revision: what Git says should run

    def revert_hint(self) -> str:
        """The commit that makes Git the truth again. For a Sync of a sub-path, only that path
        goes back to the pinned commit (in a repository shared by several apps, reverting the
        commits after it would undo the other apps' work too); for the whole repository,
        everything after the pin is reverted."""
        good = self.pinned.rpartition("sha1:")[2] or self.pinned
        head = self.head.rpartition("sha1:")[2]
        if not head or head.startswith(good) or good.startswith(head):
            return ""
        path = str(PurePosixPath(str((self.sync.get("spec") or {}).get("path") or ".")))
        if path in (".", "/"):
            return (
                f"git revert --no-commit {good[:12]}..{head[:12]} && "
                f'git commit -m "Revert to {good[:12]} (rolled back with gitmoor)"'
            )
        quoted = shlex.quote(path)
        return (
            f"git rm -r -q -- {quoted} && git checkout {good[:12]} -- {quoted} && "
            f'git commit -m "Restore {path} as of {good[:12]} (rolled back with gitmoor)"'
        )


def previous_healthy(sync: dict[str, Any]) -> str | None:
    """The newest revision in the Sync's history that was applied healthy and deployed other
    content than what runs now. In a repository shared by several apps, the previous commit
    often changed only another app: going back to it would change nothing here."""
    status = sync.get("status") or {}
    current = status.get("lastAppliedRevision")
    good = [e for e in status.get("history") or [] if e.get("result") in ("Applied", "RolledBack")]
    running = next((e.get("content") for e in good if e.get("revision") == current), None)
    for entry in good:
        if entry.get("revision") == current:
            continue
        if running and entry.get("content") == running:
            continue  # the same objects under another commit
        return str(entry["revision"])
    return None


async def rollback(
    kube: Kube,
    name: str,
    namespace: str,
    *,
    to: str | None,
    timeout: float,
    progress: Callable[[str], None] = lambda _: None,
) -> RollbackResult:
    """Pin the Sync to `to` (default: the previous healthy revision), wait until the agent has
    applied it, and return what Git should be told."""
    sync = await _get(kube, "Sync", name, namespace)
    if not sync["spec"].get("sourceRef"):
        # A pin is a commit of the GitSource; a chart alone is pinned by its version.
        raise OperationError(
            f"Sync {namespace}/{name} renders a chart without a GitSource: there is no commit "
            "to roll back to; set its ChartSource's version to the one to run"
        )
    target = to or previous_healthy(sync)
    if not target:
        raise OperationError(
            f"Sync {namespace}/{name} has no earlier healthy revision in its history: pass --to"
        )
    await kube.patch_merge(
        API_VERSION, "Sync", name, namespace, {"metadata": {"annotations": {PINNED: target}}}
    )
    deadline = asyncio.get_running_loop().time() + timeout
    result = await _request_and_wait(
        kube, "Sync", name, namespace, deadline=deadline, progress=progress
    )
    ready = _cond(result, cond.READY)
    if ready.get("reason") == "PinnedRevisionUnavailable":
        # The agent could not fetch it (a typo, a commit not pushed): it applied nothing, and
        # the pin goes again so the Sync follows Git as before.
        await unpin(kube, name, namespace)
        raise UnknownRevisionError(
            f"revision {target} is not in the source of Sync {namespace}/{name}: nothing "
            f"changed ({ready.get('message', '')})"
        )
    ref = sync["spec"].get("sourceRef") or {}
    source = await kube.get(
        API_VERSION,
        ref.get("kind") or "GitSource",
        ref.get("name", ""),
        ref.get("namespace") or namespace,
    )
    head = str((((source or {}).get("status") or {}).get("artifact") or {}).get("revision", ""))
    return RollbackResult(result, target, head)


_SOURCE_KINDS = (("GitSource", "sourceRef"), ("ChartSource", "chartRef"))


async def unpin(kube: Kube, name: str, namespace: str) -> None:
    """Follow Git again, at once: the pin goes and a reconcile is requested in the same write
    (a changed annotation alone wakes nothing, and the Sync would wait for its interval)."""
    annotations = {PINNED: None, REQUESTED_AT: _token()}
    try:
        await kube.patch_merge(
            API_VERSION, "Sync", name, namespace, {"metadata": {"annotations": annotations}}
        )
    except KubeNotFoundError:
        raise OperationError(f"Sync {namespace}/{name} not found") from None
