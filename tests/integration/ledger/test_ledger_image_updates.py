"""Image update commits in the ledger, on SQLite and PostgreSQL: the trail from an image's push
to the commit that wrote its tag to each Sync that applied it, and dora's lead time from the
push."""

from __future__ import annotations

from datetime import timedelta

from gitmoor.ledger import Ledger
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
    await ledger.record_image_update(_update("v2", "1.1.0", pushed=-10 + 30 - 60, committed=20))
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


async def test_retention_prunes_old_update_commits(ledger: Ledger) -> None:
    await ledger.record_image_update(_update("v2", "1.1.0", pushed=None, committed=20))
    await ledger.prune(older_than=timedelta(days=1))
    assert await ledger.image_trail("registry.example/team/web") == []
