"""The agent's HTTP port: `/healthz` (the process serves) and `/readyz` (caches synced and
leadership known). Metrics and webhooks join this port later."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web


async def serve(host: str, port: int, ready: Callable[[], bool]) -> web.AppRunner:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        if ready():
            return web.Response(text="ok\n")
        return web.Response(status=503, text="not ready\n")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
