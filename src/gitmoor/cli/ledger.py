"""`gitmoor history | where | at | dora` and `gitmoor ledger verify | export`: questions to the
deployment ledger, and its audit chain.

Every command reads the ledger named by `--ledger URL` (or `$GITMOOR_LEDGER`): a SQLite file
(`sqlite:///PATH`; an out-of-cluster `gitmoor run` writes `~/.local/state/gitmoor/ledger.db`)
or a shared `postgresql://user@host:port/db`. Without one, they ask the agent installed in the
kubeconfig's cluster, through the API server's service proxy, with the kubeconfig's own
credentials (`gitmoor.commands.agent_ledger`): the agent answers only with records of
namespaces the user may read. Either way the output is the same.
The commands only read: they never mark attempts interrupted, and a missing SQLite file is an
error rather than a new empty ledger.

Exit codes: 0 answered (also when the answer is empty, except for `where`: 1 when the revision
or image is deployed nowhere; `ledger verify`: 1 when a chain is broken, or when `--cluster`
names a cluster without one), 2 bad arguments (a time, a revision, a URL), 3 the ledger
cannot be reached or does not exist, or the agent cannot be asked or refused.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import typer

from gitmoor.cli.common import (
    CONTEXT,
    ENVIRONMENT,
    FAILED,
    KUBECONFIG,
    NO_HEADERS,
    OUTPUT,
    USAGE,
    Output,
    cluster_flags,
    emit,
    err,
    fail,
    kubeconfig_path,
    namespace_name,
    run_async,
)
from gitmoor.cli.table import Column, age, print_table, short_revision
from gitmoor.errors import ConnectionFailedError
from gitmoor.model import Action
from gitmoor.model.defaults import AGENT_NAMESPACE, AGENT_SERVICE
from gitmoor.model.durations import format_duration
from gitmoor.model.record import Record, Result, sha_of

# The ledger (SQLAlchemy) and the agent's ledger API client load when a command reads a ledger.
if TYPE_CHECKING:
    from gitmoor.ledger import Deployment, Dora, Ledger
    from gitmoor.ledger.chain import ChainStatus
    from gitmoor.ledger.reader import LedgerReader
    from gitmoor.ledger.trail import ImageTrail

T = TypeVar("T")

LEDGER = typer.Option(
    None,
    "--ledger",
    envvar="GITMOOR_LEDGER",
    help="Ledger URL: sqlite:///PATH or postgresql://USER@HOST:PORT/DB (default: "
    "$GITMOOR_LEDGER, else ask the agent in the kubeconfig's cluster through the API server).",
    show_default=False,
)
AGENT_NAMESPACE_OPTION = typer.Option(
    AGENT_NAMESPACE,
    "--agent-namespace",
    envvar="GITMOOR_AGENT_NAMESPACE",
    parser=namespace_name,
    help="Namespace of the agent asked without --ledger.",
)
AGENT_SERVICE_OPTION = typer.Option(
    AGENT_SERVICE,
    "--agent-service",
    envvar="GITMOOR_AGENT_SERVICE",
    help="The agent's Service (NAME or NAME:PORT) asked without --ledger.",
)
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
@dataclass(frozen=True)
class Agent:
    """Where the agent is asked when no ledger URL is given, and with which kubeconfig."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str = AGENT_NAMESPACE
    service: str = AGENT_SERVICE


_RECORD = re.compile(r"^(?:record:|#)([0-9]+)$")


def record_reference(text: str) -> int | None:
    """The ledger record id in `record:123` (or `#123`), None for anything else."""
    match = _RECORD.match(text.strip())
    return int(match.group(1)) if match else None


def revision_of_record(
    url: str | None, agent: Agent, sync: str, namespace: str, record_id: int
) -> str:
    """The revision ledger record `record_id` of Sync `namespace/sync` left running (for a
    rollback, the one it restored). Unknown id, or one of another Sync: a usage error."""
    found = _query(url, lambda book: book.record(record_id, sync=sync, namespace=namespace), agent)
    if found is None:
        raise typer.BadParameter(
            f"the ledger holds no record {record_id} of Sync {namespace}/{sync} "
            f"(see `gitmoor history {sync} -n {namespace} --all -o wide"
            f"{'' if url else cluster_flags(agent.kubeconfig, agent.context)}`)",
            param_hint="--to",
        )
    return found.deployed_revision or found.revision


