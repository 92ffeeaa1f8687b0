"""The audit chain: records written as the agent writes them verify; records edited, deleted or
reordered behind gitmoor's back are named by `gitmoor ledger verify`; `gitmoor ledger export`
streams them with their seals. On a real SQLite file and a real PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, select, text
from typer.testing import CliRunner
from typer.testing import Result as CliResult

from gitmoor.cli.app import app
from gitmoor.ledger import Ledger, chain, migrate, rows, schema, seal
from gitmoor.ledger.errors import ChainBrokenError
from gitmoor.ledger.urls import engine_url
from gitmoor.model.record import Result
from testenv.postgres import Postgres
from tests.integration.ledger.conftest import new_database
from tests.integration.ledger.scenario import (
    applied,
    attempt,
    failed,
    minutes,
    record,
    rolled_back,
)


def run(*args: str, env: dict[str, str] | None = None) -> CliResult:
    return CliRunner().invoke(app, list(args), env=env)


async def gitmoor(*args: str, env: dict[str, str] | None = None) -> CliResult:
    """The command as a user runs it (in a thread: it runs its own event loop)."""
    return await asyncio.to_thread(run, *args, env=env)


def sql(url: str, *statements: str, **params: object) -> None:
    """Change the database behind the ledger's back, as someone with its password could."""
    engine = create_engine(engine_url(url))
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement), params)
    finally:
        engine.dispose()


async def five_in_eu(ledger: Ledger) -> list[int]:
    """Five finished attempts of cluster eu-1, as the agent records them."""
    return [
        await record(ledger, applied(attempt("v1", 0, images=("web:1",)))),
        await record(ledger, applied(attempt("v2", 60, images=("web:2",)))),
        await record(ledger, failed(attempt("v3", 120, images=("web:3",)))),
        await record(ledger, rolled_back(attempt("v4", 180), "v2", ("web:2",))),
        await record(ledger, applied(attempt("v5", 240, images=("web:5", "sidecar:1")))),
    ]


async def test_what_the_agent_writes_verifies_through_repeats_interruptions_and_retention(
    ledger_url: str,
) -> None:
    async with await Ledger.open(ledger_url, cluster="eu-1") as ledger:
        await five_in_eu(ledger)
        await record(ledger, applied(attempt("v1", 10, cluster="us-1", environment="us")))
        # A revision failing the same way again: one record, its count grows (re-sealed).
        again = await record(ledger, failed(attempt("v6", 300)))
        await ledger.repeat(again, minutes(320))
        await ledger.repeat(again, minutes(340))
        # An agent killed mid-attempt: the next one marks the record interrupted (sealed),
        # and the attempt may still be finished after all (sealed again).
        cut = await ledger.begin(attempt("v7", 400))
        left = await ledger.begin(attempt("v8", 410, sync="api"))
        running_elsewhere = await ledger.begin(attempt("v9", 420, cluster="us-1"))
    async with await Ledger.open(ledger_url, cluster="eu-1") as ledger:
        interrupted = await ledger.get(cut)
        assert interrupted is not None
        assert interrupted.result is Result.INTERRUPTED
        await ledger.finish(cut, applied(attempt("v7", 400)))

        statuses = await ledger.verify()
        assert [(s.cluster, s.ok, s.records, s.pruned) for s in statuses] == [
            ("eu-1", True, 8, 0),
            ("us-1", True, 1, 0),
        ]
        # Entries: 5 + 1 + 2 repeats + 2 interrupted + 1 finish after interruption.
        assert statuses[0].entries == 11
        counted = await ledger.get(again)
        assert counted is not None
        assert counted.attempts == 3
        assert (await ledger.get(left)) is not None

        # Retention deletes records; the chain says so, and verify expects their absence.
        pruned = await ledger.prune(keep_per_sync=2)
        assert pruned > 0
        statuses = await ledger.verify()
        assert all(s.ok for s in statuses), statuses
        assert statuses[0].pruned == pruned
        assert statuses[0].records == 8 - pruned
        ledger.raise_broken(statuses)  # nothing to raise

        # Still in progress in another cluster: not sealed yet, not a break.
        assert (await ledger.get(running_elsewhere)) is not None
        await ledger.finish(running_elsewhere, applied(attempt("v9", 420, cluster="us-1")))
        assert all(s.ok for s in await ledger.verify(cluster="us-1"))

    shown = await gitmoor("ledger", "verify", "--ledger", ledger_url)
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("verified 2 chains: eu-1: ")
    assert len(shown.output.strip().splitlines()) == 1


