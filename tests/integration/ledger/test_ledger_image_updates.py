"""Image update commits in the ledger, on SQLite and PostgreSQL: the trail from an image's push
to the commit that wrote its tag to each Sync that applied it, and dora's lead time from the
push."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner
from typer.testing import Result as CliResult

from gitmoor.cli.app import app
from gitmoor.ledger import Ledger, chain, schema, seal
from gitmoor.ledger.urls import engine_url
from gitmoor.model.images import ImageUpdate
from tests.integration.ledger.scenario import applied, attempt, minutes, record, sha


def _update(name: str, tag: str, *, pushed: float | None, committed: float) -> ImageUpdate:
    return ImageUpdate(
        automation_namespace="team",
        automation_name="apps",
        policy="team/web",
        image="registry.example/team/web",
        old_tag="1.0.0",
        new_tag=tag,
        digest="sha256:" + "a" * 64,
        pushed_at=minutes(pushed) if pushed is not None else None,
        source_url="https://git.example/acme/app.git",
        branch="main",
        commit=sha(name),
        committed_at=minutes(committed),
        file="deploy/web.yaml:12",
    )


async def test_the_trail_and_the_lead_time_from_the_push(ledger: Ledger) -> None:
    # v2 was written by the automation at -10 (its commit time in `attempt`) for an image
    # pushed an hour earlier; staging applied it first, prod later.
    await ledger.record_image_update(
        _update("v2", "1.1.0", pushed=-10 + 30 - 60, committed=20), cluster="eu-1"
    )
    await record(ledger, applied(attempt("v1", 0)))
    await record(ledger, applied(attempt("v2", 30, namespace="staging", environment="staging")))
    await record(ledger, applied(attempt("v2", 60)))
    await record(ledger, applied(attempt("v2", 90)))  # a re-apply: not a new deployment

    (trail,) = await ledger.image_trail("registry.example/team/web:1.1.0")
    assert trail.update.commit == sha("v2")
    assert trail.update.pushed_at == minutes(-40)
    assert [(a.environment, a.applied_at) for a in trail.applied] == [
        ("staging", minutes(31)),
        ("prod", minutes(61)),
    ]
    assert await ledger.image_trail("registry.example/team/web:9.9.9") == []
    assert len(await ledger.image_trail("registry.example/team/web")) == 1
    assert await ledger.image_trail("registry.example/team/web", namespaces=["other"]) == []

    figures = await ledger.dora(environment="prod", since=minutes(50))
    # prod's v2 deployment at 61 counts from the image's push at -40, not the commit at 50.
    assert figures.deployments == 1
    assert figures.lead_time_median == timedelta(minutes=101)
    # v1, no automation's commit: from its commit time, as before.
    before = await ledger.dora(environment="prod", until=minutes(10))
    assert before.lead_time_median == timedelta(minutes=11)


async def test_retention_prunes_old_update_commits(ledger: Ledger, ledger_url: str) -> None:
    await ledger.record_image_update(
        _update("v2", "1.1.0", pushed=None, committed=20), cluster="eu-1"
    )
    # A row from before image updates were chained (no cluster): deleted all the same.
    _sql(
        ledger_url,
        f"INSERT INTO ledger_image_updates ({_UPDATE_COLUMNS}) "  # noqa: S608
        f"SELECT {_UPDATE_COLUMNS} FROM ledger_image_updates",
        "UPDATE ledger_image_updates SET cluster = NULL, chain_seq = NULL "
        "WHERE id = (SELECT MAX(id) FROM ledger_image_updates)",
    )
    await ledger.prune(older_than=timedelta(days=1))
    assert await ledger.image_trail("registry.example/team/web") == []
    # The deletion is in the chain: the row's absence is expected.
    (status,) = await ledger.verify()
    assert status.ok, status.broken
    assert (status.entries, status.pruned, status.image_updates) == (2, 1, 0)


# -- the audit chain -------------------------------------------------------------------------
_UPDATE_COLUMNS = ", ".join(c.name for c in schema.image_updates.columns if c.name not in ("id",))


def _sql(url: str, *statements: str, **params: object) -> None:
    """Change the database behind the ledger's back, as someone with its password could."""
    engine = create_engine(engine_url(url))
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement), params)
    finally:
        engine.dispose()


async def _gitmoor(*args: str) -> CliResult:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def _chained(ledger: Ledger) -> tuple[list[int], list[int]]:
    """Records and image update rows interleaved in eu-1's chain (entries 1 to 4)."""
    r1 = await record(ledger, applied(attempt("v1", 0)))
    u1 = await ledger.record_image_update(
        _update("v2", "1.1.0", pushed=-30, committed=5), cluster="eu-1"
    )
    r2 = await record(ledger, applied(attempt("v2", 10)))
    u2 = await ledger.record_image_update(
        _update("v3", "1.2.0", pushed=15, committed=20), cluster="eu-1"
    )
    return [r1, r2], [u1, u2]