def _query(url: str | None, ask: Callable[[LedgerReader], Awaitable[T]], agent: Agent) -> T:
    """Ask the ledger at `url`, else the agent; problems become exit codes."""
    if url is None:
        return _ask_agent(agent, ask)
    return _ask_ledger(url, ask)


def _ask_agent(agent: Agent, ask: Callable[[LedgerReader], Awaitable[T]]) -> T:
    from gitmoor.commands.agent_ledger import AgentLedger
    from gitmoor.commands.cluster import connect

    async def main() -> T:
        try:
            kube = await connect(kubeconfig_path(agent.kubeconfig), agent.context)
        except ConnectionFailedError as problem:
            raise ConnectionFailedError(
                f"{problem} (without --ledger, the agent is asked through the kubeconfig's "
                "cluster; pass --ledger URL to read a ledger database instead)"
            ) from None
        async with kube:
            book = await AgentLedger.connect(kube, namespace=agent.namespace, service=agent.service)
            answer = await ask(book)
        if book.hidden_namespaces:
            hidden = book.hidden_namespaces
            err.print(
                f"note: left out the records of {hidden} namespace{'s' if hidden > 1 else ''} "
                "you may not read (`get` on syncs there)",
                highlight=False,
                soft_wrap=True,
            )
        return answer

    return run_async(main)


def _ask_ledger(url: str, ask: Callable[[LedgerReader], Awaitable[T]]) -> T:
    return _ask_database(url, ask)


def _ask_database(url: str, ask: Callable[[Ledger], Awaitable[T]]) -> T:
    """Open the ledger read-only in spirit, ask, close; ledger problems become exit codes."""
    from gitmoor.ledger import (
        Ledger,
        LedgerConfigError,
        LedgerNotFoundError,
        LedgerSchemaError,
        LedgerUnavailableError,
    )

    async def main() -> T:
        try:
            ledger = await Ledger.open(url, create=False)
        except LedgerConfigError as problem:
            fail(str(problem), USAGE)
        except (LedgerNotFoundError, LedgerUnavailableError, LedgerSchemaError) as problem:
            fail(str(problem), ENVIRONMENT)
        try:
            return await ask(ledger)
        except LedgerUnavailableError as problem:
            fail(str(problem), ENVIRONMENT)
        finally:
            await ledger.close()

    return run_async(main)


def _when(text: str | None, option: str) -> datetime | None:
    from gitmoor.ledger.times import parse_when

    if text is None:
        return None
    try:
        return parse_when(text)
    except ValueError as problem:
        raise typer.BadParameter(str(problem), param_hint=option) from None


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


def _result(record: Record) -> str:
    text = record.result.value
    if record.result is Result.ROLLED_BACK and record.rolled_back_to:
        text += f" to {sha_of(record.rolled_back_to)[:12] or record.rolled_back_to}"
    return text


def _result_colour(text: str) -> str | None:
    return next((c for r, c in _RESULT_STYLE.items() if text.startswith(r.value)), None)


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
    text = ", ".join(f"{n} {word}" for word, n in counts if n) or "-"
    taken = sum(1 for o in record.objects if o.action is Action.TAKEN_OVER)
    return f"{text} ({taken} taken over from another Sync)" if taken else text


def _names(syncs: list[str], output: Output) -> bool:
    """`-o name`: each Sync once, as kubectl names objects; True when that was the output."""
    if output is not Output.name:
        return False
    for name in dict.fromkeys(syncs):
        typer.echo(f"sync.gitmoor.io/{name}")
    return True


def _nothing(message: str) -> None:
    err.print(message, highlight=False, soft_wrap=True)