# (what is done behind the ledger's back, what verify must say, which record it must name)
Tamper = Callable[[str, list[int]], None]


def edit_revision(url: str, ids: list[int]) -> None:
    sql(url, "UPDATE ledger_records SET revision = 'main@sha1:0bad' WHERE id = :id", id=ids[2])


def edit_an_object(url: str, ids: list[int]) -> None:
    sql(
        url,
        "UPDATE ledger_objects SET action = 'unchanged' WHERE record_id = :id AND position = 0",
        id=ids[1],
    )


def drop_an_image(url: str, ids: list[int]) -> None:
    sql(url, "DELETE FROM ledger_images WHERE record_id = :id AND image = 'sidecar:1'", id=ids[4])


def edit_deployed_revision(url: str, ids: list[int]) -> None:
    # What `where` and `at` answer from.
    sql(
        url,
        "UPDATE ledger_records SET deployed_revision = 'main@sha1:0bad' WHERE id = :id",
        id=ids[3],
    )


def delete_a_middle_row(url: str, ids: list[int]) -> None:
    sql(
        url,
        "DELETE FROM ledger_objects WHERE record_id = :id",
        "DELETE FROM ledger_images WHERE record_id = :id",
        "DELETE FROM ledger_records WHERE id = :id",
        id=ids[2],
    )


def delete_a_row_and_its_seal(url: str, ids: list[int]) -> None:
    sql(
        url,
        "DELETE FROM ledger_objects WHERE record_id = :id",
        "DELETE FROM ledger_images WHERE record_id = :id",
        "DELETE FROM ledger_records WHERE id = :id",
        "DELETE FROM ledger_chain WHERE record_id = :id",
        id=ids[2],
    )


def reorder_two_seals(url: str, ids: list[int]) -> None:
    # Entries 2 and 3 trade places (and the records their pointers).
    sql(
        url,
        "UPDATE ledger_chain SET seq = 100 WHERE seq = 2",
        "UPDATE ledger_chain SET seq = 2 WHERE seq = 3",
        "UPDATE ledger_chain SET seq = 3 WHERE seq = 100",
        "UPDATE ledger_records SET chain_seq = 3 WHERE id = :a",
        "UPDATE ledger_records SET chain_seq = 2 WHERE id = :b",
        a=ids[1],
        b=ids[2],
    )


def reorder_start_times(url: str, ids: list[int]) -> None:
    # Record 2 now claims to have run after record 4.
    sql(
        url,
        "UPDATE ledger_records SET started_at = "
        "(SELECT started_at FROM ledger_records WHERE id = :late) WHERE id = :early",
        early=ids[1],
        late=ids[3],
    )


def cut_the_end(url: str, ids: list[int]) -> None:
    sql(
        url,
        "DELETE FROM ledger_objects WHERE record_id = :id",
        "DELETE FROM ledger_images WHERE record_id = :id",
        "DELETE FROM ledger_records WHERE id = :id",
        "DELETE FROM ledger_chain WHERE record_id = :id",
        id=ids[4],
    )


def insert_a_record(url: str, ids: list[int]) -> None:
    columns = ", ".join(rows.COLUMNS[i].name for i in range(1, len(rows.COLUMNS)))
    sql(
        url,
        f"INSERT INTO ledger_records ({columns}) "  # noqa: S608
        f"SELECT {columns} FROM ledger_records WHERE id = :id",
        id=ids[0],
    )


TAMPERING: dict[str, tuple[Tamper, chain.Problem, int]] = {
    "edit a revision": (edit_revision, chain.Problem.CONTENT_CHANGED, 2),
    "edit an object": (edit_an_object, chain.Problem.CONTENT_CHANGED, 1),
    "drop an image": (drop_an_image, chain.Problem.CONTENT_CHANGED, 4),
    "edit a deployed revision": (edit_deployed_revision, chain.Problem.CONTENT_CHANGED, 3),
    "delete a middle row": (delete_a_middle_row, chain.Problem.RECORD_MISSING, 2),
    "delete a row and its seal": (delete_a_row_and_its_seal, chain.Problem.LINK_BROKEN, 3),
    "reorder two seals": (reorder_two_seals, chain.Problem.LINK_BROKEN, 2),
    "reorder start times": (reorder_start_times, chain.Problem.CONTENT_CHANGED, 1),
    "cut the end": (cut_the_end, chain.Problem.RECORD_MISSING, 4),
    "insert a record": (insert_a_record, chain.Problem.NOT_SEALED, -1),
}


