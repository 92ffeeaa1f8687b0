"""DORA arithmetic on crafted histories (the definitions are in gitmoor.ledger.dora)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gitmoor.ledger.dora import dora_of, percentile
from gitmoor.model.record import Record, Result, Trigger

D0 = datetime(2026, 3, 1, tzinfo=UTC)
UNTIL = D0 + timedelta(days=10)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return D0 + timedelta(days=day, hours=hour, minutes=minute)


def rev(name: str) -> str:
    return f"main@sha1:{hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()}"


_ids = iter(range(1, 10_000))


def attempt(
    name: str,
    result: Result,
    started: datetime,
    *,
    commit: datetime | None = None,
    applied: datetime | None = None,
    finished: datetime | None = None,
    written: int = 1,
    trigger: Trigger = Trigger.INTERVAL,
    rolled_back_to: str | None = None,
    sync: str = "web",
    environment: str = "prod",
) -> Record:
    return Record(
        sync_namespace="team",
        sync_name=sync,
        environment=environment,
        cluster=f"{environment}-1",
        source_url="https://git.example/app.git",
        revision=rev(name),
        trigger=trigger,
        started_at=started,
        commit_sha=rev(name).rpartition(":")[2],
        commit_time=commit,
        applied_at=applied,
        finished_at=finished or applied or started,
        result=result,
        configured=written,
        rolled_back_to=rolled_back_to,
        id=next(_ids),
    )


def crafted_history() -> list[Record]:
    """One prod sync over ten days; the expected figures are worked out in the tests."""
    return [
        # Before the window: A runs.
        attempt("A", Result.APPLIED, at(-2, 9), commit=at(-2, 8), applied=at(-2, 9, 1)),
        # B: deployed, lead time 32m.
        attempt("B", Result.APPLIED, at(1, 10, 30), commit=at(1, 10), applied=at(1, 10, 32)),
        # B re-applied (drift corrected): not a change, not a deployment.
        attempt("B", Result.APPLIED, at(2, 0), commit=at(1, 10), applied=at(2, 0, 1)),
        # C: applied, unhealthy, rolled back to B after 9 minutes: a failed change, restored.
        attempt(
            "C",
            Result.ROLLED_BACK,
            at(3, 9, 10),
            commit=at(3, 9),
            applied=at(3, 9, 11),
            finished=at(3, 9, 20),
            rolled_back_to=rev("B"),
        ),
        # D: refused by the dry run, nothing written: not a change at all.
        attempt("D", Result.FAILED, at(3, 12, 5), commit=at(3, 12), written=0),
        # E: deployed, lead time 31m.
        attempt("E", Result.APPLIED, at(4, 8, 30), commit=at(4, 8), applied=at(4, 8, 31)),
        # F: fails after writing (atomic: false), and again on a retry: one failed change.
        attempt("F", Result.FAILED, at(5, 10, 5), commit=at(5, 10), applied=at(5, 10, 6)),
        attempt("F", Result.FAILED, at(5, 11), commit=at(5, 10), trigger=Trigger.RESOURCE),
        # G: deployed, lead time 12m; restores F's failure after 3h06m.
        attempt("G", Result.APPLIED, at(5, 13, 10), commit=at(5, 13), applied=at(5, 13, 12)),
        # The agent crashed mid-attempt: ignored.
        attempt("H", Result.INTERRUPTED, at(6, 9), commit=at(6, 8)),
        # A manual rollback to E: not a change, not a deployment.
        attempt("E", Result.APPLIED, at(7, 9), trigger=Trigger.ROLLBACK, applied=at(7, 9, 1)),
        # I: deployed, lead time 1h03m.
        attempt("I", Result.APPLIED, at(8, 11), commit=at(8, 10), applied=at(8, 11, 3)),
    ]


def minutes(value: timedelta | None) -> float:
    assert value is not None
    return value.total_seconds() / 60


def test_deployments_and_frequency_count_new_revisions_applied_in_the_window() -> None:
    figures = dora_of(crafted_history(), since=D0, until=UNTIL)
    assert figures.deployments == 4  # B, E, G, I
    assert figures.deploys_per_day == pytest.approx(0.4)
    assert (figures.since, figures.until) == (D0, UNTIL)


def test_lead_time_median_and_p90_from_commit_to_applied() -> None:
    figures = dora_of(crafted_history(), since=D0, until=UNTIL)
    # 12, 31, 32, 63 minutes
    assert minutes(figures.lead_time_median) == pytest.approx(31.5)
    assert minutes(figures.lead_time_p90) == pytest.approx(32 + 31 * 0.7)


def test_change_failure_rate_counts_changes_once_and_ignores_refused_ones() -> None:
    figures = dora_of(crafted_history(), since=D0, until=UNTIL)
    assert figures.changes == 6  # B, C, E, F, G, I
    assert figures.failed_changes == 2  # C (rolled back), F (failed twice)
    assert figures.change_failure_rate == pytest.approx(1 / 3)


def test_time_to_restore_runs_from_the_failure_to_the_next_good_state() -> None:
    figures = dora_of(crafted_history(), since=D0, until=UNTIL)
    assert figures.failures == 2
    assert figures.restored == 2
    # C: 9m (rolled back); F: 10:06 -> 13:12 = 186m
    assert minutes(figures.time_to_restore_median) == pytest.approx((9 + 186) / 2)


def test_the_window_limits_every_figure() -> None:
    figures = dora_of(crafted_history(), since=at(5, 0), until=at(6, 0))
    assert figures.deployments == 1  # G
    assert figures.changes == 2  # F, G
    assert figures.failed_changes == 1
    assert figures.failures == 1
    assert minutes(figures.time_to_restore_median) == pytest.approx(186)
    assert figures.deploys_per_day == pytest.approx(1.0)


def test_what_ran_before_the_window_decides_whether_an_apply_is_a_deployment() -> None:
    history = [
        attempt("A", Result.APPLIED, at(-1, 9), commit=at(-1, 8), applied=at(-1, 9)),
        attempt("A", Result.APPLIED, at(1, 9), commit=at(-1, 8), applied=at(1, 9)),
    ]
    figures = dora_of(history, since=D0, until=UNTIL)
    assert figures.deployments == 0
    assert figures.changes == 0
    assert figures.change_failure_rate is None
    assert figures.lead_time_median is None


def test_without_since_the_window_starts_at_the_first_attempt_and_lasts_at_least_a_day() -> None:
    history = [
        attempt("A", Result.APPLIED, at(0, 9), commit=at(0, 8), applied=at(0, 9)),
        attempt("B", Result.APPLIED, at(0, 10), commit=at(0, 9), applied=at(0, 10)),
    ]
    figures = dora_of(history, since=None, until=at(0, 11))
    assert figures.since == at(0, 9)
    assert figures.deployments == 2
    assert figures.deploys_per_day == pytest.approx(2.0)


def test_a_rollback_with_nothing_to_return_to_leaves_the_failure_open() -> None:
    history = [
        attempt("A", Result.ROLLED_BACK, at(1, 9), commit=at(1, 8), applied=at(1, 9, 1)),
    ]
    figures = dora_of(history, since=D0, until=UNTIL)
    assert (figures.changes, figures.failed_changes) == (1, 1)
    assert (figures.failures, figures.restored) == (1, 0)
    assert figures.time_to_restore_median is None


def test_syncs_are_replayed_separately() -> None:
    prod = crafted_history()
    staging = [
        replace(r, sync_name="web", environment="staging", cluster="staging-1", id=r.id + 5000)  # type: ignore[operator]
        for r in prod
    ]
    figures = dora_of(prod + staging, since=D0, until=UNTIL)
    assert figures.deployments == 8
    assert figures.changes == 12
    assert figures.failed_changes == 4


def test_commits_dated_after_their_deployment_count_as_zero_lead_time() -> None:
    history = [attempt("A", Result.APPLIED, at(1, 9), commit=at(1, 10), applied=at(1, 9, 1))]
    figures = dora_of(history, since=D0, until=UNTIL)
    assert figures.lead_time_median == timedelta(0)


def test_percentile_interpolates_between_closest_ranks() -> None:
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([10.0, 0.0, 20.0], 0.9) == pytest.approx(18.0)
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_a_commit_that_changed_nothing_of_a_sync_is_not_its_deployment() -> None:
    # One repository, two apps: the other team's commits reach this Sync as new revisions that
    # write nothing of it. Two of its own deployments, not five.
    records = [
        attempt("web-1", Result.APPLIED, at(0, 10), commit=at(0, 9), applied=at(0, 10)),
        attempt(
            "cache-1", Result.APPLIED, at(1, 10), commit=at(1, 9), applied=at(1, 10), written=0
        ),
        attempt(
            "cache-2", Result.APPLIED, at(2, 10), commit=at(2, 9), applied=at(2, 10), written=0
        ),
        attempt("web-2", Result.APPLIED, at(3, 10), commit=at(3, 8), applied=at(3, 10)),
        attempt("readme", Result.APPLIED, at(4, 10), commit=at(4, 9), applied=at(4, 10), written=0),
    ]

    figures = dora_of(records, since=D0, until=UNTIL)

    assert figures.deployments == 2
    assert figures.changes == 2
    # Lead times of web-1 (1 h) and web-2 (2 h): the median of two is their mean.
    assert figures.lead_time_median == timedelta(minutes=90)


def test_a_drift_correction_counts_for_nothing() -> None:
    history = crafted_history()
    corrected = attempt("E", Result.APPLIED, at(4, 20), applied=at(4, 20, 1), trigger=Trigger.DRIFT)
    refused = attempt("E", Result.FAILED, at(4, 21), applied=at(4, 21, 1), trigger=Trigger.DRIFT)
    assert dora_of([*history, corrected, refused], since=D0, until=UNTIL) == dora_of(
        history, since=D0, until=UNTIL
    )
