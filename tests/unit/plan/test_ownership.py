"""Who may write an object another Sync labelled: the pure decisions of plan.ownership, from
YAML case tables, and the error a conflict raises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gitmoor.errors import DryRunError, ObjectFailure, OwnershipConflictError
from gitmoor.model import ObjectRef, labels
from gitmoor.plan import Owner
from gitmoor.plan.ownership import Claim, Decision, claim_of, judge

CASES = Path(__file__).parent / "cases"
ME = Owner("web", "apps")


def load(name: str) -> list[Any]:
    return [
        pytest.param(case, id=case["case"]) for case in yaml.safe_load((CASES / name).read_text())
    ]


@pytest.mark.parametrize("case", load("ownership.yaml"))
def test_judge(case: dict[str, Any]) -> None:
    owner = tuple(case["owner"].split("/", 1)) if case["owner"] else None
    claim = Claim(**case.get("claim", {}))

    got = judge(
        ME,
        owner,  # type: ignore[arg-type]
        claim,
        asks=case.get("asks", False),
        asked_before=case.get("asked_before", False),
    )

    assert got.decision is Decision(case["expect"])
    assert case.get("why", "") in got.why
    if got.decision is not Decision.OURS:
        assert got.owner == case["owner"]


@pytest.mark.parametrize("case", load("claims.yaml"))
def test_claim_of(case: dict[str, Any]) -> None:
    got = claim_of(case["sync"], "_ConfigMap_apps_settings")

    assert {k: getattr(got, k) for k in case["expect"]} == case["expect"]


def test_owner_of_reads_the_ownership_labels() -> None:
    def obj(**found: str) -> dict[str, Any]:
        return {"metadata": {"labels": found}}

    assert labels.owner_of(obj()) is None
    assert labels.owner_of({"metadata": {}}) is None
    assert labels.owner_of(obj(**{labels.SYNC_NAME: "web", labels.SYNC_NAMESPACE: "apps"})) == (
        "apps",
        "web",
    )
    # A namespace label someone removed still leaves another Sync's name: not ours.
    assert labels.owner_of(obj(**{labels.SYNC_NAME: "web"})) == ("", "web")


def test_a_conflict_names_the_way_out_first_then_each_object_and_its_owner() -> None:
    crb = ObjectRef("rbac.authorization.k8s.io", "ClusterRoleBinding", "", "kube-state-metrics")
    cm = ObjectRef("", "ConfigMap", "apps", "settings")
    conflicts = [
        ObjectFailure(
            crb,
            "owned by Sync monitoring/kube-prometheus, which still declares it",
            where="rbac.yaml:12",
        ),
        ObjectFailure(cm, "owned by Sync apps/other, which still declares it"),
    ]
    refused = [ObjectFailure(ObjectRef("apps", "Deployment", "apps", "web"), "spec.x: unknown")]

    err = OwnershipConflictError(
        conflicts, {crb: "monitoring/kube-prometheus", cm: "apps/other"}, refused
    )

    text = str(err)
    assert isinstance(err, DryRunError)  # nothing of the revision stays behind, as for those
    assert text.startswith("2 object(s) owned by other Syncs; nothing was applied.")
    assert text.index('gitmoor.io/takeover: "true"') < text.index("ClusterRoleBinding")
    assert (
        "rbac.yaml:12: ClusterRoleBinding/kube-state-metrics: owned by Sync "
        "monitoring/kube-prometheus, which still declares it" in text
    )
    assert "ConfigMap/apps/settings: owned by Sync apps/other" in text
    assert text.endswith("Also refused: Deployment/apps/web: spec.x: unknown")
    assert err.owners[crb] == "monitoring/kube-prometheus"
    assert err.failures == [*conflicts, *refused]
