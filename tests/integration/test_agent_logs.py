"""Every log line of a Sync carries that Sync's own revision, however many Syncs reconcile and
correct drift at once (a context leaking between tasks once named a third Sync's revision)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitmoor.kube import Kube
from testenv.gitserver import GitServers, Worktree
from testenv.wait import eventually
from tests.integration.agent.manifests import configmap
from tests.integration.gitmoor_process import AgentProcess

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]
APPS = ("alpha", "beta", "gamma")


async def test_each_log_line_names_its_own_syncs_revision(
    kube: Kube,
    kubeconfig: Path,
    namespace: str,
    git_servers: GitServers,
    unique_name: str,
    tmp_path: Path,
) -> None:
    ns = namespace
    documents: list[dict[str, Any]] = []
    shas: dict[str, str] = {}
    for app in APPS:
        repo = git_servers.create_repo(f"{unique_name}-{app}")
        tree = Worktree.init(tmp_path / app, remote=repo.file_url)
        shas[app] = tree.commit(app, {"cm.yaml": configmap(app, ns, owner=app)})
        tree.push()
        documents += [
            {
                "apiVersion": "gitmoor.io/v1alpha1",
                "kind": "GitSource",
                "metadata": {"name": app, "namespace": ns},
                "spec": {"url": repo.file_url, "interval": "1m"},
            },
            {
                "apiVersion": "gitmoor.io/v1alpha1",
                "kind": "Sync",
                "metadata": {"name": app, "namespace": ns},
                "spec": {"sourceRef": {"name": app}, "interval": "1m"},
            },
        ]
    config = tmp_path / "gitmoor.yaml"
    config.write_text(yaml.safe_dump_all(documents))
    args = ("--config", str(config), "--watch-namespace", ns)
    agent = AgentProcess(kubeconfig, tmp_path / "agent", lease_namespace=ns, args=args)
    await agent.start()
    try:
        for app in APPS:
            await eventually(
                lambda app=app: kube.get("v1", "ConfigMap", app, ns),  # type: ignore[misc]
                lambda cm: cm is not None,
                within=90,
                what=f"ConfigMap {app}\n{agent.tail()}",
            )
        # Hand edits to all three at once: three corrections in flight together.
        await asyncio.gather(
            *(
                kube.patch_merge("v1", "ConfigMap", app, ns, {"data": {"owner": "someone"}})
                for app in APPS
            )
        )
        for app in APPS:
            await eventually(
                lambda app=app: kube.get("v1", "ConfigMap", app, ns),  # type: ignore[misc]
                lambda cm: cm is not None and cm["data"]["owner"] != "someone",
                within=60,
                what=f"the drift of {app} corrected\n{agent.tail()}",
            )
    finally:
        await agent.stop()

    lines = [json.loads(line) for line in agent.log.read_text().splitlines() if line[:1] == "{"]
    seen: dict[str, set[str]] = {}
    for line in lines:
        sync, revision = line.get("sync"), line.get("revision")
        if sync and revision:
            seen.setdefault(str(sync), set()).add(str(revision))
    assert {f"{ns}/{app}" for app in APPS} <= seen.keys(), seen
    for app in APPS:
        assert seen[f"{ns}/{app}"] == {f"main@sha1:{shas[app]}"}, app
    corrected = [line for line in lines if line.get("event") == "drift corrected"]
    assert {line["sync"] for line in corrected} == {f"{ns}/{app}" for app in APPS}
