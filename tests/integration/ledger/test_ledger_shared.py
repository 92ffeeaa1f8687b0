"""Many agents, one PostgreSQL ledger: what makes cross-environment questions answerable."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest

from gitmoor.ledger import Ledger
from gitmoor.model.record import Result
from testenv.postgres import Postgres
from tests.integration.ledger.conftest import new_database
from tests.integration.ledger.scenario import applied, attempt, failed, minutes, record, rev

pytestmark = pytest.mark.postgres


async def test_two_agents_in_two_clusters_share_one_ledger(postgres: Postgres) -> None:
    url = new_database(postgres)
    # Both agents start at the same moment against a fresh database: one migrates, the other
    # finds the schema in place.
    staging, prod = await asyncio.gather(
        Ledger.open(url, cluster="staging-1"), Ledger.open(url, cluster="prod-1")
    )
    try:
        in_staging = partial(attempt, cluster="staging-1", environment="staging")
        in_prod = partial(attempt, cluster="prod-1", environment="prod")
        # The same Sync name and namespace in both clusters: two different syncs.
        await asyncio.gather(
            record(staging, applied(in_staging("v1", 0, images=("web:1",)))),
            record(prod, applied(in_prod("v1", 5, images=("web:1",)))),
        )
        await record(staging, applied(in_staging("v2", 60, images=("web:2",))))
        await record(prod, failed(in_prod("v2", 90, images=("web:2",))))
        running_in_prod = await prod.begin(in_prod("v2", 120))

        # Either agent answers for both clusters.
        for ledger in (staging, prod):
            v1 = await ledger.where(rev("v1"))
            assert [(d.environment, d.cluster, d.sync, d.since) for d in v1] == [
                ("prod", "prod-1", "team/web", minutes(6))
            ]
            v2 = await ledger.where("web:2")
            assert [(d.environment, d.cluster, d.since) for d in v2] == [
                ("staging", "staging-1", minutes(61))
            ]
            then = await ledger.at(minutes(30))
            assert [(r.cluster, r.deployed_revision) for r in then] == [
                ("prod-1", rev("v1")),
                ("staging-1", rev("v1")),
            ]
        assert len(await staging.history()) == 5
        assert [r.cluster for r in await staging.history(environment="prod")] == ["prod-1"] * 3

        # The staging agent restarts: only its own cluster's attempts can be its leftovers.
        await staging.close()
        staging = await Ledger.open(url, cluster="staging-1")
        running = await staging.get(running_in_prod)
        assert running is not None
        assert running.result is Result.IN_PROGRESS
        await prod.finish(running_in_prod, applied(in_prod("v2", 120)))
        assert [d.cluster for d in await staging.where(rev("v2"))] == ["prod-1", "staging-1"]
    finally:
        await asyncio.gather(staging.close(), prod.close())


async def test_many_agents_opening_a_fresh_shared_ledger_at_once_all_succeed(
    postgres: Postgres,
) -> None:
    url = new_database(postgres)
    ledgers = await asyncio.gather(*(Ledger.open(url, cluster=f"c{i}") for i in range(6)))
    try:
        ids = await asyncio.gather(
            *(
                record(book, applied(attempt("v1", i, cluster=f"c{i}")))
                for i, book in enumerate(ledgers)
            )
        )
        assert len(set(ids)) == 6
        assert len(await ledgers[0].where(rev("v1"))) == 6
    finally:
        await asyncio.gather(*(book.close() for book in ledgers))
