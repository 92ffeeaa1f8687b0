"""Server-side dry run of every desired object and a verdict per object: create, configure or
leave alone. Nothing here writes: a dry run is validated by the server and then discarded."""

from __future__ import annotations

import asyncio
import copy
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from gitmoor.concurrency import gather
from gitmoor.errors import (
    DryRunError,
    ImmutableFieldError,
    KubeApiError,
    ObjectFailure,
    OwnershipConflictError,
    TransientError,
)
from gitmoor.kube import Kube
from gitmoor.model import (
    Action,
    Applied,
    InventoryEntry,
    ObjectRef,
    Phase,
    Plan,
    PlannedObject,
    labels,
)
from gitmoor.plan.diff import differs, project
from gitmoor.plan.ordering import FOUNDATION, sort_key
from gitmoor.plan.ownership import Decision, Ownership
from gitmoor.plan.prepare import Desired, Owner

# Listing a kind once is cheaper than a GET per object from about this many objects on.
_LIST_THRESHOLD = 8
_CONCURRENCY = 16


async def live_objects(
    kube: Kube, desired: Sequence[Desired], owner: Owner
) -> dict[ObjectRef, dict[str, Any]]:
    """The live counterpart of each desired object that exists.

    Kinds with many objects are listed once by the Sync's ownership labels; whatever that does not
    find (objects not labelled by us yet, e.g. adopted ones) is read one by one.
    """
    live = await listed_objects(kube, desired, owner)
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def read(d: Desired) -> None:
        async with gate:
            obj = await kube.get(d.api_version, d.ref.kind, d.ref.name, d.ref.namespace)
        if obj is not None:
            live[d.ref] = obj

    await gather(read(d) for d in desired if d.ref not in live)
    return live


async def listed_objects(
    kube: Kube, desired: Sequence[Desired], owner: Owner
) -> dict[ObjectRef, dict[str, Any]]:
    """The live objects of kinds with many desired objects, listed by ownership labels."""
    by_kind: dict[tuple[str, str], list[Desired]] = defaultdict(list)
    for d in desired:
        by_kind[(d.api_version, d.ref.kind)].append(d)
    live: dict[ObjectRef, dict[str, Any]] = {}
    for (api_version, kind), items in by_kind.items():
        if len(items) < _LIST_THRESHOLD:
            continue
        listed = await kube.list(
            api_version,
            kind,
            label_selector=labels.owner_selector(owner.name, owner.namespace),
        )
        wanted = {d.ref for d in items}
        for obj in listed:
            obj.setdefault("apiVersion", api_version)
            obj.setdefault("kind", kind)
            ref = ObjectRef.from_object(obj)
            if ref in wanted:
                live[ref] = obj
    return live


def carried_over(
    desired: Sequence[Desired], known: Mapping[ObjectRef, Applied]
) -> tuple[list[PlannedObject], list[Desired]]:
    """Split `desired` into objects sent exactly like this before (and, the caller vouches,
    unchanged since: the drift watch saw no change) and the objects the server must check."""
    same: list[PlannedObject] = []
    check: list[Desired] = []
    for d in desired:
        applied = known.get(d.ref)
        if (
            applied is not None
            and applied.api_version == d.api_version
            and applied.same_manifest(d.obj)
        ):
            same.append(
                PlannedObject(d.manifest, d.obj, d.api_version, Action.UNCHANGED, applied=applied)
            )
        else:
            check.append(d)
    return same, check


