"""Long-running behaviour: immutable fields, a newer revision superseding a health wait, and
one active agent at a time."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import UNSCHEDULABLE, configmap, deployment

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]


async def test_immutable_field_change_is_reported_and_recreated_only_when_forced(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("v1", {"web.yaml": deployment("web", ns)})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    await harness.wait_applied("app", sha)
    uid = (await harness.kube.get("apps/v1", "Deployment", "web", ns) or {})["metadata"]["uid"]

    # A new selector (and matching labels): spec.selector cannot change in place.
    changed = deployment("web", ns).replace("app: web", "app: web2")
    sha2 = tree.commit("new selector", {"web.yaml": changed})
    tree.push()
    sync = await harness.wait_for(
        "Sync",
        "app",
        lambda o: (
            str((o.get("status") or {}).get("lastAttemptedRevision", "")).endswith(sha2)
            and cond.is_true(o, cond.STALLED)
        ),
        what="the immutable change to stall the Sync",
    )
    ready = cond.get_condition(sync, cond.READY) or {}
    assert ready["reason"] == "ImmutableFieldChanged"
    message = ready["message"]
    assert message.startswith("immutable fields changed: set spec.force: true")
    assert "web.yaml" in message
    assert "Deployment/" in message
    assert "spec.selector cannot change in place" in message
    live = await harness.kube.get("apps/v1", "Deployment", "web", ns)
    assert live is not None
    assert live["metadata"]["uid"] == uid
    assert live["spec"]["selector"]["matchLabels"] == {"app": "web"}

    await harness.sync("app", "repo", force=True)
    await harness.wait_applied("app", sha2)
    live = await harness.kube.get("apps/v1", "Deployment", "web", ns)
    assert live is not None
    assert live["metadata"]["uid"] != uid
    assert live["spec"]["selector"]["matchLabels"] == {"app": "web2"}


async def test_a_newer_revision_cancels_the_health_wait_on_the_old_one(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    stuck = deployment("web", ns, extra_spec=UNSCHEDULABLE)
    sha = tree.commit("stuck", {"web.yaml": stuck})
    tree.push()
    await harness.source("repo", repo.file_url, interval="1s")
    # A health gate far longer than this test may take.
    await harness.sync("app", "repo", timeout="10m")
    await harness.wait_for(
        "Sync",
        "app",
        lambda o: (
            cond.is_true(o, cond.RECONCILING)
            and sha in str((cond.get_condition(o, cond.RECONCILING) or {}).get("message"))
        ),
        what="the Sync to be waiting on the stuck revision",
    )
    await asyncio.sleep(2)  # well inside the health wait
    started = time.monotonic()
    sha2 = tree.commit("fixed", {"web.yaml": deployment("web", ns)})
    tree.push()
    sync = await harness.wait_applied("app", sha2, within=120)
    assert time.monotonic() - started < 300, "the old wait ran to its timeout"
    assert cond.is_true(sync, cond.HEALTHY)


async def test_only_one_agent_is_active_and_a_standby_takes_over(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("v1", {"cm.yaml": configmap("settings", ns, v="1")})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    await harness.wait_applied("app", sha)
    lease = await harness.kube.get("coordination.k8s.io/v1", "Lease", "gitmoor-leader", ns)
    assert lease is not None
    first = lease["spec"]["holderIdentity"]

    standby = AgentHarness(harness.kube, harness.kubeconfig, ns, harness.workdir / "standby")
    await standby.start(http=True)
    try:
        await asyncio.sleep(3)
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{standby.http_url}/readyz") as response,
        ):
            assert response.status == 503, "a standby must not report ready"
        lease = await harness.kube.get("coordination.k8s.io/v1", "Lease", "gitmoor-leader", ns)
        assert lease is not None
        assert lease["spec"]["holderIdentity"] == first, "the standby took a held lease"

        assert await harness.stop() == 0  # releases the lease
        sha2 = tree.commit("v2", {"cm.yaml": configmap("settings", ns, v="2")})
        tree.push()
        await standby.wait_applied("app", sha2, within=60)
        lease = await harness.kube.get("coordination.k8s.io/v1", "Lease", "gitmoor-leader", ns)
        assert lease is not None
        assert lease["spec"]["holderIdentity"] not in (None, "", first)
    finally:
        await standby.stop()
        await harness.start()  # the fixture stops it again
