"""Disaster recovery, measured: a cluster managed from Git is lost with its etcd data, a new
empty one is started, `gitmoor bootstrap` runs with the same arguments, and everything the
repository declares comes back Ready.

The repository (tests/data/dr) holds several Syncs: a CRD and a Namespace, custom resources and a
Deployment that depend on them, and a Helm chart; and gitmoor's own manifests, so the cluster
manages gitmoor too. The agent runs as a `gitmoor run` process with the cluster's kubeconfig,
standing in for its Pod (kwok fakes Pods); bootstrap therefore runs with `--agent-mode none`.

The time from "new control plane ready" to "all Syncs Ready" is printed; only correctness is
asserted.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from gitmoor.kube import Kube
from gitmoor.reconcile import conditions as cond
from testenv.cluster import ControlPlane
from testenv.gitserver import GitServers, Worktree
from testenv.wait import eventually
from tests.integration.gitmoor_process import AgentProcess, gitmoor
from tests.integration.test_bootstrap import https_args

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]

DATA = Path(__file__).parents[1] / "data" / "dr"
SYNCS = ("cluster", "infra", "apps", "shop")


def _files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


async def _restore(
    plane: ControlPlane, args: list[str], password: str, workdir: Path
) -> tuple[AgentProcess, str]:
    """Run bootstrap; start the agent process once bootstrap has installed the CRDs and the
    namespace (the agent refuses to start without them), as the agent's Pod would start once
    its Deployment exists. Returns the running agent and bootstrap's output."""
    agent = AgentProcess(plane.kubeconfig, workdir)
    run = asyncio.create_task(
        gitmoor("bootstrap", *args, kubeconfig=plane.kubeconfig, stdin=password + "\n")
    )
    async with await Kube.from_kubeconfig(plane.kubeconfig) as kube:

        async def installed() -> bool:
            crd = await kube.get(
                "apiextensions.k8s.io/v1", "CustomResourceDefinition", "syncs.gitmoor.io"
            )
            namespace = await kube.get("v1", "Namespace", "gitmoor-system")
            return bool(crd and namespace and cond.is_true(crd, "Established"))

        await eventually(installed, bool, within=120, what="bootstrap to install gitmoor")
    await agent.start()
    code, out, err = await run
    assert code == 0, f"{out}\n{err}\n--- agent ---\n{agent.tail()}"
    return agent, out


async def _observed(kube: Kube) -> dict[str, Any]:
    """What a user checks after a restore: each Sync's readiness and revision, and the objects
    the repository declares."""
    syncs = {}
    for name in SYNCS:
        sync = await kube.get("gitmoor.io/v1alpha1", "Sync", name, "gitmoor-system")
        assert sync is not None, name
        syncs[name] = (
            cond.is_true(sync, cond.READY),
            (sync.get("status") or {}).get("lastAppliedRevision"),
        )
    web = await kube.get("apps/v1", "Deployment", "web", "shop")
    config = await kube.get("v1", "ConfigMap", "shop-config", "shop")
    front = await kube.get("dr.gitmoor.test/v1", "Widget", "front", "shop")
    chart_widget = await kube.get("dr.gitmoor.test/v1", "Widget", "shop", "shop")
    agent = await kube.get("apps/v1", "Deployment", "gitmoor", "gitmoor-system")
    return {
        "syncs": syncs,
        "web available": any(
            c["type"] == "Available" and c["status"] == "True"
            for c in ((web or {}).get("status") or {}).get("conditions") or []
        ),
        "web replicas": ((web or {}).get("status") or {}).get("readyReplicas"),
        "service": await kube.get("v1", "Service", "web", "shop") is not None,
        "chart config": (config or {}).get("data"),
        "widget": (front or {}).get("spec"),
        "chart widget": (chart_widget or {}).get("spec"),
        "gitmoor managed by": ((agent or {}).get("metadata") or {})
        .get("labels", {})
        .get("gitmoor.io/sync-name"),
    }


async def test_a_lost_cluster_comes_back_from_git_with_bootstrap(
    git_servers: GitServers,
    unique_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = git_servers.create_repo(unique_name)
    args = [*https_args(git_servers, repo.https_url, "clusters/dr"), "--agent-mode", "none"]
    args += ["--timeout", "5m"]
    plane_dir = tmp_path / "cluster"
    plane = ControlPlane(plane_dir)
    agent: AgentProcess | None = None
    try:
        await asyncio.to_thread(plane.start)
        code, exported, err = await gitmoor(
            "bootstrap", *args, "--export", kubeconfig=plane.kubeconfig
        )
        assert code == 0, err
        tree = Worktree.init(tmp_path / "work", remote=repo.file_url)
        sha = tree.commit(
            "a cluster managed from Git",
            {**_files(DATA), "clusters/dr/gitmoor.yaml": exported},
        )
        tree.push()

        agent, _ = await _restore(plane, args, git_servers.password, tmp_path / "agent-1")
        async with await Kube.from_kubeconfig(plane.kubeconfig) as kube:
            before = await _observed(kube)
        expected = {
            "syncs": {name: (True, f"main@sha1:{sha}") for name in SYNCS},
            "web available": True,
            "web replicas": 2,
            "service": True,
            "chart config": {"colour": "teal", "size": "large"},
            "widget": {"size": 3},
            "chart widget": {"colour": "teal"},
            "gitmoor managed by": "cluster",
        }
        assert before == expected

        # The disaster: the control plane is gone, and its etcd data with it.
        await agent.stop()
        agent = None
        await asyncio.to_thread(_destroy, plane)
        await asyncio.to_thread(shutil.rmtree, plane_dir)
        assert not plane_dir.exists()

        plane = ControlPlane(plane_dir)
        await asyncio.to_thread(plane.start)
        started = time.monotonic()
        async with await Kube.from_kubeconfig(plane.kubeconfig) as kube:
            assert await kube.get("v1", "Namespace", "shop") is None
            assert (
                await kube.get(
                    "apiextensions.k8s.io/v1", "CustomResourceDefinition", "syncs.gitmoor.io"
                )
                is None
            )

        # The same command, on the new cluster, with a fresh agent (a new Pod has no cache).
        agent, out = await _restore(plane, args, git_servers.password, tmp_path / "agent-2")
        restored_in = time.monotonic() - started
        async with await Kube.from_kubeconfig(plane.kubeconfig) as kube:
            after = await _observed(kube)
        assert after == expected
        for name in SYNCS:
            assert f"Sync/gitmoor-system/{name}: Ready at main@sha1:{sha}" in out
        with capsys.disabled():
            print(
                f"\n[disaster recovery] {len(SYNCS)} Syncs Ready again {restored_in:.1f} s after "
                "the new control plane was ready (bootstrap + agent start + reconcile)"
            )
    finally:
        if agent is not None:
            await agent.stop()
        await asyncio.to_thread(_destroy, plane)


def _destroy(plane: ControlPlane) -> None:
    # A crash, not a shutdown: the apiserver gets a second, then is killed.
    plane.stop(grace=1.0)
