"""Health and waiting against the real control plane: real controllers roll Deployments,
StatefulSets and DaemonSets out onto kwok nodes, run Jobs, give up on progress deadlines."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gitmoor.health import compute, wait_healthy
from gitmoor.kube import Kube
from gitmoor.model import Health, ObjectRef, Status, Verdict

pytestmark = pytest.mark.cluster

NEVER = {"gitmoor.test/no-such-node": "true"}


def _ref(obj: dict[str, Any]) -> tuple[ObjectRef, str]:
    return ObjectRef.from_object(obj), obj["apiVersion"]


def _pod_template(app: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}], **spec},
    }


def _deployment(name: str, namespace: str, *, replicas: int = 2, **spec: Any) -> dict[str, Any]:
    pod_spec = spec.pop("pod_spec", {})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": _pod_template(name, **pod_spec),
            **spec,
        },
    }


def _config_map(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"mode": "demo"},
    }


async def _apply(kube: Kube, *objects: dict[str, Any]) -> list[tuple[ObjectRef, str]]:
    for obj in objects:
        await kube.apply(obj)
    return [_ref(o) for o in objects]


async def test_a_deployment_that_rolls_out_is_healthy(kube: Kube, namespace: str) -> None:
    targets = await _apply(
        kube, _config_map("settings", namespace), _deployment("web", namespace, replicas=3)
    )
    progress: list[Verdict] = []
    verdict = await wait_healthy(kube, targets, timeout=90, on_progress=progress.append)

    assert verdict.healthy, verdict.summary()
    assert not verdict.timed_out
    assert verdict.objects == (
        Health(ObjectRef("", "ConfigMap", namespace, "settings"), Status.CURRENT, ""),
        Health(
            ObjectRef("apps", "Deployment", namespace, "web"),
            Status.CURRENT,
            "3/3 replicas available",
        ),
    )
    assert progress[-1] == verdict
    # What the verdict claims is what the cluster shows.
    live = await kube.get("apps/v1", "Deployment", "web", namespace)
    assert live is not None
    assert live["status"]["observedGeneration"] == live["metadata"]["generation"]
    assert live["status"]["availableReplicas"] == 3
    pods = await kube.list("v1", "Pod", namespace, label_selector="app=web")
    assert sorted(compute(p).status for p in pods) == [Status.CURRENT] * 3


async def test_a_changed_deployment_is_healthy_only_once_the_new_pods_are_available(
    kube: Kube, namespace: str
) -> None:
    targets = await _apply(kube, _deployment("web", namespace))
    assert (await wait_healthy(kube, targets, timeout=90)).healthy

    changed = _deployment(
        "web", namespace, pod_spec={"containers": [{"name": "main", "image": "nginx:1.28"}]}
    )
    await kube.apply(changed)
    verdict = await wait_healthy(kube, targets, timeout=90)

    assert verdict.healthy, verdict.summary()
    live = await kube.get("apps/v1", "Deployment", "web", namespace)
    assert live is not None
    assert live["metadata"]["generation"] == 2
    assert live["status"]["observedGeneration"] == 2
    assert live["status"]["updatedReplicas"] == live["status"]["replicas"] == 2
    pods = await kube.list("v1", "Pod", namespace, label_selector="app=web")
    running = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert {p["spec"]["containers"][0]["image"] for p in running} == {"nginx:1.28"}


async def test_a_deployment_past_its_progress_deadline_fails_the_wait(
    kube: Kube, namespace: str
) -> None:
    targets = await _apply(
        kube,
        _config_map("settings", namespace),
        _deployment(
            "stuck", namespace, progressDeadlineSeconds=5, pod_spec={"nodeSelector": NEVER}
        ),
    )
    verdict = await wait_healthy(kube, targets, timeout=120)

    assert not verdict.healthy
    assert not verdict.timed_out, verdict.summary()
    config_map, deployment = verdict.objects
    assert config_map.status is Status.CURRENT
    assert deployment.status is Status.FAILED
    assert deployment.message.startswith(
        "Deployment exceeded its progress deadline: ProgressDeadlineExceeded: "
    )
    assert verdict.summary().startswith(
        f"unhealthy: Deployment/{namespace}/stuck: Failed (Deployment exceeded its progress"
    )


async def test_without_fail_fast_a_failed_deployment_times_out_with_its_failure(
    kube: Kube, namespace: str
) -> None:
    targets = await _apply(
        kube,
        _deployment(
            "stuck", namespace, progressDeadlineSeconds=1, pod_spec={"nodeSelector": NEVER}
        ),
    )
    # Wait for the controller to give up, then see that fail_fast=False keeps waiting anyway.
    assert (await wait_healthy(kube, targets, timeout=120)).objects[0].status is Status.FAILED
    verdict = await wait_healthy(kube, targets, timeout=3, fail_fast=False)
    assert (verdict.healthy, verdict.timed_out) == (False, True)
    assert verdict.objects[0].status is Status.FAILED


async def test_a_job_that_completes_is_healthy(kube: Kube, namespace: str) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate", "namespace": namespace},
        "spec": {
            "completions": 2,
            "parallelism": 1,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "migrate", "image": "busybox:1.37"}],
                }
            },
        },
    }
    verdict = await wait_healthy(kube, await _apply(kube, job), timeout=90)
    assert verdict.healthy, verdict.summary()
    assert verdict.objects[0].message == "Job completed: 2 succeeded"


async def test_a_job_past_its_deadline_fails_the_wait(kube: Kube, namespace: str) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "never", "namespace": namespace},
        "spec": {
            "activeDeadlineSeconds": 2,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": NEVER,
                    "containers": [{"name": "main", "image": "busybox:1.37"}],
                }
            },
        },
    }
    verdict = await wait_healthy(kube, await _apply(kube, job), timeout=90)
    assert (verdict.healthy, verdict.timed_out) == (False, False), verdict.summary()
    assert verdict.objects[0].status is Status.FAILED
    assert verdict.objects[0].message.startswith("Job failed: DeadlineExceeded")


async def test_statefulset_daemonset_pdb_service_and_idle_deployment_become_healthy(
    kube: Kube, namespace: str
) -> None:
    objects = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "db", "namespace": namespace},
            "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 5432}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": namespace},
            "spec": {
                "replicas": 2,
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
                "template": _pod_template("db"),
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": namespace},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": _pod_template("agent"),
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "db", "namespace": namespace},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}},
        },
        _deployment("idle", namespace, replicas=0),
    ]
    verdict = await wait_healthy(kube, await _apply(kube, *objects), timeout=120)

    assert verdict.healthy, verdict.summary()
    messages = {h.ref.kind: h.message for h in verdict.objects}
    nodes = len(await kube.list("v1", "Node"))
    # The budget is met as soon as one of the StatefulSet's pods counts as healthy; the second
    # may or may not be counted yet when the wait ends.
    pdb = messages.pop("PodDisruptionBudget")
    assert pdb in ("budget met: 1/1 healthy pods", "budget met: 2/1 healthy pods")
    assert messages == {
        "Service": "",
        "StatefulSet": "2/2 replicas ready",
        "DaemonSet": f"{nodes}/{nodes} pods available",
        "Deployment": "0/0 replicas available",
    }


async def test_a_crd_and_its_custom_resource(kube: Kube, namespace: str, unique_name: str) -> None:
    group = f"{unique_name}.gitmoor.test"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }
    widget = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": namespace},
        "spec": {"size": 1},
    }
    try:
        # Before the CRD exists its custom resources are as good as absent.
        early = await wait_healthy(kube, [_ref(widget)], timeout=1)
        assert early.timed_out
        assert early.objects[0].status is Status.NOT_FOUND

        verdict = await wait_healthy(kube, await _apply(kube, crd), timeout=30)
        assert verdict.healthy, verdict.summary()
        assert verdict.objects[0].message == "CRD is Established"

        kube.forget(f"{group}/v1")
        verdict = await wait_healthy(kube, await _apply(kube, widget), timeout=30)
        assert verdict.objects == (Health(_ref(widget)[0], Status.CURRENT, ""),)
    finally:
        await kube.delete(
            "apiextensions.k8s.io/v1", "CustomResourceDefinition", crd["metadata"]["name"]
        )


async def test_a_config_map_is_current_at_once(kube: Kube, namespace: str) -> None:
    targets = await _apply(kube, _config_map("settings", namespace))
    progress: list[Verdict] = []
    verdict = await wait_healthy(kube, targets, timeout=30, on_progress=progress.append)
    assert verdict == Verdict(
        healthy=True,
        timed_out=False,
        objects=(Health(ObjectRef("", "ConfigMap", namespace, "settings"), Status.CURRENT),),
    )
    assert progress == [verdict]  # decided by the very first read


async def test_timeout_reports_missing_and_unfinished_objects(kube: Kube, namespace: str) -> None:
    balancer = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "public", "namespace": namespace},
        "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    targets = [
        *await _apply(kube, _config_map("present", namespace), balancer),
        (ObjectRef("", "ConfigMap", namespace, "absent"), "v1"),
    ]
    verdict = await wait_healthy(kube, targets, timeout=3)

    assert (verdict.healthy, verdict.timed_out) == (False, True)
    assert verdict.objects == (
        Health(ObjectRef("", "ConfigMap", namespace, "present"), Status.CURRENT),
        Health(
            ObjectRef("", "Service", namespace, "public"),
            Status.IN_PROGRESS,
            "waiting for a load balancer address",
        ),
        Health(ObjectRef("", "ConfigMap", namespace, "absent"), Status.NOT_FOUND, "not found"),
    )
    assert verdict.summary() == (
        f"timed out waiting: Service/{namespace}/public: InProgress (waiting for a load balancer"
        f" address); ConfigMap/{namespace}/absent: NotFound (not found)"
    )


async def test_an_object_created_during_the_wait_is_awaited(kube: Kube, namespace: str) -> None:
    late = _config_map("late", namespace)
    seen_missing = asyncio.Event()

    def progress(verdict: Verdict) -> None:
        if verdict.objects[0].status is Status.NOT_FOUND:
            seen_missing.set()

    waiting = asyncio.create_task(
        wait_healthy(kube, [_ref(late)], timeout=60, on_progress=progress)
    )
    await asyncio.wait_for(seen_missing.wait(), 30)
    await kube.apply(late)
    verdict = await waiting
    assert verdict.healthy, verdict.summary()


async def test_cancelling_a_running_wait(kube: Kube, namespace: str) -> None:
    targets = await _apply(kube, _deployment("stuck", namespace, pod_spec={"nodeSelector": NEVER}))
    first = asyncio.Event()
    seen: list[Verdict] = []

    def progress(verdict: Verdict) -> None:
        seen.append(verdict)
        first.set()

    waiting = asyncio.create_task(
        wait_healthy(kube, targets, timeout=600, poll=0.2, on_progress=progress)
    )
    await asyncio.wait_for(first.wait(), 30)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert seen[0].objects[0].status is Status.IN_PROGRESS
    # The client is intact: the next wait (for a newer revision, say) works as usual.
    ok = await wait_healthy(kube, await _apply(kube, _config_map("next", namespace)), timeout=30)
    assert ok.healthy
