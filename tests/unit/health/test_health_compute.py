"""`compute`: the health a user should see for live objects of each kind, from fixtures shaped
like real API responses (fixtures/*.yaml), plus the properties every verdict must have."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from gitmoor.health import RULES, compute
from gitmoor.model import Health, ObjectRef, Status
from tests.unit.health.cases import cases

KIND_FILES = (
    "deployments.yaml",
    "apps.yaml",
    "pods.yaml",
    "core.yaml",
    "more-core.yaml",
    "gateway.yaml",
)


def _check(obj: dict[str, Any], status: str, message: str) -> None:
    health = compute(obj)
    assert (health.status.value, health.message) == (status, message)
    assert health.ref == ObjectRef.from_object(obj)


@pytest.mark.parametrize(("obj", "status", "message"), cases("deployments.yaml"))
def test_deployment(obj: dict[str, Any], status: str, message: str) -> None:
    _check(obj, status, message)


@pytest.mark.parametrize(("obj", "status", "message"), cases("apps.yaml"))
def test_statefulset_daemonset_replicaset(obj: dict[str, Any], status: str, message: str) -> None:
    _check(obj, status, message)


@pytest.mark.parametrize(("obj", "status", "message"), cases("pods.yaml"))
def test_pod_and_job(obj: dict[str, Any], status: str, message: str) -> None:
    _check(obj, status, message)


@pytest.mark.parametrize(("obj", "status", "message"), cases("core.yaml"))
def test_pvc_service_namespace_crd_pdb(obj: dict[str, Any], status: str, message: str) -> None:
    _check(obj, status, message)


@pytest.mark.parametrize(("obj", "status", "message"), cases("more-core.yaml"))
def test_ingress_apiservice_hpa_cronjob_one_shot_pods(
    obj: dict[str, Any], status: str, message: str
) -> None:
    _check(obj, status, message)


@pytest.mark.parametrize(("obj", "status", "message"), cases("gateway.yaml"))
def test_gateway_api(obj: dict[str, Any], status: str, message: str) -> None:
    _check(obj, status, message)


@pytest.mark.parametrize(("obj", "status", "message"), cases("generic.yaml"))
def test_kinds_without_a_rule(obj: dict[str, Any], status: str, message: str) -> None:
    _check(obj, status, message)


def test_every_kind_with_a_rule_has_fixtures() -> None:
    covered = {
        (ObjectRef.from_object(p.values[0]).group, ObjectRef.from_object(p.values[0]).kind)
        for file in KIND_FILES
        for p in cases(file)
    }
    assert set(RULES) <= covered


def test_compute_does_not_modify_the_object() -> None:
    for file in (*KIND_FILES, "generic.yaml"):
        for param in cases(file):
            obj = param.values[0]
            before = copy.deepcopy(obj)
            compute(obj)
            assert obj == before


def test_a_malformed_status_is_unknown_not_a_crash() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "generation": 1},
        "spec": {"replicas": "three"},
        "status": {"observedGeneration": 1, "updatedReplicas": 3},
    }
    health = compute(deployment)
    assert health == Health(
        ObjectRef("apps", "Deployment", "shop", "web"),
        Status.UNKNOWN,
        "cannot compute health: replicas is 'three', not an integer",
    )


@pytest.mark.parametrize(
    "status",
    [
        None,
        "garbage",
        {"conditions": None},
        {"conditions": ["not-a-dict", {"type": "Ready"}]},
        {"conditions": [{"type": "Ready", "status": "True"}], "observedGeneration": None},
    ],
)
def test_odd_statuses_of_kinds_without_rules_never_raise(status: Any) -> None:
    obj = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "shop", "generation": 1},
        "status": status,
    }
    assert compute(obj).status in (Status.CURRENT, Status.IN_PROGRESS)


@pytest.mark.parametrize("kind", sorted(k for _, k in RULES))
def test_every_rule_survives_an_object_without_spec_or_status(kind: str) -> None:
    group = next(g for g, k in RULES if k == kind)
    obj = {
        "apiVersion": f"{group}/v1" if group else "v1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "shop", "generation": 1},
    }
    assert compute(obj).status in (Status.CURRENT, Status.IN_PROGRESS)


def test_the_generic_rules_override_the_kind_rule() -> None:
    """A Deployment whose counts look complete is still InProgress while its controller has not
    seen the latest spec, and InProgress while it is being deleted."""
    done = cases("deployments.yaml")[0].values[0]
    assert compute(done).status is Status.CURRENT
    newer = copy.deepcopy(done)
    newer["metadata"]["generation"] = 3
    assert compute(newer) == Health(
        ObjectRef("apps", "Deployment", "shop", "web"),
        Status.IN_PROGRESS,
        "waiting for the controller to observe generation 3",
    )
    deleted = copy.deepcopy(done)
    deleted["metadata"]["deletionTimestamp"] = "2026-01-01T10:00:00Z"
    assert compute(deleted).status is Status.IN_PROGRESS
    assert compute(deleted).message == "deletion in progress"


def test_a_deployment_that_regressed_is_no_longer_current() -> None:
    done = cases("deployments.yaml")[0].values[0]
    lost_a_pod = copy.deepcopy(done)
    lost_a_pod["status"].update(readyReplicas=2, availableReplicas=2, unavailableReplicas=1)
    assert (compute(lost_a_pod).status, compute(lost_a_pod).message) == (
        Status.IN_PROGRESS,
        "2/3 replicas available",
    )


def test_a_group_of_the_same_kind_name_does_not_borrow_the_built_in_rule() -> None:
    """Only apps/Deployment gets the Deployment rule; another group's `Deployment` kind is judged
    by its conditions."""
    obj = {
        "apiVersion": "example.com/v1",
        "kind": "Deployment",
        "metadata": {"name": "x", "namespace": "shop", "generation": 1},
        "spec": {"replicas": 3},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    assert compute(obj) == Health(
        ObjectRef("example.com", "Deployment", "shop", "x"), Status.CURRENT, "Ready"
    )


def test_a_custom_resource_without_status_is_current_only_after_the_grace_period() -> None:
    obj = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "shop", "generation": 1},
        "spec": {"size": 3},
    }
    obj["metadata"]["creationTimestamp"] = "2026-01-01T10:00:00Z"
    created = datetime(2026, 1, 1, 10, tzinfo=UTC).timestamp()
    young = compute(obj, now=created + 3)
    assert (young.status, young.message) == (
        Status.IN_PROGRESS,
        "no status yet: Current after 10s if none appears",
    )
    assert compute(obj, now=created + 11).status is Status.CURRENT
    # Without a spec there is nothing for a controller to act on: no wait.
    del obj["spec"]
    assert compute(obj, now=created + 3).status is Status.CURRENT
