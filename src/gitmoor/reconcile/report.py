"""Every effect of a reconcile as one value: the status to write, the Events, notifications,
ledger record, metrics, drift tracking, snapshot and the next try, derived from what happened.

Pure: the functions here read values and return a `Report`; `publish` carries it out.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any

from gitmoor.errors import (
    ApplyError,
    CrashError,
    GitmoorError,
    HealthGateError,
    SourceVerificationError,
)
from gitmoor.model import (
    Action,
    Applied,
    Artifact,
    ChangeSet,
    ChartArtifact,
    Health,
    Missing,
    ObjectRef,
    Verdict,
    inventory,
)
from gitmoor.model.labels import PINNED, REQUESTED_AT
from gitmoor.model.notifications import NotificationKind
from gitmoor.model.record import Record
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile import records
from gitmoor.reconcile import status as st
from gitmoor.reconcile.decide import HEALTH_TIMEOUT, Mode, Run, Skip
from gitmoor.reconcile.outcome import Outcome
from gitmoor.reconcile.retry import (
    RETRY_AFTER_CAP,
    Retry,
    backoff_delay,
    classify,
    missing,
    progressing,
    reason_of,
)
from gitmoor.reconcile.snapshots import Kept, Snapshot

NORMAL = "Normal"
WARNING = "Warning"


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class Note:
    """A notification to the Sync's sinks."""

    kind: NotificationKind
    revision: str
    reason: str
    message: str
    restored: str = ""


class Result(enum.StrEnum):
    """How a reconcile ended, as the metrics count it."""

    SUCCESS = "success"
    FAILURE = "failure"
    STALLED = "stalled"
    ROLLBACK = "rollback"


class DriftAction(enum.StrEnum):
    NONE = "none"
    TRACK = "track"  # compare these objects from now on (and resume)
    RESUME = "resume"  # compare again what was compared before
    FORGET = "forget"  # stop watching this Sync's objects


@dataclass(frozen=True)
class LogLine:
    level: str  # info or warning
    event: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    status: dict[str, Any] | None = None  # the whole new status; None leaves it as it is
    events: tuple[Event, ...] = ()
    notes: tuple[Note, ...] = ()
    begin: Record | None = None  # a ledger record to open before anything is written
    finish: Record | None = None  # the final state of the record in progress
    result: Result | None = None  # counted in the reconcile metrics, with `seconds`
    seconds: float = 0.0
    retry: Retry | None = None  # None: nothing scheduled (a watch event or a wake-up comes)
    drift: DriftAction = DriftAction.NONE
    tracked: dict[ObjectRef, Applied] = field(default_factory=dict)
    reported: dict[ObjectRef, tuple[str, ...]] | None = None  # `drift: report` findings
    snapshot: Snapshot | None = None
    fetch: tuple[str, float] | None = None  # a GitSource's (result, seconds)
    correction: str | None = None  # a drift correction's result, counted
    log: LogLine | None = None
    # With `retry`: what the cluster lacks for the revision (a Namespace, a kind); the watch
    # on Namespaces and CRDs wakes the Sync when one arrives.
    awaiting: frozenset[Missing] = frozenset()
    # With `retry`: the objects (and their apiVersion) a timed-out health gate waited for that
    # are still progressing; once the watch sees them all Current, the Sync is tried again.
    progressing: dict[ObjectRef, str] = field(default_factory=dict)

    @property
    def delay(self) -> float | None:
        return None if self.retry is None else self.retry.delay