HISTORY_COLUMNS = (
    Column("ID", wide_only=True),
    Column("AGE"),
    Column("STARTED", wide_only=True),
    Column("SYNC", identity=True),
    Column("ENV"),
    Column("CLUSTER", wide_only=True),
    Column("REVISION"),
    Column("COMMIT", wide_only=True),
    Column("RESULT", colour=_result_colour, min_width=len("rolled_back…")),
    Column("CHANGES", wide_only=True),
    Column("TRIGGER", wide_only=True),
    Column("TOOK"),
    Column("MESSAGE", flexible=True),
)
WHERE_COLUMNS = (
    Column("ENV"),
    Column("CLUSTER", wide_only=True),
    Column("SYNC", identity=True),
    Column("REVISION"),
    Column("AGE"),
    Column("SINCE", wide_only=True),
    Column("IMAGES", flexible=True),
)
# `where IMAGE`: how the image got there, when an image update automation wrote it.
TRAIL_COLUMNS = (
    Column("IMAGE", identity=True),
    Column("PUSHED"),
    Column("COMMITTED"),
    Column("COMMIT"),
    Column("POLICY", wide_only=True),
    Column("FROM", wide_only=True),
    Column("APPLIED", flexible=True),
)
AT_COLUMNS = (
    Column("ENV"),
    Column("CLUSTER", wide_only=True),
    Column("SYNC", identity=True),
    Column("REVISION"),
    Column("AGE"),
    Column("DEPLOYED", wide_only=True),
    Column("AUTHOR", wide_only=True),
    Column("COMMIT", flexible=True),
)
DORA_COLUMNS = (Column("FIGURE"), Column("VALUE", flexible=True))


# -- commands -------------------------------------------------------------------------------------
def history(
    sync: str | None = typer.Argument(None, help="Only this Sync (its name)."),
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", parser=namespace_name, help="Only this namespace."
    ),
    environment: str | None = ENV,
    cluster: str | None = typer.Option(None, "--cluster", help="Only this cluster."),
    since: str | None = typer.Option(
        None, "--since", help=f"Only attempts started since. {TIME_HELP}"
    ),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many attempts."),
    show_all: bool = typer.Option(
        False, "--all", help="Also attempts that changed nothing (applied, nothing written)."
    ),
    output: Output = OUTPUT,
    no_headers: bool = NO_HEADERS,
    ledger: str | None = LEDGER,
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
    agent_namespace: str = AGENT_NAMESPACE_OPTION,
    agent_service: str = AGENT_SERVICE_OPTION,
) -> None:
    """List reconcile attempts, newest first: revision, result, what changed, who triggered.
    Attempts that changed nothing in the cluster are left out unless --all."""
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
            changed_only=not show_all,
        ),
        Agent(kubeconfig, context, agent_namespace, agent_service),
    )
    if output in (Output.json, Output.yaml):
        emit([r.as_dict() for r in records], output)
        return
    if _names([r.sync_name for r in records], output):
        return
    if not records:
        _nothing("No attempts recorded that match.")
        return
    rows = [
        [
            str(r.id or ""),
            age(r.started_at),
            _time(r.started_at),
            r.sync,
            r.environment,
            r.cluster,
            short_revision(r.revision),
            _commit(r),
            _result(r),
            _changes(r),
            r.trigger.value,
            _span(r.finished_at - r.started_at) if r.finished_at else "-",
            ": ".join(p for p in (r.reason, r.message) if p),
        ]
        for r in records
    ]
    print_table(HISTORY_COLUMNS, rows, wide=output is Output.wide, headers=not no_headers)


