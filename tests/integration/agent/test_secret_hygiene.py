"""Secret hygiene, as one test: the agent runs (as `gitmoor run`) through HTTPS and SSH fetches
with credentials, a SOPS-encrypted Secret, a signed webhook and a signed notification, every
secret a sentinel; then its logs, every Event, every status, the ledger database, /metrics,
`gitmoor history -o json`, `gitmoor diff` and the argv of every child process it ran are
searched, and none of the secrets is there."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml

from gitmoor.kube import Kube
from gitmoor.notify import signature
from testenv.gitserver import GitServers, Worktree
from testenv.ports import free_port
from testenv.sops import age_key, encrypt
from testenv.wait import eventually
from tests.integration.agent.conftest import NOTIFY_KEY
from tests.integration.agent.manifests import configmap
from tests.integration.gitmoor_process import AgentProcess, gitmoor

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]

SOPS_VALUE = "SENTINEL-HYGIENE-DB-PASSWORD"
WEBHOOK_KEY = "SENTINEL-HYGIENE-WEBHOOK-KEY"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def child_argv(parent: int, seen: set[str]) -> None:
    """Add the argv of every live descendant of `parent` to `seen`."""
    children: dict[int, list[int]] = {}
    argv: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            argv[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(proc.name))
    pending = list(children.get(parent, []))
    while pending:
        pid = pending.pop()
        if argv.get(pid):
            seen.add(argv[pid])
        pending.extend(children.get(pid, []))


async def test_no_secret_reaches_logs_events_status_ledger_metrics_history_diff_or_argv(
    kube: Kube,
    kubeconfig: Path,
    namespace: str,
    git_servers: GitServers,
    unique_name: str,
    tmp_path: Path,
    receiver: tuple[str, list[dict[str, Any]]],
) -> None:
    ns = namespace
    notify_url, notified = receiver
    key = age_key()
    ssh_key = git_servers.ssh_key_path.read_text()
    sentinels = {
        "the HTTPS password": git_servers.password,
        "the SOPS-encrypted value": SOPS_VALUE,
        "the age identity": key.identity,
        "the webhook key": WEBHOOK_KEY,
        "the notification key": NOTIFY_KEY.decode(),
        **{
            f"line {i} of the SSH key": line
            for i, line in enumerate(ssh_key.splitlines())
            if len(line) > 20 and not line.startswith("-----")
        },
    }

    # Two repositories: one over HTTPS with a password and a SOPS Secret, one over SSH.
    https_repo = git_servers.create_repo(f"{unique_name}-https")
    secret = (
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: {ns}\n"
        f"stringData:\n  password: {SOPS_VALUE}\n"
    )
    web = Worktree.init(tmp_path / "web", remote=https_repo.file_url)
    web.commit(
        "web",
        {
            "app/secret.yaml": encrypt(secret, "secret.yaml", key.recipient, only="^stringData$"),
            "app/cm.yaml": configmap("web", ns, tier="front"),
        },
    )
    web.push()
    ssh_repo = git_servers.create_repo(f"{unique_name}-ssh")
    cache = Worktree.init(tmp_path / "cache", remote=ssh_repo.file_url)
    cache.commit("cache", {"cm.yaml": configmap("cache", ns, tier="back")})
    cache.push()

    def secret_doc(name: str, data: dict[str, str]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": ns},
            "data": {k: b64(v) for k, v in data.items()},
        }

    for doc in (
        secret_doc(
            "https-auth",
            {
                "username": git_servers.username,
                "password": git_servers.password,
                "caFile": git_servers.ca_path.read_text(),
            },
        ),
        secret_doc(
            "ssh-auth",
            {"identity": ssh_key, "known_hosts": git_servers.known_hosts_path.read_text()},
        ),
        secret_doc("sops-keys", {"team.agekey": key.identity}),
        secret_doc("notify-key", {"hmacKey": NOTIFY_KEY.decode()}),
        secret_doc("gitmoor-webhooks", {"generic": WEBHOOK_KEY}),
    ):
        await kube.apply(doc, field_manager="gitmoor-tests")

    ledger = tmp_path / "ledger.db"
    config = tmp_path / "gitmoor.yaml"
    sink = {"type": "webhook", "url": notify_url, "secretRef": {"name": "notify-key"}}
    config.write_text(
        yaml.safe_dump_all(
            [
                {
                    "apiVersion": "gitmoor.io/v1alpha1",
                    "kind": "GitSource",
                    "metadata": {"name": "web", "namespace": ns},
                    "spec": {
                        "url": https_repo.https_url,
                        "interval": "1m",
                        "secretRef": {"name": "https-auth"},
                    },
                },
                {
                    "apiVersion": "gitmoor.io/v1alpha1",
                    "kind": "GitSource",
                    "metadata": {"name": "cache", "namespace": ns},
                    "spec": {
                        "url": ssh_repo.ssh_url,
                        "interval": "1m",
                        "secretRef": {"name": "ssh-auth"},
                    },
                },
                {
                    "apiVersion": "gitmoor.io/v1alpha1",
                    "kind": "Sync",
                    "metadata": {"name": "web", "namespace": ns},
                    "spec": {
                        "sourceRef": {"name": "web"},
                        "path": "app",
                        "decryption": {"provider": "sops", "secretRef": {"name": "sops-keys"}},
                        "notifications": [sink],
                    },
                },
                {
                    "apiVersion": "gitmoor.io/v1alpha1",
                    "kind": "Sync",
                    "metadata": {"name": "cache", "namespace": ns},
                    "spec": {"sourceRef": {"name": "cache"}},
                },
            ]
        )
    )
    port = free_port()
    agent = AgentProcess(
        kubeconfig,
        tmp_path / "agent",
        lease_namespace=ns,
        args=(
            "--config",
            str(config),
            "--watch-namespace",
            ns,
            "--http-port",
            str(port),
            "--ledger",
            f"sqlite:///{ledger}",
        ),
    )
    argv: set[str] = set()
    stop = asyncio.Event()

    async def watch_children() -> None:
        while not stop.is_set():
            if agent.pid is not None:
                await asyncio.to_thread(child_argv, agent.pid, argv)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)

    watcher = asyncio.create_task(watch_children())
    await agent.start()
    try:
        for name in ("web", "cache"):
            await eventually(
                lambda name=name: kube.get("v1", "ConfigMap", name, ns),  # type: ignore[misc]
                lambda cm: cm is not None,
                within=120,
                what=f"Sync {name} applied\n{agent.tail()}",
            )
        assert (await kube.get("v1", "Secret", "db", ns) or {}).get("data")

        # A failure, so that a signed notification goes out; the signed push webhook (as CI
        # sends it) has it fetched at once, not at the next interval.
        web.commit("broken", {"app/broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n"})
        web.push()
        body = orjson.dumps({"url": https_repo.https_url, "ref": "refs/heads/main"})
        headers = {
            "Content-Type": "application/json",
            **signature.sign(WEBHOOK_KEY.encode(), body, timestamp=int(time.time())),
        }
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"http://127.0.0.1:{port}/hooks/generic", data=body, headers=headers) as r,
        ):
            assert r.status in (200, 202), await r.text()

        await eventually(
            lambda: asyncio.sleep(0, notified),
            lambda got: any(n.get("kind") == "failure" for n in got),
            within=120,
            what=f"the failure notification\n{agent.tail()}",
        )
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/metrics") as r,
        ):
            metrics = await r.text()
    finally:
        stop.set()
        await watcher
        await agent.stop()

    places: dict[str, str] = {
        "the agent's log": agent.log.read_text(errors="replace"),
        "the Events": yaml.safe_dump(await kube.list("v1", "Event", "")),
        "the statuses": yaml.safe_dump(
            [
                o.get("status")
                for kind in ("GitSource", "Sync")
                for o in await kube.list("gitmoor.io/v1alpha1", kind, ns)
            ]
        ),
        "the ledger database": ledger.read_bytes().decode(errors="replace"),
        "/metrics": metrics,
        "the notifications": orjson.dumps(notified).decode(),
        "the argv of child processes": "\n".join(sorted(argv)),
    }
    code, history, err = await gitmoor(
        "history",
        "web",
        "-n",
        ns,
        "-o",
        "json",
        "--ledger",
        f"sqlite:///{ledger}",
        kubeconfig=kubeconfig,
    )
    assert code == 0, err
    places["gitmoor history -o json"] = history + err
    # A local change of the encrypted Secret, previewed against the cluster: masked.
    web.write(
        {
            "app/secret.yaml": encrypt(
                secret.replace(SOPS_VALUE, SOPS_VALUE + "-NEXT"),
                "secret.yaml",
                key.recipient,
                only="^stringData$",
            )
        }
    )
    web.remove("app/broken.yaml")
    code, diff, err = await gitmoor(
        "diff", web.path / "app", "--sync", "web", "-n", ns, kubeconfig=kubeconfig
    )
    assert code in (0, 1), err
    assert "Secret" in diff
    places["gitmoor diff"] = diff + err

    assert any("git" in line for line in argv), "no child process was seen"
    for place, text in places.items():
        for what, value in sentinels.items():
            assert value not in text, f"{what} is in {place}"
