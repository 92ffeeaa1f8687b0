"""Which notifications are news, and when a failed one is tried again."""

from __future__ import annotations

from datetime import UTC, datetime

from gitmoor.model.notifications import NotificationEvent, NotificationKind
from gitmoor.notify.dedup import Deduplicator
from gitmoor.notify.retry import RetryPolicy, parse_retry_after, retryable
from tests.unit.clock import Clock

REV = "main@sha1:59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5"
REV2 = "main@sha1:6113728f27ae82c7b1a177c8d03f9e96e0adf246"


def event(
    kind: NotificationKind = NotificationKind.FAILURE,
    revision: str = REV,
    reason: str = "HealthCheckFailed",
    name: str = "apps",
) -> NotificationEvent:
    return NotificationEvent(kind, "team-a", name, revision, reason, "Deployment/x not ready")


def test_a_repeat_within_the_window_is_sent_once() -> None:
    clock = Clock()
    dedup = Deduplicator(600, clock=clock)
    assert dedup.admit("sink", event())
    clock.now = 300
    assert not dedup.admit("sink", event())
    clock.now = 599
    assert not dedup.admit("sink", event())  # the window counts from the last one sent
    clock.now = 601
    assert dedup.admit("sink", event())


def test_another_revision_reason_sync_or_sink_is_news() -> None:
    dedup = Deduplicator(600, clock=Clock())
    assert dedup.admit("sink", event())
    assert dedup.admit("sink", event(revision=REV2))
    assert dedup.admit("sink", event(reason="DryRunFailed"))
    assert dedup.admit("sink", event(name="other"))
    assert dedup.admit("other-sink", event())
    assert dedup.admit("sink", event(NotificationKind.DRIFT))


def test_a_change_of_state_rearms() -> None:
    dedup = Deduplicator(600, clock=Clock())
    assert dedup.admit("s", event())
    recovered = event(NotificationKind.RECOVERY, reason="Applied")
    assert dedup.admit("s", recovered)
    assert not dedup.admit("s", recovered)
    # The same failure again after a recovery is news, and so is the next recovery.
    assert dedup.admit("s", event())
    assert dedup.admit("s", recovered)


def test_forget_lets_an_undelivered_notification_be_tried_again() -> None:
    dedup = Deduplicator(600, clock=Clock())
    assert dedup.admit("s", event())
    dedup.forget("s", event())
    assert dedup.admit("s", event())
    dedup.forget("s", event(reason="another"))  # not what was admitted: no effect
    assert not dedup.admit("s", event())


def test_backoff_doubles_up_to_the_cap_and_attempts_are_bounded() -> None:
    policy = RetryPolicy(attempts=5, base=1, factor=2, cap=5)
    assert [policy.delay(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]
    assert not policy.gives_up_after(4)
    assert policy.gives_up_after(5)


def test_retry_after_is_honoured_within_the_cap() -> None:
    policy = RetryPolicy(base=1, cap=30)
    assert policy.delay(1, retry_after=10) == 10
    assert policy.delay(1, retry_after=0) == 1
    assert policy.delay(1, retry_after=3600) == 30


def test_which_statuses_are_retried() -> None:
    assert all(retryable(s) for s in (408, 425, 429, 500, 502, 503, 504))
    assert not any(retryable(s) for s in (400, 401, 403, 404, 410, 422))


def test_retry_after_header_forms() -> None:
    now = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Mon, 23 Nov 2026 12:00:30 GMT", now=now) == 30
    assert parse_retry_after("Mon, 23 Nov 2026 11:00:00 GMT", now=now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