@pytest.mark.parametrize("tampering", list(TAMPERING))
async def test_verify_names_the_first_record_changed_behind_the_ledgers_back(
    ledger_url: str, tampering: str
) -> None:
    tamper, problem, index = TAMPERING[tampering]
    async with await Ledger.open(ledger_url, cluster="eu-1") as ledger:
        ids = await five_in_eu(ledger)
        await record(ledger, applied(attempt("v1", 10, cluster="us-1", environment="us")))
        assert all(s.ok for s in await ledger.verify())

    tamper(ledger_url, ids)

    async with await Ledger.open(ledger_url) as ledger:
        statuses = await ledger.verify()
        by_cluster = {s.cluster: s for s in statuses}
        assert by_cluster["us-1"].ok  # the other cluster's chain is untouched
        broken = by_cluster["eu-1"].broken
        assert broken is not None
        assert broken.problem is problem, broken
        named = ids[index] if index >= 0 else max(ids) + 2  # the inserted row's id
        assert broken.record_id == named, broken
        with pytest.raises(ChainBrokenError) as raised:
            ledger.raise_broken(statuses)
        assert raised.value.record_id == named
        assert raised.value.cluster == "eu-1"

    shown = await gitmoor("ledger", "verify", "--ledger", ledger_url)
    assert shown.exit_code == 1, shown.output
    assert f"record {named}" in shown.output
    assert problem.value in shown.output
    assert "Traceback" not in shown.output
    if problem is not chain.Problem.RECORD_MISSING:  # the row is there to name its sync
        assert "sync team/web" in shown.output
    # Only the other cluster's chain: whole.
    only_us = await gitmoor("ledger", "verify", "--ledger", ledger_url, "--cluster", "us-1")
    assert only_us.exit_code == 0, only_us.output


async def test_rows_swapped_between_ids_are_named_at_the_first(ledger_url: str) -> None:
    # Two records trade ids (rows moved whole, each still pointing at its own seal).
    bare = {"objects": (), "images": ()}
    async with await Ledger.open(ledger_url, cluster="eu-1") as ledger:
        ids = [
            await record(ledger, replace(applied(attempt(f"v{i}", i * 10)), **bare))
            for i in range(4)
        ]
        await ledger.repeat(ids[3], minutes(50))  # one record sealed twice, to walk past
    sql(
        ledger_url,
        "UPDATE ledger_records SET id = -1 WHERE id = :a",
        "UPDATE ledger_records SET id = :a WHERE id = :b",
        "UPDATE ledger_records SET id = :b WHERE id = -1",
        a=ids[1],
        b=ids[2],
    )
    async with await Ledger.open(ledger_url) as ledger:
        [status] = await ledger.verify()
        assert status.broken is not None
        assert status.broken.problem is chain.Problem.LINK_BROKEN, status.broken
        assert status.broken.record_id == ids[1]
        assert status.broken.seq == 2


def raw(url: str, query: str, **params: object) -> object:
    """One value as the database driver returns it."""
    engine = create_engine(engine_url(url))
    try:
        with engine.connect() as connection:
            return connection.execute(text(query), params).scalar_one()
    finally:
        engine.dispose()


async def test_an_edit_gitmoor_allows_cannot_be_faked_with_sql(ledger_url: str) -> None:
    # The attempts count is updated by design (and re-sealed); changing it by hand is caught.
    async with await Ledger.open(ledger_url, cluster="eu-1") as ledger:
        again = await record(ledger, failed(attempt("v1", 0)))
        first_end = raw(
            ledger_url, "SELECT finished_at FROM ledger_records WHERE id = :id", id=again
        )
        await ledger.repeat(again, minutes(5))
    sql(ledger_url, "UPDATE ledger_records SET attempts = 5 WHERE id = :id", id=again)
    async with await Ledger.open(ledger_url) as ledger:
        [status] = await ledger.verify()
        assert status.broken is not None
        assert status.broken.problem is chain.Problem.CONTENT_CHANGED
        assert status.broken.record_id == again
        assert status.broken.seq == 2
    # Hiding the retry: the row put back as it was first sealed, and pointed at that seal.
    sql(
        ledger_url,
        "UPDATE ledger_records SET attempts = 1, finished_at = :end, chain_seq = 1 WHERE id = :id",
        id=again,
        end=first_end,
    )
    async with await Ledger.open(ledger_url) as ledger:
        [status] = await ledger.verify()
        assert status.broken is not None
        assert status.broken.problem is chain.Problem.LINK_BROKEN, status.broken
        assert status.broken.record_id == again
        assert status.broken.seq == 2


