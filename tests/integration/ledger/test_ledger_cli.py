"""`gitmoor history | where | at | dora` as a user runs them, on a real SQLite file and a real
PostgreSQL ledger.

The commands are not registered in the root app yet, so the tests mount them in an app of their
own.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from gitmoor.cli import ledger as commands
from gitmoor.ledger import Ledger
from testenv.ports import free_port
from tests.integration.ledger.scenario import (
    applied,
    attempt,
    minutes,
    record,
    rev,
    rolled_back,
    sha,
)

app = typer.Typer()
app.command("history")(commands.history)
app.command("where")(commands.where)
app.command("at")(commands.at)
app.command("dora")(commands.dora)


@app.callback()
def _root() -> None:
    """A stand-in for the gitmoor root app."""


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # As a user with a wide terminal sees the tables.
    monkeypatch.setenv("COLUMNS", "250")


def gitmoor(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


async def _populate(url: str) -> None:
    async with await Ledger.open(url, cluster="eu-1") as ledger:
        await record(ledger, applied(attempt("v1", 0, images=("web:1",))))
        await record(ledger, applied(attempt("v2", 60, images=("web:2",))))
        await record(ledger, rolled_back(attempt("v3", 120, images=("web:3",)), "v2", ("web:2",)))
        await record(
            ledger,
            applied(
                attempt("v2", 30, namespace="staging", environment="staging", images=("web:2",))
            ),
        )


@pytest.fixture
def url(ledger_url: str) -> str:
    asyncio.run(_populate(ledger_url))
    return ledger_url


def test_history_lists_attempts_as_a_table_and_as_json(url: str) -> None:
    # The commit and the absolute start time are columns of the wide table.
    shown = gitmoor("history", "--ledger", url, "-o", "wide")
    assert shown.exit_code == 0, shown.output
    for expected in (
        "team/web",
        "staging/web",
        f"rolled_back to {sha('v2')[:12]}",
        "release v3 (Ada)",
        "2026-03-01 14:00:00Z",
    ):
        assert expected in shown.stdout
    assert f"main@sha1:{sha('v3')[:12]}" in shown.stdout

    data = json.loads(gitmoor("history", "web", "-n", "team", "--ledger", url, "-o", "json").stdout)
    assert [r["revision"] for r in data] == [rev("v3"), rev("v2"), rev("v1")]
    assert data[0]["result"] == "rolled_back"
    assert data[0]["deployed_revision"] == rev("v2")
    assert data[1]["objects"][0] == {
        "group": "apps",
        "kind": "Deployment",
        "namespace": "team",
        "name": "web-0",
        "api_version": "apps/v1",
        "action": "created",
    }

    staging = json.loads(
        gitmoor("history", "--env", "staging", "--ledger", url, "-o", "json").stdout
    )
    assert [r["sync_namespace"] for r in staging] == ["staging"]
    since = gitmoor("history", "--since", "2026-03-01T13:30Z", "--ledger", url, "-o", "json")
    assert [r["revision"] for r in json.loads(since.stdout)] == [rev("v3")]


def test_where_shows_environments_and_since_when(url: str) -> None:
    shown = gitmoor("where", sha("v2")[:8], "--ledger", url, "-o", "wide")
    assert shown.exit_code == 0, shown.output
    assert "prod" in shown.stdout
    assert "staging" in shown.stdout
    assert "2026-03-01 13:01:00Z" in shown.stdout  # prod: since v2 was applied, across the rollback

    data = json.loads(gitmoor("where", "web:2", "--ledger", url, "-o", "json").stdout)
    assert [(d["environment"], d["since"]) for d in data] == [
        ("prod", minutes(61).isoformat()),
        ("staging", minutes(31).isoformat()),
    ]

    nowhere = gitmoor("where", "web:3", "--ledger", url)
    assert nowhere.exit_code == 1  # deployed nowhere: scripts can test for it
    assert "not deployed anywhere" in nowhere.stderr
    assert json.loads(gitmoor("where", "web:3", "--ledger", url, "-o", "json").stdout) == []

    unclear = gitmoor("where", "web", "--ledger", url)
    assert unclear.exit_code == 2
    assert "neither a revision" in unclear.stderr


def test_at_shows_what_ran_at_a_moment(url: str) -> None:
    shown = gitmoor("at", "2026-03-01T12:45:00Z", "--ledger", url)
    assert shown.exit_code == 0, shown.output
    assert f"main@sha1:{sha('v1')[:12]}" in shown.stdout
    assert f"main@sha1:{sha('v2')[:12]}" in shown.stdout  # staging

    data = json.loads(
        gitmoor(
            "at", "2026-03-01T14:30:00+00:00", "--env", "prod", "--ledger", url, "-o", "json"
        ).stdout
    )
    assert [(r["environment"], r["deployed_revision"], r["result"]) for r in data] == [
        ("prod", rev("v2"), "rolled_back")
    ]
    recent = gitmoor("at", "1h", "--ledger", url, "-o", "json")  # an age: an hour ago
    assert len(json.loads(recent.stdout)) == 2


def test_dora_shows_the_four_figures(url: str) -> None:
    shown = gitmoor("dora", "--since", "2026-03-01", "--ledger", url)
    assert shown.exit_code == 0, shown.output
    for figure in ("deployment frequency", "lead time", "change failure rate", "time to restore"):
        assert figure in shown.stdout
    assert "1 of 1 failures restored" in shown.stdout

    data = json.loads(
        gitmoor(
            "dora", "--env", "prod", "--since", "2026-03-01", "--ledger", url, "-o", "json"
        ).stdout
    )
    assert data["deployments"] == 2
    assert data["changes"] == 3
    assert data["failed_changes"] == 1
    assert (
        data["lead_time_median_seconds"] == 660.0
    )  # committed 10m before the start, applied 1m after
    assert data["time_to_restore_median_seconds"] == 240.0


def test_the_ledger_comes_from_gitmoor_ledger_when_not_given(url: str) -> None:
    shown = gitmoor("history", "-o", "json", env={"GITMOOR_LEDGER": url})
    assert shown.exit_code == 0, shown.output
    assert len(json.loads(shown.stdout)) == 4


def test_problems_have_their_exit_codes(tmp_path: Path) -> None:
    missing = gitmoor("history", "--ledger", f"sqlite:///{tmp_path / 'none.db'}")
    assert missing.exit_code == 3
    assert "no ledger at" in missing.stderr
    assert not (tmp_path / "none.db").exists()

    down = gitmoor(
        "where", "web:1", "--ledger", f"postgresql://gitmoor:pw-s3cr3t@127.0.0.1:{free_port()}/x"
    )
    assert down.exit_code == 3
    assert "unavailable" in down.stderr
    assert "pw-s3cr3t" not in down.output

    assert gitmoor("history", "--ledger", "mysql://db/x").exit_code == 2
    bad_time = gitmoor("at", "yesterday", "--ledger", f"sqlite:///{tmp_path / 'none.db'}")
    assert bad_time.exit_code == 2
    assert "invalid time" in bad_time.stderr
