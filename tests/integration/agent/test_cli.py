"""The gitmoor command as a user runs it: a real process, a real cluster, a real Git server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
import yaml

from gitmoor.kube import Kube
from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers, Worktree
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import configmap, deployment

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]

GITMOOR = [sys.executable, "-m", "gitmoor"]


async def gitmoor(*args: str, kubeconfig: Path, timeout: float = 120) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *GITMOOR,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "KUBECONFIG": str(kubeconfig), "COLUMNS": "250"},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_sync_command_fetches_applies_and_reports_then_status_shows_it(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("v1", {"cm.yaml": configmap("settings", ns, v="1")})
    tree.push()
    # A long interval: only `gitmoor sync` can make the agent notice the next commit soon.
    await harness.source("repo", repo.file_url, interval="1h")
    await harness.sync("app", "repo", interval="1h")
    await harness.wait_applied("app", sha)

    sha2 = tree.commit("v2", {"cm.yaml": configmap("settings", ns, v="2")})
    tree.push()
    code, out, err = await gitmoor("sync", "app", "-n", ns, kubeconfig=harness.kubeconfig)
    assert code == 0, err
    assert f"ready at main@sha1:{sha2}" in out
    live = await harness.kube.get("v1", "ConfigMap", "settings", ns)
    assert live is not None
    assert live["data"] == {"v": "2"}

    code, out, err = await gitmoor("status", "-n", ns, "-o", "json", kubeconfig=harness.kubeconfig)
    assert code == 0, err
    data = json.loads(out)
    (row,) = data["syncs"]
    assert row["name"] == "app"
    assert row["applied_revision"] == f"main@sha1:{sha2}"
    assert row["ready"] == "True"
    assert data["sources"][0]["revision"] == f"main@sha1:{sha2}"
    code, out, err = await gitmoor("status", "-n", ns, kubeconfig=harness.kubeconfig)
    assert code == 0, err
    assert "app" in out
    assert sha2[:10] in out


async def test_sync_command_exits_non_zero_when_the_sync_fails(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    tree.commit("bad", {"cm.yaml": configmap("Not_Valid", ns, v="1")})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    code, out, _ = await gitmoor("sync", "app", "-n", ns, kubeconfig=harness.kubeconfig)
    assert code == 1
    assert "ValidationFailed" in out
    assert "Not_Valid" in out


async def test_suspend_and_resume_commands(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("v1", {"cm.yaml": configmap("settings", ns, v="1")})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    await harness.wait_applied("app", sha)
    code, _, err = await gitmoor("suspend", "app", "-n", ns, kubeconfig=harness.kubeconfig)
    assert code == 0, err
    assert (await harness.get("Sync", "app") or {})["spec"]["suspend"] is True
    code, _, err = await gitmoor("sync", "app", "-n", ns, kubeconfig=harness.kubeconfig)
    assert code == 3
    assert "suspended" in err
    code, _, err = await gitmoor("resume", "app", "-n", ns, kubeconfig=harness.kubeconfig)
    assert code == 0, err
    assert (await harness.get("Sync", "app") or {})["spec"]["suspend"] is False


async def test_run_with_config_file_applies_and_stops_cleanly_on_sigterm(
    kubeconfig: Path,
    namespace: str,
    git_servers: GitServers,
    unique_name: str,
    tmp_path: Path,
    kube: Kube,
) -> None:
    ns = namespace
    repo = git_servers.create_repo(unique_name)
    tree = Worktree.init(tmp_path / "work", remote=repo.file_url)
    sha = tree.commit(
        "app", {"web.yaml": deployment("web", ns), "cm.yaml": configmap("settings", ns, a="b")}
    )
    tree.push()
    config = tmp_path / "gitmoor.yaml"
    config.write_text(
        yaml.safe_dump_all(
            [
                {
                    "apiVersion": "gitmoor.io/v1alpha1",
                    "kind": "GitSource",
                    "metadata": {"name": "repo", "namespace": ns},
                    "spec": {"url": repo.file_url, "interval": "5s"},
                },
                {
                    "apiVersion": "gitmoor.io/v1alpha1",
                    "kind": "Sync",
                    "metadata": {"name": "app", "namespace": ns},
                    "spec": {"sourceRef": {"name": "repo"}, "interval": "1m"},
                },
            ]
        )
    )
    process = await asyncio.create_subprocess_exec(
        *GITMOOR,
        "run",
        "--config",
        str(config),
        "--watch-namespace",
        ns,
        "--lease-namespace",
        ns,
        "--http-port",
        "0",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--log-format",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )
    try:
        sync = await eventually(
            lambda: kube.get("gitmoor.io/v1alpha1", "Sync", "app", ns),
            lambda o: (
                bool(o)
                and str((o.get("status") or {}).get("lastAppliedRevision", "")).endswith(sha)
                and cond.is_true(o, cond.READY)
            ),
            within=90,
            what="the agent process to apply the repository",
        )
        assert cond.is_true(sync, cond.HEALTHY)
        lease = await kube.get("coordination.k8s.io/v1", "Lease", "gitmoor-leader", ns)
        assert lease is not None
        assert lease["spec"]["holderIdentity"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()[-3000:]
    lines = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    assert any(line.get("event") == "reconciled" for line in lines)
    stages = [line for line in lines if line.get("event") == "stage"]
    assert {line["stage"] for line in stages} >= {"render", "plan", "apply", "wait"}
    for line in stages:
        assert line["sync"] == f"{ns}/app"
        assert line["revision"] == f"main@sha1:{sha}"
        assert isinstance(line["duration_ms"], int)
    lease = await kube.get("coordination.k8s.io/v1", "Lease", "gitmoor-leader", ns)
    assert lease is not None
    assert not lease["spec"].get("holderIdentity"), "the lease was not released on shutdown"


async def test_render_and_install_export(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "kustomization.yaml").write_text("resources:\n  - cm.yaml\n")
    (tmp_path / "base" / "cm.yaml").write_text(configmap("settings", "demo", a="1"))
    (tmp_path / "prod").mkdir()
    (tmp_path / "prod" / "kustomization.yaml").write_text(
        "namePrefix: prod-\nresources:\n  - ../base\n"
    )
    process = await asyncio.create_subprocess_exec(
        *GITMOOR, "render", str(tmp_path / "prod"), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert process.returncode == 0
    (doc,) = list(yaml.safe_load_all(out))
    assert doc["metadata"]["name"] == "prod-settings"

    process = await asyncio.create_subprocess_exec(
        *GITMOOR, "install", "--export", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert process.returncode == 0
    documents = [d for d in yaml.safe_load_all(out) if d]
    kinds = [d["kind"] for d in documents]
    crds = {d["metadata"]["name"] for d in documents if d["kind"] == "CustomResourceDefinition"}
    assert crds == {
        "gitsources.gitmoor.io",
        "chartsources.gitmoor.io",
        "ocisources.gitmoor.io",
        "syncs.gitmoor.io",
        "imagerepositories.gitmoor.io",
        "imagepolicies.gitmoor.io",
        "imageupdateautomations.gitmoor.io",
    }
    assert "Deployment" in kinds
    assert "ClusterRole" in kinds
    # The ledger outlives the agent's Pod by default; `none` is the explicit opt-out.
    (claim,) = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "PersistentVolumeClaim"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    process = await asyncio.create_subprocess_exec(
        *GITMOOR, "install", "--export", "--ledger-volume", "none", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert process.returncode == 0
    assert "PersistentVolumeClaim" not in [d["kind"] for d in yaml.safe_load_all(out) if d]
    process = await asyncio.create_subprocess_exec(
        *GITMOOR,
        "install",
        "--export",
        "--ledger-volume",
        "lots",
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    _, err = await process.communicate()
    assert process.returncode == 2
    assert "not a size such as 1Gi" in err.decode()
