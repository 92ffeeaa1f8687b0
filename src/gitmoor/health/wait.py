"""Waiting until a set of objects is healthy, one has failed, or time is up.

The wait polls with plain GETs. To keep API calls modest on large sets it reads, each round, only
the objects not yet seen Current; once none is left it re-reads, at once, those whose Current read
is older than the last pause. Only a sweep of back-to-back reads (no pause between them) in which
every object reads Current ends the wait as healthy. An object that was Current and regressed
meanwhile (a Deployment losing a pod, an HPA scaling it up) is thus caught, and the verdict never
rests on a stale read, at the price of one extra GET per early-Current object per confirmation.

Rounds start 0.25 s apart and back off to `poll`. Failure to read an object (throttling, a
connection reset, a forbidden GET, a kind not served yet) makes it Unknown for that round with the
error in its message, and the wait goes on: such errors are often transient, and if not, the
timeout ends the wait with the cause in the verdict. Cancelling the waiting task (a newer revision
arrived) cancels the reads in flight and raises CancelledError out of `wait_healthy`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from gitmoor.errors import GitmoorError, UnknownKindError
from gitmoor.health.compute import Overrides, compute
from gitmoor.model import Health, ObjectRef, Status, Verdict

CONCURRENCY = 16
"""Reads in flight at once: enough to be quick, few enough to leave room for the rest of the
agent under the client's shared connection pool and rate limit."""

FIRST_DELAY = 0.25

Target = tuple[ObjectRef, str]


class ObjectReader(Protocol):
    """What waiting needs from the cluster; `gitmoor.kube.Kube` is one."""

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str = ""
    ) -> dict[str, Any] | None: ...


async def wait_healthy(
    kube: ObjectReader,
    targets: Sequence[tuple[ObjectRef, str]],
    *,
    timeout: float,
    poll: float = 1.0,
    fail_fast: bool = True,
    on_progress: Callable[[Verdict], None] | None = None,
    rules: Overrides | None = None,
) -> Verdict:
    """Poll `targets` ((ref, apiVersion) pairs) until all are Current in one sweep of reads
    (healthy), one is Failed (when `fail_fast`; not timed out), or `timeout` seconds pass
    (timed out). The verdict carries each object's last Health, in the order of `targets`.

    `on_progress` is called with an interim verdict after each round that changed what is known.
    `rules` are user health rules by kind (see `compute`).
    A missing object is NotFound and awaited like any other that is not Current yet.
    """
    if poll <= 0:
        raise ValueError(f"poll must be positive, not {poll}")
    api_versions: dict[ObjectRef, str] = {}
    for ref, api_version in targets:
        api_versions.setdefault(ref, api_version)
    order: list[Target] = list(api_versions.items())
    last = {ref: Health(ref, Status.UNKNOWN, "not read yet") for ref, _ in order}
    if not order:
        return Verdict(healthy=True, timed_out=False)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(timeout, 0.0)
    limit = asyncio.Semaphore(CONCURRENCY)
    delay = min(FIRST_DELAY, poll)
    reported: Verdict | None = None
    # Objects read Current since the last pause. The wait is healthy once it covers every
    # object: back-to-back rounds are as much "one moment" as the concurrent reads of one round.
    streak: set[ObjectRef] = set()
    while True:
        pending = [t for t in order if last[t[0]].status is not Status.CURRENT]
        batch = pending or [t for t in order if t[0] not in streak]
        fresh: dict[ObjectRef, Health] = {}
        try:
            async with asyncio.timeout_at(deadline):
                await _read(kube, batch, last, fresh, limit, rules)
        except TimeoutError:
            last.update(fresh)
            return _verdict(order, last, timed_out=True)
        last.update(fresh)
        streak.update(r for r, h in fresh.items() if h.status is Status.CURRENT)
        objects = tuple(last[ref] for ref, _ in order)
        all_current = all(h.status is Status.CURRENT for h in objects)
        verdict = Verdict(
            healthy=all_current and len(streak) == len(order), timed_out=False, objects=objects
        )
        if on_progress is not None and verdict != reported:
            reported = verdict
            on_progress(verdict)
        if verdict.healthy:
            return verdict
        if fail_fast and any(h.status is Status.FAILED for h in objects):
            return verdict
        if all_current:
            continue  # the rest just turned Current: re-read the others now, without a pause
        streak.clear()
        remaining = deadline - loop.time()
        if remaining <= delay:
            await asyncio.sleep(max(remaining, 0.0))
            return _verdict(order, last, timed_out=True)
        await asyncio.sleep(delay)
        delay = min(delay * 2, poll)


async def _read(
    kube: ObjectReader,
    batch: list[Target],
    last: dict[ObjectRef, Health],
    into: dict[ObjectRef, Health],
    limit: asyncio.Semaphore,
    rules: Overrides | None,
) -> None:
    """Read `batch` concurrently, each Health landing in `into` as soon as it is known (so a
    round cut short by the deadline still contributes what it read)."""

    async def one(ref: ObjectRef, api_version: str) -> None:
        async with limit:
            into[ref] = await _health(kube, ref, api_version, last[ref], rules)

    try:
        async with asyncio.TaskGroup() as group:
            for ref, api_version in batch:
                group.create_task(one(ref, api_version))
    except BaseExceptionGroup as errors:
        # Only bugs get here (read errors become Unknown); surface the first one plainly.
        raise errors.exceptions[0] from None


async def _health(
    kube: ObjectReader,
    ref: ObjectRef,
    api_version: str,
    previous: Health,
    rules: Overrides | None,
) -> Health:
    try:
        obj = await kube.get(api_version, ref.kind, ref.name, ref.namespace)
    except UnknownKindError as err:
        # e.g. a custom resource whose CRD is not established yet: as good as absent.
        return Health(ref, Status.NOT_FOUND, str(err))
    except GitmoorError as err:
        seen = "" if previous.status is Status.UNKNOWN else f" (last seen {previous.status})"
        return Health(ref, Status.UNKNOWN, f"cannot read: {err}{seen}")
    if obj is None:
        return Health(ref, Status.NOT_FOUND, "not found")
    health = compute(obj, rules=rules)
    return Health(ref, health.status, health.message)


def _verdict(order: list[Target], last: dict[ObjectRef, Health], *, timed_out: bool) -> Verdict:
    return Verdict(healthy=False, timed_out=timed_out, objects=tuple(last[ref] for ref, _ in order))
