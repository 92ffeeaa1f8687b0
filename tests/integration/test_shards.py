"""Three agent replicas share 300 Syncs (`gitmoor run --sharded`): each Sync is reconciled by
exactly the replica rendezvous hashing gives it; a replica killed outright loses its Syncs to
the others, and one that joins takes its share, and neither move writes any applied object
again nor touches a Sync that did not move. Leases are short (6 s, renewed every second)."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gitmoor.commands.run import install_crds
from gitmoor.errors import KubeApiError
from gitmoor.kube import Kube
from gitmoor.ledger import Ledger
from gitmoor.model.record import Result
from gitmoor.model.resources import API_VERSION
from gitmoor.reconcile.publish import owner_guarded
from gitmoor.reconcile.shards import GROUP_LABEL, REPLICA_GROUP, owner
from testenv.gitserver import GitServers, Worktree
from testenv.ports import free_port
from testenv.wait import eventually
from tests.integration.agent.manifests import configmap
from tests.integration.gitmoor_process import AgentProcess, gitmoor

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]

SYNCS = 300
SHARDED = ("--sharded", "--lease-duration", "6s", "--lease-renew", "1s")


def _key(ns: str, name: str) -> str:
    return f"Sync/{ns}/{name}"


def reconciled_by(agent: AgentProcess) -> list[str]:
    """The Syncs (`ns/name`) this replica logged a finished reconcile of, once per line."""
    if not agent.log.is_file():
        return []
    found = []
    for line in agent.log.read_text(errors="replace").splitlines():
        if '"event": "reconciled"' in line:
            found.append(json.loads(line)["sync"])
    return found


class Syncs(dict[str, dict[str, Any]]):
    """The Syncs by name; shown short when a wait fails (owners, and what is not Ready)."""

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        waiting = []
        for name, sync in sorted(self.items()):
            status = sync.get("status") or {}
            replica = str(status.get("replica") or "-")
            counts[replica] = counts.get(replica, 0) + 1
            ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
            if not ready or ready[0].get("status") != "True":
                said = ready[0].get("message", "") if ready else "no Ready condition"
                waiting.append(f"{name} ({replica}): {said}")
        return f"{len(self)} Syncs, owners {counts}; not ready: {waiting[:10]}"


async def syncs(kube: Kube, ns: str) -> Syncs:
    return Syncs({s["metadata"]["name"]: s for s in await kube.list(API_VERSION, "Sync", ns)})


async def configmaps(kube: Kube, ns: str) -> dict[str, str]:
    """ConfigMap name -> resourceVersion: any write to one changes it."""
    return {
        c["metadata"]["name"]: c["metadata"]["resourceVersion"]
        for c in await kube.list("v1", "ConfigMap", ns)
        if c["metadata"]["name"].startswith("cm-")
    }


async def ready(agents: tuple[AgentProcess, ...]) -> int:
    return sum(1 for agent in agents if agent.logged("replica ready"))


async def owned_syncs(port: int) -> int:
    """`gitmoor_replica_owned{kind="Sync"}` on one replica's /metrics."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as answer,
    ):
        text = await answer.text()
    for line in text.splitlines():
        if line.startswith('gitmoor_replica_owned{kind="Sync"}'):
            return int(float(line.split()[-1]))
    raise AssertionError(f"no gitmoor_replica_owned on port {port}:\n{text[:2000]}")


async def holders(kube: Kube, ns: str) -> set[str]:
    """Who holds the replica Leases of the namespace."""
    leases = await kube.list(
        "coordination.k8s.io/v1", "Lease", ns, label_selector=f"{GROUP_LABEL}={REPLICA_GROUP}"
    )
    return {str(lease["spec"]["holderIdentity"]) for lease in leases}


def owners(found: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {n: str((s.get("status") or {}).get("replica") or "") for n, s in found.items()}


def applied(found: dict[str, dict[str, Any]], sha: str) -> bool:
    """All applied `sha` and say Ready (their last status write of that revision)."""
    return len(found) == SYNCS and all(
        str((s.get("status") or {}).get("lastAppliedRevision", "")).endswith(sha)
        and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (s.get("status") or {}).get("conditions") or []
        )
        for s in found.values()
    )


def expected(ns: str, members: list[str]) -> dict[str, str]:
    return {f"s{i}": owner(_key(ns, f"s{i}"), members) or "" for i in range(SYNCS)}


