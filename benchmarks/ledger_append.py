"""What the ledger's audit chain costs: appending attempts, verifying and exporting them.

    .venv/bin/python -m benchmarks.ledger_append [--records 400] [--no-postgres]

Writes --records attempts (begin, then finish, as the agent does; ten Syncs, a few objects and
an image each) into a new SQLite file and, unless --no-postgres, a new database on a throwaway
local PostgreSQL (testenv.postgres), then verifies the chain and exports every record. Prints
the median and p90 time per attempt (each finish seals into the chain: one indexed read of the
chain's head, an insert and an update) and the rate of verify and export.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gitmoor.ledger import Ledger
from gitmoor.model.pipeline import Action
from gitmoor.model.record import ObjectAction, Record, Result, Trigger
from gitmoor.model.refs import ObjectRef

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def attempt(i: int) -> tuple[Record, Record]:
    start = T0 + timedelta(minutes=i)
    begun = Record(
        sync_namespace="team",
        sync_name=f"app-{i % 10}",
        environment="prod",
        cluster="bench",
        source_url="https://git.example/acme/apps.git",
        revision=f"main@sha1:{i:040x}",
        trigger=Trigger.INTERVAL,
        started_at=start,
        commit_sha=f"{i:040x}",
        commit_author="Ada <ada@example.com>",
        commit_time=start - timedelta(minutes=5),
        commit_message=f"release {i}",
    )
    objects = tuple(
        ObjectAction(ObjectRef("apps", "Deployment", "team", f"app-{n}"), "apps/v1", action)
        for n, action in enumerate((Action.CONFIGURED, Action.UNCHANGED, Action.UNCHANGED))
    )
    finished = replace(
        begun,
        result=Result.APPLIED,
        applied_at=start + timedelta(seconds=20),
        healthy_at=start + timedelta(seconds=40),
        finished_at=start + timedelta(seconds=40),
        configured=1,
        unchanged=2,
        objects=objects,
        images=(f"registry.example/app:{i}",),
    )
    return begun, finished


async def measure(url: str, records: int) -> str:
    async with await Ledger.open(url, cluster="bench") as ledger:
        times = []
        for i in range(records):
            begun, finished = attempt(i)
            start = time.perf_counter()
            await ledger.finish(await ledger.begin(begun), finished)
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
        [status] = await ledger.verify()
        verified = time.perf_counter() - start
        assert status.ok, status.broken
        start = time.perf_counter()
        exported = sum([1 async for _ in ledger.export()])
        export_time = time.perf_counter() - start
    times.sort()
    return (
        f"{records} attempts: median {statistics.median(times) * 1000:.2f} ms, "
        f"p90 {times[int(len(times) * 0.9)] * 1000:.2f} ms per begin+finish; "
        f"verify {status.records / verified:,.0f} records/s; "
        f"export {exported / export_time:,.0f} records/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=400)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'ledger.db'}"
        print(f"sqlite:     {asyncio.run(measure(url, args.records))}")
    if not args.no_postgres:
        from testenv.postgres import Postgres

        with Postgres() as postgres:
            url = postgres.create_database("bench_ledger")
            print(f"postgresql: {asyncio.run(measure(url, args.records))}")


if __name__ == "__main__":
    main()