@dataclass(frozen=True)
class Context:
    """What every Sync report needs besides the outcome: the Sync as read, and its spec."""

    obj: dict[str, Any]
    interval: float
    retry_interval: float | None
    wait: bool
    failures: int = 0
    atomic: bool = False  # only atomic Syncs keep a snapshot to roll back to

    @property
    def old(self) -> dict[str, Any]:
        return dict(self.obj.get("status") or {})

    @property
    def generation(self) -> int | None:
        value = self.obj["metadata"].get("generation")
        return None if value is None else int(value)

    @property
    def requested(self) -> str | None:
        value = (self.obj["metadata"].get("annotations") or {}).get(REQUESTED_AT)
        return str(value) if value else None

    @property
    def pinned(self) -> str | None:
        value = (self.obj["metadata"].get("annotations") or {}).get(PINNED)
        return str(value) if value else None

    def success(self) -> Retry:
        return Retry("", False, self.interval, 0)

    def after(self, error: BaseException, *, watched: bool = False) -> Retry:
        return classify(
            error,
            failures=self.failures,
            interval=self.interval,
            retry_interval=self.retry_interval,
            watched=watched,
        )


# -- before an attempt ------------------------------------------------------------------------


def invalid(obj: dict[str, Any], error: Exception) -> Report:
    """The resource's spec does not parse: nothing to do until it changes."""
    status = st.failed_before_apply(
        dict(obj.get("status") or {}),
        obj["metadata"].get("generation"),
        "InvalidSpec",
        str(error),
        stalled=True,
    )
    return Report(status=status, retry=None)


def waiting(ctx: Context, error: GitmoorError) -> Report:
    """The Sync cannot start: its source, a dependency or a pinned commit is not there."""
    reason, stalled = reason_of(error)
    status = st.failed_before_apply(ctx.old, ctx.generation, reason, str(error), stalled=stalled)
    if ctx.requested:
        status["lastHandledReconcileAt"] = ctx.requested
    return Report(status=status, retry=ctx.after(error))


def skipped(ctx: Context, skip: Skip) -> Report:
    status = None
    old = ctx.old
    if ctx.requested and old.get("lastHandledReconcileAt") != ctx.requested:
        status = {**old, "lastHandledReconcileAt": ctx.requested}
    return Report(status=status, retry=ctx.success(), log=LogLine("debug", skip.why))


def started(ctx: Context, run: Run, record: Record | None) -> Report:
    """Before anything is written: new content says Reconciling and opens its ledger record."""
    if not run.new_content:
        return Report()
    revision = record.revision if record is not None else ""
    status = st.reconciling(ctx.old, ctx.generation, f"Reconciling revision {revision}")
    return Report(status=status, begin=record)


def gate_progress(ctx: Context, revision: str, verdict: Verdict) -> Report:
    """While a health gate of new content waits: Reconciling says on which objects, and why."""
    message = f"Reconciling revision {revision}: {st.waiting_for(verdict)}"
    return Report(status=st.reconciling(ctx.old, ctx.generation, message))


# -- after an attempt -------------------------------------------------------------------------


@dataclass(frozen=True)
class Restored:
    """An atomic Sync's rollback: to what (None: nothing healthy kept), and how it went."""

    outcome: Outcome | None


