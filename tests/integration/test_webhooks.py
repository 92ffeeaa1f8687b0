"""The agent's HTTP port served for real on loopback, called over real HTTP: webhooks of each
provider, the CI recipe with curl and openssl, probes and the metrics they count."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gitmoor.model.notifications import Provider, PushEvent
from gitmoor.notify import signature
from gitmoor.server import hooks
from gitmoor.server.app import bound_port, serve
from gitmoor.server.hooks import HookReceiver

SECRETS = {
    Provider.GITHUB: [b"github-secret"],
    Provider.GITLAB: [b"gitlab-token"],
    Provider.GITEA: [b"gitea-secret"],
    Provider.GENERIC: [b"ci-key-new", b"ci-key-old"],
}
PAYLOADS = Path(__file__).parent.parent / "unit" / "server" / "payloads"
GITHUB_SHA = "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5"


@dataclass
class Agent:
    """Stands for the agent behind the port: records pushes, says how many sources match."""

    url: str
    pushes: list[PushEvent] = field(default_factory=list)
    sources: tuple[str, ...] = ("https://github.com/Example-Org/platform-config",)
    fail_next: bool = False
    secrets_broken: bool = False
    ready: bool = False

    def on_push(self, event: PushEvent) -> int:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("queue closed")
        self.pushes.append(event)
        return sum(event.concerns_url(s) for s in self.sources)

    async def secrets_for(self, provider: Provider) -> list[bytes]:
        if self.secrets_broken:
            raise ConnectionError("apiserver unreachable")
        return SECRETS[provider]


@pytest.fixture
async def agent() -> AsyncIterator[Agent]:
    state = Agent(url="")
    receiver = HookReceiver(state.secrets_for, state.on_push)
    runner = await serve("127.0.0.1", 0, lambda: state.ready, hooks=receiver)
    state.url = f"http://127.0.0.1:{bound_port(runner)}"
    try:
        yield state
    finally:
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def github_headers(body: bytes, *, key: bytes = b"github-secret", delivery: str = "") -> dict:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery or os.urandom(8).hex(),
        "X-Hub-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
    }


async def post(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: dict
) -> tuple[int, dict]:
    async with http.post(url, data=body, headers=headers) as response:
        return response.status, await response.json()


async def receipts(http: aiohttp.ClientSession, agent: Agent) -> dict[tuple[str, str], float]:
    async with http.get(f"{agent.url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "gitmoor_webhook_receipts":
            for sample in family.samples:
                if sample.name == "gitmoor_webhook_receipts_total":
                    counts[(sample.labels["provider"], sample.labels["result"])] = sample.value
    return counts


def delta(after: dict, before: dict) -> dict:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}


async def test_signed_github_push_reaches_the_agent_with_url_ref_and_sha(
    agent: Agent, http: aiohttp.ClientSession
) -> None:
    body = (PAYLOADS / "github-push.json").read_bytes()
    status, answer = await post(http, f"{agent.url}/hooks/github", body, github_headers(body))
    assert status == 202
    assert answer["status"] == "accepted"
    assert answer["matched"] == 1
    [event] = agent.pushes
    assert event.provider is Provider.GITHUB
    assert "https://github.com/Example-Org/platform-config.git" in event.urls
    assert event.ref == "refs/heads/main"
    assert event.revision == GITHUB_SHA


async def test_bad_or_missing_signature_is_401_and_reaches_nothing(
    agent: Agent, http: aiohttp.ClientSession
) -> None:
    before = await receipts(http, agent)
    body = (PAYLOADS / "github-push.json").read_bytes()
    url = f"{agent.url}/hooks/github"
    wrong_key = github_headers(body, key=b"guessed")
    status, answer = await post(http, url, body, wrong_key)
    assert (status, answer) == (401, {"error": "signature invalid"})
    tampered = github_headers(body)
    status, _ = await post(http, url, body.replace(GITHUB_SHA.encode(), b"f" * 40), tampered)
    assert status == 401
    missing = {k: v for k, v in github_headers(body).items() if k != "X-Hub-Signature-256"}
    status, answer = await post(http, url, body, missing)
    assert (status, answer) == (401, {"error": "signature missing"})
    # A GitHub signature is no use on another provider's route.
    status, _ = await post(http, f"{agent.url}/hooks/gitea", body, github_headers(body))
    assert status == 401
    assert agent.pushes == []
    counted = delta(await receipts(http, agent), before)
    assert counted == {("github", "unauthorized"): 3.0, ("gitea", "unauthorized"): 1.0}


async def test_a_redelivered_push_is_a_harmless_duplicate(
    agent: Agent, http: aiohttp.ClientSession
) -> None:
    body = (PAYLOADS / "github-push.json").read_bytes()
    headers = github_headers(body, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    first = await post(http, f"{agent.url}/hooks/github", body, headers)
    again = await post(http, f"{agent.url}/hooks/github", body, headers)
    assert first[0] == 202
    assert again == (200, {"status": "duplicate", "delivery": headers["X-GitHub-Delivery"]})
    assert len(agent.pushes) == 1


async def test_oversized_bodies_are_refused_with_413(
    agent: Agent, http: aiohttp.ClientSession
) -> None:
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    status, answer = await post(http, f"{agent.url}/hooks/github", big, github_headers(big))
    assert status == 413
    assert "larger than" in answer["error"]

    async def chunks() -> AsyncIterator[bytes]:
        # Streamed without a Content-Length: the limit is enforced while reading.
        for _ in range(40):
            yield b" " * 65536

    async with http.post(
        f"{agent.url}/hooks/generic", data=chunks(), headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 413
    assert agent.pushes == []


async def test_ping_is_acknowledged_without_effect(
    agent: Agent, http: aiohttp.ClientSession
) -> None:
    body = (PAYLOADS / "github-ping.json").read_bytes()
    headers = {**github_headers(body), "X-GitHub-Event": "ping"}
    status, answer = await post(http, f"{agent.url}/hooks/github", body, headers)
    assert status == 200
    assert answer["status"] == "ignored"
    assert agent.pushes == []


async def test_gitlab_token_and_gitea_signature(agent: Agent, http: aiohttp.ClientSession) -> None:
    agent.sources = ("git@gitlab.example.com:platform/infra/deployments.git",)
    gitlab = (PAYLOADS / "gitlab-push.json").read_bytes()
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "gitlab-token"}
    status, answer = await post(http, f"{agent.url}/hooks/gitlab", gitlab, headers)
    assert (status, answer["matched"]) == (202, 1)
    status, _ = await post(
        http, f"{agent.url}/hooks/gitlab", gitlab, {**headers, "X-Gitlab-Token": "nope"}
    )
    assert status == 401

    gitea = (PAYLOADS / "gitea-push.json").read_bytes()
    sig = hmac.new(b"gitea-secret", gitea, hashlib.sha256).hexdigest()
    status, answer = await post(
        http,
        f"{agent.url}/hooks/gitea",
        gitea,
        {"X-Gitea-Event": "push", "X-Gitea-Delivery": "d-1", "X-Gitea-Signature": sig},
    )
    assert (status, answer["matched"]) == (202, 0)  # no GitSource follows that repository
    assert [e.ref for e in agent.pushes] == ["refs/heads/production", "refs/heads/develop"]


def recipe() -> str:
    text = hooks.__doc__ or ""
    match = re.search(r"# recipe: generic-webhook\n(.*?)\n\s*# end recipe", text, re.S)
    assert match, "the curl recipe is missing from gitmoor.server.hooks' documentation"
    return "\n".join(line.removeprefix("    ") for line in match[1].splitlines())


async def run_recipe(agent: Agent, key: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-euo",
        "pipefail",
        "-c",
        recipe(),
        env={
            "PATH": os.environ["PATH"],
            "REPO_URL": "git@github.com:Example-Org/platform-config.git",
            "REF": "refs/heads/main",
            "SHA": GITHUB_SHA,
            "GITMOOR_WEBHOOK_KEY": key,
            "GITMOOR_URL": agent.url,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, (out + err).decode()


async def test_the_documented_curl_recipe_triggers_a_sync(
    agent: Agent, http: aiohttp.ClientSession
) -> None:
    code, output = await run_recipe(agent, "ci-key-old")  # any key of a rotation works
    assert code == 0, output
    assert json.loads(output)["matched"] == 1
    [event] = agent.pushes
    assert event.provider is Provider.GENERIC
    assert event.urls == ("git@github.com:Example-Org/platform-config.git",)
    assert event.ref == "refs/heads/main"
    assert event.revision == GITHUB_SHA

    code, output = await run_recipe(agent, "wrong-key")
    assert code != 0  # curl -f fails on the 401
    assert "401" in output
    assert len(agent.pushes) == 1


async def test_generic_requests_expire_and_replays_are_duplicates(
    agent: Agent, http: aiohttp.ClientSession
) -> None:
    body = json.dumps({"url": "https://github.com/Example-Org/platform-config"}).encode()
    url = f"{agent.url}/hooks/generic"
    stale = signature.sign(b"ci-key-new", body, timestamp=int(time.time()) - 600)
    status, answer = await post(http, url, body, stale)
    assert status == 401
    assert "timestamp" in answer["error"]
    fresh = signature.sign(b"ci-key-new", body, timestamp=int(time.time()))
    assert (await post(http, url, body, fresh))[0] == 202
    assert (await post(http, url, body, fresh))[1]["status"] == "duplicate"
    status, answer = await post(
        http,
        url,
        b'{"url": 1}',
        signature.sign(b"ci-key-new", b'{"url": 1}', timestamp=int(time.time())),
    )
    assert status == 400
    assert "'url'" in answer["error"]
    assert len(agent.pushes) == 1


async def test_failures_behind_the_port_ask_the_sender_to_retry(
    agent: Agent, http: aiohttp.ClientSession
) -> None:
    body = (PAYLOADS / "github-push.json").read_bytes()
    headers = github_headers(body)
    agent.fail_next = True
    status, _ = await post(http, f"{agent.url}/hooks/github", body, headers)
    assert status == 500
    # The failed delivery is not remembered: the sender's retry is handled.
    status, _ = await post(http, f"{agent.url}/hooks/github", body, headers)
    assert status == 202
    agent.secrets_broken = True
    status, answer = await post(http, f"{agent.url}/hooks/github", body, github_headers(body))
    assert status == 503
    assert "secrets" in answer["error"]
    assert len(agent.pushes) == 1


async def test_unknown_provider_is_404(agent: Agent, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{agent.url}/hooks/bitbucket", data=b"{}") as response:
        assert response.status == 404
        assert "github" in (await response.json())["providers"]


async def test_probes_and_metrics(agent: Agent, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{agent.url}/healthz") as response:
        assert response.status == 200
    async with http.get(f"{agent.url}/readyz") as response:
        assert response.status == 503
    agent.ready = True
    async with http.get(f"{agent.url}/readyz") as response:
        assert response.status == 200

    before = await receipts(http, agent)
    body = (PAYLOADS / "github-push.json").read_bytes()
    headers = github_headers(body)
    await post(http, f"{agent.url}/hooks/github", body, headers)
    await post(http, f"{agent.url}/hooks/github", body, headers)
    await post(http, f"{agent.url}/hooks/github", body, github_headers(body, key=b"x"))
    ping_body = (PAYLOADS / "github-ping.json").read_bytes()
    ping = {**github_headers(ping_body), "X-GitHub-Event": "ping"}
    await post(http, f"{agent.url}/hooks/github", ping_body, ping)
    # The pushed body again under a new delivery id: a replay.
    await post(http, f"{agent.url}/hooks/github", body, github_headers(body))
    assert delta(await receipts(http, agent), before) == {
        ("github", "accepted"): 1.0,
        ("github", "duplicate"): 1.0,
        ("github", "unauthorized"): 1.0,
        ("github", "ignored"): 1.0,
        ("github", "replay"): 1.0,
    }
