"""Put drifted objects back as the revision has them: the same server-side apply as a
revision's, returning a ChangeSet, so a correction is an attempt like any other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gitmoor.errors import ApplyError, GitmoorError, KubeApiError, ObjectFailure, TransientError
from gitmoor.kube import Kube
from gitmoor.model import Action, ChangeSet, ObjectChange, ObjectRef


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
        body = c.desired
        if c.resource_version:
            meta = {**(body.get("metadata") or {}), "resourceVersion": c.resource_version}
            body = {**body, "metadata": meta}
        try:
            result = await kube.apply(body)
        except GitmoorError as err:
            if c.resource_version and isinstance(err, KubeApiError) and err.status == 409:
                # Changed since the drift was seen: the watch delivers that change next.
                message = "changed meanwhile: left for the watch to look at again"
                changes.append(ObjectChange(c.ref, c.api_version, Action.SKIPPED, message=message))
                continue
            transient = transient or isinstance(err, TransientError)
            detail = err.detail if isinstance(err, KubeApiError) else str(err)
            failures.append(ObjectFailure(c.ref, detail))
            changes.append(ObjectChange(c.ref, c.api_version, Action.FAILED, message=detail))
            continue
        rv = str((result.get("metadata") or {}).get("resourceVersion", ""))
        action = Action.CONFIGURED if c.fields else Action.CREATED
        what = ", ".join(c.fields) if c.fields else "deleted"
        changes.append(ObjectChange(c.ref, c.api_version, action, rv, what))
    done = ChangeSet(tuple(sorted(changes, key=lambda c: c.ref)))
    if failures:
        raise ApplyError(failures, transient=transient, changes=done)
    return done