def finished(
    ctx: Context,
    run: Run,
    outcome: Outcome,
    *,
    begun: Record | None,
    unbegun: Record,
    restored: Restored | None,
    kept_snapshot: Kept | None,
) -> Report:
    """Everything that follows an attempt. `begun` is the record opened before it (None when
    the attempt was not expected to change anything); `unbegun` is the record to open now if it
    did change something after all. `kept_snapshot` is what the rollback snapshot holds now."""
    old, generation, detect = ctx.old, ctx.generation, run.mode is Mode.DETECT
    events: list[Event] = []
    notes: list[Note] = []
    snapshot = None
    reported = None
    tracked: dict[ObjectRef, Applied] = {}
    drift = DriftAction.RESUME
    if outcome.error is None:
        drift, tracked = DriftAction.TRACK, outcome.tracked
        reported = dict(outcome.drifted) if detect else {}
        if ctx.atomic and outcome.desired and not detect and snapshot_due(kept_snapshot, outcome):
            snapshot = Snapshot(outcome.revision, outcome.desired)
        new = st.sync_status(old, generation, outcome, wait=ctx.wait, handled=ctx.requested)
        new = st.with_drift(new, generation, reported)
        new.pop("lastFailedRevision", None)
        _mark_pinned(new, ctx.pinned, ctx.obj)
        if outcome.drifted and detect:
            notes.extend(_drift_note(outcome.revision, new))
        recovered = old.get("lastFailedRevision") or (
            cond.get_condition(ctx.obj, cond.READY) and not cond.is_true(ctx.obj, cond.READY)
        )
        if recovered or outcome.wrote:
            message = f"applied revision {outcome.revision}: {outcome.changes.summary()}"
            events.append(Event(NORMAL, "ReconciliationSucceeded", message))
        for kept in outcome.changes.changes:
            if kept.action is Action.TAKEN_OVER:
                events.append(Event(WARNING, "TakenOver", f"{kept.ref.subject}: {kept.message}"))
            elif kept.action is Action.KEPT:
                message = f"not pruned {kept.ref.subject}: {kept.message}"
                events.append(Event(WARNING, "PruneKept", message))
            elif kept.action is Action.FAILED:
                # Only prune reports failures in a successful attempt: its deletes were refused.
                message = f"could not prune {kept.ref.subject}: {kept.message}"
                events.append(Event(WARNING, "PruneFailed", message))
    elif restored is not None:
        new = st.rolled_back(old, generation, outcome, restored.outcome, handled=ctx.requested)
        back = restored.outcome
        if back is None:
            events.append(Event(WARNING, "RollbackImpossible", _ready_message(new)))
        else:
            if back.error is None:
                drift, tracked = DriftAction.TRACK, back.tracked
            reason = "RolledBack" if back.error is None else "RollbackFailed"
            events.append(Event(WARNING, reason, _ready_message(new)))
    else:
        new = st.sync_status(old, generation, outcome, wait=ctx.wait, handled=ctx.requested)
        _mark_pinned(new, ctx.pinned, ctx.obj)
        if outcome.applied and not detect:
            # Every object of the revision was written (its health gate failed after): that
            # is what runs now, and what drift is measured against; comparing with the revision
            # before would take the new objects for drift and put the old ones back.
            drift, tracked = DriftAction.TRACK, outcome.tracked
        if outcome.wrote or old.get("lastAttemptedRevision") != outcome.revision:
            events.append(Event(WARNING, reason_of(outcome.error)[0], str(outcome.error)))
    result = _result(outcome, new)
    notes.extend(_notes(outcome, new, old, result))
    finish = begin = None
    if (
        begun is None
        and not detect
        and (outcome.wrote or outcome.error is not None or _recovered_health(old, outcome))
    ):
        # An interval run that changed the cluster (or tried to) is an attempt too, and so is
        # one that found healthy what a failed health gate left: the revision runs from now.
        begun = begin = unbegun
    if begun is not None:
        finish = records.finished(
            begun,
            outcome,
            reason=_ready_reason(new),
            message=_ready_message(new),
            restored=restored.outcome if restored is not None else None,
        )
    awaited: dict[ObjectRef, str] = {}
    if outcome.error is None:
        retry = ctx.success()
    elif restored is not None:
        # Rolled back (or could not be): the same revision would fail again; a new commit,
        # a spec change or `gitmoor sync --force` wakes it.
        retry = Retry(reason_of(outcome.error)[0], False, ctx.interval, 0)
    else:
        # Objects still progressing when the gate timed out are awaited by the watch (nothing
        # to recover for an atomic Sync: the revision was rolled back above).
        api_versions = {ref: a.api_version for ref, a in outcome.tracked.items()}
        awaited = progressing(outcome.error, api_versions)
        retry = ctx.after(outcome.error, watched=bool(awaited))
    lacking = missing(outcome.error) if outcome.error is not None and restored is None else None
    return Report(
        status=new,
        events=tuple(events),
        notes=tuple(notes),
        begin=begin,
        finish=finish,
        result=result,
        seconds=max(0.0, (outcome.finished or outcome.started) - outcome.started),
        retry=retry,
        drift=drift,
        tracked=tracked,
        reported=reported,
        snapshot=snapshot,
        log=_outcome_line(outcome),
        awaiting=lacking or frozenset(),
        progressing=awaited,
    )


