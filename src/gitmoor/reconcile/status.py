"""Sync and GitSource status derived from what a reconcile returned, never gathered on the side."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gitmoor.errors import GitmoorError, HealthGateError, SourceVerificationError
from gitmoor.model import Action, Artifact, ChartArtifact, Health, ObjectRef, Verdict, inventory
from gitmoor.model.hooks import TRACKED, HookRuns
from gitmoor.model.record import short_revision
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile.outcome import Outcome
from gitmoor.reconcile.retry import explained, reason_of

HISTORY = 5
_SHOWN = 3  # objects named in a message; the rest are counted


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reconciling(old: dict[str, Any], generation: int | None, message: str) -> dict[str, Any]:
    conditions = list(old.get("conditions") or [])
    conditions = cond.set_condition(
        conditions, cond.RECONCILING, True, "Progressing", message, generation
    )
    if not any(c.get("type") == cond.READY for c in conditions):
        conditions = cond.set_condition(
            conditions, cond.READY, None, "Progressing", message, generation
        )
    return {**old, "conditions": conditions}


def waiting_for(verdict: Verdict, shown: int = 3) -> str:
    """What a health gate still waits on, for the Reconciling condition: the count and the
    first few objects with their state."""
    pending = verdict.not_ready
    parts = [
        f"{h.ref} ({h.status.value}" + (f": {h.message})" if h.message else ")")
        for h in pending[:shown]
    ]
    more = f"; and {len(pending) - shown} more" if len(pending) > shown else ""
    return (
        f"waiting for {len(pending)} of {len(verdict.objects)} objects: " + "; ".join(parts) + more
    )


def sync_status(
    old: dict[str, Any],
    generation: int | None,
    outcome: Outcome,
    *,
    wait: bool,
    handled: str | None = None,
) -> dict[str, Any]:
    status = dict(old)
    conditions = cond.remove_condition(list(old.get("conditions") or []), cond.RECONCILING)
    status["observedGeneration"] = generation
    status["lastAttemptedRevision"] = outcome.revision
    if outcome.applied:
        status["lastAppliedRevision"] = outcome.revision
        status["shortRevision"] = short_revision(outcome.revision)
        status["deleteHooks"] = outcome.delete_hooks
    if outcome.inventory is not None:
        status["inventory"] = inventory.encode(outcome.inventory)
    if handled:
        status["lastHandledReconcileAt"] = handled
    err = outcome.error
    verdict = outcome.verdict
    if outcome.hooks is not None:
        # Done with this content: every point; else what completed, for the retry to skip.
        runs = outcome.hooks if err is not None else HookRuns(outcome.content, frozenset(TRACKED))
        status["hooks"] = runs.as_status()
    if err is None:
        status["lastHealthyRevision"] = outcome.revision
        conditions = cond.set_condition(
            conditions,
            cond.READY,
            True,
            "ReconciliationSucceeded",
            f"Applied revision: {outcome.revision}{_taken_over(outcome)}",
            generation,
        )
        conditions = cond.remove_condition(conditions, cond.STALLED)
        if wait and verdict is not None:
            conditions = cond.set_condition(
                conditions, cond.HEALTHY, True, "Healthy", verdict.summary(), generation
            )
        elif not wait:
            conditions = cond.set_condition(
                conditions,
                cond.HEALTHY,
                None,
                "HealthCheckDisabled",
                "spec.wait is false: health is not checked",
                generation,
            )
    else:
        reason, stalled = reason_of(err)
        conditions = _not_ready(conditions, reason, explained(err), generation, stalled=stalled)
        if isinstance(err, HealthGateError):
            conditions = cond.set_condition(
                conditions, cond.HEALTHY, False, reason, err.verdict.summary(), generation
            )
    if outcome.applied or err is None:
        conditions = _kept(conditions, outcome, generation)
    status["conditions"] = conditions
    if outcome.wrote or err is not None or old.get("lastAttemptedRevision") != outcome.revision:
        entry = {
            "revision": outcome.revision,
            "result": "Failed" if err is not None else "Applied",
            "reason": reason_of(err)[0] if err is not None else "ReconciliationSucceeded",
            "message": cond._clip(explained(err), 1000) if err is not None else "",
            "startedAt": _iso(outcome.started),
            "finishedAt": _iso(outcome.finished or outcome.started),
            "changes": outcome.changes.summary(),
        }
        if outcome.content:
            entry["content"] = outcome.content
        history = list(old.get("history") or [])
        # A repeat of the same failure replaces its entry instead of flooding the history.
        if history and _same_attempt(history[0], entry):
            history[0] = entry
        else:
            history.insert(0, entry)
        status["history"] = history[:HISTORY]
    return status


KEPT = "Kept"


def _kept(
    conditions: list[dict[str, Any]], outcome: Outcome, generation: int | None
) -> list[dict[str, Any]]:
    """Kept=True while prune holds back objects: ones others still use (a CRD with their
    custom resources, a Namespace with their objects), or whose deletion was refused (a
    tenant's ServiceAccount may not delete them); gone once nothing is held."""
    held = [c for c in outcome.changes.changes if c.action in (Action.KEPT, Action.FAILED)]
    if not held:
        return cond.remove_condition(conditions, KEPT)
    refused = any(c.action is Action.FAILED for c in held)
    message = "; ".join(
        f"{'could not prune' if c.action is Action.FAILED else 'kept'} {c.ref.subject}: {c.message}"
        for c in held
    )
    reason = "PruneFailed" if refused else "StillInUse"
    return cond.set_condition(conditions, KEPT, True, reason, message, generation)


def _taken_over(outcome: Outcome) -> str:
    """What the attempt took over from other Syncs, for the Ready message (and so the ledger's
    and `gitmoor history`'s)."""
    taken = [c.ref.subject for c in outcome.changes.changes if c.action is Action.TAKEN_OVER]
    if not taken:
        return ""
    more = f" and {len(taken) - _SHOWN} more" if len(taken) > _SHOWN else ""
    return f"; took over from other Syncs: {', '.join(taken[:_SHOWN])}{more}"


def _same_attempt(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("revision", "result", "reason", "message")
    return all(a.get(k) == b.get(k) for k in keys) and b["changes"] == a.get("changes")


def failed_before_apply(
    old: dict[str, Any], generation: int | None, reason: str, message: str, *, stalled: bool
) -> dict[str, Any]:
    """Status for a Sync that could not start (source not ready, dependency not ready, cycle)."""
    conditions = cond.remove_condition(list(old.get("conditions") or []), cond.RECONCILING)
    conditions = _not_ready(conditions, reason, message, generation, stalled=stalled)
    return {**old, "observedGeneration": generation, "conditions": conditions}


UNSAFE_SHOWN = 20  # unsafe entries listed in a GitSource's status


def source_status(
    old: dict[str, Any],
    generation: int | None,
    artifact: Artifact | None,
    err: GitmoorError | None,
    *,
    verifying: bool = False,
) -> dict[str, Any]:
    """`verifying`: the source has spec.verify, and says with SourceVerified how it went."""
    status = dict(old)
    status["observedGeneration"] = generation
    conditions = cond.remove_condition(list(old.get("conditions") or []), cond.RECONCILING)
    if artifact is not None:
        status["artifact"] = {
            "revision": artifact.revision,
            "digest": artifact.digest,
            "lastUpdateTime": (old.get("artifact") or {}).get("lastUpdateTime")
            if (old.get("artifact") or {}).get("revision") == artifact.revision
            else artifact.fetched_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "url": artifact.url,
            "message": artifact.commit.message.splitlines()[0] if artifact.commit.message else "",
            "author": artifact.commit.author,
        }
        if artifact.signer:
            status["artifact"]["signer"] = artifact.signer
        if artifact.refused:
            status["artifact"]["unsafeEntries"] = sorted(artifact.refused)[:UNSAFE_SHOWN]
        status["shortRevision"] = short_revision(artifact.revision)
    conditions = _source_verified(conditions, artifact, err, generation, verifying=verifying)
    if err is None:
        revision = artifact.revision if artifact else ""
        conditions = cond.set_condition(
            conditions,
            cond.READY,
            True,
            "Succeeded",
            f"stored artifact for revision {revision}",
            generation,
        )
        conditions = cond.remove_condition(conditions, cond.STALLED)
    else:
        reason, stalled = reason_of(err)
        conditions = _not_ready(conditions, reason, str(err), generation, stalled=stalled)
    status["conditions"] = conditions
    return status


def chart_source_status(
    old: dict[str, Any],
    generation: int | None,
    chart: ChartArtifact | None,
    err: GitmoorError | None,
) -> dict[str, Any]:
    """A ChartSource's status: the chart in use (kept through a failure: its Syncs keep it),
    Ready with the reason of what went wrong."""
    status = dict(old)
    status["observedGeneration"] = generation
    conditions = cond.remove_condition(list(old.get("conditions") or []), cond.RECONCILING)
    if chart is not None:
        before = old.get("artifact") or {}
        status["artifact"] = {
            "revision": chart.revision,
            "digest": chart.digest,
            "chart": chart.chart,
            "version": chart.version,
            "url": chart.url,
            "lastUpdateTime": before.get("lastUpdateTime")
            if before.get("revision") == chart.revision
            else chart.fetched_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        status["shortRevision"] = short_revision(chart.revision)
    if err is None:
        message = f"stored chart {chart.revision}" if chart is not None else ""
        conditions = cond.set_condition(
            conditions, cond.READY, True, "Succeeded", message, generation
        )
        conditions = cond.remove_condition(conditions, cond.STALLED)
    else:
        reason, stalled = reason_of(err)
        conditions = _not_ready(conditions, reason, str(err), generation, stalled=stalled)
    status["conditions"] = conditions
    return status


SOURCE_VERIFIED = "SourceVerified"


def _source_verified(
    conditions: list[dict[str, Any]],
    artifact: Artifact | None,
    err: GitmoorError | None,
    generation: int | None,
    *,
    verifying: bool,
) -> list[dict[str, Any]]:
    """SourceVerified=True naming each signature checked, False naming the commit refused and
    its signer (if any); any other failure leaves it as it was: nothing new was judged."""
    if not verifying:
        return cond.remove_condition(conditions, SOURCE_VERIFIED)
    if isinstance(err, SourceVerificationError):
        return cond.set_condition(
            conditions, SOURCE_VERIFIED, False, err.verdict, str(err), generation
        )
    if err is None and artifact is not None and artifact.verified_by:
        signed = "; ".join(
            f"{s.signed} {s.sha} signed by {s.fingerprint}" + (f" ({s.signer})" if s.signer else "")
            for s in artifact.verified_by
        )
        message = f"{artifact.revision}: {signed}"
        return cond.set_condition(
            conditions, SOURCE_VERIFIED, True, "Verified", message, generation
        )
    return conditions


def _not_ready(
    conditions: list[dict[str, Any]],
    reason: str,
    message: str,
    generation: int | None,
    *,
    stalled: bool,
) -> list[dict[str, Any]]:
    """Ready=False, and Stalled=True only when retrying the same input cannot help."""
    conditions = cond.set_condition(conditions, cond.READY, False, reason, message, generation)
    if stalled:
        return cond.set_condition(conditions, cond.STALLED, True, reason, message, generation)
    return cond.remove_condition(conditions, cond.STALLED)


def rolled_back(
    old: dict[str, Any],
    generation: int | None,
    failed: Outcome,
    restored: Outcome | None,
    *,
    handled: str | None = None,
) -> dict[str, Any]:
    """Status after an atomic Sync's revision failed: restored (Ready=False, RolledBack), or not
    (nothing healthy kept to restore, or the restore failed too)."""
    err = failed.error
    assert err is not None
    reason, _ = reason_of(err)
    status = sync_status(old, generation, failed, wait=True, handled=handled)
    status["lastFailedRevision"] = failed.revision
    conditions = list(status["conditions"])
    if restored is None:
        message = (
            f"revision {failed.revision} failed ({reason}: {err}); "
            "no healthy revision kept to roll back to"
        )
        conditions = _not_ready(conditions, reason, message, generation, stalled=False)
    elif restored.error is not None:
        message = (
            f"revision {failed.revision} failed ({reason}: {err}); rolling back to "
            f"{restored.revision} failed too: {restored.error}"
        )
        conditions = _not_ready(conditions, "RollbackFailed", message, generation, stalled=False)
        if restored.inventory is not None:
            status["inventory"] = _inventory(restored)
    else:
        # The same revision: the objects it rendered before (a chart dependency moved since).
        before = " as it rendered before" if restored.revision == failed.revision else ""
        message = (
            f"revision {failed.revision} failed ({reason}: {err}); "
            f"restored {restored.revision}{before}"
        )
        conditions = _not_ready(conditions, "RolledBack", message, generation, stalled=False)
        status["lastAppliedRevision"] = restored.revision
        status["shortRevision"] = short_revision(restored.revision)
        status["deleteHooks"] = restored.delete_hooks
        status["lastHealthyRevision"] = restored.revision
        if restored.content:
            # Its hooks ran when it was deployed; none runs again for it.
            status["hooks"] = HookRuns(restored.content, frozenset(TRACKED)).as_status()
        status["inventory"] = _inventory(restored)
        if restored.verdict is not None:
            conditions = cond.set_condition(
                conditions, cond.HEALTHY, True, "Healthy", restored.verdict.summary(), generation
            )
        entry = {
            "revision": restored.revision,
            "result": "RolledBack",
            "reason": "RolledBack",
            "message": cond._clip(f"restored after {failed.revision} failed", 1000),
            "startedAt": _iso(restored.started),
            "finishedAt": _iso(restored.finished or restored.started),
            "changes": restored.changes.summary(),
        }
        if restored.content:
            entry["content"] = restored.content
        status["history"] = [entry, *status.get("history", [])][:HISTORY]
    status["conditions"] = conditions
    return status


def _inventory(outcome: Outcome) -> dict[str, Any]:
    return inventory.encode(outcome.inventory or ())


DRIFTED = "Drifted"


def with_drift(
    status: dict[str, Any], generation: int | None, drifted: dict[ObjectRef, tuple[str, ...]]
) -> dict[str, Any]:
    """Drifted=True listing each object that differs from Git and how, or no Drifted at all."""
    conditions = list(status.get("conditions") or [])
    if not drifted:
        return {**status, "conditions": cond.remove_condition(conditions, DRIFTED)}
    parts = [
        f"{ref.subject} ({', '.join(fields) if fields else 'deleted'})"
        for ref, fields in sorted(drifted.items())
    ]
    message = f"{len(parts)} object(s) differ from Git: " + "; ".join(parts)
    conditions = cond.set_condition(conditions, DRIFTED, True, "DriftDetected", message, generation)
    return {**status, "conditions": conditions}


DEGRADED = "HealthDegraded"


def degraded(
    status: dict[str, Any], generation: int | None, failing: tuple[Health, ...]
) -> dict[str, Any]:
    """Ready=False and Healthy=False: objects of the applied revision turned Failed since."""
    verdict = Verdict(healthy=False, timed_out=False, objects=failing)
    message = (
        f"revision {status.get('lastAppliedRevision', '')} was applied and healthy; since then "
        + verdict.summary()
    )
    conditions = list(status.get("conditions") or [])
    conditions = cond.set_condition(conditions, cond.READY, False, DEGRADED, message, generation)
    conditions = cond.set_condition(conditions, cond.HEALTHY, False, DEGRADED, message, generation)
    return {**status, "conditions": conditions}


def recovered(status: dict[str, Any], generation: int | None) -> dict[str, Any]:
    """Ready and Healthy again after `degraded`: every Failed object is Current again."""
    revision = status.get("lastAppliedRevision", "")
    conditions = list(status.get("conditions") or [])
    conditions = cond.set_condition(
        conditions,
        cond.READY,
        True,
        "ReconciliationSucceeded",
        f"Applied revision: {revision}",
        generation,
    )
    conditions = cond.set_condition(
        conditions, cond.HEALTHY, True, "Healthy", "healthy again", generation
    )
    return {**status, "conditions": conditions}
