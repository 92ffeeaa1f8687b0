"""`gitmoor check`: the verdict of each check from what was read, and the lines at 80 columns."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from gitmoor.cli.app import app
from gitmoor.cli.check import check_lines
from gitmoor.commands.check import (
    Check,
    Outcome,
    Permission,
    cluster_verdict,
    crd_verdict,
    deployment_verdict,
    first_difference,
    lease_verdict,
    needed_permissions,
    rbac_verdict,
    replicas_verdict,
)
from gitmoor.model.crds import crds

NOW = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)


def established(crd: dict[str, Any]) -> dict[str, Any]:
    live = copy.deepcopy(crd)
    live["metadata"]["generation"] = 1
    live["status"] = {
        "conditions": [
            {"type": "NamesAccepted", "status": "True"},
            {"type": "Established", "status": "True"},
        ]
    }
    return live


def installed() -> dict[str, dict[str, Any] | None]:
    return {c["metadata"]["name"]: established(c) for c in crds()}


def test_crds_as_generated_pass() -> None:
    verdict = crd_verdict(crds(), installed())
    assert verdict.outcome is Outcome.OK
    assert verdict.detail.startswith("all 7 (gitmoor.io) as gitmoor ")


def test_a_missing_crd_fails_with_install_as_the_hint() -> None:
    live = installed()
    live["syncs.gitmoor.io"] = None
    verdict = crd_verdict(crds(), live)
    assert (verdict.outcome, verdict.detail) == (Outcome.FAILED, "syncs.gitmoor.io not installed")
    assert verdict.hint == "gitmoor install"


def test_a_crd_of_another_version_fails_naming_the_field() -> None:
    live = installed()
    sync = live["syncs.gitmoor.io"]
    assert sync is not None
    schema = sync["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    del schema["properties"]["spec"]["properties"]["wait"]
    verdict = crd_verdict(crds(), live)
    assert verdict.outcome is Outcome.FAILED
    assert verdict.detail.startswith("syncs.gitmoor.io is not gitmoor ")
    assert verdict.detail.endswith("'s: v1alpha1 schema.spec.wait: missing")


def test_a_crd_not_established_fails() -> None:
    live = installed()
    source = live["gitsources.gitmoor.io"]
    assert source is not None
    source["status"]["conditions"][1]["status"] = "False"
    assert crd_verdict(crds(), live).detail == "gitsources.gitmoor.io is not established"


def test_first_difference_names_the_path() -> None:
    assert first_difference({"a": {"b": [1, 2]}}, {"a": {"b": [1, 2]}}) is None
    assert first_difference({"a": {"b": [1, 2]}}, {"a": {"b": [1, 3]}}) == "a.b[1]: differs"
    assert first_difference({"a": 1}, {"a": 1, "c": 2}) == "c: not expected"
    assert first_difference({"a": [1]}, {"a": []}) == "a: 0 items, expected 1"


def test_the_agent_needs_what_install_grants() -> None:
    needed = needed_permissions("gitmoor-system", strict=False)
    assert Permission("patch", "gitmoor.io", "syncs/status") in needed
    assert Permission("update", "coordination.k8s.io", "leases", "gitmoor-system") in needed
    # What it applies with (cluster-admin unless narrowed) is the user's choice.
    assert Permission("*", "*", "*") not in needed
    assert Permission("impersonate", "", "serviceaccounts") not in needed
    strict = needed_permissions("gitmoor-system", strict=True)
    assert Permission("impersonate", "", "serviceaccounts") in strict
    assert Permission("list", "*", "*") in strict
    # Replicas sharing the Syncs list each other's Leases and delete their own.
    lease = Permission("list", "coordination.k8s.io", "leases", "gitmoor-system")
    assert lease not in needed
    sharded = needed_permissions("gitmoor-system", strict=False, sharded=True)
    assert lease in sharded
    assert Permission("delete", "coordination.k8s.io", "leases", "gitmoor-system") in sharded


def test_rbac_verdicts() -> None:
    subject = "ServiceAccount gitmoor-system/gitmoor"
    needed = needed_permissions("gitmoor-system", strict=False)
    assert rbac_verdict(subject, dict.fromkeys(needed, True)).outcome is Outcome.OK
    denied = rbac_verdict(subject, {**dict.fromkeys(needed, True), needed[0]: False})
    assert denied.outcome is Outcome.FAILED
    assert denied.detail == f"{subject} may not {needed[0]}"
    unasked = rbac_verdict(subject, {**dict.fromkeys(needed, True), needed[0]: None})
    assert unasked.outcome is Outcome.UNCHECKED
    assert "may not create SubjectAccessReviews" in unasked.detail


def deployment(available: str = "True") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "gitmoor", "namespace": "gitmoor-system", "generation": 1},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1 if available == "True" else 0,
            "availableReplicas": 1 if available == "True" else 0,
            "conditions": [{"type": "Available", "status": available}],
        },
    }


def test_deployment_verdicts() -> None:
    ok = deployment_verdict(deployment(), "gitmoor-system")
    assert (ok.outcome, ok.detail) == (
        Outcome.OK,
        "Deployment gitmoor-system/gitmoor available (1/1 ready)",
    )
    absent = deployment_verdict(None, "gitmoor-system")
    assert absent.outcome is Outcome.FAILED
    assert absent.hint == "gitmoor install -n gitmoor-system"
    assert deployment_verdict(deployment("False"), "ops").outcome is Outcome.FAILED


def lease(holder: str, renewed: timedelta | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"holderIdentity": holder, "leaseDurationSeconds": 15}
    if renewed is not None:
        spec["renewTime"] = (NOW - renewed).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"spec": spec}


@pytest.mark.parametrize(
    ("found", "outcome", "says"),
    [
        (lease("gitmoor-7d9-x", timedelta(seconds=2)), Outcome.OK, "gitmoor-7d9-x leads"),
        (lease("gitmoor-7d9-x", timedelta(minutes=5)), Outcome.FAILED, "300s ago"),
        (lease("", timedelta(seconds=2)), Outcome.FAILED, "no agent holds"),
        (lease("gitmoor-7d9-x", None), Outcome.FAILED, "never renewed"),
        (None, Outcome.FAILED, "no agent has led yet"),
    ],
)
def test_lease_verdicts(found: dict[str, Any] | None, outcome: Outcome, says: str) -> None:
    verdict = lease_verdict(found, "gitmoor-system", NOW)
    assert verdict.outcome is outcome
    assert says in verdict.detail
    if outcome is Outcome.FAILED:
        assert verdict.hint == "kubectl -n gitmoor-system logs deployment/gitmoor"


@pytest.mark.parametrize(
    ("found", "outcome", "says"),
    [
        (
            [lease("gitmoor-b", timedelta(seconds=1)), lease("gitmoor-a", timedelta(seconds=2))],
            Outcome.OK,
            "2 replica(s) share the Syncs: gitmoor-a, gitmoor-b",
        ),
        (
            [lease("gitmoor-a", timedelta(seconds=1)), lease("gitmoor-b", timedelta(minutes=5))],
            Outcome.OK,
            "1 replica(s) share the Syncs: gitmoor-a",
        ),
        ([lease("gitmoor-b", timedelta(minutes=5))], Outcome.FAILED, "no agent replica holds"),
        ([], Outcome.FAILED, "gitmoor.io/replica-group=gitmoor-replica"),
    ],
)
def test_replica_verdicts(found: list[dict[str, Any]], outcome: Outcome, says: str) -> None:
    # Sharded (install --replicas N): any live replica Lease stands for a leader.
    verdict = replicas_verdict(found, "gitmoor-system", NOW)
    assert verdict.outcome is outcome
    assert says in verdict.detail


def test_an_unreachable_cluster_fails() -> None:
    verdict = cluster_verdict(None, "cannot reach the API server at https://127.0.0.1:6443")
    assert verdict.outcome is Outcome.FAILED
    assert cluster_verdict("v1.37.2").detail == "reachable, Kubernetes v1.37.2"


def test_lines_fit_80_columns_and_keep_the_hint_whole() -> None:
    long = Check(
        "leader",
        Outcome.FAILED,
        "gitmoor-5f7c9d8b4-x2x7q-and-a-long-identity last renewed Lease "
        "gitmoor-system/gitmoor-leader 300s ago (lease: 15s): it is gone or cut off",
        "kubectl -n gitmoor-system logs deployment/gitmoor",
    )
    first, hint = check_lines(long, 80)
    assert len(first) <= 80
    assert first.startswith("FAILED    leader: gitmoor-5f7c9d8b4")
    assert first.endswith("…")
    assert hint == "          (hint: kubectl -n gitmoor-system logs deployment/gitmoor)"
    (short,) = check_lines(
        Check("CRDs", Outcome.FAILED, "syncs.gitmoor.io not installed", "gitmoor install"), 80
    )
    assert short == "FAILED    CRDs: syncs.gitmoor.io not installed (hint: gitmoor install)"
    (piped,) = check_lines(long, None)
    assert piped.endswith("cut off (hint: kubectl -n gitmoor-system logs deployment/gitmoor)")
    assert check_lines(Check("cluster", Outcome.OK, "reachable, Kubernetes v1.37.2"), 80) == [
        "ok        cluster: reachable, Kubernetes v1.37.2"
    ]


def test_install_wait_with_a_bad_timeout_is_a_usage_error() -> None:
    result = CliRunner().invoke(
        app, ["install", "--wait", "--timeout", "5x"], env={"KUBECONFIG": "/nonexistent"}
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: Invalid value for '--timeout'")
    assert "Traceback" not in result.output


def test_the_rbac_check_asks_only_what_the_agents_own_roles_grant() -> None:
    # gitmoor-ledger-reader is installed for people, bound to no one: not the agent's to have.
    for strict in (False, True):
        asked = {p.resource for p in needed_permissions("gitmoor-system", strict=strict)}
        assert "services/proxy" not in asked
        assert {"syncs", "syncs/status", "leases"} <= asked