def where(
    what: str = typer.Argument(
        ...,
        metavar="REVISION|CHART|IMAGE",
        help="A revision (main@sha1:<hex>, or 7+ hex digits of the commit), a vendor's chart "
        "(chart:NAME or chart:NAME@RANGE, e.g. chart:podinfo@6.x) or a container image "
        "(name:tag, registry/name:tag, name@sha256:...).",
    ),
    output: Output = OUTPUT,
    no_headers: bool = NO_HEADERS,
    ledger: str | None = LEDGER,
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
    agent_namespace: str = AGENT_NAMESPACE_OPTION,
    agent_service: str = AGENT_SERVICE_OPTION,
) -> None:
    """Show every environment and sync where a revision, chart or image is deployed now, and
    since when (for a chart, REVISION shows its version: chart@version@sha256:...;commit).

    Exits 1 when it is deployed nowhere, so scripts can test for it."""
    from gitmoor.ledger.lookup import ImageQuery, parse_query
    from gitmoor.ledger.trail import with_trail

    try:
        query = parse_query(what)
    except ValueError as problem:
        raise typer.BadParameter(str(problem), param_hint="REVISION|CHART|IMAGE") from None

    async def ask(book: LedgerReader) -> tuple[list[Deployment], list[ImageTrail]]:
        found = await book.where(what)
        # Only a tagged image can have come through an update commit.
        trail = await book.image_trail(what) if isinstance(query, ImageQuery) else []
        return found, trail

    found, trail = _query(ledger, ask, Agent(kubeconfig, context, agent_namespace, agent_service))
    if output in (Output.json, Output.yaml):
        emit(
            with_trail(found, trail)
            if isinstance(query, ImageQuery)
            else [d.as_dict() for d in found],
            output,
        )
    elif not _names([d.sync_name for d in found], output):
        if not found:
            _nothing(f"{what} is not deployed anywhere the ledger knows of.")
        rows = [
            [
                d.environment,
                d.cluster,
                d.sync,
                short_revision(d.revision),
                age(d.since),
                _time(d.since),
                ", ".join(d.images),
            ]
            for d in found
        ]
        print_table(WHERE_COLUMNS, rows, wide=output is Output.wide, headers=not no_headers)
        if trail and output in (Output.table, Output.wide):
            typer.echo("")
            _print_trail(trail, wide=output is Output.wide, headers=not no_headers)
    if not found:
        raise typer.Exit(FAILED)


def _print_trail(trail: list[ImageTrail], *, wide: bool, headers: bool) -> None:
    """Pushed to the registry, committed by the automation, applied in each environment."""
    rows = []
    for t in trail:
        u = t.update
        applied = ", ".join(
            f"{a.environment} {_time(a.applied_at)}" + _after(a.applied_at - u.committed_at)
            for a in t.applied
        )
        rows.append(
            [
                f"{u.image}:{u.new_tag}",
                _time(u.pushed_at) if u.pushed_at else "-",
                _time(u.committed_at),
                u.commit[:10],
                u.policy,
                u.old_tag,
                applied or "not yet",
            ]
        )
    print_table(TRAIL_COLUMNS, rows, wide=wide, headers=headers)


def _after(span: timedelta) -> str:
    return f" (+{format_duration(round(max(span, timedelta()).total_seconds()))})"


def at(
    time: str = typer.Argument(..., metavar="TIME", help=f"The moment. {TIME_HELP}"),
    environment: str | None = ENV,
    output: Output = OUTPUT,
    no_headers: bool = NO_HEADERS,
    ledger: str | None = LEDGER,
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
    agent_namespace: str = AGENT_NAMESPACE_OPTION,
    agent_service: str = AGENT_SERVICE_OPTION,
) -> None:
    """Show what revision each sync ran at a moment in time (AGE: how long before now it had
    been deployed)."""
    moment = _when(time, "TIME")
    assert moment is not None
    running = _query(
        ledger,
        lambda book: book.running_at(moment, environment=environment),
        Agent(kubeconfig, context, agent_namespace, agent_service),
    )
    if output in (Output.json, Output.yaml):
        emit([{**r.as_dict(), "content_origin": o.as_dict()} for r, o in running], output)
        return
    if _names([r.sync_name for r, _ in running], output):
        return
    if not running:
        _nothing(f"Nothing was deployed at {_time(moment)}.")
        return
    rows = []
    for r, origin in running:
        # The commit whose content ran, not the repository's head at the time: in a shared
        # repository most commits change nothing of a given Sync.
        rolled_back = r.result is Result.ROLLED_BACK
        rows.append(
            [
                r.environment,
                r.cluster,
                r.sync,
                short_revision(origin.revision) + (" (rollback)" if rolled_back else ""),
                age(r.deployed_at),
                _time(r.deployed_at),
                origin.author,
                origin.subject,
            ]
        )
    print_table(AT_COLUMNS, rows, wide=output is Output.wide, headers=not no_headers)


