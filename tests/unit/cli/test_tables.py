"""kubectl-style output of `status`, `history`, `where`, `at` and `dora`: borderless columns that
fit the terminal (COLUMNS), AGE, `-o wide|json|yaml|name`, `--no-headers`, colour only on a
terminal.

`status` reads the cluster through `status_listing`, replaced here by fixed rows; the ledger
commands read a real SQLite ledger.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from gitmoor.cli.app import app
from gitmoor.cli.table import Column, age, human_duration, render, shorten
from gitmoor.commands.operations import SourceRow, StatusListing, SyncRow
from gitmoor.ledger import Ledger
from tests.integration.ledger.scenario import applied, attempt, failed, record, rolled_back, sha

WIDTHS = (80, 200)
BOXES = "│┃╭╮╰╯─━┏┓┗┛┡┩"
LONG = (
    "Deployment/team-a/web-frontend: timed out waiting for rollout: 1 of 3 replicas ready; "
    "Pod web-frontend-7c9d: ImagePullBackOff: registry.example.com/team-a/web:v2 not found"
)
NOW = datetime.now(UTC)


def _stamp(ago: timedelta) -> str:
    return (NOW - ago).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sync(name: str, namespace: str, **changes: Any) -> SyncRow:
    row: dict[str, Any] = {
        "namespace": namespace,
        "name": name,
        "source": f"{namespace}/repo",
        "source_revision": "main@sha1:" + sha("v2"),
        "applied_revision": "main@sha1:" + sha("v1"),
        "ready": "False",
        "ready_reason": "HealthCheckFailed",
        "healthy": "False",
        "suspended": False,
        "last_change": _stamp(timedelta(minutes=5)),
        "message": LONG,
        "created": _stamp(timedelta(days=3, hours=4)),
    }
    row.update(changes)
    return SyncRow(**row)


SOURCES = [
    SourceRow(
        namespace="team-a",
        name="repo",
        url="https://git.example.com/platform/very-long-repository-name-for-the-team.git",
        revision="main@sha1:" + sha("v2"),
        ready="True",
        ready_reason="Fetched",
        suspended=False,
        message="stored artifact for revision main@sha1:" + sha("v2"),
        created=_stamp(timedelta(days=40)),
    )
]
SYNCS = [
    _sync("web-frontend-with-a-long-name", "team-a"),
    _sync(
        "api",
        "team-a",
        ready="True",
        ready_reason="Applied",
        message="Applied",
        healthy="True",
        replica="gitmoor-7d9f-x2k",  # several agent replicas share the Syncs
    ),
    _sync("paused", "team-b", suspended=True, ready="True", ready_reason="Applied", message=""),
]


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No cluster: `status` gets the rows above; the namespace it asked for is recorded."""
    asked: list[str] = []

    @asynccontextmanager
    async def fake_kube() -> AsyncIterator[object]:
        yield object()

    async def connect(*_: object) -> Any:
        return fake_kube()

    async def status_listing(_: object, namespace: str) -> StatusListing:
        asked.append(namespace)
        keep = [s for s in SOURCES if namespace in ("", s.namespace)]
        return StatusListing(keep, [y for y in SYNCS if namespace in ("", y.namespace)], "1", {})

    monkeypatch.setattr("gitmoor.commands.cluster.connect", connect)
    monkeypatch.setattr("gitmoor.commands.operations.status_listing", status_listing)
    return asked


def gitmoor(*args: str, columns: int | None = None) -> Result:
    env = {"COLUMNS": str(columns) if columns else None, "NO_COLOR": None}
    result = CliRunner().invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _check_fits(text: str, width: int) -> list[str]:
    lines = text.splitlines()
    assert lines
    for line in lines:
        assert len(line) <= width, f"{len(line)} > {width}: {line!r}"
        assert not any(box in line for box in BOXES), line
        assert "\x1b[" not in line  # no colour into a pipe
    return lines


def _columns(header: str) -> dict[str, int]:
    """Where each header starts: every row's cells start at the same places."""
    return {m.group(): m.start() for m in re.finditer(r"\S+(?: \S+)*", header)}


