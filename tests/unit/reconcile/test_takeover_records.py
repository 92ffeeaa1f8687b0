"""A takeover as the agent reports it: a write in the ledger (its own action per object, counted
as configured, so `history` lists it), a `TakenOver` Event naming the former owner, and the
history table saying so."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from gitmoor.cli.ledger import _changes
from gitmoor.model import Action, ChangeSet, ObjectChange, ObjectRef
from gitmoor.model.record import Record, Trigger
from gitmoor.reconcile import decide, records, report
from gitmoor.reconcile.outcome import Outcome

CRB = ObjectRef("rbac.authorization.k8s.io", "ClusterRoleBinding", "", "kube-state-metrics")
CM = ObjectRef("", "ConfigMap", "apps", "settings")
WHY = (
    "taken over from Sync monitoring/kube-prometheus: Sync monitoring/kube-prometheus no longer "
    "lists it"
)
BEGUN = Record(
    sync_namespace="apps",
    sync_name="web",
    environment="prod",
    cluster="east",
    source_url="https://git.example.com/apps.git",
    revision="main@sha1:new",
    trigger=Trigger.INTERVAL,
    started_at=datetime(2026, 12, 1, tzinfo=UTC),
)


def _outcome() -> Outcome:
    changes = ChangeSet(
        (
            ObjectChange(CRB, "rbac.authorization.k8s.io/v1", Action.TAKEN_OVER, "7", WHY),
            ObjectChange(CM, "v1", Action.UNCHANGED, "5"),
        )
    )
    return Outcome(revision="main@sha1:new", changes=changes, applied=True, finished=time.time())


def test_a_takeover_is_a_write_recorded_per_object() -> None:
    outcome = _outcome()
    assert outcome.wrote

    done = records.finished(BEGUN, outcome, reason="ReconciliationSucceeded", message="ok")

    assert (done.configured, done.unchanged, done.created) == (1, 1, 0)
    assert [(o.ref, o.action) for o in done.objects] == [
        (CRB, Action.TAKEN_OVER),
        (CM, Action.UNCHANGED),
    ]
    assert done.as_dict()["objects"][0]["action"] == "taken_over"
    assert _changes(done) == "1 configured, 1 unchanged (1 taken over from another Sync)"


def test_a_takeover_is_an_event_on_the_sync_naming_the_former_owner() -> None:
    ctx = report.Context(
        obj={"metadata": {"name": "web", "namespace": "apps", "generation": 1}, "status": {}},
        interval=300.0,
        retry_interval=None,
        wait=False,
    )
    run = decide.Run(decide.Mode.FULL, new_content=True, asked=False)

    got = report.finished(
        ctx,
        run,
        _outcome(),
        begun=BEGUN,
        unbegun=BEGUN,
        restored=None,
        kept_snapshot=None,
    )

    assert got.status is not None
    ready = next(c for c in got.status["conditions"] if c["type"] == "Ready")
    assert ready["message"] == (
        "Applied revision: main@sha1:new; took over from other Syncs: "
        "ClusterRoleBinding/kube-state-metrics"
    )
    assert got.finish is not None
    assert got.finish.message == ready["message"]  # what `gitmoor history` shows
    taken = [e for e in got.events if e.reason == "TakenOver"]
    assert [(e.type, e.message) for e in taken] == [
        ("Warning", f"ClusterRoleBinding/kube-state-metrics: {WHY}")
    ]
    assert got.finish is not None
    assert got.finish.configured == 1
