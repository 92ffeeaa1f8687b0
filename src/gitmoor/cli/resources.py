"""`gitmoor status | sync | suspend | resume`: reading and steering GitSources and Syncs."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

import typer
import yaml
from rich.text import Text

from gitmoor.cli.common import (
    ALL_NAMESPACES,
    CONTEXT,
    FAILED,
    KUBECONFIG,
    NAMESPACE,
    NO_HEADERS,
    OK,
    OUTPUT,
    Output,
    cluster_flags,
    duration,
    emit,
    err,
    kubeconfig_path,
    namespace_for,
    object_name,
    out,
    progress_line,
    result_line,
    run_async,
)
from gitmoor.cli.ledger import (
    AGENT_NAMESPACE_OPTION,
    AGENT_SERVICE_OPTION,
    LEDGER,
    Agent,
    record_reference,
    revision_of_record,
)
from gitmoor.cli.table import (
    Column,
    age,
    parse_time,
    print_table,
    render,
    short_revision,
    status_colour,
    terminal_width,
    use_colour,
)
from gitmoor.model.record import short_revision as compact

if TYPE_CHECKING:
    from gitmoor.commands.operations import RollbackResult, SourceRow, SyncRow


# `kubectl get gitsources,syncs`: the same first columns, then each kind's own.
_COMMON = (
    Column("NAMESPACE", identity=True),
    Column("NAME", identity=True),
    Column("READY", colour=status_colour),
    # Whole: a reason cut short (`ReconciliationSu…`) says nothing.
    Column("STATUS", min_width=len("ReconciliationSucceeded")),
    # When narrow, SUSPENDED goes first (unless a row is suspended: see _suspended_kept),
    # then the short revision; `-o wide` has both, the revision in full too.
    Column("REVISION", drop_rank=1),
    Column("SUSPENDED", drop_rank=2),
    Column("AGE"),
    Column("FULL REVISION", wide_only=True),
)
GITSOURCE_COLUMNS = (*_COMMON, Column("URL", wide_only=True), Column("MESSAGE", flexible=True))
SYNC_COLUMNS = (
    *_COMMON,
    Column("HEALTHY", wide_only=True, colour=status_colour),
    Column("SOURCE", wide_only=True),
    Column("SOURCE REVISION", wide_only=True),
    Column("LAST CHANGE", wide_only=True),
    Column("PINNED", wide_only=True),
    Column("REPLICA", wide_only=True),
    Column("MESSAGE", flexible=True),
)


def _source_row(s: SourceRow) -> list[str]:
    return [
        s.namespace,
        f"gitsource/{s.name}",
        s.ready,
        s.ready_reason,
        compact(s.revision),
        str(s.suspended),
        age(parse_time(s.created)),
        s.revision,
        s.url,
        s.message,
    ]


def _sync_row(y: SyncRow) -> list[str]:
    changed = parse_time(y.last_change)
    return [
        y.namespace,
        f"sync/{y.name}",
        y.ready,
        y.ready_reason,
        compact(y.applied_revision),
        str(y.suspended),
        age(parse_time(y.created)),
        y.applied_revision,
        y.healthy,
        y.source,
        short_revision(y.source_revision),
        age(changed) if changed else "",
        short_revision(y.pinned),
        y.replica,
        y.message,
    ]


def status(
    namespace: str | None = NAMESPACE,
    all_namespaces: bool = ALL_NAMESPACES,
    watch: bool = typer.Option(
        False, "--watch", "-w", help="After the table, a line per Sync as it changes (Ctrl-C ends)."
    ),
    output: Output = OUTPUT,
    no_headers: bool = NO_HEADERS,
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Show GitSources, OCISources and Syncs: ready, reason, applied revision, suspended, age,
    message.

    Like `kubectl get gitsources,syncs`: the context's namespace unless -n or -A is given;
    --watch goes on with a line per changed Sync, as `kubectl get -w` does."""
    from gitmoor.commands.cluster import connect
    from gitmoor.commands.operations import status_listing, sync_changes

    scope = "" if all_namespaces else namespace_for(namespace, kubeconfig, context)
    # NAMESPACE only with -A, as kubectl does: one namespace needs no column for it.
    drop = 0 if all_namespaces else 1
    view = _StatusView(output, drop, headers=not no_headers)

    async def main() -> None:
        async with await connect(kubeconfig_path(kubeconfig), context) as kube:
            listing = await status_listing(kube, scope)
            view.first(listing.sources, listing.syncs, scope, watching=watch)
            if watch:
                async for row in sync_changes(kube, scope, listing.version, listing.source_objects):
                    view.changed(row)

    # A watch ends only by Ctrl-C: that is success, as for `kubectl get -w`.
    run_async(main, interrupted=OK if watch else 130)