# -- the table itself ------------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_a_table_fits_the_width_and_shortens_messages_with_an_ellipsis(width: int) -> None:
    columns = [Column("NAME"), Column("READY"), Column("MESSAGE", flexible=True)]
    rows = [["web", "False", LONG], ["api", "True", "Applied"]]
    lines = render(columns, rows, width=width)
    assert all(len(line) <= width for line in lines)
    assert lines[0].split() == ["NAME", "READY", "MESSAGE"]
    assert lines[1].endswith("…") == (len(LONG) + 20 > width)
    message = lines[0].index("MESSAGE")
    assert lines[2][message:] == "Applied"  # aligned under its header
    assert render(columns, rows, width=width, wide=True)[1].endswith(LONG)  # wide: in full


def test_cells_are_never_wrapped_and_are_cut_at_a_word_when_one_is_near() -> None:
    assert shorten("ReconciliationSucceeded", 10) == "Reconcili…"
    assert shorten("timed out waiting for rollout", 20) == "timed out waiting…"
    lines = render([Column("A"), Column("B", flexible=True)], [["x", "line one\nline two"]])
    assert lines[1] == "x   line one line two"


def test_without_a_width_nothing_is_shortened_and_no_headers_leaves_the_header_out() -> None:
    lines = render([Column("NAME"), Column("MESSAGE", flexible=True)], [["web", LONG]])
    assert lines[1].endswith(LONG)
    assert render([Column("NAME")], [["web"]], headers=False) == ["web"]


def test_colour_is_around_the_value_and_does_not_count_as_width() -> None:
    def green(v: str) -> str | None:
        return "green" if v == "True" else None

    columns = [Column("READY", colour=green), Column("NAME")]
    plain = render(columns, [["True", "web"]], colour=False)
    painted = render(columns, [["True", "web"]], colour=True)
    assert painted[1] == "\x1b[32mTrue\x1b[0m" + plain[1][len("True") :]


def test_ages_read_like_kubectl() -> None:
    spans = {
        timedelta(seconds=45): "45s",
        timedelta(minutes=5, seconds=30): "5m30s",
        timedelta(minutes=95): "95m",
        timedelta(hours=5, minutes=30): "5h30m",
        timedelta(hours=30): "30h",
        timedelta(days=3, hours=4): "3d4h",
        timedelta(days=40): "40d",
    }
    for span, text in spans.items():
        assert human_duration(span) == text
    assert age(None) == "<unknown>"


# -- status ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_status_fits_the_terminal(cluster: list[str], width: int) -> None:
    shown = gitmoor("status", "-A", columns=width)
    assert shown.exit_code == 0, shown.output
    lines = _check_fits(shown.stdout, width)
    sources, syncs = lines[0], lines[3]
    # At 80 columns with -A the short revision gives way, not the reason; SUSPENDED stays
    # while a row is suspended.
    revision = ["REVISION"] if width == 200 else []
    assert sources.split()[:7] == [
        "NAMESPACE",
        "NAME",
        "READY",
        "STATUS",
        *revision,
        "SUSPENDED",
        "AGE",
        *(["MESSAGE"] if not revision else []),
    ]
    assert lines[2] == ""  # one table per kind, as `kubectl get gitsources,syncs`
    starts = _columns(syncs)
    rows = lines[4:]
    assert len(rows) == 3  # one line per Sync, whatever the width
    web = rows[0]
    # The name gives up room last: whole at 200 columns, shortened only when nothing else can.
    name = "sync/web-frontend-with-a-long-name"
    assert web[starts["NAME"] :].startswith(name if width == 200 else "sync/web")
    assert web[starts["AGE"] :].startswith("3d4h")
    assert web[starts["READY"] :].startswith("False")
    assert web[starts["STATUS"] :].startswith("HealthCheckFailed ")
    if width == 200:
        assert web[starts["REVISION"] :].startswith(sha("v1")[:12])
    paused = rows[2]
    assert paused[starts["SUSPENDED"] :].startswith("True")
    assert "MESSAGE" in syncs
    if width == 80:
        assert web.endswith("…")


