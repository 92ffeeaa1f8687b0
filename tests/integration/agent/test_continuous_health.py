"""Health after the apply: a health-gated Sync whose objects turn Failed later is Ready=False
within seconds, from the same watch that sees drift, and Ready again once they recover."""

from __future__ import annotations

import asyncio

import pytest

from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers
from tests.integration.agent.harness import AgentHarness

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]


def _crd(group: str) -> str:
    # No status subresource: the test writes the Widget's status as its controller would.
    return f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  names: {{kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"""


async def test_an_object_failing_after_the_apply_makes_the_sync_not_ready_until_it_recovers(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    group = f"{unique_name}.example.com"
    api_version = f"{group}/v1"
    repo, tree = h.repo(git_servers, unique_name)
    sha = tree.commit(
        "v1",
        {
            "crd.yaml": _crd(group),
            "widget.yaml": (
                f"apiVersion: {api_version}\nkind: Widget\nmetadata:\n  name: w1\n"
                f"  namespace: {ns}\nspec:\n  size: small\n"
            ),
        },
    )
    tree.push()
    await h.source("repo", repo.file_url)
    await h.sync("app", "repo", interval="1h", wait=True)
    try:
        await h.wait_applied("app", sha)

        await h.kube.patch_merge(
            api_version,
            "Widget",
            "w1",
            ns,
            {
                "status": {
                    "conditions": [
                        {"type": "Stalled", "status": "True", "reason": "DiskFull", "message": "x"}
                    ]
                }
            },
        )
        sync = await h.wait_condition(
            "Sync", "app", cond.READY, "False", reason="HealthDegraded", within=20
        )
        healthy = cond.get_condition(sync, cond.HEALTHY)
        assert healthy is not None
        assert healthy["status"] == "False"
        assert "Widget" in healthy["message"]
        assert "w1" in healthy["message"]
        assert "DiskFull" in healthy["message"]
        # Still the revision that was applied: nothing was rolled back or re-applied.
        assert str(sync["status"]["lastAppliedRevision"]).endswith(sha)

        await h.kube.patch_merge(
            api_version,
            "Widget",
            "w1",
            ns,
            {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Fine"}]}},
        )
        sync = await h.wait_condition("Sync", "app", cond.READY, "True", within=20)
        healthy = cond.get_condition(sync, cond.HEALTHY)
        assert healthy is not None
        assert healthy["status"] == "True"
    finally:
        await h.kube.delete(
            "apiextensions.k8s.io/v1", "CustomResourceDefinition", f"widgets.{group}"
        )


async def test_without_the_health_gate_a_failing_object_leaves_ready_alone(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    group = f"{unique_name}.example.com"
    api_version = f"{group}/v1"
    repo, tree = h.repo(git_servers, unique_name)
    sha = tree.commit(
        "v1",
        {
            "crd.yaml": _crd(group),
            "widget.yaml": (
                f"apiVersion: {api_version}\nkind: Widget\nmetadata:\n  name: w1\n"
                f"  namespace: {ns}\nspec:\n  size: small\n"
            ),
        },
    )
    tree.push()
    await h.source("repo", repo.file_url)
    await h.sync("app", "repo", interval="1h", wait=False)
    try:
        await h.wait_applied("app", sha)
        stalled = {"type": "Stalled", "status": "True", "reason": "DiskFull", "message": "x"}
        await h.kube.patch_merge(
            api_version, "Widget", "w1", ns, {"status": {"conditions": [stalled]}}
        )
        # A marker after the patch: once the watch has delivered it, the Widget's was seen too.
        await h.kube.patch_merge(
            api_version, "Widget", "w1", ns, {"metadata": {"annotations": {"seen": "yes"}}}
        )
        await asyncio.sleep(3)
        sync = await h.get("Sync", "app")
        assert sync is not None
        assert cond.is_true(sync, cond.READY)
    finally:
        await h.kube.delete(
            "apiextensions.k8s.io/v1", "CustomResourceDefinition", f"widgets.{group}"
        )
