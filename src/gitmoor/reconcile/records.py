"""Ledger records derived from what a reconcile returned (never gathered on the side)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from gitmoor.model import Action, Artifact
from gitmoor.model.record import ObjectAction, Record, Result, Trigger, images_in
from gitmoor.reconcile.pipeline import Outcome

# The agent's reasons for a reconcile, as the ledger names them.
_TRIGGERS = {
    "interval": Trigger.INTERVAL,
    "resource": Trigger.RESOURCE,
    "source": Trigger.RESOURCE,
    "startup": Trigger.STARTUP,
    "cli": Trigger.CLI,
    "webhook": Trigger.WEBHOOK,
}


def _at(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts else None


def started(
    *,
    namespace: str,
    name: str,
    environment: str,
    cluster: str,
    source_url: str,
    artifact: Artifact,
    trigger: str,
    pinned: bool,
    at: float,
) -> Record:
    """The in-progress record written before anything of the attempt touches the cluster."""
    commit = artifact.commit
    return Record(
        sync_namespace=namespace,
        sync_name=name,
        environment=environment,
        cluster=cluster,
        source_url=source_url,
        revision=artifact.revision,
        trigger=Trigger.ROLLBACK if pinned else _TRIGGERS.get(trigger, Trigger.INTERVAL),
        started_at=_at(at) or datetime.now(UTC),
        commit_sha=commit.sha,
        commit_author=f"{commit.author} <{commit.author_email}>"
        if commit.author_email
        else commit.author,
        commit_time=commit.time,
        commit_message=commit.message.splitlines()[0] if commit.message else "",
    )


def finished(
    begun: Record, outcome: Outcome, *, reason: str, message: str, restored: Outcome | None = None
) -> Record:
    """The final state of an attempt; with `restored`, the rollback that followed it."""
    changes = outcome.changes + restored.changes if restored is not None else outcome.changes
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
        configured=changes.count(Action.CONFIGURED),
        deleted=changes.count(Action.DELETED),
        unchanged=changes.count(Action.UNCHANGED),
        objects=tuple(ObjectAction.of(c) for c in changes.changes),
        images=images_in(running.desired),
        rolled_back_to=restored.revision if result is Result.ROLLED_BACK and restored else None,
    )
