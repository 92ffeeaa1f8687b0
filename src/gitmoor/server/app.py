"""The agent's one HTTP port: `/healthz`, `/readyz`, `/metrics` and, when a receiver is given,
`/hooks/{provider}`.

- `/healthz` answers 200 while the event loop serves requests and `live()` (if given) agrees:
  a wedged loop or a dead agent task makes the kubelet restart the pod.
- `/readyz` answers 200 only when `ready()` says so (caches synced, leadership known).
- `/metrics` is the Prometheus text format of gitmoor's own registry; with `metrics_auth`, only
  for a request bearing one of its tokens (401 otherwise, 503 when the token file is unusable).
- `/api/v1/ledger/...`, when a ledger API is given: the read-only ledger questions, for callers
  with Kubernetes credentials (see `gitmoor.server.ledger_api`).
- `/ui/...`, when a UI is given: the web UI and its JSON API (see `gitmoor.server.ui`).

The port bounds what a client can hold: see `gitmoor.server.connections`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from gitmoor import metrics
from gitmoor.server.auth import BearerTokens, TokenFileError
from gitmoor.server.connections import (
    HEADER_TIMEOUT,
    MAX_CONNECTIONS,
    CappedSite,
    handler_args,
)
from gitmoor.server.hooks import HookReceiver
from gitmoor.server.ledger_api import LedgerApi
from gitmoor.server.ui import UiApi

log = structlog.get_logger("gitmoor.server")


def build_app(
    ready: Callable[[], bool],
    *,
    live: Callable[[], bool] | None = None,
    hooks: HookReceiver | None = None,
    registry: CollectorRegistry | None = None,
    metrics_auth: BearerTokens | None = None,
    ledger_api: LedgerApi | None = None,
    ui: UiApi | None = None,
) -> web.Application:
    served = registry if registry is not None else metrics.REGISTRY

    async def healthz(_: web.Request) -> web.Response:
        if live is None or live():
            return web.Response(text="ok\n")
        return web.Response(status=503, text="not live\n")

    async def readyz(_: web.Request) -> web.Response:
        if ready():
            return web.Response(text="ok\n")
        return web.Response(status=503, text="not ready\n")

    async def scrape(request: web.Request) -> web.StreamResponse:
        if metrics_auth is not None:
            refused = _refuse_scrape(metrics_auth, request)
            if refused is not None:
                return refused
        response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE_LATEST})
        await response.prepare(request)
        # Each slice formatted in a thread (a second of CPU at a thousand Syncs must not stall
        # the reconciles) and sent before the next is made.
        parts = metrics.exposition(served)
        while (part := await asyncio.to_thread(next, parts, None)) is not None:
            await response.write(part)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", scrape)
    if hooks is not None:
        hooks.add_routes(app)
    if ledger_api is not None:
        ledger_api.add_routes(app)
    if ui is not None:
        ui.add_routes(app)
    return app


async def serve(
    host: str,
    port: int,
    ready: Callable[[], bool],
    *,
    live: Callable[[], bool] | None = None,
    hooks: HookReceiver | None = None,
    registry: CollectorRegistry | None = None,
    metrics_auth: BearerTokens | None = None,
    ledger_api: LedgerApi | None = None,
    ui: UiApi | None = None,
    header_timeout: float = HEADER_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
) -> web.AppRunner:
    """Start serving; `runner.addresses` tells the bound port (pass 0 for any free one).
    Stop with `await runner.cleanup()`."""
    app = build_app(
        ready,
        live=live,
        hooks=hooks,
        registry=registry,
        metrics_auth=metrics_auth,
        ledger_api=ledger_api,
        ui=ui,
    )
    runner = web.AppRunner(app, access_log=None, **handler_args(header_timeout=header_timeout))
    await runner.setup()
    await CappedSite(runner, host, port, max_connections=max_connections).start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The TCP port a runner started by `serve` listens on."""
    address = runner.addresses[0]
    return int(address[1])


def _refuse_scrape(tokens: BearerTokens, request: web.Request) -> web.Response | None:
    try:
        if tokens.allows(request.headers.get("Authorization")):
            return None
    except TokenFileError as problem:
        log.error("metrics refused: token unavailable", error=str(problem))
        return web.Response(status=503, text="metrics token unavailable\n")
    return web.Response(
        status=401,
        text="a bearer token is required\n",
        headers={"WWW-Authenticate": 'Bearer realm="gitmoor metrics"'},
    )