# A failed health gate, which a later look may find healthy without any write.
_HEALTH_FAILURES = (HEALTH_TIMEOUT, "HealthCheckFailed")


def _recovered_health(old: dict[str, Any], outcome: Outcome) -> bool:
    """The revision whose health gate failed last time is healthy now (nothing written)."""
    ready = _ready(old)
    return (
        outcome.error is None
        and old.get("lastAttemptedRevision") == outcome.revision
        and ready.get("status") == "False"
        and ready.get("reason") in _HEALTH_FAILURES
    )


def rollback_due(atomic: bool, outcome: Outcome) -> bool:
    return atomic and isinstance(outcome.error, ApplyError | HealthGateError)


def snapshot_due(kept: Kept | None, healthy: Outcome) -> bool:
    """A healthy attempt is kept for rollbacks unless the snapshot holds it already: the same
    revision may have rendered other objects (a newer chart dependency, a spec change)."""
    return kept != Kept(healthy.revision, healthy.content)


def restorable(kept: Kept | None, failed: Outcome) -> bool:
    """A failed attempt can be rolled back when a snapshot is kept and holds something else:
    another revision, or the same one as rendered before (a dependency that moved since)."""
    return kept is not None and kept != Kept(failed.revision, failed.content)


def cancelled(ctx: Context, outcome: Outcome, begun: Record | None, why: str) -> Report:
    """Cut short: whatever was applied stays in the inventory so a later prune finds it, and
    `Reconciling` goes (nothing runs any more; a newer attempt says so again). Ready stays as
    it was: the cut attempt proved nothing either way."""
    old = ctx.old
    conditions = old.get("conditions") or []
    status = None
    if any(c.get("type") == cond.RECONCILING for c in conditions):
        status = {**old, "conditions": cond.remove_condition(list(conditions), cond.RECONCILING)}
    progress = outcome.progress
    if progress is not None:
        status = {**(status or old), "inventory": inventory.encode(progress)}
    finish = records.interrupted(begun, outcome, message=why) if begun is not None else None
    return Report(status=status, finish=finish, drift=DriftAction.RESUME)


def crashed(
    obj: dict[str, Any],
    error: BaseException,
    *,
    begun: Record | None,
    failures: int,
    interval: float,
    kind: str = "Sync",
) -> Report:
    """A reconcile raised what nobody expected: say so on the resource and finish its record,
    so nothing stays `Reconciling` or in progress."""
    crash = error if isinstance(error, CrashError) else CrashError(error)
    retry = classify(crash, failures=failures, interval=interval)
    status = st.failed_before_apply(
        dict(obj.get("status") or {}),
        obj["metadata"].get("generation"),
        retry.reason,
        str(crash),
        stalled=False,
    )
    finish = None
    if begun is not None:
        outcome = Outcome(revision=begun.revision, error=crash)
        finish = records.finished(begun, outcome, reason=retry.reason, message=str(crash))
    revision = str((obj.get("status") or {}).get("lastAttemptedRevision") or "")
    return Report(
        status=status,
        events=(Event(WARNING, retry.reason, str(crash)),),
        notes=(Note(NotificationKind.FAILURE, revision, retry.reason, str(crash)),)
        if kind == "Sync"
        else (),
        finish=finish,
        result=Result.FAILURE if kind == "Sync" else None,
        retry=retry,
        drift=DriftAction.RESUME if kind == "Sync" else DriftAction.NONE,
        log=LogLine("error", "reconcile crashed", {"error": str(crash)}),
    )


def pruned_on_deletion(changes: ChangeSet) -> Report:
    """A deleted Sync pruned what it applied; what others still use was kept."""
    events = tuple(
        Event(WARNING, "PruneKept", f"not pruned {c.ref.subject}: {c.message}")
        for c in changes.changes
        if c.action is Action.KEPT
    )
    return Report(
        events=events, log=LogLine("info", "pruned on deletion", {"changes": changes.summary()})
    )


DELETE_HOOK_FAILED = "DeleteHookFailed"
INVENTORY_UNREADABLE = "InventoryUnreadable"


