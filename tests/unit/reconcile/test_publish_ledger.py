"""The publisher is the only writer of the ledger: what the agent's runtime has recorded (a
taken-over Sync's attempts marked interrupted, an automation's update commit) goes through it,
into a real SQLite ledger here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kubernetes_asyncio.client import Configuration

from gitmoor.errors import NotLeaderError
from gitmoor.kube import Kube
from gitmoor.ledger import Ledger
from gitmoor.model.images import ImageUpdate
from gitmoor.model.record import Record, Result, Trigger
from gitmoor.reconcile.agent import Agent, AgentOptions
from gitmoor.reconcile.memory import Key
from gitmoor.reconcile.report import Report

STARTED = datetime(2026, 12, 1, tzinfo=UTC)


def _record(name: str) -> Record:
    return Record(
        sync_namespace="apps",
        sync_name=name,
        environment="prod",
        cluster="east",
        source_url="https://git.example.com/apps.git",
        revision="main@sha1:" + "a" * 40,
        trigger=Trigger.INTERVAL,
        started_at=STARTED,
    )


@pytest.fixture
async def agent(tmp_path: Path) -> AsyncIterator[Agent]:
    ledger = await Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    # No API server is reached: the publisher's ledger writes need none.
    async with Kube(Configuration(host="https://127.0.0.1:1")) as kube:
        yield Agent(kube, AgentOptions(cache_dir=tmp_path, ledger=ledger, cluster="east"))
    await ledger.close()


async def test_the_attempts_of_syncs_taken_over_are_marked_interrupted(agent: Agent) -> None:
    assert agent.ledger is not None
    for name in ("web", "db"):
        await agent.ledger.begin(_record(name))

    await agent.publish.interrupted([("apps", "web")], STARTED + timedelta(minutes=1))

    (web,) = await agent.ledger.history(sync="web", namespace="apps")
    (db,) = await agent.ledger.history(sync="db", namespace="apps")
    assert (web.result, db.result) == (Result.INTERRUPTED, Result.IN_PROGRESS)


async def test_an_update_commit_is_recorded_in_the_agents_cluster(agent: Agent) -> None:
    assert agent.ledger is not None
    update = ImageUpdate(
        automation_namespace="apps",
        automation_name="web",
        policy="apps/web",
        image="registry.example/apps/web",
        old_tag="1.0.0",
        new_tag="1.1.0",
        digest="sha256:" + "b" * 64,
        pushed_at=STARTED,
        source_url="https://git.example.com/apps.git",
        branch="main",
        commit="c" * 40,
        committed_at=STARTED,
        file="deploy/web.yaml:12",
    )

    await agent.publish.image_updated(update)

    (trail,) = await agent.ledger.image_trail("registry.example/apps/web:1.1.0")
    assert trail.update.commit == "c" * 40
    assert [(s.cluster, s.image_updates) for s in await agent.ledger.verify()] == [("east", 1)]


async def test_an_agent_that_may_not_write_starts_no_record(agent: Agent) -> None:
    """A deposed leader's drift correction or attempt: the write fence refuses the cluster, so
    the ledger must not say it began anything either."""
    assert agent.ledger is not None

    def deposed(method: str, path: str) -> None:
        raise NotLeaderError(f"{method} refused: the lease is not surely held")

    agent.kube.fence(deposed)
    with pytest.raises(NotLeaderError):
        await agent.publish(Key("Sync", "apps", "web"), Report(begin=_record("web")))
    assert await agent.ledger.history(sync="web", namespace="apps") == []

    agent.kube.fence(None)
    await agent.publish(Key("Sync", "apps", "web"), Report(begin=_record("web")))
    (begun,) = await agent.ledger.history(sync="web", namespace="apps")
    assert begun.result is Result.IN_PROGRESS
