from __future__ import annotations

import asyncio

from gitmoor.errors import DryRunError, ObjectFailure, SourceAuthError
from gitmoor.model import ChangeSet, ObjectRef
from gitmoor.model.graph import describe, find_cycle
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile.outcome import Outcome
from gitmoor.reconcile.queue import WorkQueue
from gitmoor.reconcile.retry import backoff
from gitmoor.reconcile.retry import reason_of as error_reason
from gitmoor.reconcile.status import sync_status


async def test_queue_hands_out_due_keys_once_and_reruns_a_key_asked_for_while_running() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("b", delay=0.05)
    assert await q.get() == "a"
    q.add("a")  # asked again while running: must not be handed out twice at once
    assert await asyncio.wait_for(q.get(), 1) == "b"
    q.done("b")
    q.done("a")
    assert await asyncio.wait_for(q.get(), 1) == "a"


async def test_queue_keeps_the_earliest_due_time_and_schedule_replaces_it() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a", delay=10)
    q.add("a", delay=0)
    assert await asyncio.wait_for(q.get(), 1) == "a"
    q.done("a")
    q.schedule("a", 10)
    q.schedule("a", 0)
    assert await asyncio.wait_for(q.get(), 1) == "a"


async def test_a_key_asked_for_while_running_is_not_put_off_by_what_its_run_schedules() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert await q.get() == "a"
    q.add("a")  # woken while running (another Sync let go of what it waits for)
    q.done("a")
    q.schedule("a", 3600)  # the finished run's own next try: its interval
    assert await asyncio.wait_for(q.get(), 1) == "a"
    q.done("a")
    q.schedule("a", 3600)  # the rerun's schedule holds again
    q.add("b", delay=0.05)
    assert await asyncio.wait_for(q.get(), 1) == "b"


def test_backoff_grows_and_is_capped() -> None:
    assert 1.5 <= backoff(1) <= 2.5
    assert 6 <= backoff(3) <= 10
    assert backoff(30, cap=60) <= 72


def test_cycles_are_found_with_their_path() -> None:
    edges = {("n", "a"): [("n", "b")], ("n", "b"): [("n", "c")], ("n", "c"): [("n", "a")]}
    cycle = find_cycle(("n", "a"), edges)
    assert cycle is not None
    assert describe(cycle) == "n/a -> n/b -> n/c -> n/a"
    assert find_cycle(("n", "x"), {("n", "x"): [("n", "a")], **edges}) is None
    assert find_cycle(("n", "a"), {("n", "a"): [("n", "b")]}) is None


def test_condition_transition_time_moves_only_when_status_flips() -> None:
    first = cond.set_condition([], "Ready", True, "A", "m", 1)
    stamp = first[0]["lastTransitionTime"]
    first[0]["lastTransitionTime"] = "2000-01-01T00:00:00Z"
    again = cond.set_condition(first, "Ready", True, "B", "other", 2)
    assert again[0]["lastTransitionTime"] == "2000-01-01T00:00:00Z"
    flipped = cond.set_condition(again, "Ready", False, "C", "x", 2)
    assert flipped[0]["lastTransitionTime"] != "2000-01-01T00:00:00Z"
    assert stamp


def test_status_of_a_failed_dry_run_is_stalled_and_names_every_object() -> None:
    failures = [
        ObjectFailure(ObjectRef("", "ConfigMap", "n", f"c{i}"), "invalid", where=f"f{i}.yaml:1")
        for i in range(3)
    ]
    outcome = Outcome(revision="main@sha1:abc", error=DryRunError(failures), finished=1.0)
    status = sync_status({}, 4, outcome, wait=True)
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
    assert ready["status"] == "False"
    assert ready["reason"] == "ValidationFailed"
    assert stalled["status"] == "True"
    for i in range(3):
        assert f"ConfigMap/n/c{i}" in ready["message"]
        assert f"f{i}.yaml:1" in ready["message"]
    assert status["observedGeneration"] == 4
    assert "lastAppliedRevision" not in status
    assert status["history"][0]["result"] == "Failed"


def test_a_no_op_reconcile_leaves_status_identical() -> None:
    outcome = Outcome(revision="main@sha1:abc", changes=ChangeSet(), applied=True, finished=1.0)
    first = sync_status({"lastAttemptedRevision": "main@sha1:old"}, 1, outcome, wait=False)
    second = sync_status(
        first, 1, Outcome(revision="main@sha1:abc", applied=True, finished=2.0), wait=False
    )
    assert second == first


def test_auth_errors_are_retried_not_stalled() -> None:
    reason, stalled = error_reason(SourceAuthError("authentication failed", url="https://h/r"))
    assert reason == "AuthenticationFailed"
    assert not stalled


def test_an_applied_revision_is_shown_short_and_says_whether_it_holds_delete_hooks() -> None:
    revision = "main@sha1:" + "ab" * 20
    for holds in (False, True):
        outcome = Outcome(revision=revision, applied=True, finished=1.0, delete_hooks=holds)
        status = sync_status({}, 1, outcome, wait=True)
        assert status["shortRevision"] == "ab" * 6
        assert status["deleteHooks"] is holds