@pytest.mark.postgres
async def test_agents_appending_concurrently_to_one_postgresql_keep_every_chain_valid(
    postgres: Postgres,
) -> None:
    url = new_database(postgres)
    # Two clusters, and for the first a second writer too (a leader hand-over, a spool
    # replaying): each ledger has several threads, so appends really race.
    first, second, stray = await asyncio.gather(
        Ledger.open(url, cluster="eu-1"),
        Ledger.open(url, cluster="us-1"),
        Ledger.open(url),
    )
    try:
        per_writer = 24

        async def attempts(ledger: Ledger, cluster: str, offset: int) -> list[int]:
            return list(
                await asyncio.gather(
                    *(
                        record(
                            ledger,
                            applied(
                                attempt(f"v{i}", offset + i, sync=f"s{i % 5}", cluster=cluster)
                            ),
                        )
                        for i in range(per_writer)
                    )
                )
            )

        async def audits() -> list[list[chain.ChainStatus]]:
            # An auditor verifying while the agents write sees a consistent snapshot.
            return [await first.verify() for _ in range(4)]

        *written, seen = await asyncio.gather(
            attempts(first, "eu-1", 0),
            attempts(second, "us-1", 0),
            attempts(stray, "eu-1", 1000),
            audits(),
        )
        assert all(s.ok for statuses in seen for s in statuses), seen
        assert len({i for ids in written for i in ids}) == 3 * per_writer
        statuses = await first.verify()
        assert [(s.cluster, s.ok, s.entries, s.records) for s in statuses] == [
            ("eu-1", True, 2 * per_writer, 2 * per_writer),
            ("us-1", True, per_writer, per_writer),
        ]
    finally:
        await asyncio.gather(first.close(), second.close(), stray.close())


