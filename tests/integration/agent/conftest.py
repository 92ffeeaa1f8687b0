"""Fixtures for agent tests: gitmoor's CRDs once per run, an agent per test."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from gitmoor.commands.run import install_crds
from gitmoor.kube import Kube
from gitmoor.notify import signature
from testenv.ports import free_port
from tests.integration.agent.harness import AgentHarness


@pytest.fixture
async def crds(kube: Kube) -> None:
    # Idempotent and cheap once applied: the server answers an unchanged apply without a write.
    await install_crds(kube)


@pytest.fixture
async def harness(
    kube: Kube, kubeconfig: Path, namespace: str, tmp_path: Path, crds: None
) -> AsyncIterator[AgentHarness]:
    h = AgentHarness(kube, kubeconfig, namespace, tmp_path)
    await h.start()
    try:
        yield h
    finally:
        await h.stop()


# The HMAC key of the notification receiver.
NOTIFY_KEY = b"notification-key"


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        check = signature.verify(
            [NOTIFY_KEY],
            body,
            timestamp=request.headers.get(signature.TIMESTAMP_HEADER, ""),
            signature=request.headers.get(signature.SIGNATURE_HEADER, ""),
            now=time.time(),
        )
        if check is not signature.Check.OK:
            return web.Response(status=401)
        received.append(orjson.loads(body))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/notify", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/notify", received
    finally:
        await runner.cleanup()
