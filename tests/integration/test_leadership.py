"""Leadership is fenced: a leader paused past its lease writes nothing when it wakes, and an API
server outage makes the agent wait and lead again instead of exiting. Agents run as `gitmoor
run` processes; the outage gets a control plane of its own, since its API server is killed."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitmoor.kube import Kube
from testenv.cluster import ControlPlane, throwaway
from testenv.gitserver import GitServers, Worktree
from testenv.wait import eventually
from tests.integration.agent.manifests import configmap
from tests.integration.gitmoor_process import AgentProcess

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]


def config(path: Path, namespace: str, url: str) -> Path:
    path.write_text(
        yaml.safe_dump_all(
            [
                {
                    "apiVersion": "gitmoor.io/v1alpha1",
                    "kind": "GitSource",
                    "metadata": {"name": "repo", "namespace": namespace},
                    "spec": {"url": url, "interval": "2s"},
                },
                {
                    "apiVersion": "gitmoor.io/v1alpha1",
                    "kind": "Sync",
                    "metadata": {"name": "app", "namespace": namespace},
                    "spec": {"sourceRef": {"name": "repo"}, "interval": "1m"},
                },
            ]
        )
    )
    return path


async def settings(kube: Kube, namespace: str) -> dict[str, Any]:
    try:
        return await kube.get("v1", "ConfigMap", "settings", namespace) or {}
    except Exception:
        return {}


async def logged(agent: AgentProcess, event: str) -> int:
    return agent.logged(event)


async def test_a_paused_leader_writes_nothing_once_it_wakes_past_its_lease(
    kube: Kube,
    kubeconfig: Path,
    namespace: str,
    git_servers: GitServers,
    unique_name: str,
    tmp_path: Path,
) -> None:
    ns = namespace
    repo = git_servers.create_repo(unique_name)
    tree = Worktree.init(tmp_path / "work", remote=repo.file_url)
    tree.commit("v1", {"cm.yaml": configmap("settings", ns, version="1")})
    tree.push()
    args = ("--config", str(config(tmp_path / "gitmoor.yaml", ns, repo.file_url)))
    args += ("--watch-namespace", ns)
    first = AgentProcess(kubeconfig, tmp_path / "a", lease_namespace=ns, args=args)
    second = AgentProcess(kubeconfig, tmp_path / "b", lease_namespace=ns, args=args)
    await first.start()
    try:
        await eventually(
            lambda: settings(kube, ns),
            lambda cm: (cm.get("data") or {}).get("version") == "1",
            within=90,
            what="the first agent to apply v1",
        )
        await second.start()
        await eventually(
            lambda: logged(second, "waiting for leadership"),
            lambda n: n >= 1,
            within=60,
            what=f"the second agent to stand by\n{second.tail()}",
        )

        # The leader stops dead past its lease (a stalled VM, a GC pause, SIGSTOP).
        first.signal(signal.SIGSTOP)
        await eventually(
            lambda: logged(second, "became leader"),
            lambda n: n >= 1,
            within=60,
            what=f"the standby to take over\n{second.tail()}",
        )
        sha2 = tree.commit("v2", {"cm.yaml": configmap("settings", ns, version="2")})
        tree.push()
        applied = await eventually(
            lambda: kube.get("gitmoor.io/v1alpha1", "Sync", "app", ns),
            lambda s: str(((s or {}).get("status") or {}).get("lastAppliedRevision")).endswith(
                sha2
            ),
            within=90,
            what="the new leader to apply v2",
        )
        assert applied is not None
        cm = await settings(kube, ns)
        assert cm["data"]["version"] == "2"
        version = cm["metadata"]["resourceVersion"]

        # It wakes with v1 in mind and a watch full of "drift": it must not write any of it.
        first.signal(signal.SIGCONT)
        await eventually(
            lambda: logged(first, "leadership lost; waiting to lead again"),
            lambda n: n >= 1,
            within=60,
            what=f"the old leader to stand down\n{first.tail()}",
        )
        cm = await settings(kube, ns)
        assert cm["data"]["version"] == "2"
        assert cm["metadata"]["resourceVersion"] == version, "the deposed leader wrote"
        assert first.alive(), first.tail()
    finally:
        if first.alive():
            first.signal(signal.SIGCONT)
        await first.stop()
        await second.stop()


@pytest.fixture(scope="module")
def own_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with throwaway(tmp_path_factory.mktemp("outage-cluster")) as plane:
        yield plane


async def test_an_api_server_outage_makes_the_agent_wait_and_lead_again(
    own_plane: ControlPlane, git_servers: GitServers, unique_name: str, tmp_path: Path
) -> None:
    ns = "outage"
    repo = git_servers.create_repo(unique_name)
    tree = Worktree.init(tmp_path / "work", remote=repo.file_url)
    tree.commit("v1", {"cm.yaml": configmap("settings", ns, version="1")})
    tree.push()
    args = ("--config", str(config(tmp_path / "gitmoor.yaml", ns, repo.file_url)))
    agent = AgentProcess(own_plane.kubeconfig, tmp_path / "agent", lease_namespace=ns, args=args)
    await agent.start()
    try:
        async with await Kube.from_kubeconfig(own_plane.kubeconfig) as kube:
            await eventually(
                lambda: settings(kube, ns),
                lambda cm: (cm.get("data") or {}).get("version") == "1",
                within=90,
                what=f"v1 applied\n{agent.tail()}",
            )

            own_plane.kill("kube-apiserver")
            await eventually(
                lambda: logged(agent, "could not renew the lease in time; writes stopped"),
                lambda n: n >= 1,
                within=60,
                what=f"the agent to stop writing\n{agent.tail()}",
            )
            assert agent.alive(), agent.tail()

            own_plane.relaunch("kube-apiserver")
            await eventually(
                lambda: logged(agent, "became leader"),
                lambda n: n >= 2,
                within=90,
                what=f"the agent to lead again\n{agent.tail()}",
            )
            sha = tree.commit("v2", {"cm.yaml": configmap("settings", ns, version="2")})
            tree.push()
            await eventually(
                lambda: settings(kube, ns),
                lambda cm: (cm.get("data") or {}).get("version") == "2",
                within=90,
                what=f"v2 ({sha[:8]}) applied after the outage\n{agent.tail()}",
            )
            assert agent.alive(), agent.tail()
    finally:
        await agent.stop()
