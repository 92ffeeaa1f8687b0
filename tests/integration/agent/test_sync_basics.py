"""The heart of gitmoor: the cluster follows every commit, writing only what changed."""

from __future__ import annotations

import asyncio

import pytest

from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import configmap, deployment, service

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]


async def test_commits_are_applied_changed_objects_alone_are_written_and_removed_ones_pruned(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit(
        "app",
        {
            "app/config.yaml": configmap("settings", ns, mode="blue"),
            "app/web.yaml": deployment("web", ns),
            "app/svc.yaml": service("web", ns),
            "app/extra.yaml": configmap("extra", ns, keep="no"),
            "app/README.md": "not a manifest\n",
        },
    )
    tree.push()
    await harness.https_secret(git_servers, "git-auth")
    await harness.source(
        "repo", repo.https_url, secretRef={"name": "git-auth"}, ref={"branch": "main"}
    )
    await harness.sync("app", "repo", "app")

    sync = await harness.wait_applied("app", sha)
    assert cond.is_true(sync, cond.HEALTHY)
    status = sync["status"]
    assert status["lastAttemptedRevision"] == f"main@sha1:{sha}"
    assert status["lastHealthyRevision"] == f"main@sha1:{sha}"
    ids = {e["id"] for e in status["inventory"]["entries"]}
    assert ids == {
        f"_ConfigMap_{ns}_settings",
        f"_ConfigMap_{ns}_extra",
        f"apps_Deployment_{ns}_web",
        f"_Service_{ns}_web",
    }
    assert status["history"][0]["result"] == "Applied"
    assert "4 created" in status["history"][0]["changes"]
    source = await harness.get("GitSource", "repo")
    assert source is not None
    assert source["status"]["artifact"]["revision"] == f"main@sha1:{sha}"
    assert cond.is_true(source, cond.READY)
    live = await harness.kube.get("v1", "ConfigMap", "settings", ns)
    assert live is not None
    assert live["data"] == {"mode": "blue"}
    assert live["metadata"]["labels"]["gitmoor.io/sync-name"] == "app"

    before = {
        name: await harness.resource_version(av, kind, name)
        for av, kind, name in (("apps/v1", "Deployment", "web"), ("v1", "Service", "web"))
    }
    sha2 = tree.commit(
        "green, drop extra",
        {"app/config.yaml": configmap("settings", ns, mode="green")},
        remove=["app/extra.yaml"],
    )
    tree.push()
    sync = await harness.wait_applied("app", sha2)

    live = await harness.kube.get("v1", "ConfigMap", "settings", ns)
    assert live is not None
    assert live["data"] == {"mode": "green"}
    assert await harness.kube.get("v1", "ConfigMap", "extra", ns) is None
    after = {
        name: await harness.resource_version(av, kind, name)
        for av, kind, name in (("apps/v1", "Deployment", "web"), ("v1", "Service", "web"))
    }
    assert after == before, "objects that did not change were written"
    entry = sync["status"]["history"][0]
    assert "1 configured" in entry["changes"]
    assert "1 deleted" in entry["changes"]
    assert f"_ConfigMap_{ns}_extra" not in {e["id"] for e in sync["status"]["inventory"]["entries"]}


async def test_prune_spares_objects_the_sync_does_not_own_and_those_marked_disabled(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    kept = configmap("kept", ns, a="1").replace(
        "metadata:\n", "metadata:\n  annotations:\n    gitmoor.io/prune: disabled\n", 1
    )
    sha = tree.commit(
        "three",
        {
            "cm/a.yaml": configmap("a", ns, v="1"),
            "cm/kept.yaml": kept,
            "cm/adopted.yaml": configmap("adopted", ns, v="1"),
        },
    )
    tree.push()
    # An object someone made by hand in the same namespace, never in Git.
    await harness.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "handmade", "namespace": ns},
        },
        field_manager="kubectl",
    )
    await harness.source("repo", repo.file_url)
    await harness.sync("cms", "repo", "cm")
    await harness.wait_applied("cms", sha)

    # Another team takes "adopted" over: our ownership label is gone.
    await harness.kube.patch_merge(
        "v1",
        "ConfigMap",
        "adopted",
        ns,
        {"metadata": {"labels": {"gitmoor.io/sync-name": None, "gitmoor.io/sync-namespace": None}}},
    )
    sha2 = tree.commit("remove all but a", remove=["cm/kept.yaml", "cm/adopted.yaml"])
    tree.push()
    sync = await harness.wait_applied("cms", sha2)

    assert await harness.kube.get("v1", "ConfigMap", "a", ns) is not None
    assert await harness.kube.get("v1", "ConfigMap", "kept", ns) is not None
    assert await harness.kube.get("v1", "ConfigMap", "adopted", ns) is not None
    assert await harness.kube.get("v1", "ConfigMap", "handmade", ns) is not None
    assert "2 skipped" in sync["status"]["history"][0]["changes"]
    assert {e["id"] for e in sync["status"]["inventory"]["entries"]} == {f"_ConfigMap_{ns}_a"}


