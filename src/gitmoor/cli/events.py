"""`gitmoor events [SYNC]`: the Events of GitSources and Syncs, like `kubectl events`: oldest
first, LAST SEEN, TYPE, REASON, OBJECT, MESSAGE; `--watch` follows new ones."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer
import yaml

from gitmoor.cli.common import (
    ALL_NAMESPACES,
    CONTEXT,
    KUBECONFIG,
    NAMESPACE,
    NO_HEADERS,
    OUTPUT,
    Output,
    emit,
    err,
    kubeconfig_path,
    namespace_for,
    object_name,
    run_async,
)
from gitmoor.cli.table import Column, age, render, terminal_width, use_colour

if TYPE_CHECKING:
    from gitmoor.commands.events import EventRow


_KEPT = 1000  # rows a watch keeps to align new ones with


def _type_colour(value: str) -> str | None:
    return "yellow" if value == "Warning" else None


# When the table does not fit (-A at 80 columns), TYPE is left out first (the REASON says
# what happened), then MESSAGE if fewer than 10 characters of it would show; names and
# reasons are never cut. `-o wide` and a pipe show everything.
EVENT_COLUMNS = (
    Column("NAMESPACE", identity=True),
    Column("LAST SEEN"),
    Column("TYPE", colour=_type_colour, drop_rank=2),
    # Whole: a reason cut short (`ReconciliationSu…`) says nothing.
    Column("REASON", min_width=len("ReconciliationSucceeded")),
    Column("OBJECT", identity=True),
    Column("FIRST SEEN", wide_only=True),
    Column("COUNT", wide_only=True),
    Column("NAME", wide_only=True),
    Column("MESSAGE", flexible=True, min_width=10, drop_rank=1),
)


def event_cells(row: EventRow) -> list[str]:
    return [
        row.namespace,
        age(row.last_seen),
        row.type,
        row.reason,
        row.object,
        age(row.first_seen),
        str(row.count),
        row.name,
        row.message,
    ]


def events(
    sync: str | None = typer.Argument(
        None, parser=object_name, help="Only this Sync's Events and its GitSource's."
    ),
    namespace: str | None = NAMESPACE,
    all_namespaces: bool = ALL_NAMESPACES,
    watch: bool = typer.Option(False, "--watch", "-w", help="Go on printing new Events."),
    output: Output = OUTPUT,
    no_headers: bool = NO_HEADERS,
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Show the Events of GitSources and Syncs (or of one Sync and its GitSource), oldest
    first, like `kubectl events`; --watch goes on with new ones until interrupted."""
    from gitmoor.commands.cluster import connect
    from gitmoor.commands.events import follow, list_events, scopes_for

    if output is Output.name:
        raise typer.BadParameter("events prints a table, wide, json or yaml", param_hint="-o")
    if sync is not None and all_namespaces:
        raise typer.BadParameter("a Sync is in one namespace: use -n", param_hint="-A")
    scope = "" if all_namespaces else namespace_for(namespace, kubeconfig, context)
    drop = 0 if all_namespaces else 1  # NAMESPACE only with -A, as kubectl does
    columns = EVENT_COLUMNS[drop:]
    wide = output is Output.wide
    shown: list[list[str]] = []

    def show(rows: list[EventRow], *, first: bool) -> None:
        if output is Output.json:
            if watch:  # one document per line, as they come
                for row in rows:
                    typer.echo(json.dumps(row.as_dict()))
            else:
                emit([r.as_dict() for r in rows], output)
            return
        if output is Output.yaml:
            if watch:
                for row in rows:
                    typer.echo("---\n" + yaml.safe_dump(row.as_dict(), sort_keys=False), nl=False)
            else:
                emit([r.as_dict() for r in rows], output)
            return
        if first and not rows:
            if not watch:
                where = "any namespace" if not scope else f"namespace {scope}"
                err.print(f"No events found in {where}.", highlight=False, soft_wrap=True)
            return
        before = len(shown)
        shown.extend(event_cells(r)[drop:] for r in rows)
        del shown[: max(0, len(shown) - _KEPT)]
        # New rows are laid out with the ones shown before them, so a watch stays aligned.
        lines = render(
            columns,
            shown,
            wide=wide,
            headers=not no_headers,
            width=terminal_width(),
            colour=use_colour(),
        )
        header = lines[:1] if (not no_headers and before == 0) else []
        for line in header + lines[len(lines) - len(rows) :]:
            typer.echo(line)

    async def main() -> None:
        async with await connect(kubeconfig_path(kubeconfig), context) as kube:
            scopes = await scopes_for(kube, scope, sync)
            rows, versions = await list_events(kube, scopes)
            show(rows, first=True)
            if watch:
                async for row in follow(kube, scopes, versions):
                    show([row], first=False)

    run_async(main)
