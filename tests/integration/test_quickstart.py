"""The README's Quick start, run as written on the local control plane.

The code blocks are read from README.md, so this fails when the README drifts. Only what the
README names as the user's own is filled in: the repository URL (a real HTTPS Git server here,
user `deploy` as in the README), `TOKEN` (its password), and the private-CA flag the README
says to add for a server like this one (its certificate comes from the test CA). What only
the environment sets stays out of the commands: the agent's HTTP port (GITMOOR_HTTP_PORT=0,
another process may hold 8080) and its Lease namespace.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitmoor.kube import Kube
from gitmoor.model.resources import API_VERSION
from testenv.gitserver import GitServers, Worktree

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
EXAMPLE = ROOT / "examples" / "demo"
URL_PLACEHOLDER = "https://git.example.com/platform/shop-config.git"
# The agent's Lease: away from gitmoor-system, where other tests' agents lead; missing, as
# on a fresh cluster.
LEASE_NAMESPACE = "gitmoor-quickstart"


def quick_start() -> tuple[str, str, str]:
    """The Quick start's gitmoor.yaml, its shell commands, and the flag it says to add to the
    Secret for a private CA."""
    text = README.read_text()
    section = text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.DOTALL)
    (config,) = [body for lang, body in blocks if lang == "yaml"]
    (commands,) = [body for lang, body in blocks if lang == "sh"]
    assert config.startswith("# gitmoor.yaml\n")
    (ca_flag,) = re.findall(r"add `(--from-file=caFile=\S+)` to the Secret", section)
    return config, commands, ca_flag


def with_ca(commands: str, flag: str) -> str:
    """The commands, the Secret's (a command continued over lines) ending in `flag`."""
    lines = commands.replace("\\\n", "").splitlines()
    secret = [i for i, line in enumerate(lines) if "create secret generic" in line]
    assert len(secret) == 1, commands
    lines[secret[0]] += f" {flag}"
    return "\n".join(lines) + "\n"


def test_the_readme_is_read() -> None:
    config, commands, flag = quick_start()
    assert URL_PLACEHOLDER in config
    assert "gitmoor run" in commands
    assert "create secret generic shop-config-auth" in with_ca(commands, flag)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[GitServers]:
    with GitServers(tmp_path / "git", username="deploy") as started:
        yield started


async def test_the_quick_start_works_as_written(
    kube: Kube, kubeconfig: Path, servers: GitServers, tmp_path: Path
) -> None:
    config, commands, ca_flag = quick_start()
    repo = servers.create_repo("shop-config")
    tree = Worktree.init(tmp_path / "shop-config", remote=repo.file_url)
    sha = tree.commit(
        "shop",
        {str(p.relative_to(EXAMPLE)): p.read_text() for p in EXAMPLE.rglob("*") if p.is_file()},
    )
    tree.push()

    work = tmp_path / "user"
    work.mkdir()
    (work / "gitmoor.yaml").write_text(config.replace(URL_PLACEHOLDER, repo.https_url))
    shutil.copy(servers.ca_path, work / ca_flag.rpartition("=")[2])
    (work / "quickstart.sh").write_text("set -e\n" + with_ca(commands, ca_flag))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "KUBECONFIG": str(kubeconfig),
        "TOKEN": servers.password,
        "GITMOOR_HTTP_PORT": "0",
        "GITMOOR_NAMESPACE": LEASE_NAMESPACE,
        "COLUMNS": "80",
    }
    log = work / "output.txt"
    try:
        with log.open("wb") as output:
            # A session of its own: the agent the commands leave in the background is stopped
            # with the shell's process group afterwards.
            shell = subprocess.Popen(  # noqa: ASYNC220 - the test waits for the shell anyway
                ["bash", "quickstart.sh"],
                cwd=work,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                code = shell.wait(timeout=300)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(shell.pid, signal.SIGTERM)
        text = log.read_text()
        agent_log = work / "agent.log"
        assert code == 0, text + (agent_log.read_text() if agent_log.exists() else "")
        assert f"✔ Sync gitmoor-demo/shop ready at main@sha1:{sha[:12]}" in text, text
        status = [line.split() for line in text.splitlines() if line.startswith("gitmoor-demo ")]
        assert ["gitmoor-demo", "sync/shop", "True", "ReconciliationSucceeded"] in [
            row[:4] for row in status
        ], text
        assert await kube.get("apps/v1", "Deployment", "web", "shop") is not None
    finally:
        # The agent is gone: nothing would finalize what it left; the namespaces go whole.
        for kind in ("Sync", "GitSource"):
            for obj in await kube.list(API_VERSION, kind, "gitmoor-demo"):
                name = obj["metadata"]["name"]
                patch = {"metadata": {"finalizers": None}}
                await kube.patch_merge(API_VERSION, kind, name, "gitmoor-demo", patch)
        for namespace in ("gitmoor-demo", "shop", LEASE_NAMESPACE):
            await kube.delete("v1", "Namespace", namespace)