def dora(
    environment: str | None = ENV,
    since: str = typer.Option("30d", "--since", help=f"Start of the window. {TIME_HELP}"),
    output: Output = OUTPUT,
    no_headers: bool = NO_HEADERS,
    ledger: str | None = LEDGER,
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
    agent_namespace: str = AGENT_NAMESPACE_OPTION,
    agent_service: str = AGENT_SERVICE_OPTION,
) -> None:
    """Show DORA figures: deployment frequency, lead time, change failure rate, time to restore."""
    if output is Output.name:
        raise typer.BadParameter("dora names no objects: use wide, json or yaml", param_hint="-o")
    start = _when(since, "--since")
    figures: Dora = _query(
        ledger,
        lambda book: book.dora(environment=environment, since=start),
        Agent(kubeconfig, context, agent_namespace, agent_service),
    )
    if output in (Output.json, Output.yaml):
        emit(figures.as_dict(), output)
        return
    rate = figures.change_failure_rate
    rows = [
        [
            "window",
            f"{environment or 'all environments'}, {age(figures.since)} "
            f"({_time(figures.since)} to {_time(figures.until)})",
        ],
        [
            "deployment frequency",
            f"{figures.deploys_per_day:.2f} per day ({figures.deployments} deployments)",
        ],
        [
            "lead time (commit to applied)",
            f"median {_span(figures.lead_time_median)}, p90 {_span(figures.lead_time_p90)}",
        ],
        [
            "change failure rate",
            "-"
            if rate is None
            else f"{rate:.0%} ({figures.failed_changes} of {figures.changes} changes)",
        ],
        [
            "time to restore",
            f"median {_span(figures.time_to_restore_median)} "
            f"({figures.restored} of {figures.failures} failures restored)",
        ],
    ]
    print_table(DORA_COLUMNS, rows, wide=output is Output.wide, headers=not no_headers)


# -- the audit chain: `gitmoor ledger verify | export` ---------------------------------------------
# The chain is read from the database itself: the agent's ledger API does not serve it (an audit
# of what some namespaces may see would not be one of the ledger).
CHAIN_LEDGER = typer.Option(
    None,
    "--ledger",
    envvar="GITMOOR_LEDGER",
    help="Ledger URL: sqlite:///PATH or postgresql://USER@HOST:PORT/DB (default: "
    "$GITMOOR_LEDGER, else ~/.local/state/gitmoor/ledger.db).",
    show_default=False,
)

