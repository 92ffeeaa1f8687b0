"""Health after the apply: a health-gated Sync whose objects turn Failed later is Ready=False
within seconds, from the same watch that sees drift, and Ready again once they recover."""

from __future__ import annotations

import asyncio

import pytest

from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import crd, custom

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]


async def _widget_applied(
    h: AgentHarness, git_servers: GitServers, unique_name: str, *, wait: bool
) -> tuple[str, str]:
    """A Sync of a Widget CRD and one Widget `w1`, applied; returns the Widget's apiVersion and
    the commit."""
    group = f"{unique_name}.example.com"
    api_version = f"{group}/v1"
    repo, tree = h.repo(git_servers, unique_name)
    sha = tree.commit(
        "v1",
        {
            # No status subresource: the test writes the Widget's status as its controller would.
            "crd.yaml": crd(group, "Widget"),
            "widget.yaml": custom(api_version, "Widget", "w1", h.namespace, "{size: small}"),
        },
    )
    tree.push()
    await h.source("repo", repo.file_url)
    await h.sync("app", "repo", interval="1h", wait=wait)
    await h.wait_applied("app", sha)
    return api_version, sha


async def _delete_crd(h: AgentHarness, api_version: str) -> None:
    group = api_version.partition("/")[0]
    await h.kube.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"widgets.{group}")


async def test_an_object_failing_after_the_apply_makes_the_sync_not_ready_until_it_recovers(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    api_version, sha = await _widget_applied(h, git_servers, unique_name, wait=True)
    try:
        stalled = {"type": "Stalled", "status": "True", "reason": "DiskFull", "message": "x"}
        await h.kube.patch_merge(
            api_version, "Widget", "w1", ns, {"status": {"conditions": [stalled]}}
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

        fine = {"type": "Ready", "status": "True", "reason": "Fine"}
        await h.kube.patch_merge(
            api_version, "Widget", "w1", ns, {"status": {"conditions": [fine]}}
        )
        sync = await h.wait_condition("Sync", "app", cond.READY, "True", within=20)
        healthy = cond.get_condition(sync, cond.HEALTHY)
        assert healthy is not None
        assert healthy["status"] == "True"
    finally:
        await _delete_crd(h, api_version)


async def test_without_the_health_gate_a_failing_object_leaves_ready_alone(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    api_version, _ = await _widget_applied(h, git_servers, unique_name, wait=False)
    try:
        stalled = {"type": "Stalled", "status": "True", "reason": "DiskFull", "message": "x"}
        # The same edit also drifts the spec: its correction shows the agent saw the event.
        await h.kube.patch_merge(
            api_version,
            "Widget",
            "w1",
            ns,
            {"spec": {"size": "large"}, "status": {"conditions": [stalled]}},
        )
        await h.wait_for_object(
            api_version, "Widget", "w1", lambda o: o["spec"]["size"] == "small", within=20
        )
        await asyncio.sleep(1)  # time for a (wrong) status write to land
        sync = await h.get("Sync", "app")
        assert sync is not None
        assert cond.is_true(sync, cond.READY)
    finally:
        await _delete_crd(h, api_version)