async def plan_objects(
    kube: Kube,
    desired: Sequence[Desired],
    owner: Owner,
    *,
    force_recreate: bool,
    failures: Sequence[ObjectFailure] = (),
    known: Mapping[ObjectRef, Applied] | None = None,
) -> list[PlannedObject]:
    """Dry-run every object; raise DryRunError listing every refused object (and any `failures`
    found earlier), so one run reports all problems of a revision.

    With `known` (what was last applied, vouched for by the drift watch), objects whose manifest
    is byte for byte the one applied then are carried over without a request: a revision that
    changes one object of thousands costs one dry run, not thousands.

    A live object owned by another Sync (plan.ownership) is taken over when that Sync released
    it or the manifest asks for it, else the revision is refused with OwnershipConflictError.
    Carried-over objects were this Sync's when applied, and the drift watch sees a relabel.
    """
    carried, check = carried_over(desired, known) if known else ([], list(desired))
    live = await listed_objects(kube, check, owner)
    gate = asyncio.Semaphore(_CONCURRENCY)
    refused: list[ObjectFailure] = list(failures)
    immutable: list[ObjectFailure] = []
    ownership = Ownership(kube, owner)
    conflicts: list[ObjectFailure] = []
    owners: dict[ObjectRef, str] = {}

    async def owned_elsewhere(d: Desired, current: dict[str, Any]) -> str | None:
        """None when this Sync may write `d`; "" to refuse it (a conflict, recorded); else why
        it is taken over."""
        verdict = await ownership.verdict(d.obj, d.api_version, current)
        if verdict.decision is Decision.OURS:
            return None
        if verdict.decision is Decision.CONFLICT:
            conflicts.append(ObjectFailure(d.ref, verdict.why, where=d.manifest.where))
            owners[d.ref] = verdict.owner
            return ""
        return f"taken over from Sync {verdict.owner}: {verdict.why}"

    reads = asyncio.Semaphore(_CONCURRENCY)  # not `gate`: a dry run holding it may read

    async def read(d: Desired) -> dict[str, Any] | None:
        async with reads:
            return await kube.get(d.api_version, d.ref.kind, d.ref.name, d.ref.namespace)

    async def dry_run(d: Desired) -> PlannedObject | None:
        current = live.get(d.ref)
        async with gate:
            try:
                result = await kube.apply(d.obj, dry_run=True)
            except KubeApiError as err:
                if _immutable(err) and (current := current or await read(d)) is not None:
                    takeover = await owned_elsewhere(d, current)
                    if takeover == "":
                        return None
                    if force_recreate:
                        return PlannedObject(
                            d.manifest,
                            d.obj,
                            d.api_version,
                            Action.TAKEN_OVER if takeover else Action.CONFIGURED,
                            _resource_version(current),
                            (_first_field(err),),
                            recreate=True,
                            takeover=takeover or "",
                        )
                    immutable.append(
                        ObjectFailure(
                            d.ref, err.detail, where=d.manifest.where, field=_first_field(err)
                        )
                    )
                    return None
                if isinstance(err, TransientError):
                    raise
                refused.append(
                    ObjectFailure(
                        d.ref,
                        err.detail,
                        where=d.manifest.where,
                        field=_first_field(err),
                        error=err,
                    )
                )
                return None
        # A dry run of an object that does not exist comes back without a resourceVersion: only
        # objects that exist but were not listed (few of a kind, or not labelled by us) are read.
        if current is None and _resource_version(result):
            current = await read(d)
        # What the object will look like in the fields the manifest sets, as the server writes
        # them (defaults and canonical forms included): the yardstick for drift later.
        baseline = project(d.obj, result)
        if current is None:
            return PlannedObject(
                d.manifest, d.obj, d.api_version, Action.CREATED, baseline=baseline
            )
        takeover = await owned_elsewhere(d, current)
        if takeover == "":
            return None
        changed = differs(current, result)
        if changed and labels.annotation(d.obj, labels.DRIFT) == labels.DRIFT_IGNORE:
            # Applied once, then left to whoever changes it: not even a full reconcile rewrites it.
            changed = []
        action = Action.CONFIGURED if changed else Action.UNCHANGED
        return PlannedObject(
            d.manifest,
            d.obj,
            d.api_version,
            Action.TAKEN_OVER if takeover else action,
            _resource_version(current),
            tuple(changed),
            baseline=baseline,
            takeover=takeover or "",
        )

    planned: list[PlannedObject | None] = await gather(dry_run(d) for d in check)
    if conflicts:
        raise OwnershipConflictError(
            sorted(conflicts, key=lambda f: sort_key(f.ref)),
            owners,
            sorted(refused + immutable, key=lambda f: sort_key(f.ref)),
        )
    if refused:
        hinted = [
            ObjectFailure(
                f.ref,
                f"{f.cause} (immutable field; set spec.force: true on the Sync to delete and "
                "recreate it)",
                where=f.where,
                field=f.field,
            )
            for f in immutable
        ]
        raise DryRunError(sorted(refused + hinted, key=lambda f: sort_key(f.ref)))
    if immutable:
        raise ImmutableFieldError(sorted(immutable, key=lambda f: sort_key(f.ref)))
    return carried + [p for p in planned if p is not None]


async def check_hooks(kube: Kube, hooks: Sequence[Desired]) -> list[ObjectFailure]:
    """Dry-run the creation of every hook; the refused ones, each naming its file.

    A hook is created anew each time it runs, so it is checked as a creation, under a name
    drawn by the server: a named hook whose previous run still exists is checked all the same
    (it goes before it is created again)."""
    gate = asyncio.Semaphore(_CONCURRENCY)
    refused: list[ObjectFailure] = []

    async def dry_run(d: Desired) -> None:
        obj = copy.deepcopy(d.obj)
        meta = obj["metadata"]
        meta["generateName"] = meta.pop("name", None) or meta.get("generateName")
        async with gate:
            try:
                await kube.create(obj, dry_run=True)
            except KubeApiError as err:
                if isinstance(err, TransientError):
                    raise
                refused.append(
                    ObjectFailure(
                        d.ref, err.detail, where=d.manifest.where, field=_first_field(err)
                    )
                )

    await gather(dry_run(d) for d in hooks)
    return sorted(refused, key=lambda f: sort_key(f.ref))


def phases(planned: Sequence[PlannedObject], desired: Sequence[Desired]) -> tuple[Phase, ...]:
    """Group planned objects into phases: foundation first, then `order-N` ascending."""
    phase_of = {d.ref: (d.phase, d.order) for d in desired}
    groups: dict[tuple[int, int, str], list[PlannedObject]] = defaultdict(list)
    for p in planned:
        name, order = phase_of[p.ref]
        rank = (0, 0, name) if name == FOUNDATION else (1, order, name)
        groups[rank].append(p)
    return tuple(
        Phase(
            name,
            tuple(sorted(groups[(a, b, name)], key=lambda p: sort_key(p.ref))),
            None if name == FOUNDATION else b,
        )
        for (a, b, name) in sorted(groups)
    )


def make_plan(
    planned: Sequence[PlannedObject],
    desired: Sequence[Desired],
    previous: Sequence[InventoryEntry],
) -> Plan:
    inventory = tuple(sorted({InventoryEntry.of(d.ref, d.api_version) for d in desired}, key=_id))
    keep = {e.id for e in inventory}
    prune = tuple(e for e in previous if e.id not in keep)
    return Plan(phases(planned, desired), prune, inventory)


def _id(entry: InventoryEntry) -> str:
    return entry.id


def _resource_version(obj: dict[str, Any]) -> str | None:
    value = (obj.get("metadata") or {}).get("resourceVersion")
    return None if value is None else str(value)


def _immutable(err: KubeApiError) -> bool:
    text = err.detail.lower()
    return err.status == 422 and ("immutable" in text or "may not change" in text)


def _first_field(err: KubeApiError) -> str:
    return next((f for f, _ in err.causes if f), "")
