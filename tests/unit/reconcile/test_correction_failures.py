"""What a drift correction that failed reports, from a YAML case table: not Ready until one
succeeds, its record finished as failed, and when it is tried again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gitmoor.errors import ApplyError
from gitmoor.model.record import Result
from gitmoor.reconcile import report
from tests.unit.reconcile.test_decisions import RECORD, build

CASES = Path(__file__).parent / "cases"


def load(name: str) -> list[Any]:
    return [
        pytest.param(case, id=case["case"]) for case in yaml.safe_load((CASES / name).read_text())
    ]


def _context(case: dict[str, Any]) -> report.Context:
    obj = {
        "metadata": {"name": "app", "namespace": "web", "generation": 1},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded"}
            ],
            "observedGeneration": 1,
            "lastAppliedRevision": RECORD.revision,
        },
    }
    return report.Context(
        obj=obj,
        interval=300.0,
        retry_interval=case.get("retry_interval", 60.0),
        wait=True,
        failures=case.get("failures", 0),
    )


@pytest.mark.parametrize("case", load("correction_failures.yaml"))
def test_a_failed_correction(case: dict[str, Any]) -> None:
    error = build(case["error"])
    if isinstance(error, ApplyError):
        got = report.correction_failed(_context(case), RECORD, error)
    else:
        got = report.correction_crashed(_context(case), RECORD, error)

    reason = case["reason"]
    assert got.status is not None
    ready = next(c for c in got.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", reason)
    assert [e.reason for e in got.events] == [reason]
    assert [(n.kind.value, n.reason) for n in got.notes] == [("failure", reason)]
    assert got.finish is not None
    assert (got.finish.result, got.finish.reason) == (Result.FAILED, reason)
    assert got.correction == "failure"
    assert got.retry is not None
    assert (got.retry.delay, got.retry.failures) == (case["delay"], case["failures_after"])
