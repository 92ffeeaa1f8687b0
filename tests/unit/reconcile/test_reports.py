"""The reports of every path but a finished attempt, from YAML case tables (report_*.yaml):
what a cancelled attempt, a drift correction, drift found, health turning, a Sync that waits,
skips or does not parse, and a deleted Sync write, notify, record and schedule.

Each case names the Sync as it was (`sync`), the function's own input, and `expect`: only the
parts of the report it names are compared (see `_seen`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitmoor.errors import ApplyError, GitmoorError, ObjectFailure
from gitmoor.model import Action, ChangeSet, Health, ObjectChange, ObjectRef
from gitmoor.model.labels import REQUESTED_AT
from gitmoor.model.pipeline import InventoryEntry, Status
from gitmoor.model.record import Record, Trigger
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile import decide, report
from gitmoor.reconcile.outcome import Outcome
from tests.unit.reconcile.test_decisions import build

CASES = Path(__file__).parent / "cases"
REVISION = "main@sha1:old"
BEGUN = Record(
    sync_namespace="web",
    sync_name="app",
    environment="prod",
    cluster="east",
    source_url="https://git.example.com/apps.git",
    revision=REVISION,
    trigger=Trigger.DRIFT,
    started_at=datetime(2026, 12, 1, tzinfo=UTC),
)


def load(name: str) -> list[Any]:
    cases = yaml.safe_load((CASES / name).read_text())
    return [pytest.param(case, id=case["case"]) for case in cases]


def ref(spec: str) -> ObjectRef:
    """`Kind/namespace/name` (`Kind/name` cluster-scoped) of the core or apps group."""
    kind, _, rest = spec.partition("/")
    namespace, _, name = rest.rpartition("/")
    group = "apps" if kind in ("Deployment", "StatefulSet") else ""
    return ObjectRef(group, kind, namespace, name)


def changes(specs: list[str] | None) -> ChangeSet:
    """`action Kind/ns/name[: message]` per change."""
    out = []
    for spec in specs or []:
        head, _, message = spec.partition(": ")
        action, _, subject = head.partition(" ")
        out.append(ObjectChange(ref(subject), "v1", Action(action), message=message))
    return ChangeSet(tuple(out))


def sync(spec: dict[str, Any] | None) -> dict[str, Any]:
    """The Sync as read: `ready` [status, reason], `reconciling`, `applied` revision,
    `handled` (lastHandledReconcileAt) and `requested` (the annotation asking for a sync)."""
    spec = spec or {}
    conditions: list[dict[str, Any]] = []
    if "ready" in spec:
        status, reason = spec["ready"]
        conditions.append({"type": cond.READY, "status": status, "reason": reason, "message": ""})
    if spec.get("reconciling"):
        conditions.append({"type": cond.RECONCILING, "status": "True", "reason": "Progressing"})
    status_: dict[str, Any] = {"conditions": conditions, "observedGeneration": 1}
    if spec.get("applied", True):
        status_["lastAppliedRevision"] = status_["lastAttemptedRevision"] = REVISION
    if "handled" in spec:
        status_["lastHandledReconcileAt"] = spec["handled"]
    annotations = {REQUESTED_AT: spec["requested"]} if "requested" in spec else {}
    metadata = {"name": "app", "namespace": "web", "generation": 2, "annotations": annotations}
    return {"metadata": metadata, "status": status_}


def context(case: dict[str, Any]) -> report.Context:
    return report.Context(
        obj=sync(case.get("sync")),
        interval=300.0,
        retry_interval=case.get("retry_interval", 60.0),
        wait=True,
        failures=case.get("failures", 0),
    )


def _condition(status: dict[str, Any], kind: str) -> list[str] | None:
    found = next((c for c in status.get("conditions") or [] if c["type"] == kind), None)
    return None if found is None else [found["status"], found["reason"]]


def _seen(got: report.Report | None) -> dict[str, Any]:
    """The parts of a report a case may name. `status` is null when none is written."""
    if got is None:
        return {"report": None}
    status = got.status
    seen: dict[str, Any] = {
        "report": "some",
        "status": None if status is None else "written",
        "events": [f"{e.type} {e.reason}" for e in got.events],
        "notes": [n.kind.value for n in got.notes],
        "record": None if got.finish is None else got.finish.result.value,
        "retry": None if got.retry is None else got.retry.delay,
        "retry_reason": None if got.retry is None else got.retry.reason,
        "failures_after": None if got.retry is None else got.retry.failures,
        "correction": got.correction,
        "drift": got.drift.value,
        "log": None if got.log is None else got.log.level,
    }
    if status is not None:
        seen.update(
            ready=_condition(status, cond.READY),
            stalled=(_condition(status, cond.STALLED) or [""])[0] == "True",
            reconciling=_condition(status, cond.RECONCILING) is not None,
            healthy=_condition(status, cond.HEALTHY),
            drifted=_condition(status, "Drifted"),
            inventory=(status.get("inventory") or {}).get("count"),
            handled=status.get("lastHandledReconcileAt"),
        )
    return seen


def check(got: report.Report | None, expect: dict[str, Any]) -> None:
    seen = _seen(got)
    unknown = set(expect) - set(seen)
    assert not unknown, f"the case names what this report does not have: {unknown}"
    assert {k: seen[k] for k in expect} == expect


@pytest.mark.parametrize("case", load("report_cancelled.yaml"))
def test_cancelled(case: dict[str, Any]) -> None:
    progress = tuple(InventoryEntry(f"_ConfigMap_web_c{i}", "v1") for i in range(case["progress"]))
    outcome = Outcome(revision="main@sha1:new", partial=progress)
    begun = BEGUN if case.get("begun", True) else None

    got = report.cancelled(context(case), outcome, begun, "cancelled while applying")

    check(got, case["expect"])
    if got.finish is not None:
        assert got.finish.message == "cancelled while applying"


def _apply_error(case: dict[str, Any]) -> ApplyError:
    failed = [
        ObjectFailure(ref(s), "forbidden: namespace web is being terminated")
        for s in case.get("refused", [])
    ]
    error = ApplyError(failed, transient=case.get("transient", False))
    error.changes = changes(case.get("changes"))
    return error


@pytest.mark.parametrize("case", load("report_corrected.yaml"))
def test_corrected(case: dict[str, Any]) -> None:
    begun = BEGUN if case.get("begun", True) else None

    got = report.corrected(begun, changes(case["changes"]))

    check(got, case["expect"])


@pytest.mark.parametrize("case", load("report_correction_failed.yaml"))
def test_correction_failed(case: dict[str, Any]) -> None:
    begun = BEGUN if case.get("begun", True) else None

    got = report.correction_failed(context(case), begun, _apply_error(case))

    check(got, case["expect"])
    if got.notes:
        assert got.notes[0].revision == REVISION  # the revision whose objects drifted


@pytest.mark.parametrize("case", load("report_drift_reported.yaml"))
def test_drift_reported(case: dict[str, Any]) -> None:
    found = {ref(k): tuple(v) for k, v in case["found"].items()}

    got = report.drift_reported(sync(case.get("sync")), found, ref(case["object"]), case["what"])

    check(got, case["expect"])
    assert got.reported == found


@pytest.mark.parametrize("case", load("report_health_changed.yaml"))
def test_health_changed(case: dict[str, Any]) -> None:
    failing = tuple(Health(ref(s), Status.FAILED, "crash looping") for s in case["failing"])

    got = report.health_changed(sync(case.get("sync")), failing)

    check(got, case["expect"])


@pytest.mark.parametrize("case", load("report_waiting.yaml"))
def test_waiting(case: dict[str, Any]) -> None:
    error = build(case["error"])
    assert isinstance(error, GitmoorError)

    got = report.waiting(context(case), error)

    check(got, case["expect"])


@pytest.mark.parametrize("case", load("report_skipped.yaml"))
def test_skipped(case: dict[str, Any]) -> None:
    got = report.skipped(context(case), decide.Skip("nothing new"))

    check(got, case["expect"])


@pytest.mark.parametrize("case", load("report_invalid.yaml"))
def test_invalid(case: dict[str, Any]) -> None:
    got = report.invalid(sync(case.get("sync")), ValueError(case["error"]))

    check(got, case["expect"])
    assert got.status is not None
    ready = next(c for c in got.status["conditions"] if c["type"] == cond.READY)
    assert ready["message"] == case["error"]


@pytest.mark.parametrize("case", load("report_deletion.yaml"))
def test_deletion(case: dict[str, Any]) -> None:
    """A deleted Sync: pruned, held by a pre-delete hook, orphaned, its post-delete hooks, or
    no revision to read its hooks from."""
    what = case["report"]
    got: report.Report
    if what == "pruned_on_deletion":
        got = report.pruned_on_deletion(changes(case["changes"]))
    elif what == "deletion_held":
        before = Outcome(revision=REVISION, error=build(case["error"]))  # type: ignore[arg-type]
        got = report.deletion_held(context(case), before)
    elif what == "post_delete_hooks":
        error = build(case["error"]) if case.get("error") else None
        after = Outcome(revision=REVISION, changes=changes(case.get("changes")), error=error)  # type: ignore[arg-type]
        got = report.post_delete_hooks(after)
    elif what == "orphaned":
        got = report.orphaned(case["count"], "deletionPolicy is Orphan")
    else:
        assert what == "deletion_hooks_unread", what
        error = build(case["error"])
        assert isinstance(error, GitmoorError)
        got = report.deletion_hooks_unread(error, expected=case["expected"])

    check(got, case["expect"])
