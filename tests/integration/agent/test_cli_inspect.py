"""`gitmoor tree`, `trace` and `events` as a user runs them: a real process against a real agent,
control plane and Git server, at 80 columns."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import configmap, deployment

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]

GITMOOR = [sys.executable, "-m", "gitmoor"]
WIDTH = 80


async def gitmoor(
    *args: str, kubeconfig: Path, width: int | None = WIDTH, timeout: float = 120
) -> tuple[int, str, str]:
    """Run the command at `width` columns; None: into a pipe, where nothing is shortened."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    env.pop("COLUMNS", None)
    if width is not None:
        env["COLUMNS"] = str(width)
    process = await asyncio.create_subprocess_exec(
        *GITMOOR, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def fits(text: str) -> list[str]:
    lines = text.splitlines()
    assert lines
    for line in lines:
        assert len(line) <= WIDTH, f"{len(line)} > {WIDTH}: {line!r}"
    return lines


def child_sync(name: str, namespace: str, source: str, path: str) -> str:
    return f"""apiVersion: gitmoor.io/v1alpha1
kind: Sync
metadata:
  name: {name}
  namespace: {namespace}
spec:
  sourceRef: {{name: {source}}}
  path: {path}
  interval: 30s
  retryInterval: 5s
  timeout: 60s
"""


async def test_tree_shows_a_bootstrap_like_sync_with_its_nested_sync(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit(
        "cluster and apps",
        {
            "cluster/settings.yaml": configmap("cluster-settings", ns, a="1"),
            "cluster/apps.yaml": child_sync("apps", ns, "repo", "apps"),
            "apps/web.yaml": deployment("web", ns),
            "apps/settings.yaml": configmap("web-settings", ns, b="2"),
            # Enough ConfigMaps that tree reads them with one LIST by ownership labels.
            **{f"apps/extra-{i}.yaml": configmap(f"extra-{i}", ns, i=str(i)) for i in range(4)},
        },
    )
    tree.push()
    await harness.source("repo", repo.file_url)
    # Like bootstrap's Sync: no health gate on what it applies (the Syncs gate their own).
    await harness.sync("cluster", "repo", "cluster", wait=False)
    await harness.wait_applied("cluster", sha)
    await harness.wait_applied("apps", sha)
    await harness.wait_condition("Sync", "apps", cond.HEALTHY, "True")

    code, out, err = await gitmoor("tree", "cluster", "-n", ns, kubeconfig=harness.kubeconfig)
    assert code == 0, err
    lines = fits(out)
    assert lines[0].split() == ["NAMESPACE", "NAME", "HEALTH", "MESSAGE"]
    code, out, err = await gitmoor(
        "tree", "cluster", "-n", ns, "-o", "wide", kubeconfig=harness.kubeconfig
    )
    assert code == 0, err
    lines = out.splitlines()
    name, health = lines[0].index("NAME "), lines[0].index("HEALTH")
    assert [line[:name].rstrip() for line in lines[1:]] == [ns] * 9
    assert [line[name:health].rstrip() for line in lines[1:]] == [
        "Sync/cluster",
        "├── ConfigMap/cluster-settings",
        "└── Sync/apps",
        "    ├── ConfigMap/extra-0",
        "    ├── ConfigMap/extra-1",
        "    ├── ConfigMap/extra-2",
        "    ├── ConfigMap/extra-3",
        "    ├── ConfigMap/web-settings",
        "    └── Deployment/web",
    ]
    # gitmoor's health rules read a Sync without a health gate (wait: false) as InProgress
    # (its Healthy condition is Unknown): the tree shows what they say.
    assert [line[health:].split()[0] for line in lines[1:]] == [
        "InProgress",
        *["Current"] * 8,
    ], out
    assert "HealthCheckDisabled" in lines[1]
    assert not any("ReplicaSet" in line or "Pod/" in line for line in lines)

    code, out, err = await gitmoor(
        "tree", "cluster", "-n", ns, "-o", "json", kubeconfig=harness.kubeconfig
    )
    assert code == 0, err
    data = json.loads(out)
    assert (data["kind"], data["name"]) == ("Sync", "cluster")
    nested = data["children"][1]
    assert (nested["kind"], nested["name"]) == ("Sync", "apps")
    assert [(c["kind"], c["name"]) for c in nested["children"]] == [
        *[("ConfigMap", f"extra-{i}") for i in range(4)],
        ("ConfigMap", "web-settings"),
        ("Deployment", "web"),
    ]

    code, out, err = await gitmoor("tree", "nothing", "-n", ns, kubeconfig=harness.kubeconfig)
    assert code == 3
    assert err.strip() == f"error: Sync {ns}/nothing not found"
    assert not out


async def test_trace_follows_an_object_to_its_sync_source_commit_and_ledger_record(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha1 = tree.commit(
        "v1", {"web.yaml": deployment("web", ns), "cm.yaml": configmap("kept", ns, a="1")}
    )
    tree.push()
    await harness.source("repo", repo.file_url, ref={"branch": "main"})
    await harness.sync("app", "repo")
    await harness.wait_applied("app", sha1)
    sha2 = tree.commit("scale web to two", {"web.yaml": deployment("web", ns, replicas=2)})
    tree.push()
    await harness.wait_applied("app", sha2)
    assert harness.ledger_url is not None
    ledger = ["--ledger", harness.ledger_url]

    code, out, err = await gitmoor(
        "trace", "deployment/web", "-n", ns, *ledger, kubeconfig=harness.kubeconfig
    )
    assert code == 0, err
    fits(out)
    for spelling in (["deployment/web"], ["deploy", "web"], ["apps/v1/Deployment/web"]):
        code, out, err = await gitmoor(
            "trace", *spelling, "-n", ns, *ledger, kubeconfig=harness.kubeconfig, width=None
        )
        assert code == 0, err
        lines = out.splitlines()
        assert f"Object:      Deployment/{ns}/web (apps/v1)" in lines
        assert f"Sync:        {ns}/app" in lines
        assert f"GitSource:   {ns}/repo" in lines
        assert f"URL:         {repo.file_url}" in lines
        assert "Ref:         branch main" in lines
        assert f"Revision:    main@sha1:{sha2} (applied)" in lines
        assert f"Commit:      {sha2[:12]} scale web to two" in lines
        assert any(line.startswith(f"Author:      {tree.author_name}") for line in lines)
        (change,) = [line for line in lines if line.startswith("Last change:")]
        assert change.startswith("Last change: configured by ledger record ")
        assert lines[lines.index(change) + 1] == f"Revision:    main@sha1:{sha2}"

    # The ConfigMap was last changed by the first commit's record, not the second's.
    code, out, err = await gitmoor(
        "trace", "cm/kept", "-n", ns, "-o", "json", *ledger, kubeconfig=harness.kubeconfig
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["sync"]["inInventory"] is True
    assert data["source"]["url"] == repo.file_url
    assert data["commit"]["sha"] == sha2
    assert data["lastChange"]["action"] == "created"
    assert data["lastChange"]["revision"] == f"main@sha1:{sha1}"
    assert data["lastChange"]["subject"] == "v1"

    # No ledger there: one line says so, the rest is printed.
    code, out, err = await gitmoor(
        "trace",
        "deployment/web",
        "-n",
        ns,
        "--ledger",
        f"sqlite:///{harness.workdir / 'nowhere.db'}",
        kubeconfig=harness.kubeconfig,
        width=None,
    )
    assert code == 0, err
    lines = out.splitlines()
    assert [line for line in lines if "ledger" in line.lower()] == [
        line for line in lines if line.startswith("Last change: ledger not reachable")
    ]
    assert f"Commit:      {sha2[:12]} scale web to two" in lines

    # Not managed by gitmoor: exit 1; not there at all: exit 3.
    await harness.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "by-hand", "namespace": ns},
            "data": {},
        },
        field_manager="gitmoor-tests",
    )
    code, out, err = await gitmoor(
        "trace", "configmap/by-hand", "-n", ns, *ledger, kubeconfig=harness.kubeconfig
    )
    assert (code, out) == (1, "")
    assert err.strip() == (
        f"error: ConfigMap/{ns}/by-hand is not managed by gitmoor: it has no "
        "gitmoor.io/sync-name label"
    )
    code, out, err = await gitmoor(
        "trace", "configmap/absent", "-n", ns, *ledger, kubeconfig=harness.kubeconfig
    )
    assert (code, err.strip()) == (3, f"error: ConfigMap/{ns}/absent not found")
    code, out, err = await gitmoor(
        "trace", "widget/x", "-n", ns, *ledger, kubeconfig=harness.kubeconfig
    )
    assert (code, err.strip()) == (3, "error: the cluster has no resource type 'widget'")


async def test_events_lists_and_follows_the_events_of_syncs_and_sources(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    # Two Syncs of one repository, each with objects of its own (one owner per object).
    sha = tree.commit(
        "v1",
        {
            "app/cm.yaml": configmap("settings", ns, v="1"),
            "other/cm.yaml": configmap("other-settings", ns, v="1"),
        },
    )
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", "app")
    await harness.sync("other", "repo", "other")
    await harness.wait_applied("app", sha)
    await harness.wait_applied("other", sha)
    # An Event of something else in the namespace is not gitmoor's.
    await harness.kube.create(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "not-ours", "namespace": ns},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "name": "settings",
                "namespace": ns,
            },
            "reason": "SomethingElse",
            "message": "not gitmoor's",
            "type": "Normal",
        }
    )
    await eventually(
        lambda: harness.events("Sync", "other"), bool, within=30, what="an Event of other"
    )

    code, out, err = await gitmoor("events", "-n", ns, kubeconfig=harness.kubeconfig)
    assert code == 0, err
    lines = fits(out)
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    objects = {line.split()[3] for line in lines[1:]}
    assert {"gitsource/repo", "sync/app", "sync/other"} <= objects
    assert "SomethingElse" not in out

    code, out, err = await gitmoor(
        "events", "app", "-n", ns, "-o", "json", kubeconfig=harness.kubeconfig
    )
    assert code == 0, err
    data = json.loads(out)
    assert {(e["object"]["kind"], e["object"]["name"]) for e in data} == {
        ("Sync", "app"),
        ("GitSource", "repo"),
    }
    seen = [e["lastSeen"] for e in data]
    assert seen == sorted(seen)  # newest last

    code, out, err = await gitmoor("events", "-A", kubeconfig=harness.kubeconfig, width=None)
    assert code == 0, err
    assert any(line.split()[0] == ns for line in out.splitlines()[1:])

    code, _, err = await gitmoor("events", "nothing", "-n", ns, kubeconfig=harness.kubeconfig)
    assert (code, err.strip()) == (3, f"error: Sync {ns}/nothing not found")

    # --watch: the Events there are, then a new one as it happens.
    env = {**os.environ, "KUBECONFIG": str(harness.kubeconfig)}
    env.pop("COLUMNS", None)  # into a pipe: whole messages, with the revision in them
    process = await asyncio.create_subprocess_exec(
        *GITMOOR,
        "events",
        "app",
        "-n",
        ns,
        "--watch",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    try:
        header = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        assert header.split()[:3] == ["LAST", "SEEN", "TYPE"]
        sha2 = tree.commit("v2", {"app/cm.yaml": configmap("settings", ns, v="2")})
        tree.push()
        while True:
            line = (await asyncio.wait_for(process.stdout.readline(), 90)).decode()
            assert line, "the watch ended"
            if sha2[:7] in line and "sync/app" in line:
                break
    finally:
        process.send_signal(signal.SIGINT)
        _, err_bytes = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 130
    assert "Traceback" not in err_bytes.decode()