class _StatusView:
    """Prints `status`: the tables, then (with --watch) a row per change, laid out with the
    Sync rows shown before it so the columns stay aligned."""

    def __init__(self, output: Output, drop: int, *, headers: bool) -> None:
        self.output = output
        self.drop = drop
        self.headers = headers
        self.shown: list[list[str]] = []  # Sync rows printed so far (alignment)
        self.last: dict[tuple[str, str], list[str]] = {}  # each Sync's last printed row
        self.headed = False
        self.columns: tuple[Column, ...] = SYNC_COLUMNS[drop:]

    def first(
        self, sources: list[SourceRow], syncs: list[SyncRow], scope: str, *, watching: bool
    ) -> None:
        output = self.output
        for y in syncs:
            self.last[(y.namespace, y.name)] = _compared(_sync_row(y))
        if output in (Output.json, Output.yaml):
            data = {
                "sources": [s.as_dict() for s in sources],
                "syncs": [s.as_dict() for s in syncs],
            }
            if watching and output is Output.json:
                typer.echo(json.dumps(data))  # one document per line, changes after it
            else:
                emit(data, output)
            return
        if output is Output.name:
            for s in sources:
                typer.echo(f"{s.kind.lower()}.gitmoor.io/{s.name}")
            for y in syncs:
                typer.echo(f"sync.gitmoor.io/{y.name}")
            return
        if not sources and not syncs:
            where = "any namespace" if not scope else f"namespace {scope}"
            err.print(f"No GitSources or Syncs found in {where}.", highlight=False, soft_wrap=True)
            return
        wide = output is Output.wide
        suspended = any(s.suspended for s in sources) or any(y.suspended for y in syncs)
        if sources:
            rows = [_source_row(s)[self.drop :] for s in sources]
            columns = _suspended_kept(GITSOURCE_COLUMNS, suspended)[self.drop :]
            print_table(columns, rows, wide=wide, headers=self.headers)
        if syncs:
            if sources:
                typer.echo("")
            self.shown = [_sync_row(y)[self.drop :] for y in syncs]
        # Decided once, so that the rows a watch adds line up with the table's.
        self.columns = _suspended_kept(SYNC_COLUMNS, suspended)[self.drop :]
        if syncs:
            print_table(self.columns, self.shown, wide=wide, headers=self.headers)
            self.headed = True

    def changed(self, row: SyncRow) -> None:
        cells = _sync_row(row)
        key = (row.namespace, row.name)
        if self.last.get(key) == _compared(cells):
            return  # a status write that changes nothing shown (a handled request, say)
        self.last[key] = _compared(cells)
        output = self.output
        if output is Output.json:
            typer.echo(json.dumps(row.as_dict()))
            return
        if output is Output.yaml:
            typer.echo("---\n" + yaml.safe_dump(row.as_dict(), sort_keys=False), nl=False)
            return
        if output is Output.name:
            typer.echo(f"sync.gitmoor.io/{row.name}")
            return
        self.shown.append(cells[self.drop :])
        del self.shown[: max(0, len(self.shown) - _KEPT)]
        lines = render(
            self.columns,
            self.shown,
            wide=output is Output.wide,
            headers=self.headers,
            width=terminal_width(),
            colour=use_colour(),
        )
        if self.headers and not self.headed:
            typer.echo(lines[0])
            self.headed = True
        typer.echo(lines[-1])


_KEPT = 1000  # rows a watch keeps to align new ones with


def _suspended_kept(columns: tuple[Column, ...], suspended: bool) -> tuple[Column, ...]:
    """The columns, SUSPENDED never left out when a row is suspended: a narrow terminal may
    lose the column that says False everywhere, not the one that says why nothing moves."""
    if not suspended:
        return columns
    return tuple(
        dataclasses.replace(c, drop_rank=0) if c.header == "SUSPENDED" else c for c in columns
    )


_AGE = [c.header for c in SYNC_COLUMNS].index("AGE")


def _compared(cells: list[str]) -> list[str]:
    # AGE moves with the clock, not with the Sync.
    return cells[:_AGE] + cells[_AGE + 1 :]


