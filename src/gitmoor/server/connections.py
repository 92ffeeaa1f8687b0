"""How the HTTP port treats connections, so slow or idle clients cannot hold it.

- Headers: a connection must deliver a request's complete headers within `header_timeout` of
  opening, or of its previous answer, or it is closed. This is aiohttp's keep-alive timer,
  which is armed when a connection opens and closes it when no complete request has arrived
  by then, however many bytes trickled in: exactly a header timeout.
- Bodies: the one handler that reads a body (`/hooks/...`) bounds the read itself (408).
  A body a handler leaves unread (a refused request) is drained for at most `DRAIN_TIME`, so
  the client can read the answer, then the connection is closed.
- The cap: at most `max_connections` connections. One more closes the oldest open connection
  rather than refusing the new one. Slow clients are the ones that stay, so they are the ones
  that go, and a short request (the kubelet's probe, a webhook, a scrape) always gets in;
  refusing instead would let a few hundred slow connections fail the liveness probe until the
  kubelet restarts the agent.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from yarl import URL

from gitmoor import metrics

HEADER_TIMEOUT = 10.0
MAX_CONNECTIONS = 256
DRAIN_TIME = 5.0


def handler_args(*, header_timeout: float) -> dict[str, Any]:
    """The arguments of aiohttp's per-connection handler that bound a connection's time."""
    return {"keepalive_timeout": header_timeout, "lingering_time": DRAIN_TIME}


class CappedSite(web.BaseSite):
    """A TCP site holding at most `max_connections` open connections (see the module)."""

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, *, max_connections: int
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        super().__init__(runner)
        self._host = host
        self._port = port
        self._max_connections = max_connections

    @property
    def name(self) -> str:
        return str(URL.build(scheme="http", host=self._host, port=self._port))

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._connect, self._host, self._port)

    def _connect(self) -> web.RequestHandler:
        server = self._runner.server
        assert server is not None  # a site starts only after its runner's setup
        loop = asyncio.get_running_loop()
        # The transport announces the new connection to the server with call_soon, queued after
        # anything queued here: the second hop runs once it is counted. Accepted in a burst,
        # several connections are all counted before the first trim.
        loop.call_soon(loop.call_soon, self._trim)
        return server()

    def _trim(self) -> None:
        server = self._runner.server
        if server is None:
            return
        # Oldest first; a closed connection stays listed until its handler task ends.
        alive = [c for c in server.connections if c.transport is not None]
        for connection in alive[: max(0, len(alive) - self._max_connections)]:
            connection.force_close()
            metrics.HTTP_CONNECTIONS_EVICTED.inc()
