"""All or nothing: a revision is validated whole before anything is written, and an atomic Sync
restores its last healthy revision when apply or the health gate fails."""

from __future__ import annotations

import asyncio

import pytest

from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import configmap, deployment, service

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]

STUCK = "      nodeSelector:\n        no-such-label: anywhere\n"


async def _events(harness: AgentHarness, name: str) -> list[dict[str, object]]:
    events = await harness.kube.list("v1", "Event", harness.namespace)
    return [
        e
        for e in events
        if e["involvedObject"]["name"] == name and e["involvedObject"]["kind"] == "Sync"
    ]


async def test_one_invalid_object_among_many_writes_nothing(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    files = {f"cm/{i}.yaml": configmap(f"cm-{i}", ns, v="1") for i in range(8)}
    sha = tree.commit("v1", {**files, "web.yaml": deployment("web", ns)})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    await harness.wait_applied("app", sha)

    async def versions() -> dict[str, str | None]:
        found = {
            f"cm-{i}": await harness.resource_version("v1", "ConfigMap", f"cm-{i}")
            for i in range(8)
        }
        found["web"] = await harness.resource_version("apps/v1", "Deployment", "web")
        return found

    before = await versions()
    changed = {f"cm/{i}.yaml": configmap(f"cm-{i}", ns, v="2") for i in range(8)}
    broken = service("bad", ns).replace("port: 80", "port: 70000")
    sha2 = tree.commit(
        "v2 with one bad object",
        {**changed, "new.yaml": configmap("brand-new", ns, a="1"), "bad.yaml": broken},
    )
    tree.push()
    sync = await harness.wait_for(
        "Sync",
        "app",
        lambda o: (
            str((o.get("status") or {}).get("lastAttemptedRevision", "")).endswith(sha2)
            and (cond.get_condition(o, cond.READY) or {}).get("reason") == "ValidationFailed"
        ),
        what="the bad revision to be refused",
    )
    message = (cond.get_condition(sync, cond.READY) or {})["message"]
    assert f"Service/{ns}/bad" in message
    assert "bad.yaml" in message
    assert await versions() == before, "something was written although validation failed"
    assert await harness.kube.get("v1", "ConfigMap", "brand-new", ns) is None
    assert sync["status"]["lastAppliedRevision"].endswith(sha)


async def test_new_crd_and_namespace_are_removed_again_when_the_rest_is_invalid(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    group = f"{unique_name}.example.com"
    extra_ns = f"{unique_name}-extra"
    repo, tree = harness.repo(git_servers, unique_name)
    crd = f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gizmos.{group}
spec:
  group: {group}
  names: {{kind: Gizmo, plural: gizmos, singular: gizmo, listKind: GizmoList}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size]
              properties:
                size: {{type: integer, minimum: 1}}
"""
    gizmo = (
        f"apiVersion: {group}/v1\nkind: Gizmo\nmetadata:\n  name: g\n  namespace: {extra_ns}\n"
        "spec:\n  size: 0\n"
    )
    namespace = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {extra_ns}\n"
    sha = tree.commit("crd + bad cr", {"crd.yaml": crd, "ns.yaml": namespace, "gizmo.yaml": gizmo})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    sync = await harness.wait_condition(
        "Sync", "app", cond.READY, "False", reason="ValidationFailed"
    )
    assert sync["status"]["lastAttemptedRevision"].endswith(sha)
    assert f"Gizmo/{extra_ns}/g" in (cond.get_condition(sync, cond.READY) or {})["message"]

    async def gone() -> bool:
        crd_live = await harness.kube.get(
            "apiextensions.k8s.io/v1", "CustomResourceDefinition", f"gizmos.{group}"
        )
        ns_live = await harness.kube.get("v1", "Namespace", extra_ns)
        return (crd_live is None or bool(crd_live["metadata"].get("deletionTimestamp"))) and (
            ns_live is None or bool(ns_live["metadata"].get("deletionTimestamp"))
        )

    assert await gone(), "the CRD or Namespace created for validation was left behind"


async def test_atomic_sync_restores_the_last_healthy_revision_and_does_not_retry_it(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit(
        "healthy", {"web.yaml": deployment("web", ns), "cm.yaml": configmap("settings", ns, v="1")}
    )
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", atomic=True, timeout="8s")
    await harness.wait_applied("app", sha)
    await harness.wait_condition("Sync", "app", cond.HEALTHY, "True")
    web_before = await harness.kube.get("apps/v1", "Deployment", "web", ns)
    assert web_before is not None

    bad = tree.commit(
        "stuck web, new worker",
        {
            "web.yaml": deployment("web", ns, image="nginx:1.28", extra_spec=STUCK),
            "cm.yaml": configmap("settings", ns, v="2"),
            "worker.yaml": deployment("worker", ns, extra_spec=STUCK),
        },
    )
    tree.push()
    sync = await harness.wait_condition(
        "Sync", "app", cond.READY, "False", reason="RolledBack", within=120
    )
    status = sync["status"]
    assert status["lastAttemptedRevision"].endswith(bad)
    assert status["lastFailedRevision"].endswith(bad)
    assert status["lastAppliedRevision"].endswith(sha)
    assert status["lastHealthyRevision"].endswith(sha)
    assert f"restored main@sha1:{sha}" in (cond.get_condition(sync, cond.READY) or {})["message"]
    assert status["history"][0]["result"] == "RolledBack"
    assert status["history"][1]["result"] == "Failed"
    assert status["history"][1]["revision"].endswith(bad)

    web = await harness.kube.get("apps/v1", "Deployment", "web", ns)
    assert web is not None
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert "nodeSelector" not in web["spec"]["template"]["spec"]
    settings = await harness.kube.get("v1", "ConfigMap", "settings", ns)
    assert settings is not None
    assert settings["data"] == {"v": "1"}
    worker = await harness.kube.get("apps/v1", "Deployment", "worker", ns)
    assert worker is None or worker["metadata"].get("deletionTimestamp"), (
        "created by the bad revision, must be pruned"
    )
    assert cond.is_true(sync, cond.HEALTHY)
    assert {e["id"] for e in status["inventory"]["entries"]} == {
        f"apps_Deployment_{ns}_web",
        f"_ConfigMap_{ns}_settings",
    }
    reasons = {e["reason"] for e in await _events(harness, "app")}
    assert "RolledBack" in reasons

    # Not retried in a loop: the failed revision stays failed, nothing is applied again.
    rv = (await harness.kube.get("apps/v1", "Deployment", "web", ns) or {})["metadata"][
        "resourceVersion"
    ]
    await asyncio.sleep(6)
    again = await harness.get("Sync", "app")
    assert again is not None
    assert again["status"]["history"] == status["history"]
    assert (await harness.kube.get("apps/v1", "Deployment", "web", ns) or {})["metadata"][
        "resourceVersion"
    ] == rv

    fixed = tree.commit(
        "fixed", {"web.yaml": deployment("web", ns, image="nginx:1.28")}, remove=["worker.yaml"]
    )
    tree.push()
    sync = await harness.wait_applied("app", fixed)
    assert "lastFailedRevision" not in sync["status"]
    assert cond.is_true(sync, cond.HEALTHY)


async def test_non_atomic_sync_is_left_failed(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("healthy", {"web.yaml": deployment("web", ns)})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", timeout="8s")
    await harness.wait_applied("app", sha)
    bad = tree.commit("stuck", {"web.yaml": deployment("web", ns, extra_spec=STUCK)})
    tree.push()
    sync = await harness.wait_for(
        "Sync",
        "app",
        lambda o: (
            str((o.get("status") or {}).get("lastAttemptedRevision", "")).endswith(bad)
            and (cond.get_condition(o, cond.HEALTHY) or {}).get("status") == "False"
        ),
        within=120,
        what="the stuck revision to be reported unhealthy",
    )
    assert (cond.get_condition(sync, cond.READY) or {})["reason"] in (
        "HealthCheckFailed",
        "HealthCheckTimeout",
    )
    assert sync["status"]["lastAppliedRevision"].endswith(bad)
    assert not sync["status"].get("lastFailedRevision")
    web = await harness.kube.get("apps/v1", "Deployment", "web", ns)
    assert web is not None
    assert web["spec"]["template"]["spec"].get("nodeSelector") == {"no-such-label": "anywhere"}


async def test_deleting_a_sync_prunes_what_it_applied(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit(
        "v1", {"a.yaml": configmap("a", ns, v="1"), "b.yaml": configmap("b", ns, v="1")}
    )
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    sync = await harness.wait_applied("app", sha)
    assert "gitmoor.io/finalizer" in sync["metadata"]["finalizers"]
    await harness.kube.delete("gitmoor.io/v1alpha1", "Sync", "app", ns)
    await harness.wait_for("Sync", "app", lambda o: not o, what="the Sync to be gone")
    assert await harness.kube.get("v1", "ConfigMap", "a", ns) is None
    assert await harness.kube.get("v1", "ConfigMap", "b", ns) is None
