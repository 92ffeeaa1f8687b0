"""`gitmoor history | where | at | dora`: questions to the deployment ledger.

Every command reads the ledger named by `--ledger URL`, else `$GITMOOR_LEDGER`, else the SQLite
file an out-of-cluster `gitmoor run` writes: `$XDG_STATE_HOME/gitmoor/ledger.db`
(`~/.local/state/gitmoor/ledger.db`). A shared ledger is `postgresql://user@host:port/db`.
The commands only read: they never mark attempts interrupted, and a missing SQLite file is an
error rather than a new empty ledger.

Exit codes: 0 answered (also when the answer is empty), 2 bad arguments (a time, a revision, a
URL), 3 the ledger cannot be reached or does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import typer
import yaml
from rich.markup import escape
from rich.table import Table

from gitmoor.cli.common import ENVIRONMENT, USAGE, Output, err, out, run_async
from gitmoor.ledger import (
    Deployment,
    Dora,
    Ledger,
    LedgerConfigError,
    LedgerNotFoundError,
    LedgerSchemaError,
    LedgerUnavailableError,
    local_default,
)
from gitmoor.ledger.lookup import parse_query
from gitmoor.ledger.times import parse_when
from gitmoor.model.durations import format_duration
from gitmoor.model.record import Record, Result, sha_of

T = TypeVar("T")

LEDGER = typer.Option(
    None,
    "--ledger",
    envvar="GITMOOR_LEDGER",
    help="Ledger URL: sqlite:///PATH or postgresql://USER@HOST:PORT/DB "
    "(default: $GITMOOR_LEDGER, else ~/.local/state/gitmoor/ledger.db).",
    show_default=False,
)
OUTPUT = typer.Option(Output.table, "--output", "-o", help="table, json or yaml.")
ENV = typer.Option(None, "--env", "-e", help="Only this environment.")
TIME_HELP = (
    "ISO-8601 (2026-11-05, 2026-11-05T14:30Z; UTC unless an offset is given) or an age (12h, 7d)."
)

_RESULT_STYLE = {
    Result.APPLIED: "green",
    Result.FAILED: "red",
    Result.ROLLED_BACK: "yellow",
    Result.INTERRUPTED: "magenta",
    Result.IN_PROGRESS: "cyan",
}


# -- plumbing -------------------------------------------------------------------------------------
def _query(url: str | None, ask: Callable[[Ledger], Awaitable[T]]) -> T:
    """Open the ledger read-only in spirit, ask, close; ledger problems become exit codes."""

    async def main() -> T:
        try:
            ledger = await Ledger.open(url or local_default(), create=False)
        except LedgerConfigError as problem:
            err.print(f"[red]error:[/red] {escape(str(problem))}", highlight=False)
            raise typer.Exit(USAGE) from None
        except (LedgerNotFoundError, LedgerUnavailableError, LedgerSchemaError) as problem:
            err.print(f"[red]error:[/red] {escape(str(problem))}", highlight=False)
            raise typer.Exit(ENVIRONMENT) from None
        try:
            return await ask(ledger)
        except LedgerUnavailableError as problem:
            err.print(f"[red]error:[/red] {escape(str(problem))}", highlight=False)
            raise typer.Exit(ENVIRONMENT) from None
        finally:
            await ledger.close()

    return run_async(main)


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_when(text)
    except ValueError as problem:
        raise typer.BadParameter(str(problem), param_hint=option) from None


def _emit(data: Any, output: Output) -> None:
    if output is Output.json:
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(yaml.safe_dump(data, sort_keys=False), nl=False)


def _short(revision: str | None) -> str:
    """`main@sha1:0123456789ab`: enough of the hash to find the commit."""
    if not revision:
        return ""
    name, sep, digest = revision.rpartition("sha1:")
    return f"{name}{sep}{digest[:12]}" if sep else revision


def _time(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if moment else ""


def _span(span: timedelta | None) -> str:
    if span is None:
        return "-"
    seconds = max(span.total_seconds(), 0.0)
    days, rest = divmod(seconds, 86400)
    if days >= 1:
        hours = int(rest // 3600)
        return f"{int(days)}d{hours}h" if hours else f"{int(days)}d"
    return format_duration(rest)


def _ago(moment: datetime) -> str:
    return f"{_span(datetime.now(UTC) - moment)} ago"


def _result(record: Record) -> str:
    style = _RESULT_STYLE.get(record.result, "")
    text = record.result.value
    if record.result is Result.ROLLED_BACK and record.rolled_back_to:
        text += f" to {sha_of(record.rolled_back_to)[:12] or record.rolled_back_to}"
    return f"[{style}]{escape(text)}[/{style}]" if style else escape(text)


def _commit(record: Record) -> str:
    """The subject, and who wrote it (the name without the address)."""
    author = record.commit_author.split("<", 1)[0].strip()
    return f"{record.commit_message} ({author})" if author else record.commit_message


def _changes(record: Record) -> str:
    counts = (
        ("created", record.created),
        ("configured", record.configured),
        ("deleted", record.deleted),
        ("unchanged", record.unchanged),
    )
    return ", ".join(f"{n} {word}" for word, n in counts if n) or "-"


def _table(*columns: str, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


# -- commands -------------------------------------------------------------------------------------
def history(
    sync: str | None = typer.Argument(None, help="Only this Sync (its name)."),
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="Only this namespace."),
    environment: str | None = ENV,
    cluster: str | None = typer.Option(None, "--cluster", help="Only this cluster."),
    since: str | None = typer.Option(
        None, "--since", help=f"Only attempts started since. {TIME_HELP}"
    ),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many attempts."),
    output: Output = OUTPUT,
    ledger: str | None = LEDGER,
) -> None:
    """List reconcile attempts, newest first: revision, result, what changed, who triggered."""
    start = _when(since, "--since")
    records = _query(
        ledger,
        lambda book: book.history(
            sync=sync,
            namespace=namespace,
            environment=environment,
            cluster=cluster,
            since=start,
            limit=limit,
        ),
    )
    if output is not Output.table:
        _emit([r.as_dict() for r in records], output)
        return
    if not records:
        err.print("no attempts recorded that match", highlight=False)
        return
    table = _table(
        "STARTED",
        "ENV",
        "CLUSTER",
        "SYNC",
        "REVISION",
        "COMMIT",
        "RESULT",
        "CHANGES",
        "TRIGGER",
        "TOOK",
        "MESSAGE",
    )
    for r in records:
        took = _span(r.finished_at - r.started_at) if r.finished_at else "-"
        message = ": ".join(p for p in (r.reason, r.message) if p)
        table.add_row(
            _time(r.started_at),
            escape(r.environment),
            escape(r.cluster),
            escape(r.sync),
            escape(_short(r.revision)),
            escape(_commit(r)),
            _result(r),
            _changes(r),
            r.trigger.value,
            took,
            escape(message),
        )
    out.print(table)


def where(
    what: str = typer.Argument(
        ...,
        metavar="REVISION|IMAGE",
        help="A revision (main@sha1:<hex>, or 7+ hex digits of the commit) or a container image "
        "(name:tag, registry/name:tag, name@sha256:...).",
    ),
    output: Output = OUTPUT,
    ledger: str | None = LEDGER,
) -> None:
    """Show every environment and sync where a revision or image is deployed now, and since when."""
    try:
        parse_query(what)
    except ValueError as problem:
        raise typer.BadParameter(str(problem), param_hint="REVISION|IMAGE") from None
    found: list[Deployment] = _query(ledger, lambda book: book.where(what))
    if output is not Output.table:
        _emit([d.as_dict() for d in found], output)
        return
    if not found:
        err.print(f"{escape(what)} is not deployed anywhere the ledger knows of", highlight=False)
        return
    table = _table("ENV", "CLUSTER", "SYNC", "REVISION", "SINCE", "FOR", "IMAGES")
    for d in found:
        table.add_row(
            escape(d.environment),
            escape(d.cluster),
            escape(d.sync),
            escape(_short(d.revision)),
            _time(d.since),
            _ago(d.since).removesuffix(" ago"),
            escape(", ".join(d.images)),
        )
    out.print(table)


def at(
    time: str = typer.Argument(..., metavar="TIME", help=f"The moment. {TIME_HELP}"),
    environment: str | None = ENV,
    output: Output = OUTPUT,
    ledger: str | None = LEDGER,
) -> None:
    """Show what revision each sync ran at a moment in time."""
    moment = _when(time, "TIME")
    assert moment is not None
    records = _query(ledger, lambda book: book.at(moment, environment=environment))
    if output is not Output.table:
        _emit([r.as_dict() for r in records], output)
        return
    if not records:
        err.print(f"nothing was deployed at {_time(moment)}", highlight=False)
        return
    table = _table(
        "ENV", "CLUSTER", "SYNC", "REVISION", "DEPLOYED", "COMMIT", "AUTHOR", title=_time(moment)
    )
    for r in records:
        rolled_back = " (rollback)" if r.result is Result.ROLLED_BACK else ""
        table.add_row(
            escape(r.environment),
            escape(r.cluster),
            escape(r.sync),
            escape(_short(r.deployed_revision)) + rolled_back,
            _time(r.deployed_at),
            escape(r.commit_message if not rolled_back else ""),
            escape(r.commit_author if not rolled_back else ""),
        )
    out.print(table)


def dora(
    environment: str | None = ENV,
    since: str = typer.Option("30d", "--since", help=f"Start of the window. {TIME_HELP}"),
    output: Output = OUTPUT,
    ledger: str | None = LEDGER,
) -> None:
    """Show DORA figures: deployment frequency, lead time, change failure rate, time to restore."""
    start = _when(since, "--since")
    figures: Dora = _query(ledger, lambda book: book.dora(environment=environment, since=start))
    if output is not Output.table:
        _emit(figures.as_dict(), output)
        return
    scope = f"environment {environment}" if environment else "all environments"
    table = _table(
        "FIGURE", "VALUE", title=f"{scope}, {_time(figures.since)} to {_time(figures.until)}"
    )
    rate = figures.change_failure_rate
    table.add_row(
        "deployment frequency",
        f"{figures.deploys_per_day:.2f} per day ({figures.deployments} deployments)",
    )
    table.add_row(
        "lead time (commit to applied)",
        f"median {_span(figures.lead_time_median)}, p90 {_span(figures.lead_time_p90)}",
    )
    table.add_row(
        "change failure rate",
        "-"
        if rate is None
        else f"{rate:.0%} ({figures.failed_changes} of {figures.changes} changes)",
    )
    table.add_row(
        "time to restore",
        f"median {_span(figures.time_to_restore_median)} "
        f"({figures.restored} of {figures.failures} failures restored)",
    )
    out.print(table)
