"""Repositories written to attack the agent: whatever their tree holds, nothing of the agent's
own disk reaches the cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers
from testenv.hostile import chained_symlink_chart
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import configmap

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
    sync = await harness.wait_attempted("leaky", sha)

    # chain2/k lies outside the Sync's path and the fetch dropped it, but the chart reaches it
    # through files/ext: the revision is refused by name, not rendered with an empty file.
    ready = cond.get_condition(sync, cond.READY) or {}
    assert (ready.get("status"), ready.get("reason")) == ("False", "BuildFailed"), ready
    assert "chain2/k" in ready["message"]
    assert "nothing was applied" in ready["message"]
    configmaps = await harness.kube.list("v1", "ConfigMap", harness.namespace)
    assert all(SENTINEL not in str(c.get("data")) for c in configmaps)
    assert await harness.kube.get("v1", "ConfigMap", "leak", harness.namespace) is None

    # The GitSource says so too: the entries in its status, and a Warning Event.
    await harness.wait_for(
        "GitSource",
        "repo",
        lambda o: (
            "chain2/k" in ((o.get("status") or {}).get("artifact") or {}).get("unsafeEntries", [])
        ),
        what="the unsafe entries in the GitSource's status",
    )
    events = await eventually(
        lambda: harness.events("GitSource", "repo"),
        lambda es: any(e["reason"] == "UnsafeEntries" for e in es),
        within=30,
        what="an UnsafeEntries Event",
    )
    (warning,) = [e for e in events if e["reason"] == "UnsafeEntries"]
    assert warning["type"] == "Warning"
    assert "chain2/k" in warning["message"]
    assert sha in warning["message"]

    # The chart stops linking out; the chains stay in the repository, left out by spec.ignore
    # (never judged): the next revision deploys, and the GitSource no longer lists anything.
    leak = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\ndata:\n  stolen: nothing\n"
    sha2 = tree.commit(
        "no link out", {"chart/templates/leak.yaml": leak}, remove=["chart/files/ext"]
    )
    tree.push()
    await harness.source("repo", repo.file_url, ignore="/chain/\n/chain2/\n")
    await harness.wait_applied("leaky", sha2)
    source = await harness.wait_for(
        "GitSource",
        "repo",
        lambda o: (
            ((o.get("status") or {}).get("artifact") or {}).get("revision", "").endswith(sha2)
        ),
        what="the fixed revision on the GitSource",
    )
    assert "unsafeEntries" not in source["status"]["artifact"]


async def test_a_manifest_left_out_as_unsafe_refuses_the_revision_and_says_which(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("v1", {"apps/a.yaml": configmap("a", ns), "apps/b.yaml": configmap("b", ns)})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", "apps")
    await harness.wait_applied("app", sha)

    # b.yaml becomes a link to a file of the agent's disk: the fetch leaves it out, and without
    # a word its ConfigMap would be pruned.
    (tree.path / "apps" / "b.yaml").unlink()
    (tree.path / "apps" / "b.yaml").symlink_to("/etc/hostname")
    sha2 = tree.commit("b is a link out")
    tree.push()
    sync = await harness.wait_attempted("app", sha2)

    ready = cond.get_condition(sync, cond.READY) or {}
    assert ready.get("reason") == "BuildFailed"
    assert "apps/b.yaml" in ready.get("message", "")
    assert await harness.kube.get("v1", "ConfigMap", "b", ns) is not None