async def test_replicas_share_the_syncs_and_hand_them_on_without_writing_twice(
    kube: Kube,
    kubeconfig: Path,
    namespace: str,
    git_servers: GitServers,
    unique_name: str,
    tmp_path: Path,
) -> None:
    ns = namespace
    await install_crds(kube)
    repo = git_servers.create_repo(unique_name)
    tree = Worktree.init(tmp_path / "work", remote=repo.file_url)
    sha = tree.commit(
        "300 apps", {f"s{i}/cm.yaml": configmap(f"cm-{i}", ns, n=str(i)) for i in range(SYNCS)}
    )
    tree.push()

    async def create_all() -> None:
        await kube.apply(
            {
                "apiVersion": API_VERSION,
                "kind": "GitSource",
                "metadata": {"name": "repo", "namespace": ns},
                "spec": {"url": repo.file_url, "interval": "1m"},
            },
            field_manager="gitmoor-tests",
        )
        limit = asyncio.Semaphore(16)

        async def create(i: int) -> None:
            async with limit:
                await kube.apply(
                    {
                        "apiVersion": API_VERSION,
                        "kind": "Sync",
                        "metadata": {"name": f"s{i}", "namespace": ns},
                        "spec": {
                            "sourceRef": {"name": "repo"},
                            "path": f"./s{i}",
                            "interval": "10m",
                        },
                    },
                    field_manager="gitmoor-tests",
                )

        await asyncio.gather(*(create(i) for i in range(SYNCS)))

    ports: dict[AgentProcess, int] = {}
    # One ledger for all the replicas (SQLite here, as they share a disk; PostgreSQL in a
    # cluster): each Sync's attempts, whichever replica made them.
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"

    def replica(name: str) -> AgentProcess:
        port = free_port()
        agent = AgentProcess(
            kubeconfig,
            tmp_path / name,
            lease_namespace=ns,
            args=(*SHARDED, "--watch-namespace", ns, "--http-port", str(port), "--ledger", ledger),
            env={"GITMOOR_POD_NAME": name},
        )
        ports[agent] = port
        return agent

    a, b, c, d = (replica(n) for n in ("replica-a", "replica-b", "replica-c", "replica-d"))
    agents = [a, b, c, d]
    try:
        for agent in (a, b, c):
            await agent.start()
        # The Syncs come once all three have joined and waited out their grace: each one's
        # view then holds the others, so no Sync is worked by a replica that would hand it
        # on moments later (legitimate, but not the "exactly one" this checks).
        await eventually(
            lambda: ready((a, b, c)),
            lambda n: n == 3,
            within=60,
            what=f"three replicas to join\n{a.tail(10)}\n{b.tail(10)}\n{c.tail(10)}",
        )
        await create_all()
        first = await eventually(
            lambda: syncs(kube, ns),
            lambda found: (
                applied(found, sha)
                and set(owners(found).values()) <= {"replica-a", "replica-b", "replica-c"}
                and "" not in owners(found).values()
            ),
            within=300,
            what=f"300 Syncs applied by three replicas\n{a.tail(10)}",
        )
        # Each Sync is owned by the replica the hash gives it over the three, as its status
        # says, and was reconciled by that replica and no other.
        assert owners(first) == expected(ns, ["replica-a", "replica-b", "replica-c"])
        by_replica = {agent: reconciled_by(agent) for agent in (a, b, c)}
        for agent, names in by_replica.items():
            name = agent.env["GITMOOR_POD_NAME"]
            mine = {f"{ns}/{n}" for n, o in owners(first).items() if o == name}
            assert set(names) == mine, agent.tail()
            assert len(mine) > SYNCS / 6  # about a third each
        assert sum(len(set(names)) for names in by_replica.values()) == SYNCS
        # Each replica's /metrics counts what it owns.
        for agent in (a, b, c):
            name = agent.env["GITMOOR_POD_NAME"]
            assert await owned_syncs(ports[agent]) == list(owners(first).values()).count(name)
        assert await holders(kube, ns) == {"replica-a", "replica-b", "replica-c"}
        objects = await configmaps(kube, ns)
        assert len(objects) == SYNCS
        # `gitmoor status -o wide` says which replica owns each Sync.
        code, out, err = await gitmoor("status", "-n", ns, "-o", "wide", kubeconfig=kubeconfig)
        assert code == 0, err
        shown = {
            line.split()[0].removeprefix("sync/"): line.split()
            for line in out.splitlines()
            if line.startswith("sync/")
        }
        assert len(shown) == SYNCS
        for name, replica in owners(first).items():
            assert replica in shown[name], shown[name]

        # b dies without a word: its Lease expires, and a and c take its Syncs.
        b.signal(signal.SIGKILL)
        after_kill = expected(ns, ["replica-a", "replica-c"])
        second = await eventually(
            lambda: syncs(kube, ns),
            lambda found: owners(found) == after_kill,
            within=120,
            what=f"b's Syncs taken over by a and c\n{a.tail(10)}\n{c.tail(10)}",
        )
        for name, sync in second.items():
            if owners(first)[name] != "replica-b":
                # Not moved: not written at all.
                assert (
                    sync["metadata"]["resourceVersion"]
                    == first[name]["metadata"]["resourceVersion"]
                ), name
        # The move re-planned b's Syncs and found nothing to do: no object written again.
        assert await configmaps(kube, ns) == objects

        # d joins and takes its share (about a third) from a and c, and only that.
        await d.start()
        with_d = expected(ns, ["replica-a", "replica-c", "replica-d"])
        third = await eventually(
            lambda: syncs(kube, ns),
            lambda found: owners(found) == with_d,
            within=120,
            what=f"d to take its share\n{d.tail(20)}",
        )
        taken = {n for n, o in with_d.items() if o == "replica-d"}
        assert len(taken) > SYNCS / 6
        for name, sync in third.items():
            if name not in taken:
                assert (
                    sync["metadata"]["resourceVersion"]
                    == second[name]["metadata"]["resourceVersion"]
                ), name
        assert {n.partition("/")[2] for n in reconciled_by(d)} == taken
        assert await owned_syncs(ports[d]) == len(taken)
        assert await configmaps(kube, ns) == objects
        for agent in (a, c, d):
            assert agent.alive(), agent.tail()
        # The ledger agrees: one attempt that changed anything per Sync, and the moves added
        # none (a re-plan that finds nothing to do records nothing).
        async with await Ledger.open(ledger) as book:
            records = await book.history(namespace=ns, limit=10 * SYNCS)
        changed = [r for r in records if r.result is Result.APPLIED]
        assert sorted(r.sync_name for r in changed) == sorted(f"s{i}" for i in range(SYNCS))
        assert {r.result for r in records} == {Result.APPLIED}, {r.result for r in records}
        # b's Lease, unrenewed for four durations, is deleted by the singletons' owner.
        await eventually(
            lambda: holders(kube, ns),
            lambda found: found == {"replica-a", "replica-c", "replica-d"},
            within=60,
            what="b's Lease to be cleaned up",
        )
    finally:
        await asyncio.gather(*(agent.stop() for agent in agents))


