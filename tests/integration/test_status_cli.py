"""`kubectl get syncs` with gitmoor's printer columns, and `gitmoor status --watch`, against the
real API server at 80 columns. No agent: the tests write the status an agent would write."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from gitmoor.commands.run import install_crds
from gitmoor.kube import Kube
from gitmoor.model.resources import API_VERSION

pytestmark = pytest.mark.cluster

WIDTH = 80
KUBECTL = str(Path(sys.executable).parent / "kubectl")
SHA = "0123456789abcdef0123456789abcdef01234567"
LONG = "Applied revision: main@sha1:" + SHA + " and a message that would push a row far past 80"


def _ready(status: str, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-01-02T03:04:05Z",
    }


async def _set_status(kube: Kube, kind: str, name: str, ns: str, status: dict[str, Any]) -> None:
    resource = await kube.resource_for(API_VERSION, kind)
    await kube.request(
        "PATCH",
        resource.path(ns, name) + "/status",
        body={"status": status},
        content_type="application/merge-patch+json",
    )


@pytest.fixture
async def deployed(kube: Kube, namespace: str) -> str:
    """A GitSource and a Sync with the status an agent leaves after a good apply."""
    await install_crds(kube)
    kube.forget(API_VERSION)
    await kube.apply(
        {
            "apiVersion": API_VERSION,
            "kind": "GitSource",
            "metadata": {"name": "apps", "namespace": namespace},
            "spec": {"url": "https://git.example.com/org/apps.git"},
        }
    )
    await kube.apply(
        {
            "apiVersion": API_VERSION,
            "kind": "Sync",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {"sourceRef": {"name": "apps"}},
        }
    )
    await _set_status(
        kube,
        "GitSource",
        "apps",
        namespace,
        {
            "conditions": [_ready("True", "Succeeded", "stored artifact " + SHA)],
            "artifact": {
                "revision": f"main@sha1:{SHA}",
                "digest": "sha256:00ff",
                "lastUpdateTime": "2026-01-02T03:04:05Z",
            },
            "shortRevision": SHA[:12],
        },
    )
    await _set_status(
        kube,
        "Sync",
        "web",
        namespace,
        {
            "conditions": [_ready("True", "ReconciliationSucceeded", LONG)],
            "lastAppliedRevision": f"main@sha1:{SHA}",
            "shortRevision": SHA[:12],
        },
    )
    return namespace


async def _run(*args: str, kubeconfig: Path) -> str:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "COLUMNS": str(WIDTH)}
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_kubectl_get_shows_compact_columns_that_fit_80(
    deployed: str, kubeconfig: Path
) -> None:
    for kind in ("syncs", "gitsources"):
        out = await _run(KUBECTL, "get", kind, "-n", deployed, kubeconfig=kubeconfig)
        header, row = out.splitlines()
        assert header.split() == ["NAME", "READY", "STATUS", "REVISION", "AGE"]
        assert row.split()[3] == SHA[:12]
        assert max(len(line) for line in out.splitlines()) <= WIDTH, out
        assert "Applied revision" not in out
        assert "stored artifact" not in out
    wide = await _run(KUBECTL, "get", "syncs", "-n", deployed, "-o", "wide", kubeconfig=kubeconfig)
    assert wide.splitlines()[0].split()[-1] == "MESSAGE"
    assert LONG in wide


async def test_status_watch_prints_a_line_per_change_and_ends_on_ctrl_c(
    deployed: str, kube: Kube, kubeconfig: Path
) -> None:
    from tests.integration.gitmoor_process import GITMOOR

    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "COLUMNS": str(WIDTH)}
    process = await asyncio.create_subprocess_exec(
        *GITMOOR,
        "status",
        "-n",
        deployed,
        "--watch",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None

    async def line() -> str:
        text = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()  # type: ignore[union-attr]
        assert text, "the watch ended"
        assert len(text.rstrip("\n")) <= WIDTH, text
        return text

    try:
        # The table as `status` prints it: the GitSource, a blank line, the Sync.
        lines = [await line() for _ in range(5)]
        assert lines[0].split()[:2] == ["NAME", "READY"]
        assert lines[1].split()[:3] == ["gitsource/apps", "True", "Succeeded"]
        assert lines[3].split()[:2] == ["NAME", "READY"]
        assert lines[4].split()[:3] == ["sync/web", "True", "ReconciliationSucceeded"]
        # A status the agent writes shows up as a new row, aligned under the table's.
        await _set_status(
            kube,
            "Sync",
            "web",
            deployed,
            {"conditions": [_ready("False", "HealthCheckFailed", "Deployment/x not ready")]},
        )
        changed = await line()
        assert changed.split()[:3] == ["sync/web", "False", "HealthCheckFailed"]
        assert changed.index("HealthCheckFailed") == lines[4].index("ReconciliationSucceeded")
    finally:
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
