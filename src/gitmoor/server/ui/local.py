"""`gitmoor ui` on a laptop: the same app, served on loopback against the kubeconfig's own
credentials. The launch key in the printed URL's fragment (never sent in a request line, so
never in a log) signs the browser in; anyone else on the machine, or any web page, has no key."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from aiohttp import web

from gitmoor.kube import Kube
from gitmoor.ledger import Ledger
from gitmoor.server.app import bound_port, serve
from gitmoor.server.ui.backend import LocalBackend
from gitmoor.server.ui.gates import LocalGate
from gitmoor.server.ui.routes import PREFIX, UiApi


@dataclass
class LocalUi:
    runner: web.AppRunner
    backend: LocalBackend
    url: str  # with the launch key: what the person opens

    async def close(self) -> None:
        await self.runner.cleanup()
        await self.backend.close()


async def serve_local(
    kube: Kube,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    namespace: str = "",
    ledger: Ledger | None = None,
    cluster: str = "",
) -> LocalUi:
    """Watch GitSources and Syncs with `kube` and serve the UI on `host:port` (0: any)."""
    backend = LocalBackend(kube, namespace=namespace, ledger=ledger, cluster=cluster)
    await backend.start()
    key = secrets.token_urlsafe(24)
    ui = UiApi(backend, LocalGate(kube, key))
    runner = await serve(host, port, lambda: True, ui=ui)
    shown = f"[{host}]" if ":" in host else host
    return LocalUi(runner, backend, f"http://{shown}:{bound_port(runner)}{PREFIX}/#/?key={key}")