ledger_app = typer.Typer(
    help="The ledger's audit chain: check that no record was edited or deleted, export records.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _chains(statuses: list[ChainStatus]) -> str:
    parts = []
    for status in statuses:
        text = f"{status.cluster}: {_count(status.records, 'record')}"
        if status.image_updates:
            text += f" and {_count(status.image_updates, 'image update')}"
        if status.pruned:
            text += f" ({status.pruned} pruned)"
        parts.append(f"{text}, head {status.entries}:{status.head[:16]}")
    return "; ".join(parts)


class VerifyFormat(enum.StrEnum):
    text = "text"
    json = "json"


def _status_json(status: ChainStatus) -> dict[str, object]:
    broken = status.broken
    return {
        "cluster": status.cluster,
        "records": status.records,
        "image_updates": status.image_updates,
        "pruned": status.pruned,
        "entries": status.entries,
        "head": status.head,
        "broken": None
        if broken is None
        else {
            "record": None if broken.image_update else broken.record_id,
            "image_update": broken.record_id if broken.image_update else None,
            "entry": broken.seq,
            "sync": broken.sync,
            "revision": broken.revision,
            "problem": broken.problem.value,
            "detail": broken.detail,
        },
    }


_ANCHOR = re.compile(r"^([1-9][0-9]*):([0-9a-f]{64})$")


def _anchors(values: list[str], cluster: str | None) -> dict[int, str]:
    anchors: dict[int, str] = {}
    for value in values:
        match = _ANCHOR.match(value.strip().lower())
        if match is None:
            raise typer.BadParameter(
                f"{value!r}: expected ENTRY:HASH, the entry number and its whole 64-digit "
                "hash as `verify -o json` gives them (entries, head)",
                param_hint="--anchor",
            )
        anchors[int(match.group(1))] = match.group(2)
    if anchors and cluster is None:
        raise typer.BadParameter(
            "an anchor belongs to one chain: add --cluster", param_hint="--anchor"
        )
    return anchors


@ledger_app.command("verify")
def verify(
    cluster: str | None = typer.Option(None, "--cluster", help="Only this cluster's chain."),
    anchor: list[str] = typer.Option(
        [],
        "--anchor",
        metavar="ENTRY:HASH",
        help="An entry's hash kept from an earlier verify (-o json: entries, head): the chain "
        "must still pass through it, so one rewritten from scratch fails. Needs --cluster; "
        "repeatable.",
    ),
    output: VerifyFormat = typer.Option(
        VerifyFormat.text,
        "--output",
        "-o",
        help="text: one line; json: every chain with its whole head hash, for scripts.",
    ),
    ledger: str | None = CHAIN_LEDGER,
) -> None:
    """Check the audit chain of every cluster (or one): each finished record against its seal,
    each seal against the one before. Exits 1 naming the first broken record of each broken
    chain, or when --cluster names a cluster the ledger has no chain for."""
    from gitmoor.ledger import local_default

    anchors = _anchors(anchor, cluster)
    statuses: list[ChainStatus] = _ask_database(
        ledger or local_default(), lambda book: book.verify(cluster=cluster, anchors=anchors)
    )
    as_json = output is VerifyFormat.json
    if as_json:
        typer.echo(json.dumps([_status_json(s) for s in statuses], indent=2))
    broken = [s.broken for s in statuses if s.broken is not None]
    if broken:
        if not as_json:
            for problem in broken[:-1]:
                err.print(f"error: {problem}", highlight=False, soft_wrap=True, markup=False)
            fail(str(broken[-1]), FAILED)
        raise typer.Exit(FAILED)
    if cluster is not None and not any(s.entries for s in statuses):
        if not as_json:
            fail(f"the ledger holds no sealed record of cluster {cluster}", FAILED)
        raise typer.Exit(FAILED)
    if not as_json:
        if not statuses:
            typer.echo("verified: the ledger holds no records yet")
        else:
            typer.echo(f"verified {_count(len(statuses), 'chain')}: {_chains(statuses)}")


class ExportFormat(enum.StrEnum):
    ndjson = "ndjson"
    json = "json"


@ledger_app.command("export")
def export(
    since: str | None = typer.Option(
        None, "--since", help=f"Only records started at or after. {TIME_HELP}"
    ),
    until: str | None = typer.Option(
        None, "--until", help=f"Only records started at or before. {TIME_HELP}"
    ),
    sync: str | None = typer.Option(None, "--sync", help="Only this Sync (its name)."),
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", parser=namespace_name, help="Only this namespace."
    ),
    cluster: str | None = typer.Option(None, "--cluster", help="Only this cluster."),
    image_updates: bool = typer.Option(
        False,
        "--image-updates",
        help="Stream the image update commits instead (--since/--until on their commit time, "
        "-n on the automation's namespace), each with its seal.",
    ),
    output: ExportFormat = typer.Option(
        ExportFormat.ndjson,
        "--output",
        "-o",
        help="ndjson: one record per line; json: one array.",
    ),
    ledger: str | None = CHAIN_LEDGER,
) -> None:
    """Stream records, oldest first, each with its seal in the audit chain (`chain`: cluster,
    seq, digest, prev, hash), for an auditor. Memory stays flat however many records match."""
    from gitmoor.ledger import local_default

    if image_updates and sync is not None:
        raise typer.BadParameter(
            "image updates belong to automations, not Syncs: use -n", param_hint="--sync"
        )
    start = _when(since, "--since")
    end = _when(until, "--until")

    async def stream(book: Ledger) -> None:
        first = True
        if output is ExportFormat.json:
            typer.echo("[", nl=False)
        items = (
            book.export_image_updates(since=start, until=end, namespace=namespace, cluster=cluster)
            if image_updates
            else book.export(
                since=start, until=end, sync=sync, namespace=namespace, cluster=cluster
            )
        )
        async for item in items:
            line = json.dumps(item, ensure_ascii=False)
            if output is ExportFormat.json:
                typer.echo(("\n" if first else ",\n") + line, nl=False)
            else:
                typer.echo(line)
            first = False
        if output is ExportFormat.json:
            typer.echo("]" if first else "\n]")

    _ask_database(ledger or local_default(), stream)
