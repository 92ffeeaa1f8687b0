"""Leadership is fenced: a leader paused past its lease writes nothing when it wakes, a leader
that loses its lease cancels its work at once, and an API server outage makes the agent wait and
lead again instead of exiting. Agents run as `gitmoor run` processes; the outage gets a control
plane of its own, since its API server is killed."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitmoor.errors import KubeApiError, UnknownKindError
from gitmoor.kube import Kube
from gitmoor.ledger import Ledger
from gitmoor.model.record import Result
from gitmoor.reconcile import conditions as cond
from testenv.cluster import ControlPlane, throwaway
from testenv.gitserver import GitServers, Worktree
from testenv.wait import eventually
from tests.integration.agent.manifests import BULK_LABEL, bulk, configmap
from tests.integration.gitmoor_process import AgentProcess

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]
_LEASE = "coordination.k8s.io/v1"


LOAD_BALANCER = """apiVersion: v1
kind: Service
metadata:
  name: lb
  namespace: {namespace}
spec:
  type: LoadBalancer
  selector:
    app: lb
  ports:
    - port: 80
"""


def config(path: Path, namespace: str, url: str, **sync: str) -> Path:
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
                    "spec": {"sourceRef": {"name": "repo"}, "interval": "1m", **sync},
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


async def app(kube: Kube, namespace: str) -> dict[str, Any]:
    """The Sync, or {} before it (or gitmoor's CRDs, which the agent installs) exists."""
    try:
        return await kube.get("gitmoor.io/v1alpha1", "Sync", "app", namespace) or {}
    except UnknownKindError:
        return {}


async def logged(agent: AgentProcess, event: str) -> int:
    return agent.logged(event)


def settled(sync: dict[str, Any] | None, sha: str) -> bool:
    """The Sync's attempt at `sha` is over: applied, Ready, nothing Reconciling."""
    status = (sync or {}).get("status") or {}
    return (
        str(status.get("lastAppliedRevision")).endswith(sha)
        and cond.is_true(sync, cond.READY)
        and cond.get_condition(sync, cond.RECONCILING) is None
    )


async def leader(agents: list[AgentProcess]) -> AgentProcess | None:
    """The agent that became leader, once one did."""
    return next((agent for agent in agents if agent.logged("became leader")), None)


async def written(kube: Kube, ns: str) -> dict[str, Any]:
    """What an agent could write in `ns`: the ConfigMaps, the Sync (status included) and its
    Events (a repeat bumps an Event's count rather than creating one)."""
    cm = await settings(kube, ns)
    sync = await app(kube, ns)
    events = [
        e
        for e in await kube.list("v1", "Event", ns)
        if (e.get("source") or {}).get("component") == "gitmoor"
    ]
    configmaps = await kube.list("v1", "ConfigMap", ns, label_selector=BULK_LABEL)
    return {
        "configmap": (cm.get("metadata") or {}).get("resourceVersion"),
        "bulk": {c["metadata"]["name"]: c["metadata"]["resourceVersion"] for c in configmaps},
        "sync": (sync.get("metadata") or {}).get("resourceVersion"),
        "events": sorted((e["metadata"]["name"], e.get("count")) for e in events),
    }


async def steal(kube: Kube, ns: str, rival: str) -> None:
    """`rival` takes the lease and holds it for an hour. A real rival waits for the lease to
    expire; this one does not, so the leader learns of it at its next renewal."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for _ in range(10):
        lease = await kube.get(_LEASE, "Lease", "gitmoor-leader", ns)
        assert lease is not None
        spec = lease["spec"]
        transitions = int(spec.get("leaseTransitions") or 0) + 1
        spec.update(holderIdentity=rival, leaseDurationSeconds=3600, leaseTransitions=transitions)
        spec.update(acquireTime=now, renewTime=now)
        try:
            await kube.replace(lease)
            return
        except KubeApiError as err:
            if err.status != 409:  # else renewed between our read and write: read again
                raise
    raise AssertionError("the lease kept changing under the rival")


async def renewal(kube: Kube, ns: str) -> tuple[str, str]:
    lease = await kube.get(_LEASE, "Lease", "gitmoor-leader", ns) or {}
    spec = lease.get("spec") or {}
    return str(spec.get("holderIdentity")), str(spec.get("renewTime"))


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
    tree.commit(
        "v1", {"cm.yaml": configmap("settings", ns, version="1"), "bulk.yaml": bulk(ns, 150)}
    )
    tree.push()
    args = ("--config", str(config(tmp_path / "gitmoor.yaml", ns, repo.file_url)))
    # A short lease: the standby takes over 8 s after the leader stops, not 15.
    args += ("--watch-namespace", ns, "--lease-duration", "8s", "--lease-renew", "1s")
    agents = [
        AgentProcess(
            kubeconfig,
            tmp_path / name,
            lease_namespace=ns,
            args=args,
            env={"GITMOOR_POD_NAME": name},
        )
        for name in ("a", "b")
    ]
    # Both start at once (a process takes seconds to start): whichever wins the lease leads.
    for agent in agents:
        await agent.start()
    first, second = agents
    try:
        await eventually(
            lambda: leader(agents),
            lambda found: found is not None,
            within=60,
            what=f"an agent to lead\n{first.tail()}\n{second.tail()}",
        )
        first = await leader(agents) or first
        second = agents[1] if first is agents[0] else agents[0]

        # The leader stops dead in the middle of writing v1 (a stalled VM, a GC pause,
        # SIGSTOP): its writes in flight, and the rest of its attempt, wait for it to run again.
        await eventually(
            lambda: kube.list("v1", "ConfigMap", ns, label_selector=BULK_LABEL),
            bool,
            within=90,
            what=f"the leader to write v1\n{first.tail()}",
        )
        first.signal(signal.SIGSTOP)
        v2 = {"cm.yaml": configmap("settings", ns, version="2"), "bulk.yaml": bulk(ns, 150, "2")}
        sha2 = tree.commit("v2", v2)
        tree.push()
        await eventually(
            lambda: logged(second, "became leader"),
            lambda n: n >= 1,
            within=60,
            what=f"the standby to take over\n{second.tail()}",
        )
        # The new leader's attempt is over (Ready, nothing Reconciling): from here on it has
        # nothing to write in this namespace, so whatever changes there is the old leader's.
        await eventually(
            lambda: app(kube, ns),
            lambda s: settled(s, sha2),
            within=90,
            what="the new leader to apply v2",
        )
        configmaps = await kube.list("v1", "ConfigMap", ns, label_selector=BULK_LABEL)
        assert {cm["data"]["version"] for cm in [await settings(kube, ns), *configmaps]} == {"2"}
        before = await written(kube, ns)

        # It wakes in the middle of writing v1: it must not write any more of it, nor end its
        # attempt in the Sync's status.
        waited = first.logged("waiting for leadership")
        first.signal(signal.SIGCONT)
        await eventually(
            lambda: logged(first, "leadership lost; waiting to lead again"),
            lambda n: n >= 1,
            within=60,
            what=f"the old leader to stand down\n{first.tail()}",
        )
        assert await written(kube, ns) == before, f"the deposed leader wrote\n{first.tail()}"
        assert first.alive(), first.tail()

        # A little later, whatever it had left in flight would have landed: it has since asked
        # for the lease again (and been told no), and the new leader renewed the lease twice.
        await eventually(
            lambda: logged(first, "waiting for leadership"),
            lambda n: n > waited,
            within=30,
            what=f"the old leader to wait for the lease\n{first.tail()}",
        )
        for _ in range(2):
            seen = await renewal(kube, ns)
            await eventually(
                lambda: renewal(kube, ns),
                lambda now, seen=seen: now[1] != seen[1],
                within=30,
                what="the new leader to renew its lease",
            )
        assert (await renewal(kube, ns))[0] == second.env["GITMOOR_POD_NAME"]
        assert await written(kube, ns) == before, f"the deposed leader wrote\n{first.tail()}"
        assert (await settings(kube, ns))["data"]["version"] == "2"
        assert first.alive(), first.tail()
    finally:
        if first.alive():
            first.signal(signal.SIGCONT)
        await first.stop()
        await second.stop()


async def test_a_leader_that_loses_its_lease_in_a_health_wait_stops_at_once(
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
    # No controller here gives a load balancer an address: its health gate waits, and what it
    # reports never changes, so the leader has nothing to write until its timeout.
    sha = tree.commit("stuck", {"lb.yaml": LOAD_BALANCER.format(namespace=ns)})
    tree.push()
    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    args = ("--config", str(config(tmp_path / "gitmoor.yaml", ns, repo.file_url, timeout="10m")))
    args += ("--watch-namespace", ns, "--ledger", ledger_url, "--lease-renew", "1s")
    agent = AgentProcess(
        kubeconfig, tmp_path / "agent", lease_namespace=ns, args=args, env={"GITMOOR_POD_NAME": "a"}
    )
    await agent.start()
    try:
        # Applied, and in a health gate that would wait ten minutes.
        await eventually(
            lambda: app(kube, ns),
            lambda s: (
                "Service" in str((cond.get_condition(s, cond.RECONCILING) or {}).get("message"))
            ),
            within=90,
            what=f"the health gate to wait on the Service\n{agent.tail()}",
        )
        async with await Ledger.open(ledger_url) as ledger:
            (running,) = await ledger.history(sync="app", namespace=ns)
        assert running.result is Result.IN_PROGRESS
        before = await written(kube, ns)

        await steal(kube, ns, "rival")
        await eventually(
            lambda: logged(agent, "leadership lost; waiting to lead again"),
            lambda n: n >= 1,
            within=30,
            what=f"the leader to stand down\n{agent.tail()}",
        )
        # By then its attempt was cancelled and its record finished: not ten minutes later.
        async with await Ledger.open(ledger_url) as ledger:
            (cut,) = await ledger.history(sync="app", namespace=ns)
        assert cut.result is Result.INTERRUPTED, cut
        assert cut.revision == f"main@sha1:{sha}"
        assert "(this agent lost its lease)" in cut.message, cut.message
        # The Sync still says what the deposed leader last wrote while it led: it may not
        # write that its attempt ended (its successor will).
        assert await written(kube, ns) == before, f"the deposed leader wrote\n{agent.tail()}"

        # A little later (it asked for the lease again, and was told no): still nothing.
        await eventually(
            lambda: logged(agent, "waiting for leadership"),
            lambda n: n >= 1,
            within=30,
            what=f"the old leader to wait for the lease\n{agent.tail()}",
        )
        assert await written(kube, ns) == before, f"the deposed leader wrote\n{agent.tail()}"
        assert (await renewal(kube, ns))[0] == "rival"
        assert agent.alive(), agent.tail()
    finally:
        await agent.stop()


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
