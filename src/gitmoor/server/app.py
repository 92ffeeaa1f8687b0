"""The agent's one HTTP port: `/healthz`, `/readyz`, `/metrics` and, when a receiver is given,
`/hooks/{provider}`.

- `/healthz` answers 200 while the event loop serves requests and `live()` (if given) agrees:
  a wedged loop or a dead agent task makes the kubelet restart the pod.
- `/readyz` answers 200 only when `ready()` says so (caches synced, leadership known).
- `/metrics` is the Prometheus text format of gitmoor's own registry.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gitmoor import metrics
from gitmoor.server.hooks import HookReceiver


def build_app(
    ready: Callable[[], bool],
    *,
    live: Callable[[], bool] | None = None,
    hooks: HookReceiver | None = None,
    registry: CollectorRegistry | None = None,
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

    async def scrape(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(served), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", scrape)
    if hooks is not None:
        hooks.add_routes(app)
    return app


async def serve(
    host: str,
    port: int,
    ready: Callable[[], bool],
    *,
    live: Callable[[], bool] | None = None,
    hooks: HookReceiver | None = None,
    registry: CollectorRegistry | None = None,
) -> web.AppRunner:
    """Start serving; `runner.addresses` tells the bound port (pass 0 for any free one).
    Stop with `await runner.cleanup()`."""
    app = build_app(ready, live=live, hooks=hooks, registry=registry)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The TCP port a runner started by `serve` listens on."""
    address = runner.addresses[0]
    return int(address[1])
