"""Whether a Sync with an artifact in hand needs an attempt, and of which kind: a pure function
of its status, the artifact's revision and what the agent remembers of it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from gitmoor.model.labels import FORCE_AT, REQUESTED_AT
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile.status import DEGRADED

HEALTH_TIMEOUT = "HealthCheckTimeout"


class Mode(enum.StrEnum):
    """How much of the revision an attempt checks."""

    FULL = "full"  # dry-run every object
    INCREMENTAL = "incremental"  # objects the drift watch vouches for are carried over
    DETECT = "detect"  # `drift: report` on the applied revision: compare, never write


@dataclass(frozen=True)
class Facts:
    """What the decision reads, gathered by `facts` from the Sync and the agent's memory."""

    revision: str  # the artifact's
    generation: int | None
    observed_generation: int | None
    applied_revision: str
    failed_revision: str  # lastFailedRevision: rolled back already
    ready: str  # Ready's status: True, False, Unknown or "" (none)
    ready_reason: str
    requested: str  # the reconcile-requested-at annotation, "" when none
    handled: str  # lastHandledReconcileAt
    forced: bool  # `gitmoor sync --force`: retry even a rolled-back revision
    atomic: bool
    report_drift: bool  # spec.drift is `report`
    watched: int  # objects the drift watch follows for this Sync
    since_full: float  # seconds since the last full attempt (inf: never)
    full_every: float  # seconds between full attempts of an unchanged, watched revision


@dataclass(frozen=True)
class Skip:
    why: str


@dataclass(frozen=True)
class Run:
    mode: Mode
    new_content: bool  # a new revision or spec: recorded before anything is written
    asked: bool  # a user asked (`gitmoor sync`): the request is marked handled


def facts(
    obj: dict[str, Any],
    revision: str,
    *,
    atomic: bool,
    report_drift: bool,
    watched: int,
    since_full: float,
    full_every: float,
) -> Facts:
    status = obj.get("status") or {}
    meta = obj["metadata"]
    annotations = meta.get("annotations") or {}
    requested = str(annotations.get(REQUESTED_AT) or "")
    ready = cond.get_condition(obj, cond.READY) or {}
    return Facts(
        revision=revision,
        generation=meta.get("generation"),
        observed_generation=status.get("observedGeneration"),
        applied_revision=str(status.get("lastAppliedRevision") or ""),
        failed_revision=str(status.get("lastFailedRevision") or ""),
        ready=str(ready.get("status") or ""),
        ready_reason=str(ready.get("reason") or ""),
        requested=requested,
        handled=str(status.get("lastHandledReconcileAt") or ""),
        forced=bool(requested) and annotations.get(FORCE_AT) == requested,
        atomic=atomic,
        report_drift=report_drift,
        watched=watched,
        since_full=since_full,
        full_every=full_every,
    )


def health_recovery_due(obj: dict[str, Any]) -> bool:
    """The objects a Sync's health gate timed out on are Current now: worth an attempt at
    once when the Sync still says so (not suspended, not changed since, Ready=False for that
    timeout). An atomic Sync never gets here: it rolled the revision back."""
    ready = cond.get_condition(obj, cond.READY) or {}
    status = obj.get("status") or {}
    return (
        not (obj.get("spec") or {}).get("suspend")
        and not obj["metadata"].get("deletionTimestamp")
        and ready.get("status") == "False"
        and ready.get("reason") == HEALTH_TIMEOUT
        and status.get("observedGeneration") == obj["metadata"].get("generation")
    )


def attempt(f: Facts) -> Skip | Run:
    current = f.observed_generation == f.generation
    asked = bool(f.requested) and f.requested != f.handled
    if f.atomic and f.failed_revision == f.revision and current and not f.forced:
        # Rolled back already: the same revision would only fail and roll back again. A new
        # commit, a spec change or `gitmoor sync --force` tries it again.
        return Skip(f"revision {f.revision} was rolled back; waiting for a new one")
    applied = f.applied_revision == f.revision and current
    # The drift watch vouches for what the last apply left while the Sync is Ready (or only
    # degraded since), nothing was asked for, and the last full attempt is recent.
    vouched = (
        not asked
        and (f.ready == "True" or f.ready_reason == DEGRADED)
        and f.watched > 0
        and f.since_full < f.full_every
    )
    if vouched and applied:
        return Skip("unchanged and watched")
    if f.report_drift and applied and not asked:
        return Run(Mode.DETECT, new_content=False, asked=False)
    return Run(Mode.INCREMENTAL if vouched else Mode.FULL, new_content=not applied, asked=asked)