def deletion_held(ctx: Context, before: Outcome) -> Report:
    """A pre-delete hook did not complete: as Helm aborts the uninstall, the Sync stays (its
    finalizer), with everything it applied, and says so; it is tried again (backoff, a new
    revision, a spec change). `deletionPolicy: Orphan` deletes it without hooks or pruning."""
    assert before.error is not None
    message = (
        f"deletion held: {before.error}; nothing was pruned. Fix the hook (a new revision is "
        "tried), or set spec.deletionPolicy: Orphan to delete without hooks and pruning"
    )
    return _deletion_held(
        ctx, DELETE_HOOK_FAILED, message, before.error, "pre-delete hook failed", stalled=False
    )


def deletion_unreadable(ctx: Context, error: GitmoorError) -> Report:
    """A Sync deleted with deletionPolicy Delete whose inventory cannot be read whole (a chunk
    beside its status lost or changed): nothing is pruned from a partial inventory. The Sync
    stays, says why, and is tried again; Orphan lets it go without pruning."""
    message = (
        f"deletion held: {error}. Restore the inventory, or set spec.deletionPolicy: Orphan to "
        "delete the Sync and leave what it applied"
    )
    return _deletion_held(
        ctx,
        INVENTORY_UNREADABLE,
        message,
        error,
        "deletion held: inventory unreadable",
        stalled=True,
    )


def _deletion_held(
    ctx: Context, reason: str, message: str, error: BaseException, logged: str, *, stalled: bool
) -> Report:
    """A deleted Sync kept (its finalizer) for `reason`: not Ready, a Warning, tried again."""
    return Report(
        status=st.failed_before_apply(ctx.old, ctx.generation, reason, message, stalled=stalled),
        events=(Event(WARNING, reason, message),),
        retry=ctx.after(error),
        log=LogLine("warning", logged, {"error": str(error)}),
    )


def post_delete_hooks(after: Outcome) -> Report:
    """The post-delete hooks ran after the prune; a failure is told, not held on: what the
    Sync applied is gone already, and keeping the Sync would protect nothing."""
    if after.error is None:
        if not after.changes.changes:
            return Report()
        return Report(
            log=LogLine("info", "post-delete hooks", {"changes": after.changes.summary()})
        )
    message = f"post-delete hook did not complete: {after.error}"
    return Report(
        events=(Event(WARNING, DELETE_HOOK_FAILED, message),), log=LogLine("warning", message)
    )


def deletion_hooks_unread(error: GitmoorError, *, expected: bool) -> Report:
    """No revision to read the delete hooks from (source gone or failing, render error): the
    deletion goes on without them. A Warning when what was applied held some (`expected`, or
    not known); else only a log line: a GitSource deleted with its Syncs is the usual case."""
    message = f"no delete hooks ran: the revision to read them from is not there: {error}"
    if not expected:
        return Report(log=LogLine("info", message))
    return Report(
        events=(Event(WARNING, "DeleteHooksSkipped", message),), log=LogLine("warning", message)
    )


def orphaned(count: int, why: str) -> Report:
    message = f"deleted; left the {count} object(s) it applied in place: {why}"
    return Report(events=(Event(NORMAL, "Orphaned", message),), log=LogLine("info", message))


# -- sources ----------------------------------------------------------------------------------


def fetched(
    obj: dict[str, Any],
    *,
    artifact: Artifact | None,
    error: GitmoorError | None,
    before: Artifact | None,
    seconds: float,
    failures: int,
    interval: float,
    verifying: bool = False,
) -> Report:
    old = dict(obj.get("status") or {})
    generation = obj["metadata"].get("generation")
    requested = (obj["metadata"].get("annotations") or {}).get(REQUESTED_AT)
    new = st.source_status(old, generation, artifact, error, verifying=verifying)
    if requested:
        new["lastHandledReconcileAt"] = requested
    events: tuple[Event, ...] = ()
    if error is not None:
        result = "failure"
        events = (Event(WARNING, reason_of(error)[0], str(error)),)
        retry = classify(error, failures=failures, interval=interval)
    else:
        assert artifact is not None
        changed = before is None or before.revision != artifact.revision
        result = "success" if changed else "unchanged"
        if changed:
            message = artifact.commit.message
            subject = message.splitlines()[0] if message else ""
            events = (Event(NORMAL, "NewArtifact", f"{artifact.revision}: {subject}"),)
            if artifact.refused:
                events += (Event(WARNING, "UnsafeEntries", unsafe_entries(artifact)),)
        retry = Retry("", False, interval, 0)
    return Report(status=new, events=events, retry=retry, fetch=(result, seconds))


