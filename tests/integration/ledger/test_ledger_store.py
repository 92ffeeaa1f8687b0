"""Writing attempts: round trips, crash safety, interrupted attempts, secrets, schema, retention.

Every test runs against a real SQLite file and a real PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import Engine

from gitmoor.ledger import (
    Ledger,
    LedgerNotFoundError,
    LedgerSchemaError,
    LedgerUnavailableError,
    RecordFinishedError,
    RecordNotFoundError,
    migrate,
    schema,
)
from gitmoor.ledger.urls import engine_url
from gitmoor.model.pipeline import Action, ObjectChange
from gitmoor.model.record import ObjectAction, Result, images_in
from gitmoor.model.refs import ObjectRef
from tests.integration.ledger.scenario import (
    applied,
    attempt,
    failed,
    minutes,
    record,
    rev,
)


def sync_engine(url: str) -> Engine:
    """A plain engine to look at the database behind the ledger's back."""
    return create_engine(engine_url(url))


def dump(url: str) -> str:
    """Every row of every table, as text."""
    engine = sync_engine(url)
    try:
        with engine.connect() as connection:
            names = inspect(connection).get_table_names()
            return "\n".join(
                repr(row)
                for name in names
                for row in connection.execute(text(f'SELECT * FROM "{name}"')).all()  # noqa: S608
            )
    finally:
        engine.dispose()


async def test_an_attempt_is_in_progress_until_finished_and_then_reads_back_whole(
    ledger: Ledger,
) -> None:
    start = attempt("v1", 0, images=("web:1",))
    record_id = await ledger.begin(start)

    begun = await ledger.get(record_id)
    assert begun is not None
    assert begun.result is Result.IN_PROGRESS
    assert begun.objects == ()
    assert begun.images == ()  # images and objects arrive with the final state

    final = applied(start)
    await ledger.finish(record_id, final)
    assert await ledger.get(record_id) == replace(final, id=record_id)


async def test_finish_is_refused_for_unknown_finished_or_unfinished_attempts(
    ledger: Ledger,
) -> None:
    final = applied(attempt("v1", 0))
    with pytest.raises(RecordNotFoundError) as missing:
        await ledger.finish(4242, final)
    assert missing.value.record_id == 4242

    record_id = await record(ledger, final)
    with pytest.raises(RecordFinishedError, match="already finished"):
        await ledger.finish(record_id, failed(attempt("v1", 0)))
    with pytest.raises(ValueError, match="final result"):
        await ledger.finish(record_id, attempt("v1", 0))
    assert await ledger.get(record_id) == replace(final, id=record_id)


