"""gitmoor's Sync CRD deleted directly (`kubectl delete crd syncs.gitmoor.io`, no `gitmoor
uninstall`) while the agent runs: every Sync goes with it, and a Sync whose deletionPolicy is
Delete is released without pruning what it applied. On a control plane of its own: deleting
the CRD takes every Sync of the cluster along."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gitmoor.commands.run import install_crds
from gitmoor.kube import Kube
from testenv.cluster import ControlPlane, throwaway
from testenv.gitserver import GitServers
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import configmap

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]

_CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "syncs.gitmoor.io")


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with throwaway(tmp_path_factory.mktemp("crd-deletion-cluster")) as plane:
        yield plane


@pytest.fixture
async def own_kube(plane: ControlPlane) -> AsyncIterator[Kube]:
    async with await Kube.from_kubeconfig(plane.kubeconfig) as client:
        await install_crds(client)
        yield client


async def test_deleting_the_sync_crd_releases_a_delete_sync_and_leaves_what_it_applied(
    plane: ControlPlane, own_kube: Kube, git_servers: GitServers, tmp_path: Path
) -> None:
    kube, ns = own_kube, "apps"
    await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    harness = AgentHarness(kube, plane.kubeconfig, ns, tmp_path)
    await harness.start()
    try:
        repo, tree = harness.repo(git_servers, "crd-deletion")
        sha = tree.commit(
            "the app", {"a.yaml": configmap("a", ns, v="1"), "b.yaml": configmap("b", ns)}
        )
        tree.push()
        await harness.source("repo", repo.file_url)
        await harness.sync("app", "repo", prune=True, deletionPolicy="Delete")
        sync = await harness.wait_applied("app", sha)
        assert "gitmoor.io/finalizer" in sync["metadata"]["finalizers"]

        assert await kube.delete(*_CRD)
        # The CRD goes only once every Sync's finalizer is released.
        await eventually(
            lambda: kube.get(*_CRD), lambda crd: crd is None, within=60, what="the CRD to go"
        )

        for name in ("a", "b"):
            assert await kube.get("v1", "ConfigMap", name, ns) is not None, name
        events = [e for e in await kube.list("v1", "Event", ns) if e["reason"] == "Orphaned"]
        assert [e["involvedObject"]["name"] for e in events] == ["app"], events
        assert "left the 2 object(s) it applied in place" in events[0]["message"]
        assert "gitmoor's CRD is being deleted" in events[0]["message"]
        harness.check_alive()
    finally:
        await harness.stop()
        await install_crds(kube)  # as it was, for whatever runs on this plane next
