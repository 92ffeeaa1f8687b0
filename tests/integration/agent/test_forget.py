"""What the agent remembers of a Sync goes with it: a Sync recreated under the same name starts
afresh (its own ledger records, no failures counted from its predecessor)."""

from __future__ import annotations

from typing import Any

import pytest

from gitmoor.ledger import Ledger
from gitmoor.model.record import Result
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile.agent import Agent
from gitmoor.reconcile.memory import Key
from testenv.gitserver import GitServers
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]
API = "gitmoor.io/v1alpha1"


def _about(item: Any, key: Key) -> bool:
    """Whether a dict key, set member or value of the agent's state concerns `key` (held as
    the Key itself, as `(namespace, name)`, or inside a tuple of them)."""
    if item == key or item == key.short:
        return True
    return isinstance(item, tuple) and any(part in (key, key.short) for part in item)


def remembered(agent: Agent, key: Key) -> list[str]:
    """Every place in the agent's per-key state still holding something about `key`."""
    parts = {
        "agent": agent,
        "cache": agent.cache,
        "memory": agent.memory,
        "publish": agent.publish,
        "drift": agent.drift,
        "syncs": agent.syncs,
        "sources": agent.sources,
        "queue": agent.queue,
    }
    found = []
    for name, part in parts.items():
        for attr, value in vars(part).items():
            if isinstance(value, dict):
                items = [*value, *value.values()]
            elif isinstance(value, set | frozenset):
                items = list(value)
            else:
                continue
            if any(_about(item, key) for item in items):
                found.append(f"{name}.{attr}")
    return found


async def test_a_deleted_sync_is_forgotten_and_its_namesake_starts_afresh(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    tree.commit("broken", {"cm.yaml": "a: [\n"})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    await harness.wait_condition("Sync", "app", cond.READY, "False", reason="BuildFailed")
    agent = harness.readiness.agent
    assert agent is not None
    key = Key("Sync", ns, "app")

    assert await harness.kube.delete(API, "Sync", "app", ns)
    # Nothing of it is left: memory, records in progress or failed, drift, progress, running.
    await eventually(
        lambda: _now(remembered(agent, key)),
        lambda found: not found,
        within=60,
        what="the agent to forget the deleted Sync",
    )

    # Its namesake fails the same way: a record of its own, not one more attempt of the old.
    await harness.sync("app", "repo")
    assert harness.ledger_url is not None
    url = harness.ledger_url

    async def failed() -> list[Any]:
        async with await Ledger.open(url) as ledger:
            found = await ledger.history(sync="app", namespace=ns)
        return [r for r in found if r.result is Result.FAILED]

    await eventually(
        failed, lambda found: len(found) >= 2, within=60, what="a record of the new Sync"
    )


async def _now(value: list[str]) -> list[str]:
    return value
