"""User health rules end to end: a Sync's `healthCheckExprs` (CEL) decide its health gate, its
continuous health and, with `atomic`, its rollback. The test plays the custom resource's
controller: it writes `status` (phase and observedGeneration) through the status subresource.

The rule calls `Broken` a failure and `Resizing` work in progress: words the generic table does
not know (it would say Current), so every verdict below comes from the user rule.
"""

from __future__ import annotations

from typing import Any

import pytest

from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import crd, custom

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]

STATUS_SUBRESOURCE = "      subresources: {status: {}}\n"


def _rules(api_version: str) -> list[dict[str, str]]:
    return [
        {
            "apiVersion": api_version,
            "kind": "Database",
            "inProgress": "self.?status.?phase.orValue('') == 'Resizing'",
            "failed": "self.?status.?phase.orValue('') == 'Broken'",
            "current": "self.?status.?phase.orValue('') == 'Running'",
        }
    ]


async def _report(h: AgentHarness, api_version: str, phase: str, generation: int) -> None:
    """Write the Database's status as its controller would, having seen `generation`."""
    status: dict[str, Any] = {"phase": phase, "observedGeneration": generation}
    await h.kube.patch_merge(
        api_version, "Database", "orders", h.namespace, {"status": status}, subresource="status"
    )


async def _generation(h: AgentHarness, api_version: str, size: str) -> int:
    """The Database's generation once its spec has `size` (applied by the agent)."""
    obj = await h.wait_for_object(
        api_version, "Database", "orders", lambda o: o["spec"].get("size") == size, within=60
    )
    return int(obj["metadata"]["generation"])


async def test_a_syncs_cel_rules_gate_it_degrade_it_and_roll_it_back(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    group = f"{unique_name}.example.com"
    api_version = f"{group}/v1"
    repo, tree = h.repo(git_servers, unique_name)
    good = tree.commit(
        "v1",
        {
            "crd.yaml": crd(group, "Database", version_extra=STATUS_SUBRESOURCE),
            "db.yaml": custom(api_version, "Database", "orders", ns, "{size: small}"),
        },
    )
    tree.push()
    await h.source("repo", repo.file_url)
    await h.sync(
        "app",
        "repo",
        interval="1h",
        atomic=True,
        timeout="60s",
        healthCheckExprs=_rules(api_version),
    )
    try:
        # Gated: Resizing is InProgress by the rule, so the Sync is not Ready yet.
        generation = await _generation(h, api_version, "small")
        await _report(h, api_version, "Resizing", generation)

        def gated(o: dict[str, Any]) -> bool:
            message = (cond.get_condition(o, cond.RECONCILING) or {}).get("message", "")
            return "Database/" in message and "phase is Resizing" in message

        # The gate says what it waits on, and why: the Sync is not Ready meanwhile.
        sync = await h.wait_for("Sync", "app", gated, within=60, what="the gate on Resizing")
        assert not cond.is_true(sync, cond.READY)
        assert "waiting for 1 of" in (cond.get_condition(sync, cond.RECONCILING) or {})["message"]

        # Running: Current by the rule, the gate passes.
        await _report(h, api_version, "Running", generation)
        await h.wait_applied("app", good)
        await h.wait_condition("Sync", "app", cond.HEALTHY, "True")

        # Broken after the apply: continuous health makes the Sync Degraded within seconds.
        await _report(h, api_version, "Broken", generation)
        sync = await h.wait_condition(
            "Sync", "app", cond.READY, "False", reason="HealthDegraded", within=20
        )
        healthy = cond.get_condition(sync, cond.HEALTHY)
        assert healthy is not None
        assert healthy["status"] == "False"
        assert f"Database/{ns}/orders" in healthy["message"]
        assert str(sync["status"]["lastAppliedRevision"]).endswith(good)
        await _report(h, api_version, "Running", generation)
        await h.wait_condition("Sync", "app", cond.READY, "True", within=20)

        # A new revision that its controller reports Broken: atomic restores v1.
        bad = tree.commit(
            "v2", {"db.yaml": custom(api_version, "Database", "orders", ns, "{size: large}")}
        )
        tree.push()
        generation = await _generation(h, api_version, "large")
        await _report(h, api_version, "Broken", generation)
        # The rollback re-applies v1 (a new generation the controller has not seen: InProgress,
        # not Failed), and the controller then reports it Running.
        generation = await _generation(h, api_version, "small")
        await _report(h, api_version, "Running", generation)
        sync = await h.wait_condition(
            "Sync", "app", cond.READY, "False", reason="RolledBack", within=120
        )
        status = sync["status"]
        assert status["lastFailedRevision"].endswith(bad)
        assert status["lastAppliedRevision"].endswith(good)
        assert status["history"][1]["revision"].endswith(bad)
        assert status["history"][1]["result"] == "Failed"
    finally:
        await h.kube.delete(
            "apiextensions.k8s.io/v1", "CustomResourceDefinition", f"databases.{group}"
        )