async def test_export_streams_every_record_with_its_seal_and_filters_by_time(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small pages, so the export crosses many of them (and ties on the start time).
    monkeypatch.setattr(chain, "PAGE", 2)
    async with await Ledger.open(ledger_url, cluster="eu-1") as ledger:
        ids = await five_in_eu(ledger)
        twin = await record(ledger, applied(attempt("v2", 60, sync="api")))
        running = await ledger.begin(attempt("v6", 500))
        exported = [item async for item in ledger.export()]
        assert [item["id"] for item in exported] == [ids[0], ids[1], twin, *ids[2:], running]
        heads = {s.cluster: s.head for s in await ledger.verify()}
        seals = [item["chain"] for item in exported]
        assert seals[-1] is None  # in progress: not sealed yet
        assert [s["seq"] for s in seals[:-1]] == [1, 2, 6, 3, 4, 5]
        assert seals[2]["hash"] == heads["eu-1"]  # the twin was sealed last
        # An auditor can recompute each link from the export alone.
        for s in seals[:-1]:
            assert s["hash"] == seal.link(
                cluster=s["cluster"],
                seq=s["seq"],
                event=seal.Event.SEAL,
                record=next(i["id"] for i in exported if i["chain"] is s),
                digest=s["digest"],
                prev=s["prev"],
            )
        since = [item["id"] async for item in ledger.export(since=minutes(60))]
        assert since == [ids[1], twin, *ids[2:], running]
        window = [
            item["id"]
            async for item in ledger.export(since=minutes(60), until=minutes(120), sync="web")
        ]
        assert window == [ids[1], ids[2]]

    shown = await gitmoor("ledger", "export", "--ledger", ledger_url)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [item["id"] for item in exported]
    assert json.loads(lines[0]) == exported[0]

    as_json = await gitmoor(
        "ledger", "export", "--ledger", ledger_url, "-o", "json", "--since", "2026-03-01T13:00Z"
    )
    assert as_json.exit_code == 0, as_json.output
    assert [r["id"] for r in json.loads(as_json.output)] == since
    nothing = await gitmoor(
        "ledger", "export", "--ledger", ledger_url, "-o", "json", "--since", "now"
    )
    assert json.loads(nothing.output) == []
    by_sync = await gitmoor(
        "ledger", "export", "--ledger", ledger_url, "--sync", "api", "-n", "team"
    )
    assert [json.loads(line)["id"] for line in by_sync.output.splitlines()] == [twin]

    bad = await gitmoor("ledger", "export", "--ledger", ledger_url, "--since", "yesterday")
    assert bad.exit_code == 2
    assert "Traceback" not in bad.output


async def test_verify_and_export_of_a_missing_ledger_exit_3(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path}/nothing.db"
    for command in ("verify", "export"):
        shown = await gitmoor("ledger", command, "--ledger", missing)
        assert shown.exit_code == 3, shown.output
        assert "no ledger at" in shown.output


async def test_a_ledger_from_before_the_chain_is_sealed_on_upgrade_and_verifies(
    ledger_url: str,
) -> None:
    from alembic import command

    engine = create_engine(engine_url(ledger_url))
    finished = [
        applied(attempt("v1", 0, images=("web:1",))),
        failed(attempt("v2", 60)),
        applied(attempt("v1", 5, cluster="us-1", environment="us")),
        rolled_back(attempt("v3", 120), "v1", ("web:1",)),
    ]
    started = attempt("v4", 200)
    old_ids = []
    try:
        with engine.begin() as connection:
            command.upgrade(migrate._config(connection), "0004")
            for old in [*finished, started]:
                values = rows.record_values(old)
                if old is started:
                    values.update(
                        result="in_progress",
                        deployed_revision=None,
                        deployed_sha=None,
                        deployed_at=None,
                    )
                inserted = connection.execute(schema.records.insert().values(**values))
                record_id = int(inserted.inserted_primary_key[0])
                old_ids.append(record_id)
                if old.objects:
                    connection.execute(
                        schema.objects.insert(), rows.object_rows(record_id, old.objects)
                    )
                if old.images:
                    connection.execute(
                        schema.images.insert(), rows.image_rows(record_id, old.images)
                    )
    finally:
        engine.dispose()

    async with await Ledger.open(ledger_url) as ledger:
        statuses = await ledger.verify()
        assert [(s.cluster, s.ok, s.records) for s in statuses] == [
            ("eu-1", True, 3),
            ("us-1", True, 1),
        ]
        # The attempt that was running when the ledger was upgraded is sealed when it ends,
        # after the old ones; new attempts follow.
        await ledger.finish(old_ids[-1], applied(started))
        await record(ledger, applied(attempt("v5", 300)))
        [status] = await ledger.verify(cluster="eu-1")
        assert (status.ok, status.records, status.entries) == (True, 5, 5)

    sql(ledger_url, "UPDATE ledger_records SET commit_author = 'Eve' WHERE id = :id", id=old_ids[0])
    shown = await gitmoor("ledger", "verify", "--ledger", ledger_url)
    assert shown.exit_code == 1
    assert f"record {old_ids[0]}" in shown.output
    assert "content changed" in shown.output


async def test_verify_of_an_unknown_cluster_fails_and_an_empty_ledger_passes(
    ledger_url: str,
) -> None:
    async with await Ledger.open(ledger_url, cluster="eu-1"):
        pass
    empty = await gitmoor("ledger", "verify", "--ledger", ledger_url)
    assert empty.exit_code == 0, empty.output
    unknown = await gitmoor("ledger", "verify", "--ledger", ledger_url, "--cluster", "eu-2")
    assert unknown.exit_code == 1
    assert "no sealed record of cluster eu-2" in unknown.output
    as_json = await gitmoor("ledger", "verify", "--ledger", ledger_url, "-o", "json")
    assert json.loads(as_json.output) == []


async def test_records_replayed_from_the_spool_are_sealed_in_the_order_written(
    ledger_url: str, tmp_path: Path
) -> None:
    from gitmoor.ledger.spool import Spool

    spool = Spool(tmp_path)
    async with await Ledger.open(ledger_url, cluster="eu-1") as ledger:
        begun = await ledger.begin(attempt("v1", 0))
        # The ledger went away: the finish of a begun attempt and a whole one wait.
        spool.add_finish(begun, applied(attempt("v1", 0)))
        spool.add_insert(failed(attempt("v2", 60)))
        spool.add_finish(begun + 100, applied(attempt("v3", 120)))  # its start was lost
        assert await spool.flush(ledger) == 3
        [status] = await ledger.verify()
        assert (status.ok, status.records, status.entries) == (True, 3, 3)
        exported = [item async for item in ledger.export()]
        assert [(item["revision"], item["chain"]["seq"]) for item in exported] == [
            (attempt("v1", 0).revision, 1),
            (attempt("v2", 60).revision, 2),
            (attempt("v3", 120).revision, 3),
        ]


async def test_without_ledger_the_commands_read_the_local_file_or_gitmoor_ledger(
    tmp_path: Path, ledger_url: str
) -> None:
    # Never the agent's API: an audit reads the database itself.
    local = f"sqlite:///{tmp_path / 'state' / 'gitmoor' / 'ledger.db'}"
    for url in (local, ledger_url):
        async with await Ledger.open(url, cluster="eu-1") as ledger:
            await record(ledger, applied(attempt("v1", 0)))
    xdg = {"XDG_STATE_HOME": str(tmp_path / "state"), "GITMOOR_LEDGER": ""}
    shown = await gitmoor("ledger", "verify", env=xdg)
    assert shown.exit_code == 0, shown.output
    assert "eu-1: 1 record" in shown.output
    exported = await gitmoor("ledger", "export", env={"GITMOOR_LEDGER": ledger_url})
    assert exported.exit_code == 0, exported.output
    assert len(exported.output.splitlines()) == 1


def rewrite_chain(url: str, cluster: str) -> None:
    """What someone with write access and this code could do: edit, then seal everything anew."""
    engine = create_engine(engine_url(url))
    try:
        with engine.begin() as connection:
            connection.execute(delete(schema.chain).where(schema.chain.c.cluster == cluster))
            connection.execute(
                delete(schema.chain_heads).where(schema.chain_heads.c.cluster == cluster)
            )
            found = (
                connection.execute(
                    select(schema.records)
                    .where(schema.records.c.cluster == cluster)
                    .order_by(schema.records.c.id)
                )
                .mappings()
                .all()
            )
            digests = chain.stored_digests(connection, found)
            appender = chain.Appender(connection, cluster)
            for row in found:
                appender.seal(int(row["id"]), digests[int(row["id"])])
            appender.done()
    finally:
        engine.dispose()


async def test_an_anchor_kept_from_an_earlier_verify_catches_a_chain_rewritten_whole(
    ledger_url: str,
) -> None:
    async with await Ledger.open(ledger_url, cluster="eu-1") as ledger:
        ids = await five_in_eu(ledger)
    kept = await gitmoor("ledger", "verify", "--ledger", ledger_url, "-o", "json")
    [eu] = json.loads(kept.output)
    anchor = f"{eu['entries']}:{eu['head']}"
    checked = await gitmoor(
        "ledger", "verify", "--ledger", ledger_url, "--cluster", "eu-1", "--anchor", anchor
    )
    assert checked.exit_code == 0, checked.output
    assert f"head {eu['entries']}:{eu['head'][:16]}" in checked.output

    # Later: a revision edited and the whole chain sealed again. Without the anchor it verifies
    # (the limit of a chain kept in the database it protects); with it, it does not.
    async with await Ledger.open(ledger_url, cluster="eu-1") as ledger:
        await record(ledger, applied(attempt("v6", 300)))
    edit_revision(ledger_url, ids)
    rewrite_chain(ledger_url, "eu-1")
    plain = await gitmoor("ledger", "verify", "--ledger", ledger_url)
    assert plain.exit_code == 0, plain.output
    caught = await gitmoor(
        "ledger", "verify", "--ledger", ledger_url, "--cluster", "eu-1", "--anchor", anchor
    )
    assert caught.exit_code == 1, caught.output
    assert "link broken" in caught.output
    assert "the chain was rewritten" in caught.output

    # A chain cut short of the anchor.
    short = f"99:{eu['head']}"
    cut = await gitmoor(
        "ledger", "verify", "--ledger", ledger_url, "--cluster", "eu-1", "--anchor", short
    )
    assert cut.exit_code == 1, cut.output
    assert "before the anchor at entry 99" in cut.output

    for bad in (["--anchor", anchor], ["--cluster", "eu-1", "--anchor", "5:abc"]):
        refused = await gitmoor("ledger", "verify", "--ledger", ledger_url, *bad)
        assert refused.exit_code == 2, refused.output
        assert "--anchor" in refused.output
