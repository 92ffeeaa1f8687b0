"""Records as an agent would write them, on a fixed clock."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from gitmoor.ledger import Ledger
from gitmoor.model.pipeline import Action
from gitmoor.model.record import ObjectAction, Record, Result, Trigger
from gitmoor.model.refs import ObjectRef

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def sha(name: str) -> str:
    return hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()


def rev(name: str) -> str:
    return f"main@sha1:{sha(name)}"


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def deployment_objects(namespace: str, *actions: Action) -> tuple[ObjectAction, ...]:
    kinds = [("apps", "apps/v1", "Deployment"), ("", "v1", "ConfigMap"), ("", "v1", "Service")]
    return tuple(
        ObjectAction(ObjectRef(group, kind, namespace, f"web-{i}"), api_version, action)
        for i, ((group, api_version, kind), action) in enumerate(
            zip(kinds * 4, actions, strict=False)
        )
    )


def attempt(
    name: str,
    start: float,
    *,
    sync: str = "web",
    namespace: str = "team",
    environment: str = "prod",
    cluster: str = "eu-1",
    images: tuple[str, ...] = (),
    trigger: Trigger = Trigger.INTERVAL,
) -> Record:
    """The start of an attempt at revision `name`, `start` minutes after T0."""
    return Record(
        sync_namespace=namespace,
        sync_name=sync,
        environment=environment,
        cluster=cluster,
        source_url="https://git.example/acme/app.git",
        revision=rev(name),
        trigger=trigger,
        started_at=minutes(start),
        commit_sha=sha(name),
        commit_author="Ada <ada@example.com>",
        commit_time=minutes(start - 10),
        commit_message=f"release {name}",
        images=images,
    )


def applied(record: Record, after: float = 1) -> Record:
    at = record.started_at + timedelta(minutes=after)
    return replace(
        record,
        result=Result.APPLIED,
        applied_at=at,
        healthy_at=at + timedelta(seconds=30),
        finished_at=at + timedelta(seconds=30),
        created=1,
        configured=1,
        unchanged=1,
        objects=deployment_objects(
            record.sync_namespace, Action.CREATED, Action.CONFIGURED, Action.UNCHANGED
        ),
    )


def failed(record: Record, after: float = 1, reason: str = "HealthCheckFailed") -> Record:
    at = record.started_at + timedelta(minutes=after)
    return replace(
        record,
        result=Result.FAILED,
        applied_at=at,
        finished_at=at + timedelta(minutes=1),
        reason=reason,
        message="Deployment/team/web-0: timed out waiting for rollout",
        configured=1,
        objects=deployment_objects(record.sync_namespace, Action.CONFIGURED),
    )


def rolled_back(record: Record, to: str, to_images: tuple[str, ...], after: float = 5) -> Record:
    at = record.started_at + timedelta(minutes=1)
    return replace(
        record,
        result=Result.ROLLED_BACK,
        applied_at=at,
        finished_at=record.started_at + timedelta(minutes=after),
        reason="RolledBack",
        message=f"health gate timed out; restored {rev(to)}",
        configured=1,
        rolled_back_to=rev(to),
        images=to_images,
        objects=deployment_objects(record.sync_namespace, Action.CONFIGURED),
    )


async def record(ledger: Ledger, final: Record) -> int:
    """Begin and finish one attempt, as the agent does."""
    start = replace(
        final,
        result=Result.IN_PROGRESS,
        applied_at=None,
        healthy_at=None,
        finished_at=None,
        reason="",
        message="",
        created=0,
        configured=0,
        deleted=0,
        unchanged=0,
        objects=(),
        images=(),
        rolled_back_to=None,
    )
    record_id = await ledger.begin(start)
    await ledger.finish(record_id, final)
    return record_id
