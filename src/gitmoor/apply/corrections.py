"""Put drifted objects back as the revision has them: the same server-side apply as a
revision's, returning a ChangeSet, so a correction is an attempt like any other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gitmoor.errors import ApplyError, GitmoorError, KubeApiError, ObjectFailure, TransientError
from gitmoor.kube import Kube
from gitmoor.model import Action, ChangeSet, ObjectChange, ObjectRef
from gitmoor.model.labels import owner_of

_ATTEMPTS = 3  # applies onto a fresh version when the object keeps changing meanwhile


@dataclass(frozen=True)
class Correction:
    ref: ObjectRef
    api_version: str
    desired: dict[str, Any]  # the object as the revision sent it
    fields: tuple[str, ...]  # what differed; empty when the object was deleted
    # Apply only onto this version of the live object (the one found drifted): a write since
    # (another edit, another Sync taking it over) is looked at anew, never overwritten.
    resource_version: str = ""


async def correct(kube: Kube, corrections: Sequence[Correction]) -> ChangeSet:
    """Apply each object again; raise ApplyError (carrying what was written) if any is refused."""
    changes: list[ObjectChange] = []
    failures: list[ObjectFailure] = []
    transient = False
    for c in corrections:
        try:
            result, left = await _apply(kube, c)
        except GitmoorError as err:
            transient = transient or isinstance(err, TransientError)
            detail = err.detail if isinstance(err, KubeApiError) else str(err)
            failures.append(ObjectFailure(c.ref, detail, error=err))
            changes.append(ObjectChange(c.ref, c.api_version, Action.FAILED, message=detail))
            continue
        if result is None:
            changes.append(ObjectChange(c.ref, c.api_version, Action.SKIPPED, message=left))
            continue
        rv = str((result.get("metadata") or {}).get("resourceVersion", ""))
        action = Action.CONFIGURED if c.fields else Action.CREATED
        what = ", ".join(c.fields) if c.fields else "deleted"
        changes.append(ObjectChange(c.ref, c.api_version, action, rv, what))
    done = ChangeSet(tuple(sorted(changes, key=lambda c: c.ref)))
    if failures:
        raise ApplyError(failures, transient=transient, changes=done)
    return done


async def _apply(kube: Kube, c: Correction) -> tuple[dict[str, Any] | None, str]:
    """The object as applied, or None and why it was left alone. With a resourceVersion, the
    apply holds only onto that version: when the object changed meanwhile (a controller's
    status, another edit) it is read again, and applied onto the new version unless its labels
    name another Sync now, which took it over: never written back."""
    rv = c.resource_version
    mine = owner_of(c.desired)
    for _ in range(_ATTEMPTS):
        body = c.desired
        if rv:
            body = {**body, "metadata": {**(body.get("metadata") or {}), "resourceVersion": rv}}
        try:
            return await kube.apply(body), ""
        except KubeApiError as err:
            if not rv or err.status != 409:
                raise
        ref = c.ref
        live = await kube.get(c.api_version, ref.kind, ref.name, ref.namespace)
        if live is None:
            return None, "deleted meanwhile: the watch reports it"
        holder = owner_of(live)
        if holder is not None and holder != mine:
            return None, f"taken over by Sync {holder[0]}/{holder[1]} meanwhile: left to it"
        rv = str(live["metadata"].get("resourceVersion") or "")
    return None, "changed meanwhile: the watch reports it"
