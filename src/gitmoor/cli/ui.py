"""`gitmoor ui`: the web UI on this machine, with your own kubeconfig credentials."""

from __future__ import annotations

import asyncio
import signal
import webbrowser

import typer

from gitmoor.cli.common import CONTEXT, KUBECONFIG, kubeconfig_path, run_async


def ui(
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
    namespace: str = typer.Option(
        "", "--namespace", "-n", help="Only this namespace's Syncs (default: every namespace)."
    ),
    port: int = typer.Option(8765, "--port", help="Port on 127.0.0.1 (0: any free one)."),
    ledger: str = typer.Option(
        None,
        "--ledger",
        envvar="GITMOOR_LEDGER",
        help="A ledger URL (sqlite:///PATH, postgresql://...) for timelines, environments and "
        "DORA figures (default: none).",
    ),
    cluster_name: str = typer.Option(
        None, "--cluster-name", help="This cluster's name in the ledger (default: the context)."
    ),
    open_browser: bool = typer.Option(False, "--open", help="Open the UI in the default browser."),
) -> None:
    """Serve the web UI on 127.0.0.1 against your kubeconfig: you see and do what your own
    RBAC allows. Open the printed URL (it carries a one-time key)."""
    from gitmoor.commands.cluster import connect
    from gitmoor.ledger import Ledger
    from gitmoor.server.ui.local import serve_local

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        kube = await connect(kubeconfig_path(kubeconfig), context)
        opened = await Ledger.open(ledger, create=False) if ledger else None
        async with kube:
            served = await serve_local(
                kube,
                port=port,
                namespace=namespace,
                ledger=opened,
                cluster=cluster_name or context or "",
            )
            typer.echo(f"gitmoor UI: {served.url}", err=True)
            if open_browser:
                webbrowser.open(served.url)
            try:
                await stop.wait()
            finally:
                await served.close()
                if opened is not None:
                    await opened.close()
        return 0

    raise typer.Exit(run_async(main))
