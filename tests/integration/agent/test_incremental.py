"""A new revision is checked where it changed: objects whose manifests are the ones applied
last (and which the drift watch saw unchanged since) are not dry-run again; a changed CRD, a
drifted object or `gitmoor sync` still has everything checked; and an edit made while a
reconcile runs is still caught."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from benchmarks.apimetrics import MetricKey, parse
from benchmarks.kubeapi import KubeAPI

from gitmoor.commands.operations import sync_now
from testenv.gitserver import GitServers
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import configmap, crd, custom

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]


class ApiRequests:
    """kube-apiserver's own request counter: what reached the server, whoever sent it."""

    def __init__(self, kubeconfig: Path) -> None:
        self._api = KubeAPI(kubeconfig)
        self._before: Counter[MetricKey] = Counter()

    async def _scrape(self) -> Counter[MetricKey]:
        return parse(await asyncio.to_thread(self._api.metrics_text))

    async def start(self) -> None:
        self._before = await self._scrape()

    async def dry_runs(self, resource: str) -> int:
        after = await self._scrape()
        return sum(
            value - self._before.get(key, 0)
            for key, value in after.items()
            if key[1] == resource and key[3]  # key: verb, resource, subresource, dry_run, comp.
        )

    def close(self) -> None:
        self._api.close()


def _files(ns: str, count: int, **changed: str) -> dict[str, str]:
    return {
        f"cm-{i:02}.yaml": configmap(f"cm-{i:02}", ns, v=changed.get(f"cm-{i:02}", "1"))
        for i in range(count)
    }


async def test_a_commit_changing_one_object_of_many_dry_runs_only_that_one(
    harness: AgentHarness, git_servers: GitServers, unique_name: str, kubeconfig: Path
) -> None:
    h, ns = harness, harness.namespace
    repo, tree = h.repo(git_servers, unique_name)
    sha1 = tree.commit("v1", _files(ns, 30))
    tree.push()
    await h.source("repo", repo.file_url)
    await h.sync("app", "repo", interval="1h")
    await h.wait_applied("app", sha1)
    untouched = await h.resource_version("v1", "ConfigMap", "cm-00")

    api = ApiRequests(kubeconfig)
    try:
        await api.start()
        sha2 = tree.commit("v2", _files(ns, 30, **{"cm-07": "2"}))
        tree.push()
        await h.wait_applied("app", sha2)
        assert await api.dry_runs("configmaps") == 1
    finally:
        api.close()
    live = await h.kube.get("v1", "ConfigMap", "cm-07", ns)
    assert live is not None
    assert live["data"] == {"v": "2"}
    assert await h.resource_version("v1", "ConfigMap", "cm-00") == untouched

    # Asking for a sync checks the whole revision again, as the user expects.
    api = ApiRequests(kubeconfig)
    try:
        await api.start()
        await sync_now(h.kube, "app", ns, timeout=60)
        assert await api.dry_runs("configmaps") == 30
    finally:
        api.close()


async def test_an_object_drifted_and_reported_is_checked_again_by_the_next_revision(
    harness: AgentHarness, git_servers: GitServers, unique_name: str, kubeconfig: Path
) -> None:
    h, ns = harness, harness.namespace
    repo, tree = h.repo(git_servers, unique_name)
    sha1 = tree.commit("v1", _files(ns, 10))
    tree.push()
    await h.source("repo", repo.file_url)
    await h.sync("app", "repo", interval="1h", drift="report")
    await h.wait_applied("app", sha1)
    await h.kube.patch_merge("v1", "ConfigMap", "cm-03", ns, {"data": {"v": "edited"}})
    await h.wait_condition("Sync", "app", "Drifted", "True", within=20)

    api = ApiRequests(kubeconfig)
    try:
        await api.start()
        sha2 = tree.commit("v2", _files(ns, 10, **{"cm-05": "2"}))
        tree.push()
        await h.wait_applied("app", sha2)
        # The changed object and the drifted one; a new revision brings both back to Git.
        assert await api.dry_runs("configmaps") == 2
    finally:
        api.close()
    drifted = await h.kube.get("v1", "ConfigMap", "cm-03", ns)
    assert drifted is not None
    assert drifted["data"] == {"v": "1"}


async def test_an_edit_made_while_a_reconcile_runs_is_corrected_after_it(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    repo, tree = h.repo(git_servers, unique_name)
    # The Sync's extra health check holds each reconcile in its wait until the test creates
    # the `gate` ConfigMap (which is not in Git): a window in which to edit a managed object.
    gate = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gate", "namespace": ns}}
    await h.kube.apply(gate, field_manager="gitmoor-tests")
    sha1 = tree.commit("v1", {"settings.yaml": configmap("settings", ns, mode="blue")})
    tree.push()
    await h.source("repo", repo.file_url)
    await h.sync(
        "app",
        "repo",
        interval="1h",
        healthChecks=[{"apiVersion": "v1", "kind": "ConfigMap", "name": "gate"}],
    )
    await h.wait_applied("app", sha1)
    await h.kube.delete("v1", "ConfigMap", "gate", ns)

    sha2 = tree.commit("v2", {"extra.yaml": configmap("extra", ns, v="1")})
    tree.push()
    await h.wait_for_object("v1", "ConfigMap", "extra", lambda o: True, within=30)
    await h.kube.patch_merge("v1", "ConfigMap", "settings", ns, {"data": {"mode": "red"}})
    await asyncio.sleep(1)
    await h.kube.apply(gate, field_manager="gitmoor-tests")
    await h.wait_applied("app", sha2)

    fixed = await h.wait_for_object(
        "v1", "ConfigMap", "settings", lambda o: o["data"] == {"mode": "blue"}, within=15
    )
    assert fixed["data"] == {"mode": "blue"}


def _crd(group: str, column: str) -> str:
    return crd(
        group,
        "Widget",
        version_extra=(
            "      additionalPrinterColumns:\n"
            f"        - {{name: {column}, type: string, jsonPath: .spec.size}}\n"
        ),
    )


async def test_a_changed_crd_has_every_object_checked_again(
    harness: AgentHarness, git_servers: GitServers, unique_name: str, kubeconfig: Path
) -> None:
    h, ns = harness, harness.namespace
    group = f"{unique_name}.example.com"
    widgets = {
        f"w{i}.yaml": custom(f"{group}/v1", "Widget", f"w{i}", ns, "{size: small}")
        for i in range(5)
    }
    repo, tree = h.repo(git_servers, unique_name)
    sha1 = tree.commit("v1", {"crd.yaml": _crd(group, "Size"), **widgets})
    tree.push()
    await h.source("repo", repo.file_url)
    await h.sync("app", "repo", interval="1h")
    try:
        await h.wait_applied("app", sha1)
        api = ApiRequests(kubeconfig)
        try:
            await api.start()
            sha2 = tree.commit("v2", {"crd.yaml": _crd(group, "Dimension")})
            tree.push()
            await h.wait_applied("app", sha2)
            # The Widgets did not change, but what validates them did.
            assert await api.dry_runs("widgets") == 5
        finally:
            api.close()
    finally:
        await h.kube.delete(
            "apiextensions.k8s.io/v1", "CustomResourceDefinition", f"widgets.{group}"
        )
