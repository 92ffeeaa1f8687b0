"""What applying a local working tree would do to a live cluster: `gitmoor diff`.

The same stages as a reconcile up to the plan (render, prepare, server-side dry run), then a
report instead of an apply; nothing is written. Objects that cannot be dry-run yet because this
very revision brings what they need (their CRD, their Namespace) are reported as created without
validation, as the agent would create them after its foundation phase.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitmoor import apply, plan
from gitmoor.concurrency import gather
from gitmoor.errors import GitmoorError, KubeApiError, OperationError, UnknownKindError
from gitmoor.kube import Kube
from gitmoor.kube import inventory as stored_inventory
from gitmoor.model import (
    Action,
    InventoryEntry,
    ObjectChange,
    ObjectRef,
    PlannedObject,
    labels,
)
from gitmoor.model.api import API_VERSION
from gitmoor.model.resources import Sync
from gitmoor.reconcile.decryption import decryption_keys
from gitmoor.reconcile.pipeline import render_options
from gitmoor.render import RenderOptions, render

_CONCURRENCY = 16
_HIDDEN = "<hidden>"
_OLD = "<hidden: old value>"
_NEW = "<hidden: new value>"
# kubectl's client-side apply keeps the whole object, Secret values included, in this annotation.
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_Dumper: type[yaml.CSafeDumper] | type[yaml.SafeDumper] = (
    yaml.CSafeDumper if yaml.__with_libyaml__ else yaml.SafeDumper
)


@dataclass(frozen=True)
class Target:
    """What the working tree is compared for: a Sync (its render settings, target namespace
    and inventory), or, without one, just a target namespace."""

    sync: Sync | None
    options: RenderOptions
    target_namespace: str | None = None
    inventory: tuple[InventoryEntry, ...] = ()

    @property
    def owner(self) -> plan.Owner | None:
        if self.sync is None:
            return None
        return plan.Owner(self.sync.metadata.name, self.sync.metadata.namespace)


@dataclass(frozen=True)
class Entry:
    """One object in the preview. `fields` are the changed field paths, `diff` a unified diff
    of live against desired (YAML, server-managed fields dropped, Secret values hidden)."""

    ref: ObjectRef
    api_version: str
    source: str = ""
    fields: tuple[str, ...] = ()
    diff: str = ""
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"subject": self.ref.subject, "apiVersion": self.api_version}
        if self.source:
            out["source"] = self.source
        if self.fields:
            out["fields"] = list(self.fields)
        if self.diff:
            out["diff"] = self.diff
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Preview:
    created: tuple[Entry, ...]
    changed: tuple[Entry, ...]
    pruned: tuple[Entry, ...]
    unchanged: tuple[Entry, ...]
    notes: tuple[str, ...] = ()

    @property
    def has_differences(self) -> bool:
        return bool(self.created or self.changed or self.pruned)

    def summary(self) -> str:
        return (
            f"{len(self.created)} to create, {len(self.changed)} to change, "
            f"{len(self.pruned)} to prune, {len(self.unchanged)} unchanged"
        )


async def sync_target(kube: Kube, name: str, namespace: str) -> Target:
    """The Sync `namespace/name` as a target; OperationError when it does not exist."""
    obj = await kube.get(API_VERSION, "Sync", name, namespace)
    if obj is None:
        raise OperationError(f"Sync {namespace}/{name} not found")
    try:
        sync = Sync.model_validate(obj)
    except ValueError as err:
        raise OperationError(f"Sync {namespace}/{name} is not valid: {err}") from None
    try:
        keys = await decryption_keys(kube, sync)
    except GitmoorError as err:
        raise OperationError(f"Sync {namespace}/{name}: {err}") from None
    return Target(
        sync,
        render_options(sync, keys),
        sync.spec.target_namespace,
        tuple(await stored_inventory.load(kube, obj)),
    )


async def preview(kube: Kube, root: Path, path: str, target: Target) -> Preview:
    """Render `path` of the checkout at `root` and dry-run it against the cluster.

    Raises RenderError/RenderErrors when the tree does not render and DryRunError listing every
    object the server refuses, like a reconcile would."""
    # Charts see the cluster they are previewed against, as the agent's render does.
    options = dataclasses.replace(target.options, capabilities=await kube.capabilities())
    rendered = await render(root, path, options)
    owner = target.owner or plan.Owner("", "")
    desired, failures = await plan.prepare(
        kube, list(rendered.manifests), owner, target_namespace=target.target_namespace
    )
    waiting = await _not_servable_yet(kube, desired)
    checkable = [d for d in desired if d.ref not in waiting]
    if target.owner is None:
        checkable = await _with_live_owners(kube, checkable, owner)
    force = bool(target.sync and target.sync.spec.force)
    planned = await plan.plan_objects(
        kube, checkable, owner, force_recreate=force, failures=failures
    )
    created = [
        Entry(p.ref, p.api_version, p.manifest.where) for p in planned if p.action is Action.CREATED
    ]
    created += [
        Entry(d.ref, d.api_version, d.manifest.where, note=waiting[d.ref])
        for d in desired
        if d.ref in waiting
    ]
    writes = (Action.CONFIGURED, Action.TAKEN_OVER)
    changed = await _changed(kube, [p for p in planned if p.action in writes])
    unchanged = [
        Entry(p.ref, p.api_version, p.manifest.where)
        for p in planned
        if p.action is Action.UNCHANGED
    ]
    notes: list[str] = []
    if target.sync is not None and _clean(target.sync.spec.path) != _clean(path):
        notes.append(
            f"the Sync renders path {target.sync.spec.path!r} of its source, this is {path!r}: "
            "make sure they are the same directory"
        )
    pruned: list[Entry] = []
    if target.sync is None:
        notes.append("no Sync named: objects that would be pruned are not known")
    else:
        extra = [
            PlannedObject(d.manifest, d.obj, d.api_version, Action.CREATED)
            for d in desired
            if d.ref in waiting
        ]
        candidates = plan.make_plan([*planned, *extra], desired, target.inventory).prune
        if target.sync.spec.prune:
            pruned, skipped = await _prunable(kube, candidates, owner)
            notes.extend(skipped)
        elif candidates:
            notes.append(
                f"{len(candidates)} object(s) left the tree but stay: the Sync has prune: false"
            )
    return Preview(
        tuple(sorted(created, key=_by_ref)),
        tuple(sorted(changed, key=_by_ref)),
        tuple(sorted(pruned, key=_by_ref)),
        tuple(sorted(unchanged, key=_by_ref)),
        tuple(notes),
    )


def _clean(path: str) -> str:
    return "/".join(p for p in path.replace("\\", "/").split("/") if p not in ("", "."))


def _by_ref(entry: Entry) -> tuple[bool, ObjectRef]:
    return (bool(entry.ref.namespace), entry.ref)


async def _with_live_owners(
    kube: Kube, desired: list[plan.Desired], placeholder: plan.Owner
) -> list[plan.Desired]:
    """Without a Sync, each object keeps the ownership labels its live counterpart carries (and
    a new object gets none), so they do not show up as changes."""
    live = await plan.live_objects(kube, desired, placeholder)
    out = []
    for d in desired:
        obj = copy.deepcopy(d.obj)
        meta = obj["metadata"]
        mine = meta.get("labels") or {}
        theirs = ((live.get(d.ref) or {}).get("metadata") or {}).get("labels") or {}
        for key in (labels.SYNC_NAME, labels.SYNC_NAMESPACE):
            if key in theirs:
                mine[key] = theirs[key]
            else:
                mine.pop(key, None)
        if mine:
            meta["labels"] = mine
        else:
            meta.pop("labels", None)
        out.append(plan.Desired(d.manifest, obj, d.phase, d.order))
    return out


async def _not_servable_yet(kube: Kube, desired: Sequence[plan.Desired]) -> dict[ObjectRef, str]:
    """Objects the server cannot dry-run before this revision's foundation is applied: custom
    resources whose CRD it brings, objects in a Namespace it creates. Why, per object."""
    declared_namespaces = {
        d.ref.name for d in desired if (d.ref.group, d.ref.kind) == ("", "Namespace")
    }
    unserved: set[tuple[str, str]] = set()
    for api_version, kind in {(d.api_version, d.ref.kind) for d in desired}:
        try:
            await kube.resource_for(api_version, kind)
        except UnknownKindError:
            unserved.add((api_version, kind))
    missing: set[str] = set()
    for namespace in sorted({d.ref.namespace for d in desired} & declared_namespaces):
        if await kube.get("v1", "Namespace", namespace) is None:
            missing.add(namespace)
    waiting: dict[ObjectRef, str] = {}
    for d in desired:
        if (d.api_version, d.ref.kind) in unserved:
            waiting[d.ref] = "not validated: its CRD is created by this revision"
        elif d.ref.namespace in missing:
            waiting[d.ref] = (
                f"not validated: Namespace {d.ref.namespace} is created by this revision"
            )
    return waiting


async def _changed(kube: Kube, planned: Sequence[PlannedObject]) -> list[Entry]:
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def one(p: PlannedObject) -> Entry:
        if p.recreate:
            return Entry(
                p.ref,
                p.api_version,
                p.manifest.where,
                p.changed,
                note="an immutable field changed: it would be deleted and created again",
            )
        async with gate:
            live = await kube.get(p.api_version, p.ref.kind, p.ref.name, p.ref.namespace)
            try:
                result = await kube.apply(p.desired, dry_run=True)
            except KubeApiError:
                result = None  # changed between the two dry runs: the paths still stand
        text = "" if live is None or result is None else object_diff(p.ref, live, result)
        return Entry(p.ref, p.api_version, p.manifest.where, p.changed, text, note=p.takeover)

    return await gather(one(p) for p in planned)


async def _prunable(
    kube: Kube, entries: Sequence[InventoryEntry], owner: plan.Owner
) -> tuple[list[Entry], list[str]]:
    """What prune would delete, by the agent's own rules (`apply.examine`): live, owned by
    the Sync, not opted out, not taken over by another Sync, and a CRD or Namespace only when
    nobody else's objects would go with it. What it keeps is said, with why."""
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def one(e: InventoryEntry) -> ObjectChange | None:
        async with gate:
            return await apply.examine(
                kube, e, owner_name=owner.name, owner_namespace=owner.namespace
            )

    pruned: list[Entry] = []
    skipped: list[str] = []
    for change in await gather(one(e) for e in entries):
        if change is None:
            continue  # gone already
        if change.action is Action.DELETED:
            pruned.append(Entry(change.ref, change.api_version))
        elif change.action is Action.FAILED:
            skipped.append(f"{change.ref.subject} left the tree; cannot tell: {change.message}")
        else:
            skipped.append(f"{change.ref.subject} left the tree but is kept: {change.message}")
    return pruned, skipped


