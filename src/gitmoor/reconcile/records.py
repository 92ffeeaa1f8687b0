"""Ledger records derived from what a reconcile returned (never gathered on the side)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from gitmoor.model import Action, Artifact, ChangeSet, Commit, ObjectChange
from gitmoor.model.record import ObjectAction, Record, Result, Trigger, images_in
from gitmoor.reconcile.outcome import Outcome


def _at(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts else None


@dataclass(frozen=True)
class Place:
    """Which Sync an attempt belongs to, and where it deploys."""

    namespace: str
    name: str
    environment: str
    cluster: str
    source_url: str

    def record(
        self,
        revision: str,
        trigger: Trigger,
        at: float,
        commit: Commit | None,
        signer: str | None = None,
    ) -> Record:
        return Record(
            sync_namespace=self.namespace,
            sync_name=self.name,
            environment=self.environment,
            cluster=self.cluster,
            source_url=self.source_url,
            revision=revision,
            trigger=trigger,
            started_at=_at(at) or datetime.now(UTC),
            commit_sha=commit.sha if commit else revision.rpartition("sha1:")[2],
            commit_author=_author(commit),
            commit_time=commit.time if commit else None,
            commit_message=commit.message.splitlines()[0] if commit and commit.message else "",
            signer=signer,
        )


def started(
    place: Place, artifact: Artifact, *, trigger: Trigger, pinned: bool, at: float
) -> Record:
    """The in-progress record written before anything of the attempt touches the cluster."""
    chosen = Trigger.ROLLBACK if pinned else trigger
    return place.record(artifact.revision, chosen, at, artifact.commit, artifact.signer)


def _author(commit: Commit | None) -> str:
    if commit is None:
        return ""
    return f"{commit.author} <{commit.author_email}>" if commit.author_email else commit.author


def finished(
    begun: Record, outcome: Outcome, *, reason: str, message: str, restored: Outcome | None = None
) -> Record:
    """The final state of an attempt; with `restored`, the rollback that followed it."""
    changes = _merged(outcome.changes, restored.changes) if restored else outcome.changes
    if outcome.error is None:
        result = Result.APPLIED
    elif restored is not None and restored.error is None:
        result = Result.ROLLED_BACK
    else:
        result = Result.FAILED
    healthy = outcome.error is None and outcome.verdict is not None and outcome.verdict.healthy
    running = restored if result is Result.ROLLED_BACK and restored is not None else outcome
    return dataclasses.replace(
        begun,
        applied_at=_at(outcome.applied_at) if outcome.applied else None,
        healthy_at=_at(outcome.finished) if healthy else None,
        finished_at=_at((restored or outcome).finished) or datetime.now(UTC),
        result=result,
        reason=reason,
        message=message[:4000],
        created=changes.count(Action.CREATED),
        # A takeover writes the object: counted as configured, and named in `objects`.
        configured=changes.count(Action.CONFIGURED) + changes.count(Action.TAKEN_OVER),
        deleted=changes.count(Action.DELETED),
        unchanged=changes.count(Action.UNCHANGED),
        objects=tuple(ObjectAction.of(c) for c in changes.changes),
        images=images_in(running.desired),
        content=running.content or None,
        rolled_back_to=restored.revision if result is Result.ROLLED_BACK and restored else None,
    )


def interrupted(begun: Record, outcome: Outcome, *, message: str) -> Record:
    """An attempt cut short (a newer revision, the Sync deleted, the agent stopping)."""
    changes = outcome.changes
    return dataclasses.replace(
        begun,
        finished_at=datetime.now(UTC),
        result=Result.INTERRUPTED,
        reason="Interrupted",
        message=message[:4000],
        created=changes.count(Action.CREATED),
        configured=changes.count(Action.CONFIGURED) + changes.count(Action.TAKEN_OVER),
        deleted=changes.count(Action.DELETED),
        unchanged=changes.count(Action.UNCHANGED),
        objects=tuple(ObjectAction.of(c) for c in changes.changes),
    )


def _merged(first: ChangeSet, then: ChangeSet) -> ChangeSet:
    """One attempt and the rollback that followed, one entry per object: a write by either
    counts (the later one wins); an object both left alone is unchanged once."""
    by_ref: dict[object, ObjectChange] = {c.ref: c for c in first.changes}
    for change in then.changes:
        earlier = by_ref.get(change.ref)
        if change.action is Action.UNCHANGED and earlier is not None:
            continue
        by_ref[change.ref] = change
    return ChangeSet(tuple(by_ref.values()))


def correction(place: Place, revision: str, artifact: Artifact | None, *, at: float) -> Record:
    """The record of a drift correction: it re-applies `revision`, already deployed. The commit
    (and its signer) is named when the source's artifact is that revision."""
    same = artifact if artifact is not None and artifact.revision == revision else None
    return place.record(
        revision, Trigger.DRIFT, at, same.commit if same else None, same.signer if same else None
    )


_CORRECTED = re.compile(r"(\S+) \((.*)\)")


def correction_message(changes: ChangeSet) -> str:
    """What a drift correction's record says: the counts, then each object written and the
    fields put back (`deleted` when it was recreated), e.g.
    `1 configured: ConfigMap/apps/settings (data.mode)`. Paths only, never values."""
    written = "; ".join(f"{c.ref} ({c.message})" for c in changes.written if c.message)
    return f"{changes.summary()}: {written}" if written else changes.summary()


def corrected_fields(message: str) -> dict[str, tuple[str, ...]]:
    """What `correction_message` wrote: per object (`Kind/namespace/name`), the fields put
    back, `("deleted",)` for a recreated one; {} for any other message."""
    _, colon, objects = message.partition(": ")
    found: dict[str, tuple[str, ...]] = {}
    if not colon:
        return found
    for part in objects.split("; "):
        matched = _CORRECTED.fullmatch(part)
        if matched:
            found[matched.group(1)] = tuple(f for f in matched.group(2).split(", ") if f)
    return found
