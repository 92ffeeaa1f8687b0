"""A throttling reverse proxy for the test registry: Debian's docker-registry never answers 429,
so this stands in front of it on loopback (HTTPS, a certificate of its own test CA) and answers
the first `first` requests for each path with `429 Too Many Requests` and `Retry-After`, as a
rate-limited registry (Docker Hub, GHCR) does, then forwards every later request unchanged
(Authorization and all) to the real registry.

It runs in a thread of its own with its own event loop, so it answers whatever the test's loop
(and the agent on it) is doing.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections import Counter
from pathlib import Path
from types import TracebackType

import aiohttp
from aiohttp import web

from testenv.pki import CertificateAuthority
from testenv.ports import free_port
from testenv.registry import Registry

LOOPBACK = "127.0.0.1"
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade"}
)


class ThrottlingProxy:
    """See the module doc. `counts` holds how many requests each path got (429s included)."""

    def __init__(
        self, workdir: Path, upstream: Registry, *, first: int = 1, retry_after: int = 1
    ) -> None:
        self.upstream = upstream
        self.first = first
        self.retry_after = retry_after
        self.ca = CertificateAuthority(workdir / "pki", "gitmoor-throttle-ca")
        self.ca_path = self.ca.cert_path
        self._pair = self.ca.issue("proxy", "localhost", hosts=(LOOPBACK, "localhost"), server=True)
        self.counts: Counter[str] = Counter()
        self.throttled: list[str] = []  # paths answered with 429, in order
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._session: aiohttp.ClientSession | None = None

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def start(self) -> ThrottlingProxy:
        self.port = free_port(LOOPBACK)
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve())
            except BaseException as err:  # reported to start()'s caller
                failure.append(err)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._close())
            loop.close()

        self._thread = threading.Thread(target=run, name="throttling-proxy", daemon=True)
        self._thread.start()
        started.wait(30)
        if failure:
            raise failure[0]
        return self

    async def _serve(self) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self._pair.cert, self._pair.key)
        upstream_tls = ssl.create_default_context(cafile=str(self.upstream.ca_path))
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=upstream_tls), auto_decompress=False
        )
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, LOOPBACK, self.port, ssl_context=context).start()

    async def _close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self.counts[request.path] += 1
            seen = self.counts[request.path]
            if seen <= self.first:
                self.throttled.append(request.path)
        if seen <= self.first:
            return web.Response(
                status=429,
                headers={"Retry-After": str(self.retry_after)},
                text='{"errors":[{"code":"TOOMANYREQUESTS","message":"rate limited"}]}',
                content_type="application/json",
            )
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self._session.request(
            request.method,
            f"https://{self.upstream.host}{request.path_qs}",
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as answer:
            body = await answer.read()
            back = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
            return web.Response(status=answer.status, headers=back, body=body)

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> ThrottlingProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