def unsafe_entries(artifact: Artifact) -> str:
    """What a GitSource says of a revision whose tree held entries left out as unsafe."""
    refused = sorted(artifact.refused)
    shown = ", ".join(refused[: st.UNSAFE_SHOWN])
    if len(refused) > st.UNSAFE_SHOWN:
        shown += f" and {len(refused) - st.UNSAFE_SHOWN} more"
    return (
        f"{artifact.revision}: {len(refused)} entries left out as unsafe (symlinks leading out "
        f"of the checkout or nowhere, climbing paths, devices): {shown}; every Sync refuses this "
        "revision until they are removed or excluded by spec.ignore"
    )


# (commit, verdict) of the last revision a GitSource's spec.verify refused.
Refusal = tuple[str, str]


def refused_revision(
    error: GitmoorError | None, before: Refusal | None, branch: str | None
) -> tuple[Refusal | None, tuple[Note, ...]]:
    """What a GitSource remembers of the revision spec.verify refused last, and the FAILURE
    notification for the sinks of the Syncs reading it: one per (commit, verdict), not one per
    check, since the source refuses the same head at every interval. A success forgets it (a
    later refusal of the same commit, its key removed, is news); another failure (the remote
    unreachable) judged nothing and keeps it."""
    if error is None:
        return None, ()
    if not isinstance(error, SourceVerificationError):
        return before, ()
    refusal = (error.commit, error.verdict)
    if refusal == before:
        return before, ()
    revision = f"{branch}@sha1:{error.commit}" if branch else f"sha1:{error.commit}"
    signer = f"signed by {error.signer}" if error.signer else "no signature by any key"
    message = f"{error.verdict} ({signer}): {error}; the Sync keeps its last verified revision"
    return refusal, (Note(NotificationKind.FAILURE, revision, "VerificationFailed", message),)


def chart_fetched(
    obj: dict[str, Any],
    *,
    chart: ChartArtifact | None,
    error: GitmoorError | None,
    before: ChartArtifact | None,
    failures: int,
    interval: float,
) -> Report:
    """A ChartSource checked its repository: the chart it resolved, or why it could not. The
    chart resolved before stays in the status (its Syncs keep running it)."""
    old = dict(obj.get("status") or {})
    generation = obj["metadata"].get("generation")
    requested = (obj["metadata"].get("annotations") or {}).get(REQUESTED_AT)
    new = st.chart_source_status(old, generation, chart if error is None else before, error)
    if requested:
        new["lastHandledReconcileAt"] = requested
    events: tuple[Event, ...] = ()
    if error is not None:
        events = (Event(WARNING, reason_of(error)[0], str(error)),)
        retry = classify(error, failures=failures, interval=interval)
    else:
        assert chart is not None
        if before is None or before.revision != chart.revision:
            events = (Event(NORMAL, "NewArtifact", f"chart {chart.revision}"),)
        retry = Retry("", False, interval, 0)
    return Report(status=new, events=events, retry=retry)


# -- after the apply: drift and health seen by the watch ------------------------------------


def corrected(begun: Record | None, changes: ChangeSet) -> Report:
    """Drifted objects put back: one attempt with its record (trigger `drift`)."""
    outcome = _correction_outcome(begun, changes, None)
    finish = None
    if begun is not None:
        finish = records.finished(
            begun, outcome, reason="DriftCorrected", message=records.correction_message(changes)
        )
    events = tuple(
        Event(NORMAL, "DriftCorrected", f"{c.ref}: {c.message}") for c in changes.written
    )
    fields = {"objects": [str(c.ref) for c in changes.written], "changes": changes.summary()}
    return Report(
        events=events,
        finish=finish,
        correction="success",
        log=LogLine("info", "drift corrected", fields),
    )


