"""The ledger: one row per reconcile attempt, and the queries over them.

SQLAlchemy Core over a synchronous engine, driven from asyncio through a small thread pool of
the ledger's own: every database call runs in one of its threads, never on the event loop. The
attempt rows are values (`Record`), written whole and read whole; set-based queries (latest row
per sync, windows, aggregates) are what the ledger does, so there is no ORM state to keep.

Crash safety: `begin` commits an `in_progress` row, `finish` replaces it with the final state,
objects and images in one transaction. A crash leaves either the `in_progress` row (marked
`interrupted` by `interrupted()` when the agent starts again) or the final row, never a mix.

Audit chain: every final state written (`finish`, `repeat`, `interrupted`) is sealed into its
cluster's hash chain in the same transaction, and `prune` writes each deletion into it; `verify`
checks it and `export` streams records with their seals (see `chain`).

How each database is set up (WAL, busy timeout, write locks, pool) is in `engines`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    Select,
    String,
    Table,
    and_,
    delete,
    func,
    inspect,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError, SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from gitmoor.ledger import attribution, chain, rows, seal
from gitmoor.ledger.deployments import Deployment, run_start
from gitmoor.ledger.dora import Dora, Window, dora_of
from gitmoor.ledger.dora import series as series_of
from gitmoor.ledger.engines import WORKERS, WRITE, postgres_engine, sqlite_engine
from gitmoor.ledger.errors import (
    ChainBrokenError,
    LedgerError,
    LedgerNotFoundError,
    LedgerSchemaError,
    LedgerUnavailableError,
    RecordFinishedError,
    RecordNotFoundError,
)
from gitmoor.ledger.lookup import ChartQuery, ImageQuery, RevisionQuery, chart_of, parse_query
from gitmoor.ledger.schema import (
    HEAD,
    VERSION_TABLE,
    image_updates,
    images,
    lock_schema,
    metadata,
    objects,
    records,
)
from gitmoor.ledger.trail import Applied, ImageTrail, split_image
from gitmoor.ledger.urls import engine_url, redacted, sqlite_file
from gitmoor.model.images import ImageUpdate
from gitmoor.model.pipeline import Action
from gitmoor.model.record import Record, Result, Trigger, sha_of
from gitmoor.model.refs import ObjectRef

T = TypeVar("T")
W = TypeVar("W")
_Page = tuple[list[dict[str, Any]], chain.Key | None]

_CHUNK = 500  # ids per IN (...): far below every backend's parameter limit

_INTERRUPTED_REASON = "Interrupted"
_INTERRUPTED_MESSAGE = (
    "the agent stopped before this attempt finished; what it wrote is unknown, the next "
    "attempt converges the cluster"
)


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


# Alembic's own version table, as Alembic would create it (it reads and updates it later).
_version_table = Table(
    VERSION_TABLE,
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
)


def _schema_version(connection: Connection) -> str | None:
    """The ledger's schema version by a plain query; None without a version table."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    row = connection.execute(select(_version_table.c.version_num)).first()
    return None if row is None else str(row[0])


def _sync_key(row: Any) -> tuple[str, str, str]:
    return (row.cluster, row.sync_namespace, row.sync_name)


def _scoped(
    query: Select[Any], cluster: str | None, namespaces: Collection[str] | None
) -> Select[Any]:
    """`query` limited to one cluster's records and to records of `namespaces` (None: all)."""
    if cluster is not None:
        query = query.where(records.c.cluster == cluster)
    if namespaces is not None:
        query = query.where(records.c.sync_namespace.in_(sorted(namespaces)))
    return query


def _latest_deployed(*, before: datetime | None = None) -> Select[Any]:
    """Per sync, the id of the latest record that deployed something (at or before `before`)."""
    rank = (
        func.row_number()
        .over(
            partition_by=(records.c.cluster, records.c.sync_namespace, records.c.sync_name),
            order_by=(records.c.deployed_at.desc(), records.c.id.desc()),
        )
        .label("rank")
    )
    condition: ColumnElement[bool] = records.c.deployed_at.is_not(None)
    if before is not None:
        condition = and_(condition, records.c.deployed_at <= before)
    ranked = select(records.c.id, rank).where(condition).subquery()
    return select(ranked.c.id).where(ranked.c.rank == 1)


