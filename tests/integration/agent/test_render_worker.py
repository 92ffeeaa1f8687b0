"""A repository that would take the agent's memory is read in the render worker: the worker
dies at its limit, the Sync says which limit, the last good revision keeps running, and the
next good commit deploys."""

from __future__ import annotations

import dataclasses

import pytest

from gitmoor.model.limits import MIB
from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers
from testenv.hostile import scalar_bomb
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import configmap

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]


async def test_a_file_past_the_worker_s_memory_fails_alone_and_the_last_revision_stays(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    # 256 MiB of address space for the worker; the render size raised so that the expansion
    # meets the memory cap rather than the cheaper text bound.
    await harness.stop()
    harness.render_limits = dataclasses.replace(
        harness.render_limits, max_tool_memory=256 * MIB, max_render_bytes=2048 * MIB
    )
    await harness.start()
    repo, tree = harness.repo(git_servers, unique_name)
    good = tree.commit("v1", {"apps/a.yaml": configmap("a", ns, v="1")})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", "apps")
    await harness.wait_applied("app", good)

    # 4 MiB aliased 200 times: 800 MiB once written out.
    bomb = tree.commit("bomb", {"apps/b.yaml": scalar_bomb("b", ns, scalar_mib=4, aliases=200)})
    tree.push()
    sync = await harness.wait_attempted("app", bomb)

    ready = cond.get_condition(sync, cond.READY) or {}
    assert ready.get("status") == "False"
    assert "256 MiB" in ready.get("message", "")
    assert "--max-tool-memory" in ready.get("message", "")
    assert sync["status"]["lastAppliedRevision"].endswith(good)
    assert await harness.kube.get("v1", "ConfigMap", "b", ns) is None
    assert await harness.kube.get("v1", "ConfigMap", "a", ns) is not None
    harness.check_alive()

    # A fresh worker reads the next commit.
    fixed = tree.commit("fixed", {"apps/b.yaml": configmap("b", ns, v="2")})
    tree.push()
    await harness.wait_applied("app", fixed)
    assert await harness.kube.get("v1", "ConfigMap", "b", ns) is not None
