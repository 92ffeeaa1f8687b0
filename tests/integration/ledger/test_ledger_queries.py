"""The questions users ask the ledger: history, where, at, DORA, on both backends.

The story (minutes after T0), sync team/web in prod, cluster eu-1:
    0  v1 applied            images web:1, redis:7
   60  v2 applied            images web:2, redis:7
  120  v3 fails, rolled back to v2 (v3 would have run web:3)
  180  v2 re-applied (drift corrected)
  240  v1 applied again (a revert)
and sync staging/web in staging, same cluster:
   30  v2 applied            images web:2, redis:7
Applies take one minute, so a record started at t deploys at t+1; the rollback finishes at 125.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from gitmoor.ledger import Ledger
from gitmoor.model.record import Result, Trigger
from tests.integration.ledger.scenario import (
    applied,
    attempt,
    failed,
    minutes,
    record,
    rev,
    rolled_back,
    sha,
)

WEB1 = ("redis:7", "web:1")
WEB2 = ("redis:7", "web:2")


@pytest.fixture
async def story(ledger: Ledger) -> Ledger:
    await record(ledger, applied(attempt("v1", 0, images=WEB1)))
    await record(
        ledger, applied(attempt("v2", 30, namespace="staging", environment="staging", images=WEB2))
    )
    await record(ledger, applied(attempt("v2", 60, images=WEB2)))
    await record(ledger, rolled_back(attempt("v3", 120, images=("redis:7", "web:3")), "v2", WEB2))
    await record(ledger, applied(attempt("v2", 180, images=WEB2, trigger=Trigger.RESOURCE)))
    await record(ledger, applied(attempt("v1", 240, images=WEB1)))
    return ledger


async def test_history_is_newest_first_and_filters_by_sync_namespace_environment_and_time(
    story: Ledger,
) -> None:
    await record(story, failed(attempt("x1", 200, sync="api")))

    everything = await story.history()
    assert [r.started_at for r in everything] == sorted(
        (r.started_at for r in everything), reverse=True
    )
    assert len(everything) == 7
    newest = everything[0]
    assert (newest.revision, newest.result, newest.commit_message) == (
        rev("v1"),
        Result.APPLIED,
        "release v1",
    )
    assert len(newest.objects) == 3
    assert newest.images == WEB1

    assert {r.sync_name for r in await story.history(sync="api")} == {"api"}
    assert len(await story.history(sync="web")) == 6
    assert len(await story.history(sync="web", namespace="team")) == 5
    assert [r.environment for r in await story.history(environment="staging")] == ["staging"]
    recent = await story.history(since=minutes(200))
    assert [(r.sync_name, r.revision) for r in recent] == [("web", rev("v1")), ("api", rev("x1"))]
    assert len(await story.history(limit=2)) == 2
    assert await story.history(environment="nowhere") == []
    rollback = (await story.history(since=minutes(120), namespace="team"))[-1]
    assert rollback.result is Result.ROLLED_BACK
    assert rollback.rolled_back_to == rev("v2")


async def test_where_a_revision_runs_now_and_since_when(story: Ledger) -> None:
    # v1 runs in prod again since the revert: its first run (0..60) does not count.
    for asked in (rev("v1"), f"sha1:{sha('v1')}", sha("v1"), sha("v1")[:7]):
        [prod] = await story.where(asked)
        assert (prod.environment, prod.cluster, prod.sync) == ("prod", "eu-1", "team/web")
        assert prod.revision == rev("v1")
        assert prod.since == minutes(241)
        assert prod.images == WEB1

    # v2 no longer runs in prod, but still in staging.
    [staging] = await story.where(rev("v2"))
    assert (staging.environment, staging.sync, staging.since) == (
        "staging",
        "staging/web",
        minutes(31),
    )
    # v3 was rolled back: it never became the running revision anywhere.
    assert await story.where(rev("v3")) == []


async def test_since_survives_a_rollback_to_the_running_revision_and_a_reapply(
    ledger: Ledger,
) -> None:
    await record(ledger, applied(attempt("v1", 0, images=WEB1)))
    await record(ledger, applied(attempt("v2", 60, images=WEB2)))
    await record(ledger, rolled_back(attempt("v3", 120, images=("redis:7", "web:3")), "v2", WEB2))
    await record(ledger, applied(attempt("v2", 180, images=WEB2)))
    [prod] = await ledger.where(sha("v2")[:10])
    assert prod.since == minutes(61)  # unbroken since v2 was first applied
    assert prod.deployed_at == minutes(181)  # last (re)applied
    [by_image] = await ledger.where("web:2")
    assert by_image.since == minutes(61)


async def test_where_an_image_runs_now_and_since_when(story: Ledger) -> None:
    # redis:7 ran in every state of prod: since the very first apply, across revert and rollback.
    found = await story.where("redis:7")
    assert [(d.environment, d.since) for d in found] == [
        ("prod", minutes(1)),
        ("staging", minutes(31)),
    ]
    # web:1 went away with v2 and came back with the revert.
    [web1] = await story.where("web:1")
    assert (web1.environment, web1.since, web1.revision) == ("prod", minutes(241), rev("v1"))
    # Docker Hub spellings are one image.
    assert [d.environment for d in await story.where("docker.io/library/web:2")] == ["staging"]
    # web:3 belonged only to the rolled-back revision.
    assert await story.where("web:3") == []
    with pytest.raises(ValueError, match="neither a revision"):
        await story.where("web")


async def test_at_tells_what_each_sync_ran_at_a_moment(story: Ledger) -> None:
    assert await story.at(minutes(0.5)) == []

    [prod] = await story.at(minutes(30))
    assert (prod.environment, prod.deployed_revision) == ("prod", rev("v1"))

    during_rollback = await story.at(minutes(122))
    assert [(r.environment, r.deployed_revision) for r in during_rollback] == [
        ("prod", rev("v2")),
        ("staging", rev("v2")),
    ]
    assert during_rollback[0].result is Result.APPLIED

    after_rollback = (await story.at(minutes(126)))[0]
    assert after_rollback.result is Result.ROLLED_BACK
    assert after_rollback.deployed_revision == rev("v2")

    later = await story.at(minutes(300))
    assert [(r.environment, r.deployed_revision) for r in later] == [
        ("prod", rev("v1")),
        ("staging", rev("v2")),
    ]
    assert later[0].images == WEB1
    [staging] = await story.at(minutes(300), environment="staging")
    assert staging.sync == "staging/web"


async def test_dora_over_the_story(story: Ledger) -> None:
    window = await story.dora(since=minutes(100), until=minutes(300))
    assert window.deployments == 1  # the revert to v1
    assert window.deploys_per_day == pytest.approx(1 / (200 / 1440))
    assert window.lead_time_median == timedelta(minutes=11)  # committed at 230, applied at 241
    assert (window.changes, window.failed_changes) == (2, 1)  # v3 failed, v1 went fine
    assert window.change_failure_rate == pytest.approx(0.5)
    assert (window.failures, window.restored) == (1, 1)
    assert window.time_to_restore_median == timedelta(minutes=4)  # applied 121, restored 125

    # What ran when the window opened decides: v2 was running at 150, so re-applying it at 180
    # is not a deployment.
    late = await story.dora(since=minutes(150), until=minutes(300))
    assert late.deployments == 1

    staging = await story.dora(environment="staging", since=minutes(0), until=minutes(300))
    assert (staging.deployments, staging.changes, staging.failures) == (1, 1, 0)

    everything = await story.dora(until=minutes(300))
    assert everything.since == minutes(0)
    assert everything.deployments == 4  # prod v1, v2, v1 again; staging v2


def _chart(chart: str, version: str, commit: str) -> str:
    digest = sha(f"{chart}-{version}") * 2
    return f"{chart}@{version}@sha256:{digest[:64]};{rev(commit)}"


async def test_where_a_vendor_chart_runs_and_at_which_version(ledger: Ledger) -> None:
    def chart_attempt(version: str, start: float, commit: str = "values", **kw: str):
        start_record = attempt(commit, start, **kw)  # type: ignore[arg-type]
        return replace(start_record, revision=_chart("podinfo", version, commit))

    await record(ledger, applied(chart_attempt("6.5.0", 0)))
    await record(ledger, applied(chart_attempt("6.5.0", 30, commit="values2")))  # values change
    await record(ledger, applied(chart_attempt("6.6.0", 60)))
    await record(ledger, failed(chart_attempt("7.0.0", 90)))  # never ran
    await record(
        ledger, applied(chart_attempt("5.2.0", 10, namespace="legacy", environment="staging"))
    )
    await record(ledger, applied(attempt("v1", 0, sync="api")))  # a Git Sync, no chart

    [prod] = await ledger.where("chart:podinfo@6.x")
    assert (prod.environment, prod.sync) == ("prod", "team/web")
    assert prod.revision == _chart("podinfo", "6.6.0", "values")
    assert prod.since == minutes(61)
    # 6.5.0 runs nowhere now; any version: both Syncs; another chart: none.
    assert await ledger.where("chart:podinfo@~6.5.0") == []
    assert [d.environment for d in await ledger.where("chart:podinfo")] == ["prod", "staging"]
    [legacy] = await ledger.where("chart:podinfo@<6.0.0")
    assert (legacy.sync, legacy.since) == ("legacy/web", minutes(11))
    assert await ledger.where("chart:nginx") == []
    with pytest.raises(ValueError, match="chart:NAME or chart:NAME@RANGE"):
        await ledger.where("chart:")
