"""`gitmoor check`: the cluster, gitmoor's CRDs, the agent's RBAC, the agent and its
leadership; one line each."""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from gitmoor.cli.common import (
    CONTEXT,
    FAILED,
    KUBECONFIG,
    Output,
    emit,
    kubeconfig_path,
    namespace_name,
    out,
    pasteable,
    run_async,
)
from gitmoor.cli.table import shorten, terminal_width, use_colour
from gitmoor.model import defaults

if TYPE_CHECKING:
    from gitmoor.commands.check import Check


_STATUS = 10  # "unchecked " and the rest aligned after it
# By the outcomes' values (Outcome is a StrEnum): the checks themselves load with `check` alone.
_COLOUR: dict[str, str] = {"ok": "green", "FAILED": "red", "unchecked": "yellow"}


class CheckOutput(enum.StrEnum):
    text = "text"
    json = "json"
    yaml = "yaml"


def check_lines(check: Check, width: int | None) -> list[str]:
    """`ok        cluster: reachable, ...`; a check that did not pass ends with its hint. The
    hint is never shortened (it is a command to paste): when the detail and the hint do not
    fit on one line, the hint goes on a line of its own below, and the detail is shortened
    only if it does not fit alone."""
    head = f"{check.outcome.value:<{_STATUS}}{check.name}: "
    detail = " ".join(check.detail.split())
    hint = f"(hint: {check.hint})" if check.hint and not check.ok else ""
    whole = f"{head}{detail} {hint}".rstrip()
    if width is None or len(whole) <= width:
        return [whole]
    first = head + shorten(detail, max(width - len(head), 12))
    return [first, " " * _STATUS + hint] if hint else [first]


def check(
    namespace: str = typer.Option(
        defaults.DEFAULT_NAMESPACE,
        "--namespace",
        "-n",
        parser=namespace_name,
        help="The agent's namespace.",
    ),
    output: CheckOutput = typer.Option(
        CheckOutput.text, "--output", "-o", help="text (default), json or yaml."
    ),
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Check that gitmoor can work: the cluster answers (and its version), gitmoor's CRDs are
    installed as this CLI expects, the agent's ServiceAccount has the RBAC it needs, the agent
    Deployment is available and an agent leads (its Lease renewed lately).

    Exits 0 when every check passes, 1 otherwise (also when one could not be checked)."""
    from gitmoor.commands.check import run_checks
    from gitmoor.commands.cluster import connect

    async def main() -> list[Check]:
        async with await connect(kubeconfig_path(kubeconfig), context) as kube:
            return await run_checks(kube, namespace)

    # A hint is a command to paste: it reaches the same cluster as this check did.
    checks = [
        dataclasses.replace(c, hint=pasteable(c.hint, kubeconfig, context)) for c in run_async(main)
    ]
    if output is not CheckOutput.text:
        emit([c.as_dict() for c in checks], Output(output.value))
    else:
        width, colour = terminal_width(), use_colour()
        for c in checks:
            first, *rest = check_lines(c, width)
            if colour:
                status = c.outcome.value
                out.print(
                    Text(status, style=_COLOUR[c.outcome]) + Text(first[len(status) :]),
                    soft_wrap=True,
                    highlight=False,
                )
            else:
                typer.echo(first)
            for line in rest:
                typer.echo(line)
    if not all(c.ok for c in checks):
        raise typer.Exit(FAILED)