async def test_restarted_agent_writes_nothing_when_nothing_changed(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit(
        "app",
        {
            "a.yaml": configmap("one", ns, x="1") + "---\n" + configmap("two", ns, y="2"),
            "web.yaml": deployment("web", ns),
            "svc.yaml": service("web", ns),
        },
    )
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    sync = await harness.wait_applied("app", sha)
    await harness.wait_condition("Sync", "app", cond.HEALTHY, "True")

    async def versions() -> dict[str, str | None]:
        return {
            "one": await harness.resource_version("v1", "ConfigMap", "one"),
            "two": await harness.resource_version("v1", "ConfigMap", "two"),
            "web": await harness.resource_version("apps/v1", "Deployment", "web"),
            "svc": await harness.resource_version("v1", "Service", "web"),
        }

    before = await versions()
    status_before = (await harness.get("Sync", "app") or {})["status"]
    assert await harness.stop() == 0
    await harness.start()
    # Force a full reconcile of the same revision through the agent that just started.
    await harness.kube.patch_merge(
        "gitmoor.io/v1alpha1",
        "Sync",
        "app",
        ns,
        {"metadata": {"annotations": {"gitmoor.io/reconcile-requested-at": "restart-check"}}},
    )
    sync = await harness.wait_for(
        "Sync",
        "app",
        lambda o: (o.get("status") or {}).get("lastHandledReconcileAt") == "restart-check",
        what="the restarted agent to reconcile",
    )
    assert await versions() == before
    assert sync["status"]["history"] == status_before["history"], "a no-op was recorded"
    assert sync["status"]["lastAppliedRevision"] == f"main@sha1:{sha}"
    assert cond.is_true(sync, cond.READY)


async def test_suspended_sync_is_left_alone_until_resumed(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("v1", {"cm.yaml": configmap("settings", ns, v="1")})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    await harness.wait_applied("app", sha)

    await harness.sync("app", "repo", suspend=True)
    sha2 = tree.commit("v2", {"cm.yaml": configmap("settings", ns, v="2")})
    tree.push()
    await harness.wait_for(
        "GitSource",
        "repo",
        lambda o: str(o.get("status", {}).get("artifact", {}).get("revision", "")).endswith(sha2),
        what="the source to see v2",
    )
    # Give a running agent every chance to (wrongly) apply it.
    await asyncio.sleep(4)
    live = await harness.kube.get("v1", "ConfigMap", "settings", ns)
    assert live is not None
    assert live["data"] == {"v": "1"}

    await harness.sync("app", "repo", suspend=False)
    await harness.wait_applied("app", sha2)
    live = await harness.kube.get("v1", "ConfigMap", "settings", ns)
    assert live is not None
    assert live["data"] == {"v": "2"}