_CRASHING_AGENT = textwrap.dedent(
    """
    import asyncio, sys
    from dataclasses import replace
    from datetime import UTC, datetime
    from gitmoor.ledger import Ledger
    from gitmoor.model.pipeline import Action
    from gitmoor.model.record import ObjectAction, Record, Result, Trigger
    from gitmoor.model.refs import ObjectRef

    async def main(url, count):
        ledger = await Ledger.open(url, cluster="eu-1")
        now = datetime.now(UTC)
        start = Record("team", "web", "prod", "eu-1", "https://git.example/app.git",
                       "main@sha1:" + "c" * 40, Trigger.INTERVAL, now)
        record_id = await ledger.begin(start)
        objects = tuple(
            ObjectAction(ObjectRef("", "ConfigMap", "team", f"cm-{i}"), "v1", Action.CREATED)
            for i in range(count)
        )
        final = replace(start, result=Result.APPLIED, applied_at=now, finished_at=now,
                        created=count, objects=objects, images=("web:3",))
        print(record_id, flush=True)
        await ledger.finish(record_id, final)
        print("finished", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def test_an_agent_killed_at_any_moment_leaves_a_whole_record_never_half(
    ledger_url: str,
) -> None:
    count = 20_000
    outcomes: list[Result] = []
    # Kill the writer at different moments of its finish: before, during, after the commit.
    for delay in (0.0, 0.05, 0.2, 0.5, 1.0, 2.0):
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CRASHING_AGENT,
            ledger_url,
            str(count),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 60)
        if not line.strip():
            _, stderr = await child.communicate()
            pytest.fail(f"the writer died on its own: {stderr.decode()}")
        record_id = int(line)
        await asyncio.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        await child.wait()

        # The agent restarts: its leftover attempt shows as interrupted, or it had finished.
        async with await Ledger.open(ledger_url, cluster="eu-1") as restarted:
            found = await restarted.get(record_id)
        assert found is not None
        outcomes.append(found.result)
        if found.result is Result.APPLIED:
            assert len(found.objects) == count
            assert found.created == count
            assert found.images == ("web:3",)
        else:
            assert found.result is Result.INTERRUPTED
            assert (found.objects, found.images, found.created) == ((), (), 0)
            assert found.finished_at is None
    assert set(outcomes) <= {Result.APPLIED, Result.INTERRUPTED}


async def test_an_interrupted_attempt_is_marked_for_its_own_cluster_only_and_the_next_completes(
    ledger_url: str,
) -> None:
    async with await Ledger.open(ledger_url, cluster="eu-1") as before_crash:
        lost = await before_crash.begin(attempt("v2", 10))
        other_cluster = await before_crash.begin(attempt("v2", 10, cluster="us-1"))
        done = await record(before_crash, applied(attempt("v1", 0)))
    # Readers (the CLI) open without a cluster and must not touch running attempts.
    async with await Ledger.open(ledger_url) as reader:
        assert (await reader.get(lost)).result is Result.IN_PROGRESS  # type: ignore[union-attr]

    async with await Ledger.open(ledger_url, cluster="eu-1") as after_restart:
        marked = await after_restart.get(lost)
        assert marked is not None
        assert marked.result is Result.INTERRUPTED
        assert marked.reason == "Interrupted"
        assert "stopped before this attempt finished" in marked.message
        assert marked.finished_at is None
        assert (await after_restart.get(other_cluster)).result is Result.IN_PROGRESS  # type: ignore[union-attr]
        assert (await after_restart.get(done)).result is Result.APPLIED  # type: ignore[union-attr]
        assert await after_restart.interrupted(cluster="eu-1") == 0

        retry = await record(after_restart, applied(attempt("v2", 20)))
        history = await after_restart.history(cluster="eu-1")
        assert [(r.id, r.result) for r in history] == [
            (retry, Result.APPLIED),
            (lost, Result.INTERRUPTED),
            (done, Result.APPLIED),
        ]
        assert await after_restart.interrupted(cluster="us-1") == 1


async def test_secret_values_never_reach_the_ledger(ledger: Ledger, ledger_url: str) -> None:
    value = "hunter2-very-secret-value"
    encoded = base64.b64encode(value.encode()).decode()
    manifests: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db-credentials", "namespace": "team"},
            "data": {"password": encoded},
            "stringData": {"token": value},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "team"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "web",
                                "image": "ghcr.io/acme/web:2.0.1",
                                "env": [{"name": "PASSWORD", "value": value}],
                            }
                        ]
                    }
                }
            },
        },
    ]
    changes = [
        ObjectChange(ObjectRef.from_object(m), m["apiVersion"], Action.CREATED) for m in manifests
    ]
    start = attempt("v1", 0)
    final = replace(
        applied(start),
        created=2,
        configured=0,
        unchanged=0,
        objects=tuple(ObjectAction.of(c) for c in changes),
        images=images_in(manifests),
    )
    record_id = await record(ledger, final)

    stored = await ledger.get(record_id)
    assert stored is not None
    assert ObjectAction(
        ObjectRef("", "Secret", "team", "db-credentials"), "v1", Action.CREATED
    ) in (stored.objects)
    assert stored.images == ("ghcr.io/acme/web:2.0.1",)
    contents = dump(ledger_url)
    assert "db-credentials" in contents
    assert value not in contents
    assert encoded not in contents
    url = engine_url(ledger_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        raw = b"".join(
            p.read_bytes() for p in Path(url.database).parent.glob(Path(url.database).name + "*")
        )
        assert value.encode() not in raw
        assert encoded.encode() not in raw


async def test_reopening_migrates_nothing_and_keeps_every_record(ledger_url: str) -> None:
    async with await Ledger.open(ledger_url) as first:
        kept = await record(first, applied(attempt("v1", 0, images=("web:1",))))
    for _ in range(2):
        async with await Ledger.open(ledger_url) as again:
            assert (await again.get(kept)) is not None
    engine = sync_engine(ledger_url)
    try:
        with engine.connect() as connection:
            versions = connection.execute(
                text(f"SELECT version_num FROM {schema.VERSION_TABLE}")  # noqa: S608
            ).all()
            assert versions == [(migrate.head(),)]
            assert migrate.head() == schema.HEAD
            # Alembic reads the version a new ledger is stamped with: later upgrades start there.
            assert migrate.current(connection) == migrate.head()
            from alembic.autogenerate import compare_metadata
            from alembic.runtime.migration import MigrationContext

            context = MigrationContext.configure(
                connection, opts={"version_table": schema.VERSION_TABLE}
            )
            assert compare_metadata(context, schema.metadata) == []
    finally:
        engine.dispose()


async def test_the_migrations_build_exactly_the_schema_a_new_ledger_is_created_with(
    ledger_url: str,
) -> None:
    # A new ledger is created from the table definitions; an old one is upgraded by the
    # migrations. Both must end up the same.
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = sync_engine(ledger_url)
    try:
        with engine.begin() as connection:
            migrate.upgrade(connection)
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": schema.VERSION_TABLE}
            )
            assert compare_metadata(context, schema.metadata) == []
            assert migrate.current(connection) == schema.HEAD
    finally:
        engine.dispose()
    async with await Ledger.open(ledger_url) as ledger:
        kept = await record(ledger, applied(attempt("v1", 0, images=("web:1",))))
        assert (await ledger.get(kept)) is not None


async def test_a_ledger_from_before_signers_and_counts_is_upgraded_keeping_its_records(
    ledger_url: str,
) -> None:
    from alembic import command

    from gitmoor.ledger import rows

    engine = sync_engine(ledger_url)
    old = applied(attempt("v1", 0))
    try:
        with engine.begin() as connection:
            command.upgrade(migrate._config(connection), "0001")
            later = ("signer", "attempts", "content")  # columns of migrations 0002-0004
            values = {k: v for k, v in rows.record_values(old).items() if k not in later}
            inserted = connection.execute(schema.records.insert().values(**values))
            old_id = int(inserted.inserted_primary_key[0])
    finally:
        engine.dispose()

    async with await Ledger.open(ledger_url) as ledger:
        # Only the record row was written by hand, not its objects.
        # Each old record stands for one attempt.
        assert await ledger.get(old_id) == replace(
            old, id=old_id, objects=(), signer=None, attempts=1
        )
        signed = replace(applied(attempt("v2", 5)), signer="SHA256:QL9dmkvegDO7LukUtuRO")
        new_id = await record(ledger, signed)
        assert await ledger.get(new_id) == replace(signed, id=new_id)


async def test_a_ledger_written_by_a_newer_gitmoor_is_refused_clearly(ledger_url: str) -> None:
    async with await Ledger.open(ledger_url):
        pass
    engine = sync_engine(ledger_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"UPDATE {schema.VERSION_TABLE} SET version_num = '9999'"))  # noqa: S608
    finally:
        engine.dispose()
    with pytest.raises(LedgerSchemaError, match=r"schema version 9999.*upgrade gitmoor"):
        await Ledger.open(ledger_url)


async def test_a_missing_sqlite_file_is_an_error_for_readers_and_created_for_the_agent(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'state' / 'gitmoor' / 'ledger.db'}"
    with pytest.raises(LedgerNotFoundError, match="no ledger at"):
        await Ledger.open(url, create=False)
    assert not (tmp_path / "state").exists()
    async with await Ledger.open(url):
        pass
    async with await Ledger.open(url, create=False) as reader:
        assert await reader.history() == []


async def test_an_unreachable_postgresql_is_a_transient_error_without_the_password() -> None:
    from testenv.ports import free_port

    url = f"postgresql://gitmoor:pw-s3cr3t@127.0.0.1:{free_port()}/ledger"
    with pytest.raises(LedgerUnavailableError) as caught:
        await Ledger.open(url)
    assert "pw-s3cr3t" not in str(caught.value)
    assert "127.0.0.1" in str(caught.value)


async def test_retention_drops_old_records_but_keeps_what_runs_and_where_its_run_began(
    ledger: Ledger,
) -> None:
    now = datetime.now(UTC)

    def days_ago(days: float) -> float:
        return (now - timedelta(days=days) - attempt("x", 0).started_at).total_seconds() / 60

    ids = {}
    # web: v1 long ago, then v2 deployed 100 days ago and re-applied since (drift corrections),
    # a failed v3 90 days ago, and a recent failed attempt.
    ids["v1"] = await record(ledger, applied(attempt("v1", days_ago(200))))
    ids["v2"] = await record(ledger, applied(attempt("v2", days_ago(100))))
    ids["v2-again"] = await record(ledger, applied(attempt("v2", days_ago(95))))
    ids["v3-failed"] = await record(ledger, failed(attempt("v3", days_ago(90))))
    ids["v2-latest"] = await record(ledger, applied(attempt("v2", days_ago(80))))
    ids["v4-failed"] = await record(ledger, failed(attempt("v4", days_ago(1))))
    ids["running"] = await ledger.begin(attempt("v4", days_ago(200)))  # an old in_progress row
    # api: one old record, the only one of its sync.
    ids["api"] = await record(ledger, applied(attempt("a1", days_ago(300), sync="api")))

    removed = await ledger.prune(older_than=timedelta(days=30))
    remaining = {r.id for r in await ledger.history(limit=100)}
    assert remaining == {
        ids["v2"],  # first record of the run of what web runs now
        ids["v2-latest"],  # what web runs now
        ids["v4-failed"],  # recent
        ids["running"],  # never pruned while in progress
        ids["api"],  # what api runs now
    }
    assert removed == 3
    [web] = await ledger.where(rev("v2"))
    assert web.since == applied(attempt("v2", days_ago(100))).applied_at

    assert await ledger.prune(keep_per_sync=1) == 0  # nothing left that is not protected
    assert await ledger.prune() == 0
    with pytest.raises(ValueError, match="keep_per_sync"):
        await ledger.prune(keep_per_sync=-1)


async def test_retention_keeps_the_newest_records_of_each_sync(
    ledger: Ledger, ledger_url: str
) -> None:
    web = [await record(ledger, applied(attempt(f"w{i}", i * 10))) for i in range(5)]
    api = [await record(ledger, applied(attempt(f"a{i}", i * 10, sync="api"))) for i in range(2)]
    assert await ledger.prune(keep_per_sync=2) == 3
    assert {r.id for r in await ledger.history(limit=100)} == {*web[-2:], *api}
    # The objects and images of pruned records go with them.
    engine = sync_engine(ledger_url)
    try:
        with engine.connect() as connection:
            for table in (schema.objects, schema.images):
                left = set(connection.execute(select(table.c.record_id).distinct()).scalars())
                assert left <= {*web[-2:], *api}
    finally:
        engine.dispose()


async def test_sqlite_runs_in_wal_mode_and_concurrent_writers_queue_instead_of_failing(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    # An agent and a second process (say, a `gitmoor rollback` recording) write at once.
    first, second = await asyncio.gather(Ledger.open(url), Ledger.open(url))
    try:
        ids = await asyncio.gather(
            *(
                record(book, applied(attempt(f"v{i}", i, sync=f"app-{i % 5}")))
                for i, book in enumerate([first, second] * 20)
            )
        )
        assert len(set(ids)) == 40
        assert len(await first.history(limit=100)) == 40
    finally:
        await asyncio.gather(first.close(), second.close())
    engine = sync_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()


async def test_an_up_to_date_ledger_opens_without_loading_alembic(tmp_path: Path) -> None:
    # A long-running agent should not carry the migration machinery when there is nothing to
    # upgrade: each open runs in a fresh interpreter that reports whether Alembic got loaded.
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    program = textwrap.dedent(
        f"""
        import asyncio, sys
        from gitmoor.ledger import Ledger

        async def main() -> None:
            async with await Ledger.open({url!r}):
                pass

        asyncio.run(main())
        print("alembic" in sys.modules)
        """
    )

    async def open_once() -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", program, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await process.communicate()
        assert process.returncode == 0
        return out.decode().strip()

    assert await open_once() == "False"  # a new ledger, created from the table definitions
    assert await open_once() == "False"  # the same ledger, up to date


async def test_history_leaves_out_attempts_that_changed_nothing_unless_asked(
    ledger_url: str,
) -> None:
    # A commit to another app of the same repository reaches this Sync as a new revision that
    # writes nothing: an attempt, not a change.
    quiet = replace(
        applied(attempt("other-app", 10)), created=0, configured=0, unchanged=3, objects=()
    )
    async with await Ledger.open(ledger_url) as ledger:
        real = await record(ledger, applied(attempt("v1", 0)))
        noop = await record(ledger, quiet)
        everything = await ledger.history()
        changes = await ledger.history(changed_only=True)

    assert [r.id for r in everything] == [noop, real]
    assert [r.id for r in changes] == [real]


async def test_a_replica_marks_only_the_syncs_it_takes_over_and_only_older_attempts(
    ledger_url: str,
) -> None:
    # Agent replicas share eu-1's Syncs: one that takes over `web` and `api` must not touch
    # `db`'s attempt (another replica runs it), nor an attempt begun after it took them.
    async with await Ledger.open(ledger_url) as book:
        web = await book.begin(attempt("v2", 10, sync="web"))
        db = await book.begin(attempt("v2", 10, sync="db"))
        api_new = await book.begin(attempt("v2", 30, sync="api"))
        marked = await book.interrupted(
            cluster="eu-1", syncs=[("team", "web"), ("team", "api")], before=minutes(20)
        )
        assert marked == 1
        results = {}
        for i in (web, db, api_new):
            found = await book.get(i)
            assert found is not None
            results[i] = found.result
        assert results == {
            web: Result.INTERRUPTED,
            db: Result.IN_PROGRESS,
            api_new: Result.IN_PROGRESS,
        }
        assert await book.interrupted(cluster="eu-1", syncs=[]) == 0
        (chain,) = await book.verify(cluster="eu-1")
        assert chain.ok  # the interruption was sealed like any other