def object_diff(ref: ObjectRef, live: dict[str, Any], desired: dict[str, Any]) -> str:
    """A unified diff of two versions of one object as YAML (keys sorted), without the fields
    the server changes on every write, and with a Secret's values replaced by markers."""
    before, after = plan.normalise(live), plan.normalise(desired)
    if (ref.group, ref.kind) == ("", "Secret"):
        before, after = _mask_secret(before, after)
    lines = difflib.unified_diff(
        _yaml(before).splitlines(keepends=True),
        _yaml(after).splitlines(keepends=True),
        fromfile=f"live {ref.subject}",
        tofile=f"desired {ref.subject}",
    )
    return "".join(lines)


def _yaml(obj: dict[str, Any]) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=100)


def _mask_secret(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    before, after = copy.deepcopy(before), copy.deepcopy(after)
    for field in ("data", "stringData"):
        _mask_values(before.get(field), after.get(field))
    _mask_values(
        (before.get("metadata") or {}).get("annotations"),
        (after.get("metadata") or {}).get("annotations"),
        only=_LAST_APPLIED,
    )
    return before, after


def _mask_values(old: Any, new: Any, *, only: str | None = None) -> None:
    """Replace values in place: equal ones by the same marker, differing ones by old/new
    markers, so the diff still shows which keys changed and never what they hold."""
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    for key in set(old) | set(new):
        if only is not None and key != only:
            continue
        same = key in old and key in new and old[key] == new[key]
        if key in old:
            old[key] = _HIDDEN if same else _OLD
        if key in new:
            new[key] = _HIDDEN if same else _NEW