def correction_failed(ctx: Context, begun: Record | None, error: ApplyError) -> Report:
    """A correction the API server refused: the Sync is not Ready until one succeeds (the next
    attempt, with backoff, corrects it again; after the API server's own `Retry-After` when it
    throttled the writes)."""
    changes = error.changes if isinstance(error.changes, ChangeSet) else ChangeSet()
    message = f"could not put drifted objects back as Git has them: {error}"
    delay = backoff_delay(ctx.failures + 1, cap=ctx.retry_interval or ctx.interval)
    if error.retry_after is not None:
        delay = min(error.retry_after, RETRY_AFTER_CAP)
    retry = Retry("DriftCorrectionFailed", False, delay, ctx.failures + 1)
    line = LogLine("warning", "drift correction failed", {"error": str(error)})
    return _correction_failure(ctx, begun, changes, error, retry, message, line)


def correction_crashed(ctx: Context, begun: Record | None, error: BaseException) -> Report:
    """A correction raised what nobody expected (a bug, a status write refused): as after a
    crashed reconcile, the Sync says so (`ReconciliationFailed`), the correction's record is
    finished as failed, and the Sync is tried again with backoff."""
    crash = error if isinstance(error, CrashError) else CrashError(error)
    line = LogLine("error", "drift correction crashed", {"error": str(crash)})
    return _correction_failure(ctx, begun, ChangeSet(), crash, ctx.after(crash), str(crash), line)


def _correction_failure(
    ctx: Context,
    begun: Record | None,
    changes: ChangeSet,
    error: GitmoorError,
    retry: Retry,
    message: str,
    line: LogLine,
) -> Report:
    """A correction that did not put everything back: not Ready (`retry.reason`) until one
    does, its record finished as failed."""
    outcome = _correction_outcome(begun, changes, error)
    reason = retry.reason
    finish = None
    if begun is not None:
        finish = records.finished(begun, outcome, reason=reason, message=message)
    status = st.failed_before_apply(ctx.old, ctx.generation, reason, message, stalled=False)
    revision = str(ctx.old.get("lastAppliedRevision") or "")
    return Report(
        status=status,
        events=(Event(WARNING, reason, message),),
        notes=(Note(NotificationKind.FAILURE, revision, reason, message),),
        finish=finish,
        correction="failure",
        retry=retry,
        log=line,
    )


def _correction_outcome(
    begun: Record | None, changes: ChangeSet, error: GitmoorError | None
) -> Outcome:
    now = time.time()
    started = begun.started_at.timestamp() if begun is not None else now
    return Outcome(
        revision=begun.revision if begun is not None else "",
        changes=changes,
        error=error,
        started=started,
        finished=now,
        applied=error is None,
        applied_at=now if error is None else 0.0,
    )


def drift_reported(
    obj: dict[str, Any], found: dict[ObjectRef, tuple[str, ...]], ref: ObjectRef, what: str
) -> Report:
    status = st.with_drift(dict(obj.get("status") or {}), obj["metadata"].get("generation"), found)
    revision = str((obj.get("status") or {}).get("lastAppliedRevision") or "")
    return Report(
        status=status,
        events=(Event(WARNING, "DriftDetected", f"{ref}: {what}"),),
        notes=tuple(_drift_note(revision, status)),
        reported=dict(found),
        log=LogLine("warning", "drift", {"object": str(ref), "fields": what}),
    )


