"""`wait_healthy` driven by an in-memory cluster that replays scripted reads: when the wait ends,
with which verdict, and how many reads it costs. The same behaviour is checked against the real
control plane in tests/integration/test_health.py."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from gitmoor.errors import ConnectionFailedError, KubePermanentError, UnknownKindError
from gitmoor.health import wait_healthy
from gitmoor.health.wait import CONCURRENCY
from gitmoor.model import Health, ObjectRef, Status, Verdict

API = "example.com/v1"


def ref(name: str) -> ObjectRef:
    return ObjectRef("example.com", "Widget", "shop", name)


def widget(name: str, ready: str, reason: str = "") -> dict[str, Any]:
    """A custom resource with a Ready condition: "True", "False", or "Stalled" (failed)."""
    conditions = [{"type": "Ready", "status": ready, "reason": reason}]
    if ready == "Stalled":
        conditions = [{"type": "Stalled", "status": "True", "reason": reason}]
    return {
        "apiVersion": API,
        "kind": "Widget",
        "metadata": {"name": name, "namespace": "shop", "generation": 1},
        "status": {"observedGeneration": 1, "conditions": conditions},
    }


class ScriptedCluster:
    """Answers each read of an object with the next entry of its script (an object, None for
    "not found", or an exception to raise); the last entry repeats forever."""

    def __init__(self, scripts: dict[str, list[Any]]) -> None:
        self.scripts = scripts
        self.reads: Counter[str] = Counter()
        self.in_flight = 0
        self.most_in_flight = 0
        self.hang: set[str] = set()
        self.changed = asyncio.Event()

    async def until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            self.changed.clear()
            await self.changed.wait()

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str = ""
    ) -> dict[str, Any] | None:
        assert (api_version, kind, namespace) == (API, "Widget", "shop")
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.changed.set()
        try:
            await asyncio.sleep(0)  # let other reads start: concurrency is observable
            if name in self.hang:
                await asyncio.Event().wait()
            script = self.scripts[name]
            answer = script[min(self.reads[name], len(script) - 1)]
            self.reads[name] += 1
            self.changed.set()
            if isinstance(answer, BaseException):
                raise answer
            return answer  # type: ignore[no-any-return]
        finally:
            self.in_flight -= 1


def targets(*names: str) -> list[tuple[ObjectRef, str]]:
    return [(ref(n), API) for n in names]


async def test_objects_already_healthy_end_the_wait_after_one_read_each() -> None:
    cluster = ScriptedCluster({"a": [widget("a", "True")], "b": [widget("b", "True")]})
    verdict = await wait_healthy(cluster, targets("a", "b"), timeout=5, poll=0.01)
    assert verdict == Verdict(
        healthy=True,
        timed_out=False,
        objects=(
            Health(ref("a"), Status.CURRENT, "Ready"),
            Health(ref("b"), Status.CURRENT, "Ready"),
        ),
    )
    assert cluster.reads == {"a": 1, "b": 1}


async def test_no_targets_is_healthy_at_once() -> None:
    assert await wait_healthy(ScriptedCluster({}), [], timeout=1) == Verdict(True, False, ())


async def test_current_objects_are_not_reread_until_all_are_then_all_are_confirmed() -> None:
    slow = [widget("slow", "False", "Starting")] * 3 + [widget("slow", "True")]
    cluster = ScriptedCluster({"fast": [widget("fast", "True")], "slow": slow})
    progress: list[Verdict] = []
    verdict = await wait_healthy(
        cluster, targets("fast", "slow"), timeout=10, poll=0.01, on_progress=progress.append
    )
    assert verdict.healthy
    # fast: the first read, then one confirming read once slow turned Current.
    assert cluster.reads == {"fast": 2, "slow": 4}
    # Progress is reported when what is known changes, not on every round.
    assert [[h.status for h in p.objects] for p in progress] == [
        [Status.CURRENT, Status.IN_PROGRESS],
        [Status.CURRENT, Status.CURRENT],
        [Status.CURRENT, Status.CURRENT],
    ]
    assert progress[0].objects[1].message == "not Ready: Starting"
    assert [p.healthy for p in progress] == [False, False, True]


async def test_an_object_that_regressed_before_the_confirming_round_keeps_the_wait_going() -> None:
    cluster = ScriptedCluster(
        {
            "web": [
                widget("web", "True"),  # first round
                widget("web", "False", "PodLost"),  # confirming round: regressed
                widget("web", "True"),
            ],
            "db": [widget("db", "False", "Starting"), widget("db", "True")],
        }
    )
    progress: list[Verdict] = []
    verdict = await wait_healthy(
        cluster, targets("web", "db"), timeout=10, poll=0.01, on_progress=progress.append
    )
    assert verdict.healthy
    assert any(
        p.objects[0] == Health(ref("web"), Status.IN_PROGRESS, "not Ready: PodLost")
        and not p.healthy
        for p in progress
    )
    # web: Current, regressed at its confirming read, Current again; db: in progress, Current,
    # and read once more after web's recovery, so both are Current in one sweep.
    assert cluster.reads == {"web": 3, "db": 3}


async def test_a_failed_object_ends_the_wait_at_once_when_failing_fast() -> None:
    cluster = ScriptedCluster(
        {"ok": [widget("ok", "True")], "bad": [widget("bad", "Stalled", "BadSize")]}
    )
    verdict = await wait_healthy(cluster, targets("ok", "bad"), timeout=10, poll=0.01)
    assert verdict == Verdict(
        healthy=False,
        timed_out=False,
        objects=(
            Health(ref("ok"), Status.CURRENT, "Ready"),
            Health(ref("bad"), Status.FAILED, "stalled: BadSize"),
        ),
    )
    assert verdict.summary() == "unhealthy: Widget/shop/bad: Failed (stalled: BadSize)"


async def test_without_fail_fast_a_failed_object_may_recover() -> None:
    script = [widget("w", "Stalled", "Flaky")] * 2 + [widget("w", "True")]
    verdict = await wait_healthy(
        ScriptedCluster({"w": script}), targets("w"), timeout=10, poll=0.01, fail_fast=False
    )
    assert verdict.healthy


async def test_without_fail_fast_a_failed_object_times_out_with_its_failure() -> None:
    cluster = ScriptedCluster({"w": [widget("w", "Stalled", "BadSize")]})
    verdict = await wait_healthy(cluster, targets("w"), timeout=0.2, poll=0.01, fail_fast=False)
    assert (verdict.healthy, verdict.timed_out) == (False, True)
    assert verdict.objects == (Health(ref("w"), Status.FAILED, "stalled: BadSize"),)


async def test_a_missing_object_is_awaited_until_it_appears() -> None:
    cluster = ScriptedCluster({"late": [None, None, widget("late", "True")]})
    progress: list[Verdict] = []
    verdict = await wait_healthy(
        cluster, targets("late"), timeout=10, poll=0.01, on_progress=progress.append
    )
    assert verdict.healthy
    assert progress[0].objects == (Health(ref("late"), Status.NOT_FOUND, "not found"),)


async def test_timeout_reports_each_objects_last_health() -> None:
    cluster = ScriptedCluster(
        {"ok": [widget("ok", "True")], "gone": [None], "busy": [widget("busy", "False", "Wait")]}
    )
    verdict = await wait_healthy(cluster, targets("ok", "gone", "busy"), timeout=0.2, poll=0.01)
    assert verdict == Verdict(
        healthy=False,
        timed_out=True,
        objects=(
            Health(ref("ok"), Status.CURRENT, "Ready"),
            Health(ref("gone"), Status.NOT_FOUND, "not found"),
            Health(ref("busy"), Status.IN_PROGRESS, "not Ready: Wait"),
        ),
    )
    assert verdict.summary() == (
        "timed out waiting: Widget/shop/gone: NotFound (not found); "
        "Widget/shop/busy: InProgress (not Ready: Wait)"
    )


async def test_api_errors_are_tolerated_and_shown_until_reads_succeed() -> None:
    outage = ConnectionFailedError("cannot reach the API server at https://127.0.0.1:1: refused")
    forbidden = KubePermanentError(
        "Widget/shop/w: widgets is forbidden (HTTP 403, Forbidden)",
        ref=ref("w"),
        status=403,
        reason="Forbidden",
    )
    script = [widget("w", "False", "Starting"), outage, forbidden, widget("w", "True")]
    progress: list[Verdict] = []
    verdict = await wait_healthy(
        ScriptedCluster({"w": script}),
        targets("w"),
        timeout=10,
        poll=0.01,
        on_progress=progress.append,
    )
    assert verdict.healthy
    messages = [p.objects[0] for p in progress]
    assert (
        Health(
            ref("w"),
            Status.UNKNOWN,
            "cannot read: cannot reach the API server at https://127.0.0.1:1: refused "
            "(last seen InProgress)",
        )
        in messages
    )
    assert any("forbidden (HTTP 403" in h.message for h in messages)


async def test_an_error_read_never_counts_as_current() -> None:
    """A Current object whose confirming read fails is not confirmed: the wait goes on."""
    outage = ConnectionFailedError("connection reset")
    cluster = ScriptedCluster({"w": [widget("w", "True"), outage, widget("w", "True")]})
    cluster.scripts["x"] = [widget("x", "False", "Starting"), widget("x", "True")]
    verdict = await wait_healthy(cluster, targets("w", "x"), timeout=10, poll=0.01)
    assert verdict.healthy
    assert cluster.reads["w"] == 3


async def test_a_kind_not_served_yet_counts_as_not_found() -> None:
    cluster = ScriptedCluster({"w": [UnknownKindError(API, "Widget")]})
    verdict = await wait_healthy(cluster, targets("w"), timeout=0.2, poll=0.01)
    assert verdict.timed_out
    assert verdict.objects[0].status is Status.NOT_FOUND
    assert "is its CRD installed?" in verdict.objects[0].message


async def test_a_read_that_hangs_is_cut_off_by_the_deadline() -> None:
    cluster = ScriptedCluster({"ok": [widget("ok", "True")], "stuck": [widget("stuck", "True")]})
    cluster.hang.add("stuck")
    verdict = await wait_healthy(cluster, targets("ok", "stuck"), timeout=0.2, poll=0.01)
    assert verdict == Verdict(
        healthy=False,
        timed_out=True,
        objects=(
            Health(ref("ok"), Status.CURRENT, "Ready"),
            Health(ref("stuck"), Status.UNKNOWN, "not read yet"),
        ),
    )
    assert cluster.in_flight == 0


async def test_cancelling_between_rounds_raises_cancelled() -> None:
    cluster = ScriptedCluster({"w": [widget("w", "False", "Starting")]})
    task = asyncio.create_task(wait_healthy(cluster, targets("w"), timeout=600, poll=0.01))
    await cluster.until(lambda: cluster.reads["w"] >= 3)  # a few rounds in
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cluster.in_flight == 0


async def test_cancelling_during_reads_stops_the_reads_in_flight() -> None:
    cluster = ScriptedCluster({"w": [widget("w", "True")], "h": [None]})
    cluster.hang.add("h")
    progress: list[Verdict] = []
    task = asyncio.create_task(
        wait_healthy(
            cluster, targets("w", "h"), timeout=600, poll=0.01, on_progress=progress.append
        )
    )
    await cluster.until(lambda: cluster.reads["w"] == 1 and cluster.in_flight == 1)  # h hangs
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cluster.in_flight == 0
    assert progress == []  # no round completed


async def test_reads_run_concurrently_within_the_bound() -> None:
    names = [f"w{i}" for i in range(CONCURRENCY * 3)]
    cluster = ScriptedCluster({n: [widget(n, "True")] for n in names})
    verdict = await wait_healthy(cluster, targets(*names), timeout=10, poll=0.01)
    assert verdict.healthy
    assert len(verdict.objects) == len(names)
    assert 1 < cluster.most_in_flight <= CONCURRENCY


async def test_duplicate_targets_are_read_and_reported_once() -> None:
    cluster = ScriptedCluster({"w": [widget("w", "True")]})
    verdict = await wait_healthy(cluster, targets("w", "w"), timeout=10, poll=0.01)
    assert verdict.objects == (Health(ref("w"), Status.CURRENT, "Ready"),)
    assert cluster.reads == {"w": 1}


async def test_a_bug_in_reading_surfaces_as_itself() -> None:
    cluster = ScriptedCluster({"w": [RuntimeError("boom")], "ok": [widget("ok", "True")]})
    with pytest.raises(RuntimeError, match="boom"):
        await wait_healthy(cluster, targets("ok", "w"), timeout=10, poll=0.01)
    assert cluster.in_flight == 0


async def test_poll_must_be_positive() -> None:
    with pytest.raises(ValueError, match="poll"):
        await wait_healthy(ScriptedCluster({}), targets("w"), timeout=1, poll=0)