class Ledger:
    """The deployment ledger at one database. Open with `await Ledger.open(url)`."""

    def __init__(self, engine: Engine, *, url: str) -> None:
        self._engine = engine
        # Writes take SQLite's write lock at BEGIN (see `engines`); PostgreSQL ignores the option.
        self._writer = engine.execution_options(**{WRITE: True})
        self._executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="gitmoor-ledger")
        self.url = url  # password masked

    # -- lifecycle -------------------------------------------------------------------------------
    @classmethod
    async def open(cls, url: str, *, cluster: str | None = None, create: bool = True) -> Ledger:
        """Open the ledger at `url`, creating and migrating its schema as needed.

        `url` is `sqlite:///path/ledger.db` (relative; `sqlite:////abs/path` absolute) or
        `postgresql://user@host:port/db`. With `cluster`, this cluster's leftover `in_progress`
        records are marked `interrupted`: pass it from the agent (once it leads), never from a
        reader such as the CLI, which must not touch attempts an agent is running. With
        `create=False` a missing SQLite file is an error instead of a new empty ledger.
        """
        parsed = engine_url(url)
        shown = redacted(url)
        path = sqlite_file(parsed)
        if path is not None:
            if not create and not path.is_file():
                raise LedgerNotFoundError(f"no ledger at {path}", url=shown)
            if create:
                try:
                    await asyncio.to_thread(Path(path).parent.mkdir, parents=True, exist_ok=True)
                except OSError as err:
                    raise LedgerUnavailableError(
                        f"cannot make the ledger's directory {Path(path).parent}: {err.strerror}",
                        url=shown,
                    ) from None
        engine = sqlite_engine(parsed) if path is not None else postgres_engine(parsed)
        ledger = cls(engine, url=shown)
        try:
            await ledger._call(ledger._migrate)
            if cluster is not None:
                await ledger.interrupted(cluster=cluster)
        except BaseException:
            await ledger.close()
            raise
        return ledger

    async def close(self) -> None:
        """Wait for running calls, then close every connection."""
        await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        self._executor.shutdown(wait=True)
        self._engine.dispose()

    async def __aenter__(self) -> Ledger:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        call = functools.partial(self._guarded, fn, *args, **kwargs)
        return await loop.run_in_executor(self._executor, call)

    def _guarded(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn` in a worker thread; database errors become ledger errors."""
        try:
            return fn(*args, **kwargs)
        except (OperationalError, DisconnectionError) as problem:
            raise LedgerUnavailableError(
                f"ledger {self.url} unavailable: {self._cause(problem)}", url=self.url
            ) from problem
        except DBAPIError as problem:
            if problem.connection_invalidated:
                raise LedgerUnavailableError(
                    f"ledger {self.url} unavailable: {self._cause(problem)}", url=self.url
                ) from problem
            raise LedgerError(
                f"ledger {self.url}: {self._cause(problem)}", url=self.url
            ) from problem
        except SQLAlchemyError as problem:
            raise LedgerError(f"ledger {self.url}: {problem}", url=self.url) from problem

    @staticmethod
    def _cause(problem: SQLAlchemyError) -> str:
        origin = getattr(problem, "orig", None) or problem
        lines = str(origin).strip().splitlines()
        return lines[0] if lines else type(origin).__name__

    def _migrate(self) -> None:
        with self._engine.connect() as connection:
            if _schema_version(connection) == HEAD:
                return
        with self._writer.begin() as connection:
            lock_schema(connection)
            if _schema_version(connection) == HEAD:
                return  # another agent created it meanwhile
            if not inspect(connection).has_table(records.name):
                # A new ledger is created whole from the table definitions and stamped with
                # the newest version (what Alembic's cookbook advises for a fresh database; a
                # test checks that migrations and definitions agree).
                metadata.create_all(connection)
                _version_table.create(connection)
                connection.execute(_version_table.insert().values(version_num=HEAD))
                return
            self._upgrade(connection)

    def _upgrade(self, connection: Connection) -> None:
        # Alembic (about 12 MiB once imported) is loaded only to upgrade an older ledger, so a
        # long-running agent never carries it otherwise.
        from gitmoor.ledger import migrate

        try:
            migrate.upgrade(connection)
        except migrate.UnknownSchemaError as problem:
            raise LedgerSchemaError(
                f"ledger {self.url} has schema version {problem.version}, which this gitmoor "
                f"does not know (it knows up to {migrate.head()}): upgrade gitmoor",
                url=self.url,
            ) from None

    # -- writing ---------------------------------------------------------------------------------
    async def begin(self, record: Record) -> int:
        """Store the start of an attempt as an `in_progress` row (whatever `record.result` says;
        its objects and images wait for `finish`); returns the record id."""
        return await self._call(self._begin, record)

    def _begin(self, record: Record) -> int:
        values = rows.record_values(record)
        values.update(
            result=Result.IN_PROGRESS.value,
            deployed_revision=None,
            deployed_sha=None,
            deployed_at=None,
        )
        with self._writer.begin() as connection:
            inserted = connection.execute(records.insert().values(**values))
            key = inserted.inserted_primary_key
            assert key is not None
            return int(key[0])

    async def finish(self, record_id: int, record: Record) -> None:
        """Write the final state of attempt `record_id`: the row, its objects and its images, in
        one transaction. The row must be `in_progress` (or `interrupted`, when another agent
        took it for dead); `record.result` must be final."""
        if record.result is Result.IN_PROGRESS:
            raise ValueError("finish needs a final result, not in_progress")
        await self._call(self._finish, record_id, record)

    def _finish(self, record_id: int, record: Record) -> None:
        with self._writer.begin() as connection:
            # The chain's head first (it orders this cluster's seals), then the record.
            appender = chain.Appender(connection, record.cluster)
            current = connection.execute(
                select(records.c.result).where(records.c.id == record_id).with_for_update()
            ).scalar_one_or_none()
            if current is None:
                raise RecordNotFoundError(
                    f"ledger {self.url} has no record {record_id} to finish",
                    url=self.url,
                    record_id=record_id,
                )
            if current not in (Result.IN_PROGRESS.value, Result.INTERRUPTED.value):
                raise RecordFinishedError(
                    f"ledger record {record_id} is already finished ({current})",
                    url=self.url,
                    record_id=record_id,
                )
            # Sealed in the same write: the final row names its entry in the chain.
            seq = appender.append(
                seal.Event.SEAL, record_id, chain.written_digest(record_id, record)
            )
            connection.execute(
                update(records)
                .where(records.c.id == record_id)
                .values(**rows.record_values(record), chain_seq=seq)
            )
            connection.execute(delete(objects).where(objects.c.record_id == record_id))
            connection.execute(delete(images).where(images.c.record_id == record_id))
            if record.objects:
                connection.execute(objects.insert(), rows.object_rows(record_id, record.objects))
            if record.images:
                connection.execute(images.insert(), rows.image_rows(record_id, record.images))
            appender.done()

    async def repeat(self, record_id: int, finished_at: datetime) -> None:
        """One more attempt that ended exactly as record `record_id` did."""
        await self._call(self._repeat, record_id, finished_at)

    def _repeat(self, record_id: int, finished_at: datetime) -> None:
        with self._writer.begin() as connection:
            cluster = connection.execute(
                select(records.c.cluster).where(records.c.id == record_id)
            ).scalar_one_or_none()
            appender = None if cluster is None else chain.Appender(connection, cluster)
            done = connection.execute(
                update(records)
                .where(records.c.id == record_id)
                .values(attempts=records.c.attempts + 1, finished_at=finished_at)
            )
            if appender is None or done.rowcount != 1:
                raise RecordNotFoundError(
                    f"ledger {self.url} has no record {record_id} to count again",
                    url=self.url,
                    record_id=record_id,
                )
            # The count changed a sealed record: seal its new state after the old one.
            chain.reseal(connection, appender, [record_id])
            appender.done()

    async def interrupted(
        self,
        *,
        cluster: str,
        syncs: Collection[tuple[str, str]] | None = None,
        before: datetime | None = None,
    ) -> int:
        """Mark this cluster's `in_progress` records `interrupted`; returns how many.

        Call it when an agent starts leading, before its first attempt: any `in_progress` row of
        its cluster then belongs to an agent that stopped mid-attempt. `finished_at` stays empty
        (when the attempt really ended is unknown). Agent replicas sharing a cluster's Syncs
        mark only the Syncs (`namespace`, `name`) they take over, and only attempts started
        `before` they took them: the others' attempts may be running."""
        wanted = None if syncs is None else frozenset(syncs)
        return await self._call(self._interrupted, cluster, wanted, before)

    def _interrupted(
        self,
        cluster: str,
        syncs: frozenset[tuple[str, str]] | None = None,
        before: datetime | None = None,
    ) -> int:
        leftovers = (
            select(records.c.id, records.c.sync_namespace, records.c.sync_name)
            .where(records.c.cluster == cluster, records.c.result == Result.IN_PROGRESS.value)
            .order_by(records.c.id)
        )
        if before is not None:
            leftovers = leftovers.where(records.c.started_at < before)
        if syncs is not None and not syncs:
            return 0
        with self._writer.begin() as connection:
            if connection.execute(leftovers.limit(1)).first() is None:
                return 0
            # The head first, then the records, as every writer locks them.
            appender = chain.Appender(connection, cluster)
            # In progress at once are a few attempts per agent: filtered here, not in SQL.
            leftover = [
                row.id
                for row in connection.execute(leftovers.with_for_update())
                if syncs is None or (row.sync_namespace, row.sync_name) in syncs
            ]
            if not leftover:
                return 0
            for chunk in _chunks(leftover):
                connection.execute(
                    update(records)
                    .where(records.c.id.in_(chunk))
                    .values(
                        result=Result.INTERRUPTED.value,
                        reason=_INTERRUPTED_REASON,
                        message=_INTERRUPTED_MESSAGE,
                    )
                )
            # An interrupted attempt has ended as far as anyone will know: sealed.
            chain.reseal(connection, appender, leftover)
            appender.done()
            return len(leftover)

    async def prune(
        self, *, older_than: timedelta | None = None, keep_per_sync: int | None = None
    ) -> int:
        """Delete old records; returns how many.

        A record goes when it started more than `older_than` ago, or when its sync has
        `keep_per_sync` newer records (either rule suffices; neither given deletes nothing).
        Kept whatever the rules say: `in_progress` records, each sync's latest deploying record
        (so `where` and `at` still know what runs now), and the first record of the run of
        its current revision (so "since" stays exact for revisions)."""
        if keep_per_sync is not None and keep_per_sync < 0:
            raise ValueError("keep_per_sync must be 0 or more")
        if older_than is None and keep_per_sync is None:
            return 0
        cutoff = datetime.now(UTC) - older_than if older_than is not None else None
        return await self._call(self._prune, cutoff, keep_per_sync)

    def _prune(self, cutoff: datetime | None, keep: int | None) -> int:
        key = (records.c.cluster, records.c.sync_namespace, records.c.sync_name)
        rank = func.row_number().over(
            partition_by=key, order_by=(records.c.started_at.desc(), records.c.id.desc())
        )
        ranked = select(*key, records.c.id, records.c.started_at, rank.label("rank")).where(
            records.c.result != Result.IN_PROGRESS.value
        )
        ranked_sq = ranked.subquery()
        rules = []
        if cutoff is not None:
            rules.append(ranked_sq.c.started_at < cutoff)
        if keep is not None:
            rules.append(ranked_sq.c.rank > keep)
        with self._writer.begin() as connection:
            if cutoff is not None:
                # Update commits older than the retention go too, each with its prune entry.
                chain.prune_image_updates(
                    connection,
                    list(
                        connection.execute(
                            select(image_updates.c.id).where(image_updates.c.committed_at < cutoff)
                        ).scalars()
                    ),
                )
            candidates = connection.execute(
                select(
                    ranked_sq.c.id,
                    ranked_sq.c.cluster,
                    ranked_sq.c.sync_namespace,
                    ranked_sq.c.sync_name,
                ).where(or_(*rules))
            ).all()
            if not candidates:
                return 0
            protected: set[int] = set()
            for sync in {_sync_key(row) for row in candidates}:
                protected |= self._anchors(connection, sync)
            doomed = sorted({int(row.id) for row in candidates} - protected)
            # Each deletion is written into its cluster's chain, so verify expects it.
            chain.prune(connection, doomed)
            return len(doomed)

    @staticmethod
    def _anchors(connection: Connection, sync: tuple[str, str, str]) -> set[int]:
        """The latest deploying record of a sync, the first of its current revision's run, and
        the record that first deployed the content it runs (its attribution)."""
        states = Ledger._deployed_states(connection, sync)
        if not states:
            return set()
        latest = states[0]
        first = latest.id
        for state in states:
            if not _same_deployed(state, latest):
                break
            first = state.id
        origin = attribution.origins(Ledger._states(connection, sync))[latest.id]
        return {latest.id, first, origin.record_id}

    @staticmethod
    def _states(connection: Connection, sync: tuple[str, str, str]) -> list[attribution.State]:
        """A sync's deploying records as attribution reads them, oldest first."""
        cluster, namespace, name = sync
        found = connection.execute(
            select(
                records.c.id,
                records.c.result,
                records.c.content,
                records.c.deployed_revision,
                records.c.deployed_sha,
                records.c.commit_author,
                records.c.commit_time,
                records.c.commit_message,
            )
            .where(
                records.c.cluster == cluster,
                records.c.sync_namespace == namespace,
                records.c.sync_name == name,
                records.c.deployed_at.is_not(None),
            )
            .order_by(records.c.deployed_at, records.c.id)
        ).all()
        return [
            attribution.State(
                id=int(row.id),
                result=Result(row.result),
                content=row.content,
                deployed_revision=str(row.deployed_revision or ""),
                deployed_sha=str(row.deployed_sha or ""),
                commit_author=str(row.commit_author or ""),
                commit_time=row.commit_time,
                commit_message=str(row.commit_message or ""),
            )
            for row in found
        ]

    @staticmethod
    def _deployed_states(connection: Connection, sync: tuple[str, str, str]) -> list[Any]:
        """A sync's deploying records, newest first: id, deployed revision/sha/time."""
        cluster, namespace, name = sync
        return list(
            connection.execute(
                select(
                    records.c.id,
                    records.c.deployed_revision,
                    records.c.deployed_sha,
                    records.c.deployed_at,
                )
                .where(
                    records.c.cluster == cluster,
                    records.c.sync_namespace == namespace,
                    records.c.sync_name == name,
                    records.c.deployed_at.is_not(None),
                )
                .order_by(records.c.deployed_at.desc(), records.c.id.desc())
            ).all()
        )

    # -- auditing --------------------------------------------------------------------------------
    async def verify(
        self, *, cluster: str | None = None, anchors: Mapping[int, str] | None = None
    ) -> list[chain.ChainStatus]:
        """Check every cluster's chain (or one), in one consistent snapshot while agents go on
        writing; see `gitmoor.ledger.chain` for what is checked. `anchors` (entry position to
        link hash, kept from an earlier verify) need `cluster`: its chain must pass through
        them. Each status names the first broken record of its chain, if any; `raise_broken`
        turns them into an error."""
        if anchors and cluster is None:
            raise ValueError("anchors belong to one chain: name its cluster")
        return await self._call(self._verify, cluster, anchors or {})

    def _verify(self, cluster: str | None, anchors: Mapping[int, str]) -> list[chain.ChainStatus]:
        engine = self._engine
        if engine.dialect.name == "postgresql":
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        with engine.begin() as connection:
            names = [cluster] if cluster is not None else chain.clusters(connection)
            return [chain.verify(connection, name, anchors=anchors) for name in names]

    def raise_broken(self, statuses: Sequence[chain.ChainStatus]) -> None:
        """Raise ChainBrokenError naming the first broken record of each broken chain."""
        breaks = tuple(s.broken for s in statuses if s.broken is not None)
        if breaks:
            raise ChainBrokenError("; ".join(str(b) for b in breaks), url=self.url, breaks=breaks)

    async def export(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        sync: str | None = None,
        namespace: str | None = None,
        cluster: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every record that matches, oldest first (by start), as its JSON form with its
        latest seal under `chain`; read a page at a time, so memory stays flat however many
        there are. Filters as in `history` (`since`/`until` on the start time)."""
        where = chain.Filter(
            since=since, until=until, sync=sync, namespace=namespace, cluster=cluster
        )
        async for item in self._pages(chain.export_page, where):
            yield item

    async def export_image_updates(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        namespace: str | None = None,
        cluster: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every image update row that matches (`since`/`until` on the commit time; the
        automation's namespace), oldest commit first, with its seal under `chain`; a page at
        a time."""
        where = chain.UpdateFilter(since=since, until=until, namespace=namespace, cluster=cluster)
        async for item in self._pages(chain.export_updates_page, where):
            yield item

    async def _pages(
        self,
        page_of: Callable[[Connection, W, chain.Key | None], _Page],
        where: W,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a paged export, one page (one connection) at a time."""

        def read(after: chain.Key | None) -> _Page:
            with self._engine.connect() as connection:
                return page_of(connection, where, after)

        after: chain.Key | None = None
        while True:
            page, after = await self._call(read, after)
            for item in page:
                yield item
            if after is None:
                return

    # -- reading ---------------------------------------------------------------------------------
    async def get(self, record_id: int) -> Record | None:
        """One record with its objects and images."""
        found = await self._call(
            self._select, select(*rows.COLUMNS).where(records.c.id == record_id)
        )
        return found[0] if found else None

    async def record(
        self, record_id: int, *, sync: str, namespace: str, cluster: str | None = None
    ) -> Record | None:
        """Record `record_id` if it is one of Sync `namespace/sync`'s (of `cluster`, when
        given), else None: an id alone never reaches another Sync's record."""
        found = await self.get(record_id)
        if found is None or (found.sync_namespace, found.sync_name) != (namespace, sync):
            return None
        return found if cluster is None or found.cluster == cluster else None

    def _select(self, query: Select[Any], *, with_objects: bool = True) -> list[Record]:
        with self._engine.connect() as connection:
            found = connection.execute(query).mappings().all()
            ids = [int(row["id"]) for row in found]
            object_map: dict[int, list[Any]] = {i: [] for i in ids}
            image_map: dict[int, list[str]] = {i: [] for i in ids}
            if with_objects:
                for chunk in _chunks(ids):
                    for row in connection.execute(
                        select(objects)
                        .where(objects.c.record_id.in_(chunk))
                        .order_by(objects.c.record_id, objects.c.position)
                    ).mappings():
                        object_map[int(row["record_id"])].append(rows.object_of(row))
            for chunk in _chunks(ids):
                for image_row in connection.execute(
                    select(images.c.record_id, images.c.image).where(images.c.record_id.in_(chunk))
                ):
                    image_map[int(image_row.record_id)].append(image_row.image)
        return [
            rows.record_of(row, object_map[int(row["id"])], image_map[int(row["id"])])
            for row in found
        ]

    async def namespaces(self, *, cluster: str | None = None) -> list[str]:
        """The namespaces of the Syncs the ledger holds records of (of one cluster), sorted."""
        query = _scoped(select(records.c.sync_namespace).distinct(), cluster, None)
        return await self._call(self._scalars, query.order_by(records.c.sync_namespace))

    def _scalars(self, query: Select[Any]) -> list[str]:
        with self._engine.connect() as connection:
            return [str(value) for value in connection.execute(query).scalars()]

    async def history(
        self,
        *,
        sync: str | None = None,
        namespace: str | None = None,
        environment: str | None = None,
        cluster: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        changed_only: bool = False,
        namespaces: Collection[str] | None = None,
        trigger: Trigger | None = None,
    ) -> list[Record]:
        """Attempts, newest first (by start), with their objects and images.

        Filters: `sync` (the Sync's name), `namespace` (its namespace), `environment`, `cluster`,
        `since` (started at or after), `namespaces` (only Syncs of these); `changed_only` leaves
        out applied attempts that wrote nothing (a commit to another app of a shared repository,
        a full re-check); `trigger` (what started them). At most `limit` records."""
        query = _scoped(select(*rows.COLUMNS), None, namespaces)
        if changed_only:
            wrote = records.c.created + records.c.configured + records.c.deleted
            query = query.where(or_(records.c.result != Result.APPLIED.value, wrote > 0))
        if sync is not None:
            query = query.where(records.c.sync_name == sync)
        if namespace is not None:
            query = query.where(records.c.sync_namespace == namespace)
        if environment is not None:
            query = query.where(records.c.environment == environment)
        if cluster is not None:
            query = query.where(records.c.cluster == cluster)
        if since is not None:
            query = query.where(records.c.started_at >= since)
        if trigger is not None:
            query = query.where(records.c.trigger == trigger.value)
        query = query.order_by(records.c.started_at.desc(), records.c.id.desc()).limit(limit)
        return await self._call(self._select, query)

    async def last_change(
        self, ref: ObjectRef, *, sync_namespace: str, sync_name: str
    ) -> tuple[Record, Action] | None:
        """The newest attempt of Sync `sync_namespace/sync_name` that created or configured the
        object `ref` (in any cluster sharing this ledger), with what it did; None when no
        record says so. The record comes without its object list."""
        query = (
            select(*rows.COLUMNS, objects.c.action.label("object_action"))
            .select_from(records.join(objects, objects.c.record_id == records.c.id))
            .where(
                records.c.sync_namespace == sync_namespace,
                records.c.sync_name == sync_name,
                objects.c.api_group == ref.group,
                objects.c.kind == ref.kind,
                objects.c.namespace == ref.namespace,
                objects.c.name == ref.name,
                objects.c.action.in_(
                    [Action.CREATED.value, Action.CONFIGURED.value, Action.TAKEN_OVER.value]
                ),
            )
            .order_by(records.c.started_at.desc(), records.c.id.desc())
            .limit(1)
        )
        return await self._call(self._last_change, query)

    def _last_change(self, query: Select[Any]) -> tuple[Record, Action] | None:
        with self._engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        if row is None:
            return None
        return rows.record_of(row), Action(row["object_action"])

    async def at(
        self,
        when: datetime,
        *,
        environment: str | None = None,
        cluster: str | None = None,
        namespaces: Collection[str] | None = None,
    ) -> list[Record]:
        """What ran at `when`: per sync, the latest record whose deployed time is at or before
        `when` (its `deployed_revision` is what ran), ordered by environment, cluster, sync.

        `environment` filters on that record's environment; `cluster` and `namespaces` on the
        Sync's. A sync that had deployed nothing yet at `when` is absent."""
        latest = _latest_deployed(before=when)
        query = _scoped(select(*rows.COLUMNS), cluster, namespaces)
        query = query.where(records.c.id.in_(latest))
        if environment is not None:
            query = query.where(records.c.environment == environment)
        query = query.order_by(
            records.c.environment,
            records.c.cluster,
            records.c.sync_namespace,
            records.c.sync_name,
        )
        return await self._call(self._select, query)

    async def running_at(
        self,
        when: datetime,
        *,
        environment: str | None = None,
        cluster: str | None = None,
        namespaces: Collection[str] | None = None,
    ) -> list[tuple[Record, attribution.Origin]]:
        """`at`, with each record's origin: the commit whose content the sync ran (see
        `gitmoor.ledger.attribution`), not the repository's head at the time."""
        found = await self.at(when, environment=environment, cluster=cluster, namespaces=namespaces)
        return await self._call(self._with_origins, found)

    def _with_origins(self, found: list[Record]) -> list[tuple[Record, attribution.Origin]]:
        with self._engine.connect() as connection:
            paired = []
            for record in found:
                sync = (record.cluster, record.sync_namespace, record.sync_name)
                assert record.id is not None
                origin = attribution.origins(self._states(connection, sync))[record.id]
                paired.append((record, origin))
            return paired

    async def where(
        self,
        what: str,
        *,
        cluster: str | None = None,
        namespaces: Collection[str] | None = None,
    ) -> list[Deployment]:
        """Every sync, in every cluster sharing this ledger (or in `cluster`, of `namespaces`),
        where a revision or an image is deployed now, and since when (see
        `gitmoor.ledger.deployments` for the exact rule and `gitmoor.ledger.lookup` for how
        `what` is read). Raises ValueError when `what` is neither a revision nor an image."""
        return await self._call(self._where, parse_query(what), cluster, namespaces)

    def _where(
        self,
        query: RevisionQuery | ChartQuery | ImageQuery,
        cluster: str | None = None,
        namespaces: Collection[str] | None = None,
    ) -> list[Deployment]:
        if isinstance(query, ChartQuery):
            return self._where_chart(query, cluster, namespaces)
        current: Select[Any] = select(
            *rows.COLUMNS,
            records.c.deployed_revision,
            records.c.deployed_sha,
            records.c.deployed_at,
        )
        current = _scoped(current, cluster, namespaces)
        current = current.where(records.c.id.in_(_latest_deployed()))
        if isinstance(query, RevisionQuery):
            # A sync runs a commit when its content came from it: a sync that ever deployed
            # it is a candidate; attribution decides.
            deployed_it = select(
                records.c.cluster, records.c.sync_namespace, records.c.sync_name
            ).where(records.c.deployed_sha.startswith(query.sha_prefix, autoescape=True))
            current = current.where(
                tuple_(records.c.cluster, records.c.sync_namespace, records.c.sync_name).in_(
                    deployed_it
                )
            )
        else:
            with_image = select(images.c.record_id).where(images.c.image.in_(query.spellings))
            current = current.where(records.c.id.in_(with_image))
        found: list[Deployment] = []
        with self._engine.connect() as connection:
            for row in connection.execute(current).all():
                sync = _sync_key(row)
                states = self._deployed_states(connection, sync)
                origin_of = attribution.origins(self._states(connection, sync))
                origin = origin_of[int(row.id)]
                if isinstance(query, RevisionQuery):
                    if not origin.sha.startswith(query.sha_prefix):
                        continue
                    matches: Callable[[Any], bool] = functools.partial(
                        _same_origin, origin_of, origin
                    )
                else:
                    having = self._ids_with_images(connection, sync, query.spellings)
                    matches = functools.partial(_has, having)
                since = run_start((s.deployed_at, matches(s)) for s in states)
                assert since is not None
                now_images = connection.execute(
                    select(images.c.image).where(images.c.record_id == row.id)
                ).scalars()
                found.append(
                    Deployment(
                        environment=row.environment,
                        cluster=row.cluster,
                        sync_namespace=row.sync_namespace,
                        sync_name=row.sync_name,
                        revision=origin.revision,
                        commit_sha=origin.sha,
                        since=since,
                        deployed_at=row.deployed_at,
                        record_id=int(row.id),
                        images=tuple(sorted(now_images)),
                    )
                )
        found.sort(key=lambda d: (d.environment, d.cluster, d.sync_namespace, d.sync_name))
        return found

    def _where_chart(
        self, query: ChartQuery, cluster: str | None, namespaces: Collection[str] | None
    ) -> list[Deployment]:
        """The Syncs running chart `query.chart` (a chartRef's revision names it) at a version
        the range admits, since the first of the unbroken run of records at that version."""
        current: Select[Any] = select(
            *rows.COLUMNS,
            records.c.deployed_revision,
            records.c.deployed_sha,
            records.c.deployed_at,
        )
        current = _scoped(current, cluster, namespaces)
        current = current.where(
            records.c.id.in_(_latest_deployed()),
            records.c.deployed_revision.startswith(f"{query.chart}@", autoescape=True),
        )
        found: list[Deployment] = []
        with self._engine.connect() as connection:
            for row in connection.execute(current).all():
                running = chart_of(row.deployed_revision)
                if running is None or running[0] != query.chart or not query.admits(running[1]):
                    continue
                states = self._deployed_states(connection, _sync_key(row))
                since = run_start(
                    (s.deployed_at, chart_of(s.deployed_revision or "") == running) for s in states
                )
                assert since is not None
                now_images = connection.execute(
                    select(images.c.image).where(images.c.record_id == row.id)
                ).scalars()
                found.append(
                    Deployment(
                        environment=row.environment,
                        cluster=row.cluster,
                        sync_namespace=row.sync_namespace,
                        sync_name=row.sync_name,
                        revision=row.deployed_revision,
                        commit_sha=row.deployed_sha or "",
                        since=since,
                        deployed_at=row.deployed_at,
                        record_id=int(row.id),
                        images=tuple(sorted(now_images)),
                    )
                )
        found.sort(key=lambda d: (d.environment, d.cluster, d.sync_namespace, d.sync_name))
        return found

    @staticmethod
    def _ids_with_images(
        connection: Connection, sync: tuple[str, str, str], spellings: Iterable[str]
    ) -> set[int]:
        cluster, namespace, name = sync
        return set(
            connection.execute(
                select(images.c.record_id)
                .join(records, records.c.id == images.c.record_id)
                .where(
                    records.c.cluster == cluster,
                    records.c.sync_namespace == namespace,
                    records.c.sync_name == name,
                    images.c.image.in_(list(spellings)),
                )
            ).scalars()
        )

    # -- image update automation -----------------------------------------------------------
    async def record_image_update(self, update: ImageUpdate, *, cluster: str) -> int:
        """Keep one image field an automation's commit changed, sealed into `cluster`'s chain
        (the cluster of the agent that pushed the commit); returns its row id."""
        return await self._call(self._record_image_update, update, cluster)

    def _record_image_update(self, update: ImageUpdate, cluster: str) -> int:
        with self._writer.begin() as connection:
            # The chain's head first (it orders this cluster's seals), then the row.
            appender = chain.Appender(connection, cluster)
            values: dict[str, Any] = {
                "cluster": cluster,
                "automation_namespace": update.automation_namespace,
                "automation_name": update.automation_name,
                "policy": update.policy,
                "image": update.image,
                "old_tag": update.old_tag,
                "new_tag": update.new_tag,
                "digest": update.digest,
                "image_pushed_at": update.pushed_at,
                "source_url": update.source_url,
                "branch": update.branch,
                "commit_sha": update.commit,
                "committed_at": update.committed_at,
                "file": update.file,
            }
            inserted = connection.execute(image_updates.insert().values(**values))
            key = inserted.inserted_primary_key
            assert key is not None
            update_id = int(key[0])
            seq = appender.append(
                seal.Event.IMAGE_SEAL, update_id, seal.update_digest({**values, "id": update_id})
            )
            connection.execute(
                image_updates.update().where(image_updates.c.id == update_id).values(chain_seq=seq)
            )
            appender.done()
            return update_id

    async def image_trail(
        self,
        image: str,
        *,
        limit: int = 20,
        cluster: str | None = None,
        namespaces: Collection[str] | None = None,
    ) -> list[ImageTrail]:
        """The update commits of `image` (`registry/path[:tag]`), newest first, each with the
        first deployment of its commit in every Sync that deployed it (of `cluster`, of
        `namespaces`; the automations too, by their namespace)."""
        return await self._call(self._image_trail, image, limit, cluster, namespaces)

    def _image_trail(
        self,
        image: str,
        limit: int,
        cluster: str | None = None,
        namespaces: Collection[str] | None = None,
    ) -> list[ImageTrail]:
        name, tag = split_image(image)
        query = select(image_updates).where(image_updates.c.image == name)
        if namespaces is not None:
            query = query.where(image_updates.c.automation_namespace.in_(list(namespaces)))
        if tag is not None:
            query = query.where(image_updates.c.new_tag == tag)
        query = query.order_by(image_updates.c.committed_at.desc()).limit(limit)
        found: list[ImageTrail] = []
        with self._engine.connect() as connection:
            for row in connection.execute(query).all():
                applied = _scoped(
                    select(
                        records.c.id,
                        records.c.environment,
                        records.c.cluster,
                        records.c.sync_namespace,
                        records.c.sync_name,
                        records.c.deployed_at,
                    ),
                    cluster,
                    namespaces,
                )
                deployed = connection.execute(
                    applied.where(
                        records.c.deployed_sha == row.commit_sha,
                        records.c.deployed_at.is_not(None),
                    ).order_by(records.c.deployed_at)
                ).all()
                first: dict[tuple[str, str, str], Applied] = {}
                for d in deployed:
                    first.setdefault(
                        (d.cluster, d.sync_namespace, d.sync_name),
                        Applied(
                            d.environment,
                            d.cluster,
                            d.sync_namespace,
                            d.sync_name,
                            d.deployed_at,
                            int(d.id),
                        ),
                    )
                found.append(ImageTrail(_image_update(row), tuple(first.values())))
        return found

    def _pushed_times(self, shas: Collection[str]) -> dict[str, datetime]:
        """For update commits among `shas`: the earliest push of an image they wrote."""
        out: dict[str, datetime] = {}
        wanted = [s for s in shas if s]
        with self._engine.connect() as connection:
            for start in range(0, len(wanted), 500):
                for row in connection.execute(
                    select(image_updates.c.commit_sha, image_updates.c.image_pushed_at).where(
                        image_updates.c.commit_sha.in_(wanted[start : start + 500]),
                        image_updates.c.image_pushed_at.is_not(None),
                    )
                ).all():
                    known = out.get(row.commit_sha)
                    if known is None or row.image_pushed_at < known:
                        out[row.commit_sha] = row.image_pushed_at
        return out

    async def dora(
        self,
        *,
        environment: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cluster: str | None = None,
        namespaces: Collection[str] | None = None,
    ) -> Dora:
        """DORA figures over [since, until] (default: all history up to now), optionally for one
        environment (and only Syncs of `cluster`, of `namespaces`); the definitions are in
        `gitmoor.ledger.dora`."""
        end = until or datetime.now(UTC)
        return await self._call(self._dora, environment, since, end, cluster, namespaces)

    def _dora(
        self,
        environment: str | None,
        since: datetime | None,
        until: datetime,
        cluster: str | None = None,
        namespaces: Collection[str] | None = None,
    ) -> Dora:
        query = _scoped(select(*rows.COLUMNS), cluster, namespaces)
        query = query.where(records.c.started_at <= until)
        if since is not None:
            # Attempts in the window, plus what each sync ran when it opened.
            baseline = _latest_deployed(before=since)
            query = query.where(or_(records.c.started_at >= since, records.c.id.in_(baseline)))
        if environment is not None:
            query = query.where(records.c.environment == environment)
        found = self._select(query, with_objects=False)
        # Lead time of an image update starts at the image's push, when the registry told it.
        pushed = self._pushed_times({sha_of(r.revision) for r in found})
        return dora_of(found, since=since, until=until, started=pushed)

    async def dora_series(
        self,
        environments: Collection[str],
        windows: Sequence[Window],
        *,
        cluster: str | None = None,
        namespaces: Collection[str] | None = None,
    ) -> dict[str, list[Dora]]:
        """`dora` for each environment and each (since, until) window, from one query: the
        records of every window and what each sync ran when the first opened."""
        if not windows:
            return {e: [] for e in environments}
        return await self._call(self._dora_series, environments, windows, cluster, namespaces)

    def _dora_series(
        self,
        environments: Collection[str],
        windows: Sequence[Window],
        cluster: str | None,
        namespaces: Collection[str] | None,
    ) -> dict[str, list[Dora]]:
        first = min(since for since, _ in windows)
        last = max(until for _, until in windows)
        query = _scoped(select(*rows.COLUMNS), cluster, namespaces)
        # A later window's opening state is a record deployed after `first`, or the one that
        # ran when `first` came (whenever it started); no environment filter: a sync's
        # opening record may be of another environment, and then it has none in this one.
        query = query.where(
            records.c.started_at <= last,
            or_(
                records.c.started_at >= first,
                records.c.deployed_at >= first,
                records.c.id.in_(_latest_deployed(before=first)),
            ),
        )
        found = self._select(query, with_objects=False)
        return series_of(found, sorted(environments), windows)


def _same_deployed(a: Any, b: Any) -> bool:
    """Two deploying rows ran the same commit (by sha; by revision text when there is none)."""
    if a.deployed_sha and b.deployed_sha:
        return bool(a.deployed_sha == b.deployed_sha)
    return bool(a.deployed_revision == b.deployed_revision)


def _same_origin(
    origins: dict[int, attribution.Origin], origin: attribution.Origin, state: Any
) -> bool:
    """A deploying row ran the content of `origin`'s commit."""
    found = origins.get(int(state.id))
    return found is not None and found.sha == origin.sha


def _image_update(row: Any) -> ImageUpdate:
    return ImageUpdate(
        automation_namespace=row.automation_namespace,
        automation_name=row.automation_name,
        policy=row.policy,
        image=row.image,
        old_tag=row.old_tag,
        new_tag=row.new_tag,
        digest=row.digest,
        pushed_at=row.image_pushed_at,
        source_url=row.source_url,
        branch=row.branch,
        commit=row.commit_sha,
        committed_at=row.committed_at,
        file=row.file,
    )


def _has(ids: set[int], state: Any) -> bool:
    return int(state.id) in ids
