"""DORA per environment and week from one read of the ledger equals what one `Ledger.dora`
query per environment and week answers, on a real SQLite ledger holding a varied history:
several syncs and environments, failures, rollbacks, drift corrections, attempts that wrote
nothing, a sync that moved to another environment, and history before the first week."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gitmoor.ledger import Ledger
from gitmoor.model.record import Record, Result, Trigger

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
WEEKS = 6
SYNCS = (  # (namespace, name, environment before and after it moved)
    ("shop", "web", "prod", "prod"),
    ("shop", "api", "prod", "prod"),
    ("shop", "web-staging", "staging", "staging"),
    ("data", "etl", "staging", "prod"),
    ("other", "hidden", "prod", "prod"),
)


def _history() -> list[Record]:
    pick = random.Random(19)  # noqa: S311 - a fixed, varied history, not a secret
    found = []
    for namespace, name, before, after in SYNCS:
        at = NOW - timedelta(weeks=WEEKS + 2)
        running = 0
        for _ in range(28):
            at += timedelta(hours=pick.uniform(2, 60))
            if at >= NOW:
                break
            result = pick.choice([Result.APPLIED] * 4 + [Result.FAILED, Result.ROLLED_BACK])
            trigger = pick.choice([Trigger.INTERVAL] * 4 + [Trigger.DRIFT, Trigger.ROLLBACK])
            revision = running + pick.choice([0, 1, 1, 2])
            written = pick.choice([0, 1, 1, 3])
            found.append(
                Record(
                    sync_namespace=namespace,
                    sync_name=name,
                    environment=before if at < NOW - timedelta(weeks=3) else after,
                    cluster="here",
                    source_url="https://git.example/app.git",
                    revision=f"main@sha1:{revision:040x}",
                    commit_sha=f"{revision:040x}",
                    commit_time=at - timedelta(minutes=pick.uniform(5, 600)),
                    trigger=trigger,
                    started_at=at,
                    applied_at=at + timedelta(seconds=20),
                    finished_at=at + timedelta(seconds=pick.uniform(30, 900)),
                    result=result,
                    configured=written,
                    rolled_back_to=f"main@sha1:{running:040x}"
                    if result is Result.ROLLED_BACK
                    else None,
                )
            )
            if result is Result.APPLIED:
                running = revision
    return found


async def test_one_read_gives_every_environment_and_week_what_one_query_each_gives(
    tmp_path: Path,
) -> None:
    async with await Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}", cluster="here") as ledger:
        for final in _history():
            record_id = await ledger.begin(replace(final, result=Result.IN_PROGRESS))
            await ledger.finish(record_id, final)
        windows = [
            (NOW - timedelta(weeks=week), NOW - timedelta(weeks=week - 1))
            for week in range(WEEKS, 0, -1)
        ]
        readable = {"shop", "data"}
        environments = ["prod", "staging", "nowhere"]
        found = await ledger.dora_series(environments, windows, cluster="here", namespaces=readable)
        assert set(found) == set(environments)
        for environment in environments:
            each = [
                await ledger.dora(
                    environment=environment,
                    since=since,
                    until=until,
                    cluster="here",
                    namespaces=readable,
                )
                for since, until in windows
            ]
            assert found[environment] == each, environment
        # The history is varied enough for the comparison to mean something.
        prod = found["prod"]
        assert sum(d.deployments for d in prod) > 5
        assert sum(d.failed_changes for d in prod) > 0
        assert sum(d.restored for d in prod) > 0
        assert all(d.deployments == 0 for d in found["nowhere"])