def health_changed(obj: dict[str, Any], failing: tuple[Health, ...]) -> Report | None:
    """A health-gated Sync whose applied objects turn Failed goes Ready=False at once, and
    Ready again when they are Current again; None when nothing is to be said."""
    ready = cond.get_condition(obj, cond.READY) or {}
    old = dict(obj.get("status") or {})
    generation = obj["metadata"].get("generation")
    revision = str(old.get("lastAppliedRevision", ""))
    if failing and ready.get("status") == "True":
        new = st.degraded(old, generation, failing)
        message = _ready_message(new)
        return Report(
            status=new,
            events=(Event(WARNING, st.DEGRADED, message),),
            notes=(Note(NotificationKind.FAILURE, revision, st.DEGRADED, message),),
            log=LogLine("warning", "health degraded", {"message": message}),
        )
    if failing and ready.get("reason") == st.DEGRADED:
        return Report(status=st.degraded(old, generation, failing))
    if not failing and ready.get("reason") == st.DEGRADED:
        new = st.recovered(old, generation)
        return Report(
            status=new,
            events=(Event(NORMAL, "HealthRecovered", _ready_message(new)),),
            notes=(Note(NotificationKind.RECOVERY, revision, "HealthRecovered", "healthy again"),),
            log=LogLine("info", "health recovered"),
        )
    return None


# -- helpers ------------------------------------------------------------------------------------


def _result(outcome: Outcome, new: dict[str, Any]) -> Result:
    if outcome.error is None:
        return Result.SUCCESS
    reason = _ready_reason(new)
    if reason in ("RolledBack", "RollbackFailed"):
        return Result.ROLLBACK
    stalled = any(
        c.get("type") == cond.STALLED and c.get("status") == "True"
        for c in new.get("conditions") or []
    )
    return Result.STALLED if stalled else Result.FAILURE


def _notes(
    outcome: Outcome, new: dict[str, Any], old: dict[str, Any], result: Result
) -> list[Note]:
    reason, message = _ready_reason(new), _ready_message(new)
    if result is Result.ROLLBACK:
        restored = str(new.get("lastAppliedRevision", ""))
        return [Note(NotificationKind.ROLLBACK, outcome.revision, reason, message, restored)]
    if outcome.error is not None:
        return [Note(NotificationKind.FAILURE, outcome.revision, reason, message)]
    # A new Sync that waited for its source has nothing to recover from: it never ran.
    was_ready = _ready(old).get("status")
    if was_ready == "False" and old.get("lastAttemptedRevision"):
        return [Note(NotificationKind.RECOVERY, outcome.revision, reason, message)]
    return []


def _drift_note(revision: str, status: dict[str, Any]) -> list[Note]:
    drifted = next((c for c in status.get("conditions") or [] if c.get("type") == st.DRIFTED), None)
    if drifted is None:
        return []
    return [Note(NotificationKind.DRIFT, revision, "DriftDetected", str(drifted["message"]))]


def _outcome_line(outcome: Outcome) -> LogLine:
    fields: dict[str, Any] = {
        "revision": outcome.revision,
        "changes": outcome.changes.summary(),
        "duration_ms": round(((outcome.finished or outcome.started) - outcome.started) * 1000),
    }
    if outcome.error is None:
        return LogLine("info", "reconciled", fields)
    fields.update(stage=str(outcome.stage), error=str(outcome.error))
    return LogLine("warning", "reconcile failed", fields)


def _mark_pinned(status: dict[str, Any], pinned: str | None, sync: dict[str, Any]) -> None:
    if not pinned:
        status.pop("pinnedRevision", None)
        return
    status["pinnedRevision"] = pinned
    for c in status.get("conditions") or []:
        if c.get("type") == cond.READY and c.get("status") == "True":
            meta = sync.get("metadata") or {}
            resume = f"gitmoor resume {meta.get('name', '')} -n {meta.get('namespace', '')}"
            c["message"] = f"{c['message']} (pinned by gitmoor rollback; `{resume}` unpins)"


def _ready_reason(status: dict[str, Any]) -> str:
    return str(_ready(status).get("reason", ""))


def _ready_message(status: dict[str, Any]) -> str:
    return str(_ready(status).get("message", ""))


def _ready(status: dict[str, Any]) -> dict[str, Any]:
    for c in status.get("conditions") or []:
        if c.get("type") == cond.READY:
            return dict(c)
    return {}
