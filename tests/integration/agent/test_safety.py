"""No single commit or delete wipes a cluster: deletion policies, CRDs and Namespaces that others
still use, emptied revisions, the prune limit, deleting a Sync mid-wait, and a reconcile that
crashes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gitmoor import apply
from gitmoor.commands.operations import sync_now
from gitmoor.ledger import Ledger
from gitmoor.model import InventoryEntry, inventory
from gitmoor.model.record import Result, Trigger
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile import pipeline, status
from gitmoor.reconcile.outcome import Outcome
from testenv.gitserver import GitServers
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import UNSCHEDULABLE, configmap, crd, deployment
from tests.integration.gitmoor_process import gitmoor

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]
API = "gitmoor.io/v1alpha1"


def ready_reason(obj: dict[str, Any]) -> str:
    return str((cond.get_condition(obj, cond.READY) or {}).get("reason", ""))


async def wait_gone(harness: AgentHarness, name: str, within: float = 60) -> None:
    await eventually(
        lambda: harness.get("Sync", name),
        lambda obj: obj is None,
        within=within,
        what=f"Sync {name} to be deleted",
    )


async def test_deleting_a_sync_with_deletion_policy_orphan_leaves_what_it_applied(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("v1", {"a.yaml": configmap("a", ns, v="1"), "b.yaml": configmap("b", ns)})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", deletionPolicy="Orphan")
    await harness.wait_applied("app", sha)

    assert await harness.kube.delete(API, "Sync", "app", ns)
    await wait_gone(harness, "app")

    for name in ("a", "b"):
        assert await harness.kube.get("v1", "ConfigMap", name, ns) is not None, name


async def test_a_crd_is_not_pruned_while_custom_resources_of_others_exist(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    group = f"{unique_name}.example.com"
    crd_name = f"widgets.{group}"
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("a CRD", {"crd.yaml": crd(group, "Widget"), "cm.yaml": configmap("keep", ns)})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    await harness.wait_applied("app", sha)
    # Someone else's custom resource: deleting the CRD would delete it too.
    await harness.kube.apply(
        {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "theirs", "namespace": ns},
            "spec": {"size": 1},
        },
        field_manager="another-team",
    )

    sha2 = tree.commit("drop the CRD", remove=["crd.yaml"])
    tree.push()
    sync = await harness.wait_applied("app", sha2)

    assert await harness.kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd_name)
    kept = cond.get_condition(sync, "Kept") or {}
    assert kept.get("status") == "True", sync["status"]["conditions"]
    assert "Widget" in kept["message"]
    assert "theirs" in kept["message"]
    events = await harness.kube.list("v1", "Event", ns)
    assert any(e["reason"] == "PruneKept" for e in events)

    # Once nothing of others depends on it, the next attempt prunes it.
    await harness.kube.delete(f"{group}/v1", "Widget", "theirs", ns)
    sync = await sync_now(harness.kube, "app", ns, timeout=60)
    assert cond.get_condition(sync, "Kept") is None
    await eventually(
        lambda: harness.kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd_name),
        lambda obj: obj is None or bool(obj["metadata"].get("deletionTimestamp")),
        within=30,
        what="the CRD to be pruned",
    )


async def test_a_namespace_is_not_pruned_while_it_holds_objects_of_others(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    team = f"{ns}-team"
    repo, tree = harness.repo(git_servers, unique_name)
    namespace = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {team}\n"
    sha = tree.commit(
        "a namespace",
        {
            "ns.yaml": namespace,
            "ours.yaml": configmap("ours", team),
            "keep.yaml": configmap("keep", ns),
        },
    )
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    await harness.wait_applied("app", sha)
    await harness.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "theirs", "namespace": team},
            "data": {"owner": "team-a"},
        },
        field_manager="another-team",
    )
    try:
        sha2 = tree.commit("drop the namespace", remove=["ns.yaml", "ours.yaml"])
        tree.push()
        sync = await harness.wait_applied("app", sha2)

        live = await harness.kube.get("v1", "Namespace", team)
        assert live is not None
        assert not live["metadata"].get("deletionTimestamp")
        assert await harness.kube.get("v1", "ConfigMap", "theirs", team) is not None
        assert await harness.kube.get("v1", "ConfigMap", "ours", team) is None
        kept = cond.get_condition(sync, "Kept") or {}
        assert kept.get("status") == "True"
        assert f"Namespace/{team}" in kept["message"]
        assert "theirs" in kept["message"]
        # Events are created just after the status write that the wait saw.
        events = await eventually(
            lambda: harness.events("Sync", "app"),
            lambda found: any(e["reason"] == "PruneKept" for e in found),
            within=30,
            what="the PruneKept event",
        )
        told = [e["message"] for e in events if e["reason"] == "PruneKept"]
        assert any(f"not pruned Namespace/{team}" in m and "theirs" in m for m in told), told
    finally:
        await harness.kube.delete("v1", "Namespace", team)


async def test_an_emptied_revision_is_refused_until_allowed(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("v1", {"app/a.yaml": configmap("a", ns), "app/b.yaml": configmap("b", ns)})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", "app")
    await harness.wait_applied("app", sha)

    # The commit that empties the path by accident (a moved directory, a bad merge).
    sha2 = tree.commit("oops", {"app/README.md": "moved\n"}, remove=["app/a.yaml", "app/b.yaml"])
    tree.push()
    sync = await harness.wait_attempted("app", sha2)
    assert ready_reason(sync) == "EmptyRevision"
    assert "renders no objects" in (cond.get_condition(sync, cond.READY) or {})["message"]
    assert await harness.kube.get("v1", "ConfigMap", "a", ns) is not None
    assert await harness.kube.get("v1", "ConfigMap", "b", ns) is not None

    await harness.sync("app", "repo", "app", allowEmpty=True)
    await harness.wait_applied("app", sha2)
    assert await harness.kube.get("v1", "ConfigMap", "a", ns) is None


async def test_a_revision_pruning_most_of_a_sync_is_held_until_allowed(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    files = {f"cm{i}.yaml": configmap(f"cm{i}", ns) for i in range(10)}
    sha = tree.commit("ten", files)
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    await harness.wait_applied("app", sha)

    sha2 = tree.commit(
        "keep two, add one",
        {"new.yaml": configmap("new", ns)},
        remove=[f"cm{i}.yaml" for i in range(2, 10)],
    )
    tree.push()
    sync = await harness.wait_for(
        "Sync",
        "app",
        lambda o: ready_reason(o) == "PruneBlocked",
        what="the revision to be held",
    )
    message = (cond.get_condition(sync, cond.READY) or {})["message"]
    assert "prune 8 of 10 objects" in message
    assert "--allow-prune" in message
    assert sync["status"]["lastAppliedRevision"].endswith(sha)
    # Held whole: nothing of it was written.
    assert await harness.kube.get("v1", "ConfigMap", "new", ns) is None
    assert await harness.kube.get("v1", "ConfigMap", "cm9", ns) is not None
    events = await harness.kube.list("v1", "Event", ns)
    assert any(e["reason"] == "PruneBlocked" for e in events)

    # As a user lets it through: the command, once.
    code, out, err = await gitmoor(
        "sync", "app", "-n", ns, "--allow-prune", "--timeout", "60s", kubeconfig=harness.kubeconfig
    )
    assert code == 0, (out, err)
    assert f"Sync {ns}/app ready at" in out + err
    sync = await harness.get("Sync", "app")
    assert sync is not None
    assert cond.is_true(sync, cond.READY), sync["status"]["conditions"]
    assert sync["status"]["lastAppliedRevision"].endswith(sha2)
    assert await harness.kube.get("v1", "ConfigMap", "cm9", ns) is None
    assert await harness.kube.get("v1", "ConfigMap", "new", ns) is not None


async def test_deleting_a_sync_cancels_its_health_wait_at_once(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    stuck = deployment("web", ns, extra_spec=UNSCHEDULABLE)
    tree.commit("stuck", {"web.yaml": stuck})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", timeout="10m")
    await harness.wait_for(
        "Sync",
        "app",
        lambda o: cond.is_true(o, cond.RECONCILING),
        what="the Sync to be waiting on its stuck Deployment",
    )

    assert await harness.kube.delete(API, "Sync", "app", ns)

    # Far sooner than the 10-minute health gate: the wait is cancelled, then the Sync pruned.
    await wait_gone(harness, "app", within=60)
    assert await harness.kube.get("apps/v1", "Deployment", "web", ns) is None


async def test_a_crashing_reconcile_ends_failed_and_recovers(
    harness: AgentHarness,
    git_servers: GitServers,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("v1", {"cm.yaml": configmap("settings", ns, v="1")})
    tree.push()
    real_run = pipeline.run

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("a bug in gitmoor")

    # A bug anywhere in a reconcile: the pipeline raises what nobody planned for.
    monkeypatch.setattr(pipeline, "run", broken)
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    sync = await harness.wait_for(
        "Sync",
        "app",
        lambda o: ready_reason(o) == "ReconciliationFailed",
        what="the crash to be reported",
    )
    assert "a bug in gitmoor" in (cond.get_condition(sync, cond.READY) or {})["message"]
    assert cond.get_condition(sync, cond.RECONCILING) is None
    assert harness.ledger_url is not None
    async with await Ledger.open(harness.ledger_url) as ledger:
        records = await ledger.history(sync="app", namespace=ns)
    assert records
    assert records[0].result is Result.FAILED
    assert not any(r.result is Result.IN_PROGRESS for r in records)

    # The backoff brings it back once the cause is gone; no restart needed.
    monkeypatch.setattr(pipeline, "run", real_run)
    await harness.wait_applied("app", sha, within=60)


async def test_a_crashing_drift_correction_ends_failed_and_recovers(
    harness: AgentHarness,
    git_servers: GitServers,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("v1", {"cm.yaml": configmap("settings", ns, mode="blue")})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    await harness.wait_applied("app", sha)
    real_correct, real_run, release = apply.correct, pipeline.run, asyncio.Event()

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("a bug in gitmoor")

    async def held(*args: Any, **kwargs: Any) -> Any:
        await release.wait()
        return await real_run(*args, **kwargs)

    # A bug in the correction; the attempt its backoff brings waits until the crash is seen.
    monkeypatch.setattr(apply, "correct", broken)
    monkeypatch.setattr(pipeline, "run", held)
    await harness.kube.patch_merge("v1", "ConfigMap", "settings", ns, {"data": {"mode": "red"}})

    sync = await harness.wait_for(
        "Sync",
        "app",
        lambda o: ready_reason(o) == "ReconciliationFailed",
        within=30,
        what="the crashed correction to be reported",
    )
    assert "a bug in gitmoor" in (cond.get_condition(sync, cond.READY) or {})["message"]
    assert cond.get_condition(sync, cond.RECONCILING) is None
    assert harness.ledger_url is not None
    async with await Ledger.open(harness.ledger_url) as ledger:
        records = await ledger.history(sync="app", namespace=ns)
    assert [r.result for r in records if r.trigger is Trigger.DRIFT] == [Result.FAILED]
    assert not any(r.result is Result.IN_PROGRESS for r in records)

    # The backoff's attempt puts the object back once the cause is gone; no restart needed.
    monkeypatch.setattr(apply, "correct", real_correct)
    release.set()
    await harness.wait_for_object(
        "v1", "ConfigMap", "settings", lambda o: o["data"]["mode"] == "blue"
    )
    await harness.wait_condition("Sync", "app", cond.READY, "True", within=60)


async def test_the_status_of_a_sync_of_fifty_thousand_objects_is_accepted(
    harness: AgentHarness, unique_name: str
) -> None:
    # One file of 50,000 objects once applied, then the status write exceeded the API server's
    # limit and was retried for ever: the inventory was never written.
    ns = harness.namespace
    await harness.sync("big", "repo", suspend=True)  # the agent leaves a suspended Sync alone
    many = tuple(InventoryEntry(f"_ConfigMap_{ns}_object-{i:05d}", "v1") for i in range(50_000))
    outcome = Outcome(revision="main@sha1:" + "a" * 40, applied=True, inventory=many)
    new = status.sync_status({}, 1, outcome, wait=False)

    await harness.kube.patch_merge(API, "Sync", "big", ns, {"status": new}, subresource="status")

    stored = await harness.get("Sync", "big")
    assert stored is not None
    assert inventory.decode(stored["status"]["inventory"]) == list(many)
    assert stored["status"]["inventory"]["count"] == 50_000
