"""The agent's HTTP side: a signed push webhook applies a commit at once, a bad one changes
nothing; failures and recoveries are notified, signed; /metrics counts what happened."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gitmoor.notify import signature
from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers
from tests.integration.agent.conftest import NOTIFY_KEY
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import configmap

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]

KEY = b"ci-webhook-key"


@pytest.fixture
async def web_agent(harness: AgentHarness) -> AgentHarness:
    await harness.secret("gitmoor-webhooks", {"generic": KEY.decode()})
    await harness.stop()
    await harness.start(http=True)
    return harness


async def _post_hook(url: str, body: dict[str, Any], key: bytes) -> tuple[int, dict[str, Any]]:
    raw = orjson.dumps(body)
    headers = {
        "Content-Type": "application/json",
        **signature.sign(key, raw, timestamp=int(time.time())),
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/hooks/generic", data=raw, headers=headers) as response,
    ):
        return response.status, await response.json()


def agent_checks(servers: GitServers, repo: str) -> int:
    """Ref advertisements the Git server sent to the agent's own checks (its user agent is
    `gitmoor`; git's fetches name git)."""
    lines = (servers.logs_dir / "nginx-access.log").read_text(errors="replace").splitlines()
    asked = f"/{repo}.git/info/refs?service=git-upload-pack"
    return sum(1 for line in lines if asked in line and line.endswith('"gitmoor"'))


async def test_a_push_to_a_repository_several_sources_read_is_checked_once(
    web_agent: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h = web_agent
    ns = h.namespace
    apps = ("a", "b", "c")
    repo, tree = h.repo(git_servers, unique_name)
    sha = tree.commit("v1", {f"{a}/cm.yaml": configmap(a, ns, v="1") for a in apps})
    tree.push()
    await h.https_secret(git_servers, "git-auth")
    for app in apps:  # one source per app, as teams write them: the same URL and Secret
        await h.source(app, repo.https_url, interval="1h", secretRef={"name": "git-auth"})
        await h.sync(f"app-{app}", app, path=f"./{app}", interval="1h")
    for app in apps:
        await h.wait_applied(f"app-{app}", sha)
    before = agent_checks(git_servers, unique_name)

    sha2 = tree.commit("v2", {f"{a}/cm.yaml": configmap(a, ns, v="2") for a in apps})
    tree.push()
    status, answer = await _post_hook(
        h.http_url, {"url": repo.https_url, "ref": "refs/heads/main", "revision": sha2}, KEY
    )
    assert status == 202, answer
    assert answer["matched"] == 3
    for app in apps:
        await h.wait_applied(f"app-{app}", sha2, within=30)

    # Each source looked afresh (none kept the answer from before the push), through one
    # check of the repository.
    assert agent_checks(git_servers, unique_name) - before == 1


async def test_signed_webhook_applies_a_push_without_waiting_for_the_interval(
    web_agent: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h = web_agent
    ns = h.namespace
    repo, tree = h.repo(git_servers, unique_name)
    sha = tree.commit("v1", {"cm.yaml": configmap("settings", ns, v="1")})
    tree.push()
    # An interval so long that only the webhook can explain a quick apply.
    await h.source("repo", repo.https_url, interval="1h", secretRef={"name": "git-auth"})
    await h.https_secret(git_servers, "git-auth")
    await h.sync("app", "repo", interval="1h")
    await h.wait_applied("app", sha)

    sha2 = tree.commit("v2", {"cm.yaml": configmap("settings", ns, v="2")})
    tree.push()
    status, answer = await _post_hook(
        h.http_url, {"url": repo.https_url, "ref": "refs/heads/main", "revision": sha2}, b"wrong"
    )
    assert status == 401
    await asyncio.sleep(2)
    live = await h.kube.get("v1", "ConfigMap", "settings", ns)
    assert live is not None
    assert live["data"] == {"v": "1"}, "an unauthenticated webhook had an effect"

    status, answer = await _post_hook(
        h.http_url, {"url": repo.https_url, "ref": "refs/heads/main", "revision": sha2}, KEY
    )
    assert status == 202, answer
    assert answer["matched"] == 1
    await h.wait_applied("app", sha2, within=30)

    async with aiohttp.ClientSession() as session:
        async with session.get(f"{h.http_url}/healthz") as r:
            assert r.status == 200
        async with session.get(f"{h.http_url}/readyz") as r:
            assert r.status == 200
        async with session.get(f"{h.http_url}/metrics") as r:
            text = await r.text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert (
        samples[
            ("gitmoor_webhook_receipts_total", (("provider", "generic"), ("result", "accepted")))
        ]
        >= 1
    )
    assert (
        samples[
            (
                "gitmoor_webhook_receipts_total",
                (("provider", "generic"), ("result", "unauthorized")),
            )
        ]
        >= 1
    )
    assert (
        samples[
            (
                "gitmoor_sync_reconcile_total",
                (("name", "app"), ("namespace", ns), ("result", "success")),
            )
        ]
        >= 2
    )
    assert samples[("gitmoor_sync_managed_objects", (("name", "app"), ("namespace", ns)))] == 1
    assert any(name == "gitmoor_kube_api_requests_total" for name, _ in samples)


async def test_failure_and_recovery_are_notified_signed(
    harness: AgentHarness,
    git_servers: GitServers,
    unique_name: str,
    receiver: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = receiver
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    tree.commit("broken", {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n"})
    tree.push()
    await harness.secret("notify-key", {"hmacKey": NOTIFY_KEY.decode()})
    await harness.source("repo", repo.file_url)
    await harness.sync(
        "app",
        "repo",
        notifications=[{"type": "webhook", "url": url, "secretRef": {"name": "notify-key"}}],
    )
    await harness.wait_condition("Sync", "app", cond.STALLED, "True", reason="BuildFailed")
    for _ in range(100):
        if received:
            break
        await asyncio.sleep(0.1)
    assert received, "no failure notification arrived"
    failure = received[0]
    assert "failure" in orjson.dumps(failure).decode()
    assert "BuildFailed" in orjson.dumps(failure).decode()

    sha = tree.commit("fixed", {"cm.yaml": configmap("settings", ns, v="1")})
    tree.push()
    await harness.wait_applied("app", sha)
    for _ in range(100):
        if len(received) >= 2:
            break
        await asyncio.sleep(0.1)
    assert len(received) == 2, received
    assert "recovery" in orjson.dumps(received[1]).decode()
    assert sha in orjson.dumps(received[1]).decode()