def test_status_leaves_out_suspended_when_narrow_and_nothing_is() -> None:
    from gitmoor.cli.resources import SYNC_COLUMNS, _sync_row

    api = _sync("api", "team-a", ready="True", ready_reason="ReconciliationSucceeded")
    rows = [_sync_row(api)[1:]]
    (header, *_) = render(SYNC_COLUMNS[1:], rows, width=80)
    assert header.split() == ["NAME", "READY", "STATUS", "REVISION", "AGE", "MESSAGE"]
    (header, *_) = render(SYNC_COLUMNS[1:], rows, width=200)
    assert "SUSPENDED" in header.split()


def test_droppable_columns_go_highest_rank_first_only_when_needed() -> None:
    columns = [
        Column("NAME"),
        Column("B", drop_rank=1),
        Column("C", drop_rank=2),
        Column("MESSAGE", flexible=True),
    ]
    row = ["web", "b" * 20, "c" * 20, LONG]
    cases = {
        200: "NAME B C MESSAGE",
        60: "NAME B C MESSAGE",
        50: "NAME B MESSAGE",
        30: "NAME MESSAGE",
    }
    for width, headers in cases.items():
        lines = render(columns, [row], width=width)
        assert lines[0].split() == headers.split(), width
        assert all(len(line) <= width for line in lines)
    assert render(columns, [row], width=30, wide=True)[0].split() == ["NAME", "B", "C", "MESSAGE"]


def test_status_wide_has_the_whole_message_and_more_columns(cluster: list[str]) -> None:
    shown = gitmoor("status", "-A", "-o", "wide", columns=80)
    assert shown.exit_code == 0
    assert LONG in shown.stdout
    assert f"main@sha1:{sha('v1')}" in shown.stdout
    for header in ("HEALTHY", "SOURCE REVISION", "LAST CHANGE", "URL", "REPLICA"):
        assert header in shown.stdout
    assert "gitmoor-7d9f-x2k" in shown.stdout


def test_status_shapes_for_scripts(cluster: list[str]) -> None:
    data = json.loads(gitmoor("status", "-A", "-o", "json").stdout)
    assert set(data) == {"sources", "syncs"}
    assert [s["name"] for s in data["syncs"]] == [y.name for y in SYNCS]
    assert data["syncs"][0]["message"] == LONG
    assert {"ready", "ready_reason", "suspended", "created", "applied_revision"} <= set(
        data["syncs"][0]
    )
    assert yaml.safe_load(gitmoor("status", "-A", "-o", "yaml").stdout) == data
    names = gitmoor("status", "-A", "-o", "name").stdout.splitlines()
    assert names == ["gitsource.gitmoor.io/repo", *(f"sync.gitmoor.io/{y.name}" for y in SYNCS)]
    bare = gitmoor("status", "-n", "team-b", "--no-headers").stdout.splitlines()
    assert [line.split()[0] for line in bare] == ["sync/paused"]


def test_status_without_objects_says_so_on_stderr(cluster: list[str]) -> None:
    shown = gitmoor("status", "-n", "empty")
    assert shown.exit_code == 0
    assert shown.stdout == ""
    assert "No GitSources or Syncs found in namespace empty" in shown.stderr


# -- the ledger ------------------------------------------------------------------------------------


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"

    async def populate() -> None:
        async with await Ledger.open(url, cluster="eu-1") as book:
            await record(book, applied(attempt("v1", 0, images=("web:1",))))
            await record(book, applied(attempt("v2", 60, images=("web:2",))))
            await record(book, failed(attempt("v3", 90)))
            await record(book, rolled_back(attempt("v4", 120, images=("web:4",)), "v2", ("web:2",)))
            await record(
                book,
                applied(
                    attempt(
                        "v2",
                        30,
                        sync="web-frontend-with-a-long-name",
                        namespace="staging",
                        environment="staging",
                        images=("web:2", "registry.example.com/team-a/sidecar-proxy:1.25.3"),
                    )
                ),
            )

    asyncio.run(populate())
    return url


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(
    "args",
    [("history",), ("where", sha("v2")[:8]), ("at", "2026-03-01T14:30:00Z"), ("dora",)],
    ids=lambda a: a[0],
)
def test_ledger_tables_fit_the_terminal(ledger: str, width: int, args: tuple[str, ...]) -> None:
    extra = ("--since", "2026-02-01") if args[0] == "dora" else ()
    shown = gitmoor(*args, *extra, "--ledger", ledger, columns=width)
    assert shown.exit_code == 0, shown.output
    lines = _check_fits(shown.stdout, width)
    assert lines[0] == lines[0].upper()  # a header line
    assert "2026-03-01 1" not in shown.stdout  # ages, not absolute times (those are in wide)


