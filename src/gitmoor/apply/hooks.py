"""The writes of hooks: clear the previous run, create, delete after the run as the policy says.

When hooks run and what awaits them is the pipeline's business; this module only writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gitmoor.apply.writer import delete_and_wait
from gitmoor.concurrency import gather
from gitmoor.errors import ApplyError, GitmoorError, KubeApiError, ObjectFailure, TransientError
from gitmoor.kube import Kube
from gitmoor.model import Action, ChangeSet, ObjectChange, ObjectRef, labels
from gitmoor.model.hooks import DeletePolicy, Hook

_CONCURRENCY = 16


@dataclass(frozen=True)
class HookObject:
    """One hook to create: the object as prepared (labels, namespace), its hook, its file."""

    obj: dict[str, Any]
    hook: Hook
    where: str

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef.from_object(self.obj)

    @property
    def api_version(self) -> str:
        return str(self.obj["apiVersion"])


@dataclass(frozen=True)
class Created:
    """A hook object as the server named it."""

    ref: ObjectRef
    api_version: str
    hook: Hook


async def clear_previous(kube: Kube, hooks: Sequence[HookObject]) -> ChangeSet:
    """Delete what earlier runs of `hooks` left, for those whose policy says so; a named hook
    whose earlier object is still there and may not be deleted is an ApplyError (its name is
    taken: creating it would fail)."""
    changes: list[ObjectChange] = []
    refused: list[ObjectFailure] = []
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def clear(h: HookObject) -> None:
        ref = h.ref
        named = not ref.name.endswith("*")
        async with gate:
            if DeletePolicy.BEFORE_CREATION in h.hook.policies:
                owner = labels.owner_selector(
                    _label(h.obj, labels.SYNC_NAME), _label(h.obj, labels.SYNC_NAMESPACE)
                )
                selector = f"{labels.HOOK}={_label(h.obj, labels.HOOK)},{owner}"
                earlier = await kube.list(
                    h.api_version, ref.kind, ref.namespace, label_selector=selector
                )
                for obj in earlier:
                    name = str(obj["metadata"]["name"])
                    gone = ObjectRef(ref.group, ref.kind, ref.namespace, name)
                    await _delete(kube, h.api_version, gone, wait=named)
                    changes.append(
                        ObjectChange(
                            gone,
                            h.api_version,
                            Action.DELETED,
                            message="hook: before-hook-creation",
                        )
                    )
            if named and await kube.get(h.api_version, ref.kind, ref.name, ref.namespace):
                refused.append(
                    ObjectFailure(
                        ref,
                        "a hook object of this name is still there from an earlier run (or "
                        "belongs to someone else): add before-hook-creation to its delete "
                        "policy, or give it metadata.generateName",
                        where=h.where,
                    )
                )

    await gather(clear(h) for h in hooks)
    done = ChangeSet(tuple(sorted(changes, key=lambda c: c.ref)))
    if refused:
        raise ApplyError(refused, changes=done)
    return done


async def create(kube: Kube, hooks: Sequence[HookObject]) -> tuple[list[Created], ChangeSet]:
    """Create every hook object (the server names those with generateName). Raises ApplyError,
    carrying what was created, when any is refused."""
    created: list[Created] = []
    changes: list[ObjectChange] = []
    failures: list[ObjectFailure] = []
    transient = False
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def make(h: HookObject) -> None:
        nonlocal transient
        try:
            async with gate:
                result = await kube.create(h.obj)
        except GitmoorError as err:
            transient = transient or isinstance(err, TransientError)
            detail = err.detail if isinstance(err, KubeApiError) else str(err)
            failures.append(ObjectFailure(h.ref, detail, where=h.where, error=err))
            changes.append(ObjectChange(h.ref, h.api_version, Action.FAILED, message=detail))
            return
        meta = result.get("metadata") or {}
        ref = ObjectRef(h.ref.group, h.ref.kind, h.ref.namespace, str(meta.get("name", "")))
        created.append(Created(ref, h.api_version, h.hook))
        changes.append(
            ObjectChange(
                ref,
                h.api_version,
                Action.CREATED,
                str(meta.get("resourceVersion", "")),
                "hook",
            )
        )

    await gather(make(h) for h in hooks)
    done = ChangeSet(tuple(sorted(changes, key=lambda c: c.ref)))
    if failures:
        raise ApplyError(failures, transient=transient, changes=done)
    return sorted(created, key=lambda c: c.ref), done


async def remove(kube: Kube, created: Sequence[Created], *, succeeded: bool) -> ChangeSet:
    """Delete the hook objects whose policy asks for it after a run that `succeeded` (or not).
    A delete that fails is reported, not raised: the run's result stands."""
    policy = DeletePolicy.SUCCEEDED if succeeded else DeletePolicy.FAILED
    changes: list[ObjectChange] = []

    async def drop(c: Created) -> None:
        try:
            await _delete(kube, c.api_version, c.ref, wait=False)
        except GitmoorError as err:
            changes.append(ObjectChange(c.ref, c.api_version, Action.FAILED, message=str(err)))
            return
        changes.append(
            ObjectChange(c.ref, c.api_version, Action.DELETED, message=f"hook: {policy}")
        )

    await gather(drop(c) for c in created if policy in c.hook.policies)
    return ChangeSet(tuple(sorted(changes, key=lambda c: c.ref)))


async def _delete(kube: Kube, api_version: str, ref: ObjectRef, *, wait: bool) -> None:
    """Delete with its dependents (a Job's pods go too); with `wait`, until the name is free."""
    if wait:
        await delete_and_wait(kube, api_version, ref)
    else:
        await kube.delete(api_version, ref.kind, ref.name, ref.namespace)


def _label(obj: dict[str, Any], key: str) -> str:
    return str(((obj.get("metadata") or {}).get("labels") or {}).get(key, ""))