async def test_update_rows_are_sealed_into_their_clusters_chain_verified_and_exported(
    ledger_url: str,
) -> None:
    async with await Ledger.open(ledger_url) as ledger:
        records, updates = await _chained(ledger)
        # The same id in two tables: the entries' events tell them apart.
        assert records[0] == updates[0]
        (status,) = await ledger.verify()
        assert status.ok, status.broken
        assert (status.entries, status.records, status.image_updates) == (4, 2, 2)

    shown = await _gitmoor("ledger", "verify", "--ledger", ledger_url)
    assert shown.exit_code == 0, shown.output
    assert "2 records and 2 image updates" in shown.stdout
    as_json = await _gitmoor("ledger", "verify", "--ledger", ledger_url, "-o", "json")
    assert json.loads(as_json.stdout)[0]["image_updates"] == 2

    exported = await _gitmoor("ledger", "export", "--image-updates", "--ledger", ledger_url)
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [(u["new_tag"], u["commit"], u["automation"]) for u in lines] == [
        ("1.1.0", sha("v2"), "team/apps"),
        ("1.2.0", sha("v3"), "team/apps"),
    ]
    assert [u["chain"]["seq"] for u in lines] == [2, 4]
    for u in lines:  # an auditor recomputes each seal's link from what the export says
        assert u["chain"]["hash"] == seal.link(
            cluster="eu-1",
            seq=u["chain"]["seq"],
            event=seal.Event.IMAGE_SEAL,
            record=u["id"],
            digest=u["chain"]["digest"],
            prev=u["chain"]["prev"],
        )
    later = await _gitmoor(
        "ledger", "export", "--image-updates", "--since", minutes(10).isoformat(),
        "--ledger", ledger_url, "-o", "json",
    )  # fmt: skip
    assert [u["new_tag"] for u in json.loads(later.stdout)] == ["1.2.0"]
    records_only = await _gitmoor("ledger", "export", "--ledger", ledger_url)
    assert len(records_only.stdout.splitlines()) == 2
    wrong = await _gitmoor(
        "ledger", "export", "--image-updates", "--sync", "web", "--ledger", ledger_url
    )
    assert wrong.exit_code == 2
    assert "-n" in wrong.output


Tamper = Callable[[str, list[int], list[int]], None]


def _edit_a_tag(url: str, records: list[int], updates: list[int]) -> None:
    _sql(url, "UPDATE ledger_image_updates SET new_tag = '9.9.9' WHERE id = :id", id=updates[1])


def _delete_an_update(url: str, records: list[int], updates: list[int]) -> None:
    _sql(url, "DELETE FROM ledger_image_updates WHERE id = :id", id=updates[0])


def _insert_an_update(url: str, records: list[int], updates: list[int]) -> None:
    _sql(
        url,
        f"INSERT INTO ledger_image_updates ({_UPDATE_COLUMNS}) "  # noqa: S608
        f"SELECT {_UPDATE_COLUMNS} FROM ledger_image_updates WHERE id = :id",
        "UPDATE ledger_image_updates SET chain_seq = NULL "
        "WHERE id = (SELECT MAX(id) FROM ledger_image_updates)",
        id=updates[0],
    )


def _point_an_update_at_a_records_seal(url: str, records: list[int], updates: list[int]) -> None:
    _sql(url, "UPDATE ledger_image_updates SET chain_seq = 1 WHERE id = :id", id=updates[0])


def _point_a_record_at_an_updates_seal(url: str, records: list[int], updates: list[int]) -> None:
    # Record 1 and update 1 share an id: entry 2 seals the update, not the record.
    _sql(url, "UPDATE ledger_records SET chain_seq = 2 WHERE id = :id", id=records[0])


# name: (tampering, problem, whether an update row is named, which id: 0/1 of the table, -1 new)
TAMPERING: dict[str, tuple[Tamper, chain.Problem, bool, int]] = {
    "edit an update's tag": (_edit_a_tag, chain.Problem.CONTENT_CHANGED, True, 1),
    "delete an update": (_delete_an_update, chain.Problem.RECORD_MISSING, True, 0),
    "insert an update": (_insert_an_update, chain.Problem.NOT_SEALED, True, -1),
    "point an update at a record's seal": (
        _point_an_update_at_a_records_seal,
        chain.Problem.LINK_BROKEN,
        True,
        0,
    ),
    "point a record at an update's seal": (
        _point_a_record_at_an_updates_seal,
        chain.Problem.LINK_BROKEN,
        False,
        0,
    ),
}


@pytest.mark.parametrize("tampering", list(TAMPERING))
async def test_verify_names_the_update_row_changed_behind_the_ledgers_back(
    ledger_url: str, tampering: str
) -> None:
    tamper, problem, is_update, index = TAMPERING[tampering]
    async with await Ledger.open(ledger_url) as ledger:
        records, updates = await _chained(ledger)
    tamper(ledger_url, records, updates)

    async with await Ledger.open(ledger_url) as ledger:
        (status,) = await ledger.verify()
    broken = status.broken
    assert broken is not None
    assert (broken.problem, broken.image_update) == (problem, is_update), broken
    named = (updates if is_update else records)[index] if index >= 0 else max(updates) + 1
    assert broken.record_id == named, broken

    shown = await _gitmoor("ledger", "verify", "--ledger", ledger_url)
    assert shown.exit_code == 1, shown.output
    assert problem.value in shown.output
    assert (f"image update {named}" if is_update else f"record {named}") in shown.output
    assert "Traceback" not in shown.output