def sync(
    name: str = typer.Argument(..., parser=object_name, help="The Sync to reconcile now."),
    namespace: str | None = NAMESPACE,
    timeout: float = typer.Option(
        "5m", "--timeout", parser=duration, help="How long to wait, e.g. 90s, 5m."
    ),
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
    from gitmoor.commands.cluster import connect
    from gitmoor.commands.operations import sync_now
    from gitmoor.reconcile import conditions as cond

    ns = namespace_for(namespace, kubeconfig, context)

    async def main() -> dict:  # type: ignore[type-arg]
        async with await connect(kubeconfig_path(kubeconfig), context) as kube:
            with err.status(f"syncing {ns}/{name}") as spinner:

                def progress(line: str) -> None:
                    spinner.update(line)
                    err.print(progress_line(line), highlight=False, soft_wrap=True)

                return await sync_now(
                    kube,
                    name,
                    ns,
                    timeout=timeout,
                    with_source=with_source,
                    force=force,
                    allow_prune=allow_prune,
                    progress=progress,
                    hint_flags=cluster_flags(kubeconfig, context),
                )

    result = run_async(main)
    ready = cond.get_condition(result, cond.READY) or {}
    revision = (result.get("status") or {}).get("lastAppliedRevision", "")
    if ready.get("status") == "True":
        _say(f"✔ Sync {ns}/{name} ready at {revision}", "green")
        return
    reason, message = ready.get("reason", ""), ready.get("message", "")
    _say(f"✘ Sync {ns}/{name}: {reason}: {message}", "red")
    raise typer.Exit(FAILED)


def _say(line: str, style: str) -> None:
    # Never wrapped: a revision or a pasted command must stay whole.
    line = result_line(line)
    out.print(Text(line[:1], style=style) + Text(line[1:]), soft_wrap=True, highlight=False)


def _suspend(
    name: str,
    namespace: str | None,
    source: bool,
    value: bool,
    kubeconfig: str | None,
    context: str | None,
) -> str:
    from gitmoor.commands.cluster import connect
    from gitmoor.commands.operations import set_suspended

    kind = "GitSource" if source else "Sync"
    ns = namespace_for(namespace, kubeconfig, context)

    async def main() -> None:
        async with await connect(kubeconfig_path(kubeconfig), context) as kube:
            await set_suspended(kube, kind, name, ns, value)

    run_async(main)
    out.print(f"{kind} {ns}/{name} {'suspended' if value else 'resumed'}", highlight=False)
    return ns


SUSPEND_NAME = typer.Argument(..., parser=object_name, help="The Sync (or GitSource).")


def suspend(
    name: str = SUSPEND_NAME,
    namespace: str | None = NAMESPACE,
    source: bool = typer.Option(False, "--source", help="Suspend the GitSource, not a Sync."),
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Stop reconciling a Sync (or a GitSource) until resumed; nothing is deleted."""
    _suspend(name, namespace, source, True, kubeconfig, context)


def resume(
    name: str = SUSPEND_NAME,
    namespace: str | None = NAMESPACE,
    source: bool = typer.Option(False, "--source", help="Resume the GitSource, not a Sync."),
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Reconcile a suspended Sync (or GitSource) again, at once."""
    from gitmoor.commands.cluster import connect
    from gitmoor.commands.operations import unpin

    ns = _suspend(name, namespace, source, False, kubeconfig, context)
    if not source:

        async def main() -> None:
            async with await connect(kubeconfig_path(kubeconfig), context) as kube:
                await unpin(kube, name, ns)

        run_async(main)


def rollback(
    name: str = typer.Argument(..., parser=object_name, help="The Sync to roll back."),
    namespace: str | None = NAMESPACE,
    to: str = typer.Option(
        None,
        "--to",
        help="Revision (main@sha1:<hex>), commit sha, or a ledger record of this Sync "
        "(record:ID, the ID column of `gitmoor history -o wide`); default: the previous "
        "healthy one.",
    ),
    timeout: float = typer.Option("5m", "--timeout", parser=duration, help="How long to wait."),
    ledger: str | None = LEDGER,
    agent_namespace: str = AGENT_NAMESPACE_OPTION,
    agent_service: str = AGENT_SERVICE_OPTION,
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Apply an earlier revision now and pin the Sync to it until `gitmoor resume`."""
    from gitmoor.commands.cluster import connect
    from gitmoor.commands.operations import rollback as rollback_to
    from gitmoor.reconcile import conditions as cond

    ns = namespace_for(namespace, kubeconfig, context)
    record_id = record_reference(to) if to else None
    if record_id is not None:
        # The ledger says which revision that attempt left running; checked before anything
        # changes, like any other --to.
        agent = Agent(kubeconfig, context, agent_namespace, agent_service)
        to = revision_of_record(ledger, agent, name, ns, record_id)

    async def main() -> RollbackResult:
        async with await connect(kubeconfig_path(kubeconfig), context) as kube:
            return await rollback_to(
                kube,
                name,
                ns,
                to=to,
                timeout=timeout,
                progress=lambda line: err.print(
                    progress_line(line), highlight=False, soft_wrap=True
                ),
            )

    result = run_async(main)  # an unknown --to is a usage error (exit 2), nothing changed
    ready = cond.get_condition(result.sync, cond.READY) or {}
    if ready.get("status") != "True":
        _say(f"✘ Sync {ns}/{name}: {ready.get('reason', '')}: {ready.get('message', '')}", "red")
        raise typer.Exit(FAILED)
    _say(
        f"✔ Sync {ns}/{name} rolled back to {result.pinned} and pinned there; "
        f"`gitmoor resume {name} -n {ns}{cluster_flags(kubeconfig, context)}` follows Git again.",
        "green",
    )
    hint = result.revert_hint()
    if hint:
        out.print(
            f"To make Git say the same, commit the revert:\n  {hint}",
            highlight=False,
            soft_wrap=True,
        )
