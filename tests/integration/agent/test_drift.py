"""Drift within seconds: watched objects that move away from Git are corrected (one write) or
reported; what other writers own is never fought over."""

from __future__ import annotations

import asyncio

import pytest

from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import configmap, deployment

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]


async def _applied(
    h: AgentHarness, git_servers: GitServers, name: str, files: dict[str, str], **spec: object
) -> None:
    repo, tree = h.repo(git_servers, name)
    sha = tree.commit("v1", files)
    tree.push()
    await h.source("repo", repo.file_url)
    await h.sync("app", "repo", **spec)
    await h.wait_applied("app", sha)


async def _rv(h: AgentHarness, kind: str, name: str, api_version: str = "v1") -> str:
    return str(
        (await h.kube.get(api_version, kind, name, h.namespace) or {})["metadata"][
            "resourceVersion"
        ]
    )


async def test_an_edited_field_is_reverted_within_seconds_with_one_write(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    await _applied(
        h,
        git_servers,
        unique_name,
        {
            "cm.yaml": configmap("settings", ns, mode="blue"),
            "web.yaml": deployment("web", ns, replicas=2),
        },
        interval="1h",
    )
    edited = await h.kube.patch_merge("v1", "ConfigMap", "settings", ns, {"data": {"mode": "red"}})
    edited_rv = int(edited["metadata"]["resourceVersion"])

    fixed = await h.wait_for_object(
        "v1", "ConfigMap", "settings", lambda o: o["data"] == {"mode": "blue"}, within=15
    )
    fixed_rv = int(fixed["metadata"]["resourceVersion"])
    assert fixed_rv > edited_rv
    await asyncio.sleep(3)
    # Nothing else was written after the one correcting write.
    assert int(await _rv(h, "ConfigMap", "settings")) == fixed_rv

    await h.kube.patch_merge("apps/v1", "Deployment", "web", ns, {"spec": {"replicas": 5}})
    await h.wait_for_object(
        "apps/v1", "Deployment", "web", lambda o: o["spec"]["replicas"] == 2, within=15
    )
    events = await h.kube.list("v1", "Event", ns)
    assert any(e["reason"] == "DriftCorrected" and "settings" in e["message"] for e in events)


async def test_a_deleted_managed_object_is_recreated(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    await _applied(
        h, git_servers, unique_name, {"cm.yaml": configmap("settings", ns, a="1")}, interval="1h"
    )
    await h.kube.delete("v1", "ConfigMap", "settings", ns)
    recreated = await h.wait_for_object(
        "v1", "ConfigMap", "settings", lambda o: o.get("data") == {"a": "1"}, within=15
    )
    assert recreated["metadata"]["labels"]["gitmoor.io/sync-name"] == "app"


async def test_report_mode_reports_the_drift_and_leaves_it(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    # A short interval: full reconciles of the same revision must not undo the edit either.
    await _applied(
        h,
        git_servers,
        unique_name,
        {"cm.yaml": configmap("settings", ns, mode="blue")},
        drift="report",
        interval="2s",
    )
    await h.kube.patch_merge("v1", "ConfigMap", "settings", ns, {"data": {"mode": "red"}})
    sync = await h.wait_condition("Sync", "app", "Drifted", "True", within=15)
    message = (cond.get_condition(sync, "Drifted") or {})["message"]
    assert f"ConfigMap/{ns}/settings (data.mode)" in message
    await asyncio.sleep(5)
    live = await h.kube.get("v1", "ConfigMap", "settings", ns)
    assert live is not None
    assert live["data"] == {"mode": "red"}
    assert cond.is_true(await h.get("Sync", "app"), "Drifted")


async def test_fields_of_other_managers_and_ignored_objects_are_left_alone(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    ignored = configmap("free", ns, a="1").replace(
        "metadata:\n", "metadata:\n  annotations:\n    gitmoor.io/drift: ignore\n", 1
    )
    await _applied(
        h,
        git_servers,
        unique_name,
        {"cm.yaml": configmap("settings", ns, mode="blue"), "free.yaml": ignored},
        interval="2s",
    )
    # Another team's controller adds its own key and annotation with its own field manager.
    await h.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "settings",
                "namespace": ns,
                "annotations": {"team.example/owner": "payments"},
            },
            "data": {"cache": "on"},
        },
        field_manager="payments-operator",
        force=False,
    )
    await h.kube.patch_merge("v1", "ConfigMap", "free", ns, {"data": {"a": "2"}})
    # Many full reconciles (2s interval) and the watch all see these changes.
    await asyncio.sleep(10)
    settings = await h.kube.get("v1", "ConfigMap", "settings", ns)
    assert settings is not None
    assert settings["data"] == {"mode": "blue", "cache": "on"}
    assert settings["metadata"]["annotations"]["team.example/owner"] == "payments"
    free = await h.kube.get("v1", "ConfigMap", "free", ns)
    assert free is not None
    assert free["data"] == {"a": "2"}
