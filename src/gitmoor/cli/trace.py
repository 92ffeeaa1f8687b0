"""`gitmoor trace KIND/NAME`: an object, the Sync that manages it, its GitSource, the revision
applied and its commit, and the ledger record that last changed the object."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

import typer

from gitmoor.cli.common import (
    CONTEXT,
    FAILED,
    KUBECONFIG,
    NAMESPACE,
    Output,
    emit,
    fail,
    kubeconfig_path,
    namespace_for,
    run_async,
)
from gitmoor.cli.ledger import LEDGER
from gitmoor.cli.table import age, shorten, terminal_width
from gitmoor.model.defaults import TRACE_FORMS

if TYPE_CHECKING:
    from gitmoor.commands.trace import Trace


class TraceOutput(enum.StrEnum):
    text = "text"
    json = "json"
    yaml = "yaml"


_LABEL = 13  # "Last change: " and the values aligned after it


def _age(text: str | None) -> str:
    if not text:
        return ""
    return age(datetime.fromisoformat(text)) + " ago"


def trace_lines(found: Trace) -> list[tuple[str, str]]:
    """(label, value) lines, in sections separated by ("", "")."""
    o = found.object
    where = f"{o['namespace']}/" if o["namespace"] else ""
    lines: list[tuple[str, str]] = [
        ("Object", f"{o['kind']}/{where}{o['name']} ({o['apiVersion']})"),
        ("Health", o["health"] + (f": {o['message']}" if o["message"] else "")),
    ]
    sync = found.sync or {}
    lines += [("", ""), ("Sync", f"{sync.get('namespace')}/{sync.get('name')}")]
    if "ready" in sync:
        ready = f"{sync['ready']}" + (f" {sync['reason']}" if sync["reason"] else "")
        lines += [
            ("Path", sync["path"]),
            ("Ready", ready + (f": {sync['message']}" if sync["message"] else "")),
        ]
    source = found.source
    if source is not None:
        kind = source.get("kind") or "GitSource"
        lines += [("", ""), (kind, f"{source['namespace']}/{source['name']}")]
        if "url" in source:
            lines += [("URL", source["url"]), ("Ref", source["ref"])]
    commit = found.commit
    if commit is not None:
        lines += [("", ""), ("Revision", commit["revision"] + " (applied)")]
        if commit["subject"] or commit["author"]:
            lines += [("Commit", f"{commit['sha'][:12]} {commit['subject']}".rstrip())]
            lines += [("Author", commit["author"])]
    lines.append(("", ""))
    change = found.change
    if found.ledger_problem:
        lines.append(("Last change", f"ledger not reachable: {found.ledger_problem}"))
    elif change is None:
        lines.append(("Last change", f"none recorded in the ledger {found.ledger}"))
    else:
        lines += [
            (
                "Last change",
                f"{change['action']} by ledger record {change['id']}, "
                f"{_age(change['startedAt'])} ({change['trigger']}, {change['result']})",
            ),
            ("Revision", change["revision"]),
            ("Commit", f"{change['subject']} ({change['author']})"),
            ("Where", f"cluster {change['cluster']}, environment {change['environment']}"),
        ]
    for problem in found.problems:
        lines += [("", ""), ("Note", problem)]
    return lines


def render_trace(found: Trace, width: int | None) -> list[str]:
    shown = []
    for label, value in trace_lines(found):
        if not label:
            shown.append("")
            continue
        text = " ".join(str(value).split())
        if width is not None:
            text = shorten(text, max(width - _LABEL, 10))
        shown.append(f"{label + ':':<{_LABEL}}{text}")
    return shown


def trace(
    what: str = typer.Argument(..., metavar="KIND/NAME", help=f"The object: {TRACE_FORMS}."),
    name: str | None = typer.Argument(None, metavar="[NAME]", help="The name, if not in KIND."),
    namespace: str | None = NAMESPACE,
    output: TraceOutput = typer.Option(
        TraceOutput.text, "--output", "-o", help="text (default), json or yaml."
    ),
    ledger: str | None = LEDGER,
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Show what put an object there: the Sync managing it, its GitSource (URL, ref), the
    revision applied, its commit and author, and the ledger record that last changed it.

    Kinds are read as kubectl reads them: deployment/web, deploy/web, deployments.apps/web,
    apps/v1/Deployment/web. Exits 1 when gitmoor does not manage the object, 3 when it does
    not exist."""
    from gitmoor.commands.cluster import connect
    from gitmoor.commands.trace import NotManagedError, TargetError, parse_target
    from gitmoor.commands.trace import trace as follow
    from gitmoor.ledger import local_default

    try:
        target = parse_target(what, name)
    except TargetError as problem:
        raise typer.BadParameter(str(problem), param_hint="KIND/NAME") from None
    ns = namespace_for(namespace, kubeconfig, context)

    async def main() -> Trace | NotManagedError:
        async with await connect(kubeconfig_path(kubeconfig), context) as kube:
            try:
                return await follow(kube, target, ns, ledger_url=ledger or local_default())
            except NotManagedError as problem:
                return problem

    found = run_async(main)
    if isinstance(found, NotManagedError):
        fail(str(found), FAILED)
    if output is not TraceOutput.text:
        emit(found.as_dict(), Output(output.value))
        return
    for line in render_trace(found, terminal_width()):
        typer.echo(line)
