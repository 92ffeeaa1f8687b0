"""Recovery without waiting, from case tables: which objects a timed-out health gate leaves to
the watch, when their turning Current retries the Sync, and what the ledger and the next try
make of it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitmoor.errors import HealthGateError
from gitmoor.model import Applied, Health, Missing, ObjectRef, Status, Verdict
from gitmoor.model.record import Result
from gitmoor.reconcile import decide, report
from gitmoor.reconcile.memory import Key, Memory
from gitmoor.reconcile.outcome import Outcome
from gitmoor.reconcile.retry import classify, progressing
from gitmoor.reconcile.snapshots import Kept
from tests.unit.reconcile.test_decisions import RECORD

CASES = Path(__file__).parent / "cases"


def load(name: str) -> list[Any]:
    return [
        pytest.param(case, id=case["case"]) for case in yaml.safe_load((CASES / name).read_text())
    ]


def ref(name: str) -> ObjectRef:
    return ObjectRef("apps", "Deployment", "web", name)


def timeout(*objects: tuple[str, Status], timed_out: bool = True) -> HealthGateError:
    healths = tuple(Health(ref(n), s, "" if s is Status.CURRENT else "waiting") for n, s in objects)
    return HealthGateError(Verdict(healthy=False, timed_out=timed_out, objects=healths))


@pytest.mark.parametrize("case", load("progressing.yaml"))
def test_what_a_timed_out_gate_leaves_to_the_watch(case: dict[str, Any]) -> None:
    error = timeout(*((n, Status(s)) for n, s in case["verdict"]), timed_out=case["timed_out"])
    applied = {ref(n): "apps/v1" for n in case["applied"]}

    got = progressing(error, applied)

    assert sorted(r.name for r in got) == case["awaits"]
    assert set(got.values()) <= {"apps/v1"}


@pytest.mark.parametrize("case", load("health_recovery.yaml"))
def test_when_the_watch_retries_a_sync(case: dict[str, Any]) -> None:
    status, reason = case["ready"]
    metadata: dict[str, Any] = {"name": "app", "namespace": "web", "generation": 2}
    if case.get("deleting"):
        metadata["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    obj = {
        "metadata": metadata,
        "spec": {"suspend": case.get("suspend", False)},
        "status": {
            "observedGeneration": case.get("observed", 2),
            "conditions": [{"type": "Ready", "status": status, "reason": reason}],
        },
    }

    assert decide.health_recovery_due(obj) is case["expect"]


def test_a_timeout_the_watch_covers_waits_the_interval_and_one_it_cannot_backs_off() -> None:
    error = timeout(("web", Status.IN_PROGRESS))

    watched = classify(error, failures=3, interval=600.0, retry_interval=60.0, watched=True)
    unwatched = classify(error, failures=3, interval=600.0, retry_interval=60.0)

    assert (watched.reason, watched.stalled, watched.delay) == ("HealthCheckTimeout", False, 600)
    assert watched.failures == 0
    assert (unwatched.reason, unwatched.delay, unwatched.failures) == ("HealthCheckTimeout", 16, 4)


def _ctx(ready: str, reason: str, attempted: str) -> report.Context:
    obj = {
        "metadata": {"name": "app", "namespace": "web", "generation": 1},
        "status": {
            "observedGeneration": 1,
            "lastAttemptedRevision": attempted,
            "lastAppliedRevision": attempted,
            "conditions": [{"type": "Ready", "status": ready, "reason": reason}],
        },
    }
    return report.Context(obj=obj, interval=600.0, retry_interval=None, wait=True)


RUN = decide.Run(decide.Mode.FULL, new_content=False, asked=False)


def test_a_timeout_on_progressing_objects_leaves_them_to_the_watch() -> None:
    ctx = _ctx("True", "ReconciliationSucceeded", "main@sha1:old")
    applied = Applied.of("apps/v1", {"apiVersion": "apps/v1"}, {"apiVersion": "apps/v1"})
    outcome = Outcome(
        revision="main@sha1:new",
        error=timeout(("web", Status.IN_PROGRESS)),
        applied=True,
        finished=time.time(),
        tracked={ref("web"): applied},
    )

    got = report.finished(
        ctx, RUN, outcome, begun=RECORD, unbegun=RECORD, restored=None, kept_snapshot=None
    )

    assert got.progressing == {ref("web"): "apps/v1"}
    assert got.retry is not None
    assert (got.retry.reason, got.retry.delay) == ("HealthCheckTimeout", 600)
    # What runs now is the revision written: drift is measured against it, not the one before.
    assert (got.drift, got.tracked) == (report.DriftAction.TRACK, outcome.tracked)


def test_an_attempt_that_stopped_before_writing_everything_keeps_the_last_tracking() -> None:
    ctx = _ctx("True", "ReconciliationSucceeded", "main@sha1:old")
    outcome = Outcome(
        revision="main@sha1:new",
        error=timeout(("web", Status.IN_PROGRESS)),
        applied=False,  # an earlier gitmoor.io/order phase timed out
        finished=time.time(),
    )

    got = report.finished(
        ctx, RUN, outcome, begun=RECORD, unbegun=RECORD, restored=None, kept_snapshot=None
    )

    assert got.drift is report.DriftAction.RESUME


def test_an_atomic_sync_that_rolled_back_awaits_nothing() -> None:
    ctx = _ctx("True", "ReconciliationSucceeded", "main@sha1:old")
    applied = Applied.of("apps/v1", {"apiVersion": "apps/v1"}, {"apiVersion": "apps/v1"})
    outcome = Outcome(
        revision="main@sha1:new",
        error=timeout(("web", Status.IN_PROGRESS)),
        applied=True,
        finished=time.time(),
        tracked={ref("web"): applied},
    )
    back = Outcome(revision="main@sha1:old", applied=True, finished=time.time())

    got = report.finished(
        ctx,
        RUN,
        outcome,
        begun=RECORD,
        unbegun=RECORD,
        restored=report.Restored(back),
        kept_snapshot=Kept("main@sha1:old", "sha256:0123456789ab"),
    )

    assert got.progressing == {}


@pytest.mark.parametrize(
    ("reason", "attempted", "recorded"),
    [
        pytest.param("HealthCheckTimeout", "main@sha1:new", True, id="after a health timeout"),
        pytest.param("HealthCheckFailed", "main@sha1:new", True, id="after a Failed object"),
        pytest.param("HealthCheckTimeout", "main@sha1:old", False, id="another revision"),
        pytest.param("DependencyNotReady", "main@sha1:new", False, id="it never failed health"),
    ],
)
def test_a_revision_found_healthy_after_its_gate_failed_is_recorded(
    reason: str, attempted: str, recorded: bool
) -> None:
    ctx = _ctx("False", reason, attempted)
    outcome = Outcome(
        revision="main@sha1:new",
        applied=True,
        finished=time.time(),
        verdict=Verdict(healthy=True, timed_out=False),
    )

    got = report.finished(
        ctx, RUN, outcome, begun=None, unbegun=RECORD, restored=None, kept_snapshot=None
    )

    assert (got.finish is not None) is recorded
    if recorded:
        assert got.begin is RECORD
        assert got.finish is not None
        assert got.finish.result is Result.APPLIED
        assert got.finish.healthy_at is not None
        assert (got.finish.created, got.finish.configured) == (0, 0)


def test_the_agent_remembers_which_syncs_wait_for_what() -> None:
    memory = Memory()
    a, b = Key("Sync", "web", "a"), Key("Sync", "web", "b")
    memory.sync(a).awaiting = frozenset({Missing.namespace("shop")})
    memory.sync(b).awaiting = frozenset({Missing.served_kind("example.com", "Widget")})

    assert memory.awaiting(frozenset({Missing.namespace("shop")})) == [a]
    assert memory.awaiting(frozenset({Missing.namespace("other")})) == []
    assert memory.awaited_kinds() == {Missing.NAMESPACE, Missing.KIND}
    memory.forget(b)
    assert memory.awaited_kinds() == {Missing.NAMESPACE}