def test_history_shows_ages_results_and_shortened_messages(ledger: str) -> None:
    lines = gitmoor("history", "--ledger", ledger, columns=80).stdout.splitlines()
    header = _columns(lines[0])
    assert list(header)[:4] == ["AGE", "SYNC", "ENV", "REVISION"]
    newest = lines[1]
    assert newest[header["RESULT"] :].startswith("rolled_back")
    assert newest.endswith("…")  # the message, shortened to fit
    wide = gitmoor("history", "--ledger", ledger, "-o", "wide").stdout
    assert "health gate timed out; restored main@sha1:" + sha("v2") in wide
    assert "release v4 (Ada)" in wide
    assert "2026-03-01 14:00:00Z" in wide


def test_ledger_shapes_for_scripts(ledger: str) -> None:
    history = json.loads(gitmoor("history", "--ledger", ledger, "-o", "json").stdout)
    assert [r["result"] for r in history][:2] == ["rolled_back", "failed"]
    assert yaml.safe_load(gitmoor("history", "--ledger", ledger, "-o", "yaml").stdout) == history
    where = json.loads(gitmoor("where", "web:2", "--ledger", ledger, "-o", "json").stdout)
    assert {d["environment"] for d in where} == {"prod", "staging"}
    assert {"since", "revision", "images", "sync_name"} <= set(where[0])
    dora = json.loads(
        gitmoor("dora", "--since", "2026-02-01", "--ledger", ledger, "-o", "json").stdout
    )
    assert {"deployments", "change_failure_rate", "lead_time_median_seconds"} <= set(dora)
    names = gitmoor("history", "--ledger", ledger, "-o", "name").stdout.splitlines()
    assert names == ["sync.gitmoor.io/web", "sync.gitmoor.io/web-frontend-with-a-long-name"]
    bare = gitmoor("history", "--ledger", ledger, "--no-headers").stdout.splitlines()
    assert len(bare) == len(history)


def test_where_exits_1_when_deployed_nowhere(ledger: str) -> None:
    nowhere = gitmoor("where", "web:99", "--ledger", ledger)
    assert nowhere.exit_code == 1
    assert "not deployed anywhere" in nowhere.stderr
    as_json = gitmoor("where", "web:99", "--ledger", ledger, "-o", "json")
    assert (as_json.exit_code, json.loads(as_json.stdout)) == (1, [])
    assert gitmoor("where", "web:2", "--ledger", ledger).exit_code == 0


def test_help_fits_80_columns_with_every_flag_whole() -> None:
    commands = [c.name for c in app.registered_commands]
    for command in (None, *commands):
        args = [command, "--help"] if command else ["--help"]
        shown = gitmoor(*(a for a in args if a), columns=80)
        assert shown.exit_code == 0, shown.output
        _check_fits(shown.stdout, 80)
        assert "…" not in shown.stdout


def test_progress_lines_fit_a_terminal_and_stay_whole_in_a_pipe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gitmoor.cli.common import progress_line

    full = "main@sha1:" + sha("v1")
    line = f"Sync gitmoor-demo/shop: ReconciliationSucceeded: Applied revision: {full}"
    monkeypatch.delenv("COLUMNS", raising=False)  # a pipe (pytest's stdout is no terminal)
    assert progress_line(line) == f"  {line}"
    monkeypatch.setenv("COLUMNS", "80")
    shown = progress_line(line)
    assert len(shown) <= 80
    assert shown.startswith("  Sync gitmoor-demo/shop: ReconciliationSucceeded: Applied")
    assert sha("v1")[12:] not in shown
    monkeypatch.setenv("COLUMNS", "200")
    assert progress_line(line) == f"  {line.replace(sha('v1'), sha('v1')[:12])}"
