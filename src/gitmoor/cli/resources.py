"""`gitmoor status | sync | suspend | resume`: reading and steering GitSources and Syncs."""

from __future__ import annotations

import json

import typer
import yaml
from rich.table import Table

from gitmoor.cli.common import (
    CONTEXT,
    ENVIRONMENT,
    FAILED,
    KUBECONFIG,
    NAMESPACE,
    Output,
    err,
    kubeconfig_path,
    out,
    run_async,
)
from gitmoor.commands.operations import (
    OperationError,
    RollbackResult,
    set_suspended,
    status_rows,
    sync_now,
    unpin,
)
from gitmoor.commands.operations import rollback as rollback_to
from gitmoor.commands.run import connect
from gitmoor.model.durations import parse_duration
from gitmoor.reconcile import conditions as cond


def _short(revision: str) -> str:
    """`main@sha1:0123456789ab`: enough of the hash to find the commit, short enough for a table."""
    name, sep, digest = revision.rpartition("sha1:")
    return f"{name}{sep}{digest[:12]}" if sep else revision


def _colour(value: str) -> str:
    return {"True": "[green]True[/green]", "False": "[red]False[/red]"}.get(value, value)


def status(
    namespace: str = typer.Option(None, "--namespace", "-n", help="Only this namespace."),
    all_namespaces: bool = typer.Option(False, "--all-namespaces", "-A"),
    output: Output = typer.Option(Output.table, "--output", "-o"),
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Show sources and syncs: revisions, readiness, health, last change."""
    scope = "" if all_namespaces or namespace is None else namespace

    async def main() -> tuple[list, list]:  # type: ignore[type-arg]
        async with await connect(kubeconfig_path(kubeconfig), context) as kube:
            return await status_rows(kube, scope)

    sources, syncs = run_async(main)
    if output is not Output.table:
        data = {
            "sources": [s.as_dict() for s in sources],
            "syncs": [s.as_dict() for s in syncs],
        }
        text = json.dumps(data, indent=2) if output is Output.json else yaml.safe_dump(data)
        typer.echo(text)
        raise typer.Exit(0)
    table = Table(title="GitSources", title_justify="left")
    for column in ("NAMESPACE", "NAME", "URL", "REVISION", "READY", "MESSAGE"):
        table.add_column(column, overflow="fold")
    for s in sources:
        ready = "suspended" if s.suspended else _colour(s.ready)
        table.add_row(s.namespace, s.name, s.url, _short(s.revision), ready, s.message)
    out.print(table)
    table = Table(title="Syncs", title_justify="left")
    for column in (
        "NAMESPACE",
        "NAME",
        "SOURCE REV",
        "APPLIED REV",
        "READY",
        "HEALTHY",
        "LAST CHANGE",
        "MESSAGE",
    ):
        table.add_column(column, overflow="fold")
    for y in syncs:
        ready = "suspended" if y.suspended else _colour(y.ready)
        if y.pinned:
            ready += f" (pinned {_short(y.pinned)})"
        table.add_row(
            y.namespace,
            y.name,
            _short(y.source_revision),
            _short(y.applied_revision),
            ready,
            _colour(y.healthy),
            y.last_change,
            y.message,
        )
    out.print(table)


def sync(
    name: str = typer.Argument(..., help="The Sync to reconcile now."),
    namespace: str = NAMESPACE,
    timeout: str = typer.Option("5m", "--timeout", help="How long to wait, e.g. 90s, 5m."),
    with_source: bool = typer.Option(
        True, "--with-source/--no-source", help="Fetch the GitSource first."
    ),
    force: bool = typer.Option(
        False, "--force", help="Retry a revision that an atomic Sync rolled back."
    ),
    allow_prune: bool = typer.Option(
        False, "--allow-prune", help="Let this attempt prune more than the Sync's pruneLimit."
    ),
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Fetch the source and reconcile a Sync now; wait, showing progress.

    Exits 0 when the Sync is Ready afterwards, 1 when it is not."""
    seconds = parse_duration(timeout)

    async def main() -> dict:  # type: ignore[type-arg]
        async with await connect(kubeconfig_path(kubeconfig), context) as kube:
            with err.status(f"syncing {namespace}/{name}") as spinner:

                def progress(line: str) -> None:
                    spinner.update(line)
                    err.print(f"  {line}", highlight=False)

                return await sync_now(
                    kube,
                    name,
                    namespace,
                    timeout=seconds,
                    with_source=with_source,
                    force=force,
                    allow_prune=allow_prune,
                    progress=progress,
                )

    try:
        result = run_async(main)
    except typer.Exit:
        raise
    except OperationError as problem:
        err.print(f"[red]error:[/red] {problem}", highlight=False)
        raise typer.Exit(ENVIRONMENT) from None
    ready = cond.get_condition(result, cond.READY) or {}
    revision = (result.get("status") or {}).get("lastAppliedRevision", "")
    if ready.get("status") == "True":
        out.print(f"[green]✔[/green] Sync {namespace}/{name} ready at {revision}", highlight=False)
        return
    reason, message = ready.get("reason", ""), ready.get("message", "")
    out.print(f"[red]✘[/red] Sync {namespace}/{name}: {reason}: {message}", highlight=False)
    raise typer.Exit(FAILED)


def _suspend(
    name: str,
    namespace: str,
    source: bool,
    value: bool,
    kubeconfig: str | None,
    context: str | None,
) -> None:
    kind = "GitSource" if source else "Sync"

    async def main() -> None:
        async with await connect(kubeconfig_path(kubeconfig), context) as kube:
            await set_suspended(kube, kind, name, namespace, value)

    try:
        run_async(main)
    except OperationError as problem:
        err.print(f"[red]error:[/red] {problem}", highlight=False)
        raise typer.Exit(ENVIRONMENT) from None
    out.print(f"{kind} {namespace}/{name} {'suspended' if value else 'resumed'}")


def suspend(
    name: str = typer.Argument(...),
    namespace: str = NAMESPACE,
    source: bool = typer.Option(False, "--source", help="Suspend the GitSource, not a Sync."),
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Stop reconciling a Sync (or a GitSource) until resumed; nothing is deleted."""
    _suspend(name, namespace, source, True, kubeconfig, context)


def resume(
    name: str = typer.Argument(...),
    namespace: str = NAMESPACE,
    source: bool = typer.Option(False, "--source", help="Resume the GitSource, not a Sync."),
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Reconcile a suspended Sync (or GitSource) again, at once."""
    _suspend(name, namespace, source, False, kubeconfig, context)
    if not source:

        async def main() -> None:
            async with await connect(kubeconfig_path(kubeconfig), context) as kube:
                await unpin(kube, name, namespace)

        run_async(main)


def rollback(
    name: str = typer.Argument(..., help="The Sync to roll back."),
    namespace: str = NAMESPACE,
    to: str = typer.Option(
        None,
        "--to",
        help="Revision (main@sha1:<hex>) or commit sha; default: the previous healthy one.",
    ),
    timeout: str = typer.Option("5m", "--timeout"),
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Apply an earlier revision now and pin the Sync to it until `gitmoor resume`."""
    seconds = parse_duration(timeout)

    async def main() -> RollbackResult:
        async with await connect(kubeconfig_path(kubeconfig), context) as kube:
            return await rollback_to(
                kube,
                name,
                namespace,
                to=to,
                timeout=seconds,
                progress=lambda line: err.print(f"  {line}", highlight=False),
            )

    result = run_async(main)  # an unknown --to is a usage error (exit 2), nothing changed
    ready = cond.get_condition(result.sync, cond.READY) or {}
    if ready.get("status") != "True":
        out.print(
            f"[red]✘[/red] Sync {namespace}/{name}: {ready.get('reason', '')}: "
            f"{ready.get('message', '')}",
            highlight=False,
        )
        raise typer.Exit(FAILED)
    out.print(
        f"[green]✔[/green] Sync {namespace}/{name} rolled back to {result.pinned} and pinned "
        f"there; `gitmoor resume {name} -n {namespace}` follows Git again.",
        highlight=False,
    )
    hint = result.revert_hint()
    if hint:
        out.print(f"To make Git say the same, commit the revert:\n  {hint}", highlight=False)
