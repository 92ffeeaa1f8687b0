"""Repositories written to attack the agent: whatever their tree holds, nothing of the agent's
own disk reaches the cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from testenv.gitserver import GitServers
from testenv.hostile import chained_symlink_chart
from tests.integration.agent.harness import AgentHarness

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]

SENTINEL = "SENTINEL-AGENT-CLIENT-KEY"


async def test_a_chart_cannot_copy_an_agent_file_into_the_cluster_through_chained_links(
    harness: AgentHarness, git_servers: GitServers, unique_name: str, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "agent-kubeconfig"
    kubeconfig.write_text(f"client-key-data: {SENTINEL}\n")
    repo, tree = harness.repo(git_servers, unique_name)
    chained_symlink_chart(tree.path, kubeconfig)
    assert SENTINEL in (tree.path / "chart" / "files" / "ext" / "k").read_text()
    sha = tree.commit("a chart that reads outside its checkout")
    tree.push()

    await harness.source("repo", repo.file_url)
    await harness.sync("leaky", "repo", "chart", targetNamespace=harness.namespace)
    await harness.wait_for(
        "Sync",
        "leaky",
        lambda o: str((o.get("status") or {}).get("lastAttemptedRevision", "")).endswith(sha),
        what="the revision attempted",
    )

    configmaps = await harness.kube.list("v1", "ConfigMap", harness.namespace)
    assert all(SENTINEL not in str(c.get("data")) for c in configmaps)
    leak = await harness.kube.get("v1", "ConfigMap", "leak", harness.namespace)
    assert leak is None or not (leak.get("data") or {}).get("stolen")
