"""The agent's HTTP port, served for real on loopback and spoken to over real sockets: slow
and idle clients, the connection cap, replays refused, and /metrics behind a bearer token.

Timeouts are set small here; a slow client still has to be slow, so some tests take seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gitmoor import metrics
from gitmoor.model.notifications import Provider, PushEvent
from gitmoor.notify import signature
from gitmoor.server.app import bound_port, serve
from gitmoor.server.auth import BearerTokens
from gitmoor.server.connections import DRAIN_TIME
from gitmoor.server.hooks import HookReceiver

PAYLOADS = Path(__file__).parent / "payloads"
SECRETS = {
    Provider.GITHUB: [b"github-secret"],
    Provider.GITLAB: [b"gitlab-token"],
    Provider.GITEA: [b"gitea-secret"],
    Provider.GENERIC: [b"ci-key"],
}
SLACK = 1.5  # what a loaded test machine may add to a timeout before the server acts on it


@dataclass
class Port:
    url: str
    port: int
    pushes: list[PushEvent] = field(default_factory=list)


@contextlib.asynccontextmanager
async def serving(**options: Any) -> AsyncIterator[Port]:
    body_timeout = options.pop("body_timeout", 30.0)
    pushes: list[PushEvent] = []

    async def secrets_for(provider: Provider) -> list[bytes]:
        return SECRETS[provider]

    def on_push(event: PushEvent) -> int:
        pushes.append(event)
        return 1

    hooks = HookReceiver(secrets_for, on_push, body_timeout=body_timeout)
    runner = await serve("127.0.0.1", 0, lambda: True, hooks=hooks, **options)
    port = bound_port(runner)
    try:
        yield Port(f"http://127.0.0.1:{port}", port, pushes)
    finally:
        await runner.cleanup()


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := await reader.read(65536):
            received += chunk
    return received


async def trickle(writer: asyncio.StreamWriter, data: bytes, *, every: float = 1.0) -> None:
    """Send `data` one byte at a time, as a slowloris client does, until the server hangs up."""
    with contextlib.suppress(ConnectionError):
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(every)


async def get(port: Port, path: str, *, on: tuple[Any, Any] | None = None) -> int:
    """GET `path` with a hand-written request (on a connection of the test's, if given)."""
    reader, writer = on or await asyncio.open_connection("127.0.0.1", port.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: gitmoor\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    async with asyncio.timeout(10):
        answer = await closed_by_server(reader)
    writer.close()
    return int(answer.split(b" ", 2)[1]) if answer else 0


def counted(name: str, **labels: str) -> float:
    text = generate_latest(metrics.REGISTRY).decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


async def test_headers_sent_a_byte_a_second_are_cut_off_at_the_header_timeout() -> None:
    header_timeout = 2.5
    async with serving(header_timeout=header_timeout) as port:
        loop = asyncio.get_running_loop()
        slow = await asyncio.open_connection("127.0.0.1", port.port)
        silent = await asyncio.open_connection("127.0.0.1", port.port)
        started = loop.time()
        request = b"GET /healthz HTTP/1.1\r\nHost: gitmoor\r\nX-Slow: " + b"z" * 60
        sender = asyncio.create_task(trickle(slow[1], request))
        try:
            async with asyncio.timeout(header_timeout + SLACK):
                answers = await asyncio.gather(
                    closed_by_server(slow[0]), closed_by_server(silent[0])
                )
            elapsed = loop.time() - started
            still_sending = not sender.done()
        finally:
            sender.cancel()
        # Closed without an answer, not before the timeout, although bytes kept arriving.
        assert answers == [b"", b""]
        assert elapsed >= header_timeout - 0.1
        assert still_sending
        # The port still serves others.
        assert await get(port, "/healthz") == 200


async def test_the_header_timeout_also_runs_from_the_previous_answer() -> None:
    header_timeout = 2.0
    async with serving(header_timeout=header_timeout) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: gitmoor\r\n\r\n")  # keep-alive
        await writer.drain()
        assert (await reader.readuntil(b"ok\n")).startswith(b"HTTP/1.1 200")
        loop = asyncio.get_running_loop()
        answered = loop.time()
        sender = asyncio.create_task(trickle(writer, b"GET /readyz HTTP/1.1\r\nX-Slow: zzzzzz"))
        try:
            async with asyncio.timeout(header_timeout + SLACK):
                assert await closed_by_server(reader) == b""
        finally:
            sender.cancel()
        assert loop.time() - answered >= header_timeout - 0.1


async def test_a_webhook_body_sent_slowly_is_answered_408_and_the_connection_closed() -> None:
    body_timeout = 1.5
    before = counted("gitmoor_webhook_receipts_total", provider="github", result="timeout")
    async with serving(body_timeout=body_timeout) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port.port)
        writer.write(
            b"POST /hooks/github HTTP/1.1\r\nHost: gitmoor\r\nContent-Type: application/json\r\n"
            b"X-GitHub-Event: push\r\nContent-Length: 64\r\n\r\n"
        )
        await writer.drain()
        loop = asyncio.get_running_loop()
        started = loop.time()
        sender = asyncio.create_task(trickle(writer, b"{" + b" " * 62 + b"}"))
        try:
            async with asyncio.timeout(body_timeout + SLACK):
                head = await reader.readuntil(b"\r\n\r\n")
            assert loop.time() - started >= body_timeout - 0.1
            assert head.startswith(b"HTTP/1.1 408")
            # The rest of the body is drained for a bounded time, then the connection closes.
            async with asyncio.timeout(DRAIN_TIME + SLACK):
                rest = await closed_by_server(reader)
        finally:
            sender.cancel()
        assert "not received within 1.5s" in json.loads(rest)["error"]
        assert port.pushes == []
    after = counted("gitmoor_webhook_receipts_total", provider="github", result="timeout")
    assert after - before == 1


async def test_past_the_cap_the_oldest_connections_go_and_probes_still_answer() -> None:
    cap = 16
    evicted_before = counted("gitmoor_http_connections_evicted_total")
    async with serving(max_connections=cap) as port:
        idle = [await asyncio.open_connection("127.0.0.1", port.port) for _ in range(cap + 4)]
        # The four oldest made room for the four newest, at once.
        async with asyncio.timeout(5):
            for reader, _ in idle[:4]:
                assert await closed_by_server(reader) == b""
        # At the cap, held by clients that send nothing, a probe still gets in and answers,
        # closing the oldest idle connection; that leaves room for the next one.
        assert await get(port, "/healthz") == 200
        async with asyncio.timeout(5):
            assert await closed_by_server(idle[4][0]) == b""
        assert await get(port, "/readyz") == 200
        # The newer ones were left alone: they are still served.
        for connection in idle[5:]:
            assert await get(port, "/healthz", on=connection) == 200
        for _, writer in idle:
            writer.close()
    assert counted("gitmoor_http_connections_evicted_total") - evicted_before == 5


def github_headers(body: bytes, delivery: str) -> dict[str, str]:
    mac = hmac.new(b"github-secret", body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": f"sha256={mac}",
    }


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_a_signed_github_body_under_a_new_delivery_id_is_refused_as_a_replay() -> None:
    def receipts(result: str) -> float:
        return counted("gitmoor_webhook_receipts_total", provider="github", result=result)

    before = {r: receipts(r) for r in ("accepted", "replay", "duplicate")}
    body = (PAYLOADS / "github-push.json").read_bytes()
    async with serving() as port:
        url = f"{port.url}/hooks/github"
        assert (await post(url, body, github_headers(body, "d-1")))[0] == 202
        status, answer = await post(url, body, github_headers(body, "d-2"))
        assert status == 409
        assert answer["status"] == "replay"
        assert "already delivered" in answer["error"]
        # The sender's own retry (same id) stays a harmless duplicate.
        assert await post(url, body, github_headers(body, "d-1")) == (
            200,
            {"status": "duplicate", "delivery": "d-1"},
        )
        assert len(port.pushes) == 1
    after = {r: receipts(r) for r in before}
    assert {r: after[r] - before[r] for r in before} == {
        "accepted": 1,
        "replay": 1,
        "duplicate": 1,
    }


async def test_gitlab_and_generic_replays_are_refused_by_what_authenticates_them() -> None:
    gitlab = (PAYLOADS / "gitlab-push.json").read_bytes()
    body = json.dumps({"url": "https://github.com/Example-Org/platform-config"}).encode()
    async with serving() as port:
        # GitLab's token covers no body: the body itself is remembered.
        headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "gitlab-token"}
        url = f"{port.url}/hooks/gitlab"
        assert (await post(url, gitlab, {**headers, "Idempotency-Key": "k-1"}))[0] == 202
        assert (await post(url, gitlab, {**headers, "Idempotency-Key": "k-2"}))[0] == 409
        # The generic form's MAC covers timestamp and body: the pair is remembered.
        url = f"{port.url}/hooks/generic"
        now = int(time.time())
        signed = signature.sign(b"ci-key", body, timestamp=now)
        assert (await post(url, body, {**signed, "X-Gitmoor-Delivery": "a"}))[0] == 202
        assert (await post(url, body, {**signed, "X-Gitmoor-Delivery": "b"}))[0] == 409
        # The timestamp spelt otherwise still verifies, and is still the same request.
        respelt = {**signed, "X-Gitmoor-Timestamp": f"+{now}"}
        assert (await post(url, body, respelt))[0] == 409
        # The same body signed at another time is another request (a CI job run again).
        again = signature.sign(b"ci-key", body, timestamp=now - 1)
        assert (await post(url, body, again))[0] == 202
        assert len(port.pushes) == 3


async def test_metrics_behind_a_bearer_token_read_again_when_the_file_changes(
    tmp_path: Path,
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("tok-1\n")

    async def scrape(port: Port, token: str | None) -> tuple[int, aiohttp.ClientResponse]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{port.url}/metrics", headers=headers) as response,
        ):
            await response.read()
            return response.status, response

    async with serving(metrics_auth=BearerTokens(token_file)) as port:
        status, response = await scrape(port, None)
        assert status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await scrape(port, "guess"))[0] == 401
        assert (await scrape(port, "tok-1"))[0] == 200
        assert await get(port, "/healthz") == 200  # probes need no token
        token_file.write_text("tok-2\ntok-1\n")  # a rotation: both for a while
        assert (await scrape(port, "tok-2"))[0] == 200
        assert (await scrape(port, "tok-1"))[0] == 200
        token_file.write_text("tok-2\n")
        assert (await scrape(port, "tok-1"))[0] == 401
        token_file.unlink()  # unusable: nobody gets in, and the scraper sees why
        assert (await scrape(port, "tok-2"))[0] == 503
    async with serving() as port:
        assert (await scrape(port, None))[0] == 200  # without the flag, as before
