"""Notifications sent for real over loopback HTTP to receivers the tests run: a signed generic
webhook, a flaky receiver, fake GitHub and GitLab APIs, and one that never answers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gitmoor import metrics
from gitmoor.errors import PermanentError
from gitmoor.model.notifications import NotificationEvent, NotificationKind, NotificationSink
from gitmoor.notify import Notifier, RetryPolicy, signature
from gitmoor.server.app import bound_port

SHA = "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5"
REVISION = f"main@sha1:{SHA}"
HMAC_KEY = b"receiver-hmac-key"
TOKEN = b"ghp_notARealToken0123456789"
FAST = RetryPolicy(attempts=4, base=0.01, factor=2, cap=0.05)


@dataclass
class Received:
    path: str
    raw_path: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


Handler = Callable[[Received], Awaitable[web.Response]]


@dataclass
class Receiver:
    """An HTTP server that records every request and answers with `answer`."""

    answer: Handler
    requests: list[Received] = field(default_factory=list)
    url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        got = Received(request.path, request.raw_path, request.headers.copy(), await request.read())
        self.requests.append(got)
        self.arrived.set()
        return await self.answer(got)


@pytest.fixture
async def serve_receiver() -> AsyncIterator[Callable[[Handler], Awaitable[Receiver]]]:
    runners: list[web.AppRunner] = []

    async def start(answer: Handler) -> Receiver:
        receiver = Receiver(answer)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", receiver.handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        receiver.url = f"http://127.0.0.1:{bound_port(runner)}"
        return receiver

    yield start
    for runner in runners:
        await runner.cleanup()


async def ok(_: Received) -> web.Response:
    return web.json_response({"ok": True}, status=201)


def secrets(data: dict[str, dict[str, bytes]]) -> Callable[[str, str], Awaitable[dict[str, bytes]]]:
    async def read(namespace: str, name: str) -> dict[str, bytes]:
        assert namespace == "team-a"
        if name not in data:
            raise PermanentError(f"Secret {namespace}/{name} not found")
        return data[name]

    return read


def event(
    kind: NotificationKind, sinks: tuple[NotificationSink, ...], **fields: Any
) -> NotificationEvent:
    values: dict[str, Any] = {
        "kind": kind,
        "namespace": "team-a",
        "name": "apps",
        "revision": REVISION,
        "reason": "HealthCheckFailed" if kind is not NotificationKind.RECOVERY else "Applied",
        "message": "Deployment/team-a/api: 0 of 3 replicas available",
        "sinks": sinks,
        "source_url": "https://github.com/Example-Org/platform-config.git",
    }
    values.update(fields)
    return NotificationEvent(**values)


def webhook(url: str, **fields: Any) -> NotificationSink:
    return NotificationSink.model_validate(
        {"type": "webhook", "url": url, "secretRef": {"name": "hook"}, **fields}
    )


def sent(sink: str, result: str) -> float:
    text = generate_latest(metrics.REGISTRY).decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gitmoor_notifications_total" and sample.labels == {
                "sink": sink,
                "result": result,
            }:
                return sample.value
    return 0.0


async def test_failure_then_recovery_reach_a_receiver_that_checks_the_signature(
    serve_receiver: Callable[[Handler], Awaitable[Receiver]],
) -> None:
    receiver = await serve_receiver(ok)
    sink = webhook(f"{receiver.url}/gitmoor")
    async with Notifier(secrets({"hook": {"hmacKey": HMAC_KEY}}), retry=FAST) as notifier:
        notifier.notify(event(NotificationKind.FAILURE, (sink,)))
        notifier.notify(event(NotificationKind.RECOVERY, (sink,)))
        await notifier.join()
    assert [r.json["kind"] for r in sorted(receiver.requests, key=lambda r: r.json["kind"])] == [
        "failure",
        "recovery",
    ]
    for request in receiver.requests:
        assert request.path == "/gitmoor"
        check = signature.verify(
            [HMAC_KEY],
            request.body,
            signature=request.headers.get("X-Gitmoor-Signature"),
            timestamp=request.headers.get("X-Gitmoor-Timestamp"),
            now=time.time(),
        )
        assert check is signature.Check.OK
        assert request.headers["Content-Type"] == "application/json"
        assert HMAC_KEY not in request.body
        body = request.json
        assert body["sync"] == {"namespace": "team-a", "name": "apps"}
        assert body["revision"] == REVISION


async def test_a_failing_receiver_gets_retries_of_the_same_delivery(
    serve_receiver: Callable[[Handler], Awaitable[Receiver]],
) -> None:
    answers = iter([500, 503])

    async def flaky(_: Received) -> web.Response:
        return web.json_response({}, status=next(answers, 200))

    receiver = await serve_receiver(flaky)
    before = sent("webhook", "sent")
    async with Notifier(secrets({"hook": {"hmacKey": HMAC_KEY}}), retry=FAST) as notifier:
        notifier.notify(event(NotificationKind.FAILURE, (webhook(receiver.url),)))
        await notifier.join()
    assert len(receiver.requests) == 3
    assert len({r.headers["X-Gitmoor-Delivery"] for r in receiver.requests}) == 1
    assert sent("webhook", "sent") == before + 1


async def test_attempts_are_bounded_and_refusals_are_not_retried(
    serve_receiver: Callable[[Handler], Awaitable[Receiver]],
) -> None:
    async def down(_: Received) -> web.Response:
        return web.json_response({}, status=502)

    async def refuses(_: Received) -> web.Response:
        return web.json_response({"message": "Bad credentials"}, status=401)

    broken, refusing = await serve_receiver(down), await serve_receiver(refuses)
    before = sent("webhook", "failed")
    async with Notifier(secrets({"hook": {"hmacKey": HMAC_KEY}}), retry=FAST) as notifier:
        notifier.notify(
            event(NotificationKind.FAILURE, (webhook(broken.url), webhook(refusing.url)))
        )
        await notifier.join()
        assert len(broken.requests) == FAST.attempts
        assert len(refusing.requests) == 1
        assert sent("webhook", "failed") == before + 2
        # Given up, so not remembered as sent: the next repeat is tried again.
        notifier.notify(event(NotificationKind.FAILURE, (webhook(refusing.url),)))
        await notifier.join()
        assert len(refusing.requests) == 2


async def test_a_repeated_event_is_sent_once(
    serve_receiver: Callable[[Handler], Awaitable[Receiver]],
) -> None:
    receiver = await serve_receiver(ok)
    sink = webhook(receiver.url)
    before = sent("webhook", "duplicate")
    async with Notifier(secrets({"hook": {"hmacKey": HMAC_KEY}}), retry=FAST) as notifier:
        for _ in range(3):
            notifier.notify(event(NotificationKind.FAILURE, (sink,)))
        await notifier.join()
        assert len(receiver.requests) == 1
        assert sent("webhook", "duplicate") == before + 2
        # Another reason is news.
        notifier.notify(event(NotificationKind.FAILURE, (sink,), reason="DryRunFailed"))
        await notifier.join()
    assert [r.json["reason"] for r in receiver.requests] == ["HealthCheckFailed", "DryRunFailed"]


async def test_github_commit_status_reaches_the_api_with_token_and_state(
    serve_receiver: Callable[[Handler], Awaitable[Receiver]],
) -> None:
    async def github(request: Received) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN.decode()}":
            return web.json_response({"message": "Bad credentials"}, status=401)
        return web.json_response({"state": request.json["state"]}, status=201)

    api = await serve_receiver(github)
    sink = NotificationSink.model_validate(
        {"type": "github", "url": api.url, "secretRef": {"name": "gh"}}
    )
    async with Notifier(secrets({"gh": {"token": TOKEN}}), retry=FAST) as notifier:
        notifier.notify(event(NotificationKind.FAILURE, (sink,)))
        await notifier.join()
        notifier.notify(event(NotificationKind.RECOVERY, (sink,)))
        await notifier.join()
    assert [r.path for r in api.requests] == [
        f"/repos/Example-Org/platform-config/statuses/{SHA}"
    ] * 2
    assert [r.json["state"] for r in api.requests] == ["failure", "success"]
    assert {r.json["context"] for r in api.requests} == {"gitmoor/team-a/apps"}
    for request in api.requests:
        assert request.headers["Accept"] == "application/vnd.github+json"
        assert TOKEN not in request.body


async def test_gitlab_commit_status_uses_the_encoded_project_path(
    serve_receiver: Callable[[Handler], Awaitable[Receiver]],
) -> None:
    async def gitlab(request: Received) -> web.Response:
        if request.headers.get("PRIVATE-TOKEN") != TOKEN.decode():
            return web.json_response({"message": "401 Unauthorized"}, status=401)
        return web.json_response({"status": request.json["state"]}, status=201)

    api = await serve_receiver(gitlab)
    sink = NotificationSink.model_validate(
        {"type": "gitlab", "url": api.url, "secretRef": {"name": "gl"}}
    )
    source = "git@gitlab.example.com:platform/infra/deployments.git"
    async with Notifier(secrets({"gl": {"token": TOKEN}}), retry=FAST) as notifier:
        notifier.notify(event(NotificationKind.ROLLBACK, (sink,), source_url=source))
        await notifier.join()
    [request] = api.requests
    assert request.raw_path == (f"/api/v4/projects/platform%2Finfra%2Fdeployments/statuses/{SHA}")
    assert request.json["state"] == "failed"
    assert request.json["name"] == "gitmoor/team-a/apps"


async def test_notify_returns_at_once_while_the_receiver_hangs(
    serve_receiver: Callable[[Handler], Awaitable[Receiver]],
) -> None:
    release = asyncio.Event()

    async def hang(_: Received) -> web.Response:
        await release.wait()
        return web.json_response({})

    receiver = await serve_receiver(hang)
    notifier = Notifier(secrets({"hook": {"hmacKey": HMAC_KEY}}), retry=FAST, workers=1)
    await notifier.start()
    try:
        for reason in ("A", "B", "C"):
            result = notifier.notify(
                event(NotificationKind.FAILURE, (webhook(receiver.url),), reason=reason)
            )
            assert result is None
        # The first delivery is stuck in the receiver; the caller went on regardless.
        await asyncio.wait_for(receiver.arrived.wait(), 30)
        assert not release.is_set()
        assert len(receiver.requests) == 1
    finally:
        await notifier.close(grace=0.1)
        release.set()


async def test_a_missing_secret_sends_nothing_and_never_reaches_the_caller(
    serve_receiver: Callable[[Handler], Awaitable[Receiver]],
) -> None:
    receiver = await serve_receiver(ok)
    broken = NotificationSink.model_validate(
        {"type": "webhook", "url": receiver.url, "secretRef": {"name": "absent"}}
    )
    before = sent("webhook", "failed")
    async with Notifier(secrets({}), retry=FAST) as notifier:
        notifier.notify(event(NotificationKind.FAILURE, (broken,)))
        await notifier.join()
    assert receiver.requests == []
    assert sent("webhook", "failed") == before + 1


async def test_sinks_get_only_the_kinds_they_want(
    serve_receiver: Callable[[Handler], Awaitable[Receiver]],
) -> None:
    receiver = await serve_receiver(ok)
    drift_only = webhook(receiver.url, events=["drift"])
    async with Notifier(secrets({"hook": {"hmacKey": HMAC_KEY}}), retry=FAST) as notifier:
        notifier.notify(event(NotificationKind.FAILURE, (drift_only,)))
        notifier.notify(
            event(NotificationKind.DRIFT, (drift_only,), objects=("ConfigMap/team-a/settings",))
        )
        await notifier.join()
    [request] = receiver.requests
    assert request.json["kind"] == "drift"
    assert request.json["objects"] == ["ConfigMap/team-a/settings"]