async def test_a_status_write_from_a_stale_owner_is_refused_by_the_api_server(
    kube: Kube, namespace: str
) -> None:
    await install_crds(kube)
    await kube.apply(
        {
            "apiVersion": API_VERSION,
            "kind": "Sync",
            "metadata": {"name": "guarded", "namespace": namespace},
            "spec": {"sourceRef": {"name": "repo"}},
        },
        field_manager="gitmoor-tests",
    )
    # replica-a wrote the status first; replica-b took the Sync over since.
    first = {"replica": "replica-a", "lastAttemptedRevision": "main@sha1:1"}
    await kube.patch_json(
        API_VERSION, "Sync", "guarded", namespace, owner_guarded({}, first), subresource="status"
    )
    newer = {"replica": "replica-b", "lastAttemptedRevision": "main@sha1:2"}
    await kube.patch_json(
        API_VERSION, "Sync", "guarded", namespace, owner_guarded(first, newer), subresource="status"
    )
    # replica-a, still acting on what it read before, writes: refused, the newer status stays.
    stale = {"replica": "replica-a", "lastAttemptedRevision": "main@sha1:3"}
    with pytest.raises(KubeApiError) as refused:
        await kube.patch_json(
            API_VERSION,
            "Sync",
            "guarded",
            namespace,
            owner_guarded(first, stale),
            subresource="status",
        )
    assert refused.value.status == 422
    sync = await kube.get(API_VERSION, "Sync", "guarded", namespace)
    assert (sync or {})["status"] == newer
