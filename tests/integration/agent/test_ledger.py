"""The deployment ledger, written by real agents: every attempt recorded, crash-safe, and
`history`/`where`/`at`/`dora` answering across environments that share one PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from gitmoor.kube import Kube
from gitmoor.ledger import Ledger
from gitmoor.model.record import Result
from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers, Worktree
from testenv.postgres import Postgres
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import BULK_LABEL, bulk, configmap, deployment
from tests.integration.agent.test_cli import gitmoor
from tests.integration.gitmoor_process import AgentProcess

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]

STUCK = "      nodeSelector:\n        no-such-label: anywhere\n"


async def _ledger_cli(
    *args: str, url: str, kubeconfig: Path
) -> list[dict[str, object]] | dict[str, object]:
    code, out, err = await gitmoor(*args, "--ledger", url, "-o", "json", kubeconfig=kubeconfig)
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


async def test_every_attempt_is_recorded_with_its_objects_and_a_rollback(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    repo, tree = h.repo(git_servers, unique_name)
    await h.source("repo", repo.file_url)
    await h.sync("app", "repo", atomic=True, timeout="8s")
    v1 = tree.commit(
        "v1", {"web.yaml": deployment("web", ns), "cm.yaml": configmap("c", ns, v="1")}
    )
    tree.push()
    await h.wait_applied("app", v1)
    v2 = tree.commit("v2: nginx 1.28", {"web.yaml": deployment("web", ns, image="nginx:1.28")})
    tree.push()
    await h.wait_applied("app", v2)
    v3 = tree.commit(
        "v3: stuck", {"web.yaml": deployment("web", ns, image="nginx:1.29", extra_spec=STUCK)}
    )
    tree.push()
    await h.wait_condition("Sync", "app", cond.READY, "False", reason="RolledBack", within=120)

    assert h.ledger_url is not None
    async with await Ledger.open(h.ledger_url) as ledger:
        records = await ledger.history(sync="app", namespace=ns)
    by_sha = {r.commit_sha: r for r in records}
    assert by_sha[v1].result is Result.APPLIED
    assert by_sha[v1].created == 2
    assert by_sha[v2].result is Result.APPLIED
    assert by_sha[v2].configured == 1
    assert by_sha[v2].images == ("nginx:1.28",)
    assert by_sha[v2].commit_message == "v2: nginx 1.28"
    assert by_sha[v2].commit_author.startswith("Gitmoor Test")
    assert by_sha[v2].applied_at is not None
    assert by_sha[v2].healthy_at is not None
    bad = by_sha[v3]
    assert bad.result is Result.ROLLED_BACK
    assert bad.rolled_back_to == f"main@sha1:{v2}"
    assert bad.reason == "RolledBack"
    assert bad.images == ("nginx:1.28",), "a rollback leaves the restored revision's images running"
    assert {(o.ref.kind, o.ref.name) for o in bad.objects} >= {("Deployment", "web")}
    assert by_sha[v1].environment == ns  # the cluster name, when neither Sync nor agent says

    # The CLI answers the same from the same ledger.
    rows = await _ledger_cli("history", "app", "-n", ns, url=h.ledger_url, kubeconfig=h.kubeconfig)
    assert isinstance(rows, list)
    assert [r["result"] for r in rows][:3] == ["rolled_back", "applied", "applied"]
    where = await _ledger_cli("where", "nginx:1.28", url=h.ledger_url, kubeconfig=h.kubeconfig)
    assert isinstance(where, list)
    assert [(w["sync_namespace"], w["sync_name"]) for w in where] == [(ns, "app")]


BULK = 1000  # ConfigMaps in the revision an agent is killed while writing


async def test_an_agent_killed_while_writing_leaves_one_interrupted_record_and_converges(
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
    sha = tree.commit("bulk", {"bulk.yaml": bulk(ns, BULK)})
    tree.push()
    config = tmp_path / "gitmoor.yaml"
    config.write_text(
        yaml.safe_dump_all(
            [
                {
                    "apiVersion": "gitmoor.io/v1alpha1",
                    "kind": "GitSource",
                    "metadata": {"name": "repo", "namespace": ns},
                    "spec": {"url": repo.file_url, "interval": "2s"},
                },
                {
                    "apiVersion": "gitmoor.io/v1alpha1",
                    "kind": "Sync",
                    "metadata": {"name": "app", "namespace": ns},
                    "spec": {"sourceRef": {"name": "repo"}},
                },
            ]
        )
    )
    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    args = ("--config", str(config), "--watch-namespace", ns)
    args += ("--ledger", ledger_url, "--cluster-name", "east")
    # Both lives of the agent share a directory (cache, spool) and a name, as a restarted Pod
    # keeps its volume and name (so it need not wait for its own lease to expire).
    agent = AgentProcess(
        kubeconfig,
        tmp_path / "agent",
        lease_namespace=ns,
        args=args,
        env={"GITMOOR_POD_NAME": "gitmoor-0"},
    )

    async def written() -> list[dict[str, object]]:
        return await kube.list("v1", "ConfigMap", ns, label_selector=BULK_LABEL)

    await agent.start()
    try:
        # Killed in the middle of writing the revision: the first objects are there.
        await eventually(
            written, bool, within=90, what=f"the first objects written\n{agent.tail()}"
        )
    finally:
        agent.signal(signal.SIGKILL)
        assert await agent.stop() == -signal.SIGKILL
    partial = len(await written())
    assert 0 < partial < BULK, "not killed while writing"
    async with await Ledger.open(ledger_url) as ledger:
        (running,) = await ledger.history(sync="app", namespace=ns)
    assert running.result is Result.IN_PROGRESS

    await agent.start()
    try:
        await eventually(
            lambda: kube.get("gitmoor.io/v1alpha1", "Sync", "app", ns),
            lambda o: (
                bool(o)
                and str((o.get("status") or {}).get("lastAppliedRevision", "")).endswith(sha)
                and cond.is_true(o, cond.READY)
            ),
            within=120,
            what=f"the restarted agent to apply the revision\n{agent.tail()}",
        )
    finally:
        assert await agent.stop() == 0, agent.tail()
    objects = await written()
    assert len(objects) == BULK, f"{len(objects)} of {BULK} written ({partial} when killed)"
    assert all(o["data"]["n"] == str(int(o["metadata"]["name"][5:])) for o in objects)
    async with await Ledger.open(ledger_url) as ledger:
        records = await ledger.history(sync="app", namespace=ns)
        # The interrupted record was sealed when the second agent marked it: the chain holds.
        assert all(status.ok for status in await ledger.verify()), await ledger.verify()
    attempts = [(r.revision, r.result) for r in reversed(records)]
    assert len(set(attempts)) == len(attempts), f"repeated records: {attempts}"
    assert [result for _, result in attempts] == [Result.INTERRUPTED, Result.APPLIED]
    assert {revision for revision, _ in attempts} == {f"main@sha1:{sha}"}
    assert all(r.cluster == "east" for r in records)
    assert records[0].created + records[0].unchanged + records[0].configured == BULK


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
async def test_two_environments_share_one_ledger(
    kube: Kube,
    kubeconfig: Path,
    git_servers: GitServers,
    unique_name: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    backend: str,
    crds: None,
) -> None:
    if backend == "postgres":
        postgres: Postgres = request.getfixturevalue("postgres")
        url = postgres.create_database(f"shared_{unique_name.replace('-', '_')[-20:]}")
    else:
        url = f"sqlite:///{tmp_path / 'shared-ledger.db'}"
    repo = git_servers.create_repo(unique_name)
    tree = Worktree.init(tmp_path / "work", remote=repo.file_url)
    names = [f"{unique_name[:40]}-stg", f"{unique_name[:40]}-prd"]
    agents: list[AgentHarness] = []
    for ns, env in zip(names, ("staging", "prod"), strict=True):
        await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        h = AgentHarness(kube, kubeconfig, ns, tmp_path / env)
        h.ledger_url, h.cluster, h.environment = url, f"cluster-{env}", env
        await h.start()
        agents.append(h)
    staging, prod = agents
    try:

        def files(version: str) -> dict[str, str]:
            return {
                "web.yaml": deployment("web", "placeholder", image=f"shop:{version}").replace(
                    "  namespace: placeholder\n", ""
                )
            }

        v1 = tree.commit("v1", files("1.0.0"))
        tree.tag("v1.0.0")
        tree.push(tags=True)
        await staging.source("repo", repo.file_url)
        await staging.sync("shop", "repo", targetNamespace=staging.namespace, wait=False)
        await prod.source("repo", repo.file_url, ref={"semver": ">=1.0.0"})
        await prod.sync("shop", "repo", targetNamespace=prod.namespace, wait=False)
        await staging.wait_applied("shop", v1)
        await prod.wait_applied("shop", v1)
        between = datetime.now(UTC)
        await asyncio.sleep(1.5)
        v2 = tree.commit("v2", files("2.0.0"))
        tree.push()
        await staging.wait_applied("shop", v2)
    finally:
        for h in agents:
            await h.stop()

    async with await Ledger.open(url) as ledger:
        where_v1 = await ledger.where(v1[:10])
        where_v2 = await ledger.where("shop:2.0.0")
        at_between = await ledger.at(between, environment="staging")
        stg_history = await ledger.history(environment="staging")
        dora = await ledger.dora(environment="staging")
    assert {d.environment for d in where_v1} == {"prod"}
    assert {d.environment for d in where_v2} == {"staging"}
    assert [r.commit_sha for r in at_between] == [v1]
    assert [r.commit_sha for r in stg_history] == [v2, v1]
    assert dora.deployments == 2

    # The CLI sees both clusters from anywhere that reaches the shared ledger.
    rows = await _ledger_cli("where", v1[:10], url=url, kubeconfig=kubeconfig)
    assert isinstance(rows, list)
    assert len(rows) == 1


async def test_in_a_shared_repository_each_sync_is_attributed_the_commit_of_its_content(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    # One repository, two apps. The head commit changed only `cache`: `web` still runs the
    # content of the commit before, and `at` and `where` must say so.
    h, ns = harness, harness.namespace
    assert h.ledger_url is not None
    repo, tree = h.repo(git_servers, unique_name)
    await h.source("repo", repo.file_url)
    tree.commit(
        "web v1, cache v1",
        {
            "apps/web/cm.yaml": configmap("web", ns, image="frontend:1.0.0"),
            "apps/cache/cm.yaml": configmap("cache", ns, image="redis:7.2"),
        },
    )
    tree.push()
    await h.sync("web", "repo", "apps/web")
    await h.sync("cache", "repo", "apps/cache")
    web_commit = tree.commit(
        "web: frontend 1.1.0", {"apps/web/cm.yaml": configmap("web", ns, image="frontend:1.1.0")}
    )
    tree.push()
    await h.wait_applied("web", web_commit)
    cache_commit = tree.commit(
        "cache: redis 7.4", {"apps/cache/cm.yaml": configmap("cache", ns, image="redis:7.4")}
    )
    tree.push()
    await h.wait_applied("web", cache_commit)
    await h.wait_applied("cache", cache_commit)

    now = datetime.now(UTC).isoformat()
    ran = await _ledger_cli("at", now, url=h.ledger_url, kubeconfig=h.kubeconfig)
    assert isinstance(ran, list)
    origin = {r["sync_name"]: r["content_origin"] for r in ran}
    assert origin["web"]["commit_sha"] == web_commit
    assert origin["web"]["commit_message"] == "web: frontend 1.1.0"
    assert origin["cache"]["commit_sha"] == cache_commit
    # The table shows the same: web's line names its own commit and subject.
    code, out, err = await gitmoor("at", now, "--ledger", h.ledger_url, kubeconfig=h.kubeconfig)
    assert code == 0, err
    web_line = next(line for line in out.splitlines() if f"{ns}/web" in line)
    assert web_commit[:7] in web_line
    assert "cache: redis 7.4" not in web_line

    where_web = await _ledger_cli("where", web_commit, url=h.ledger_url, kubeconfig=h.kubeconfig)
    assert [d["sync_name"] for d in where_web] == ["web"]  # type: ignore[index]
    where_cache = await _ledger_cli(
        "where", cache_commit, url=h.ledger_url, kubeconfig=h.kubeconfig
    )
    assert [d["sync_name"] for d in where_cache] == ["cache"]  # type: ignore[index]
