"""`gitmoor tree SYNC`: what a Sync manages, grouped by kind, with each object's health and the
Syncs it manages as subtrees."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from gitmoor.cli.common import (
    CONTEXT,
    ENVIRONMENT,
    KUBECONFIG,
    NAMESPACE,
    NO_HEADERS,
    OUTPUT,
    Output,
    emit,
    fail,
    kubeconfig_path,
    namespace_for,
    object_name,
    run_async,
)
from gitmoor.cli.table import Column, print_table

if TYPE_CHECKING:
    from gitmoor.commands.tree import Node


def _health_colour(value: str) -> str | None:
    return {"Current": "green", "Failed": "red", "InProgress": "yellow", "NotFound": "red"}.get(
        value
    )


TREE_COLUMNS = (
    Column("NAMESPACE", identity=True),
    Column("NAME", identity=True, verbatim=True),
    Column("HEALTH", colour=_health_colour, min_width=len("Terminating")),
    Column("MESSAGE", flexible=True),
)


def tree_rows(root: Node) -> list[list[str]]:
    from gitmoor.commands.tree import lines

    return [[node.ref.namespace, label, node.health, node.message] for label, node in lines(root)]


def tree(
    name: str = typer.Argument(..., parser=object_name, help="The Sync."),
    namespace: str | None = NAMESPACE,
    output: Output = OUTPUT,
    no_headers: bool = NO_HEADERS,
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Show what a Sync manages: its inventory grouped by kind, the health of each object,
    and the Syncs it manages (bootstrap, app of apps) as subtrees."""
    from gitmoor.commands.cluster import connect
    from gitmoor.commands.tree import SyncNotFoundError, read_tree

    ns = namespace_for(namespace, kubeconfig, context)

    async def main() -> Node | SyncNotFoundError:
        async with await connect(kubeconfig_path(kubeconfig), context) as kube:
            try:
                return await read_tree(kube, name, ns)
            except SyncNotFoundError as problem:
                return problem

    root = run_async(main)
    if isinstance(root, SyncNotFoundError):
        fail(str(root), ENVIRONMENT)
    if output in (Output.json, Output.yaml):
        emit(root.as_dict(), output)
        return
    if output is Output.name:
        for _, node in root.walk():
            group = node.api_version.rpartition("/")[0]
            kind = node.ref.kind.lower() + (f".{group}" if group else "")
            typer.echo(f"{kind}/{node.ref.name}")
        return
    print_table(TREE_COLUMNS, tree_rows(root), wide=output is Output.wide, headers=not no_headers)
