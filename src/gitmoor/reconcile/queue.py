"""A work queue of keys with due times: each key is processed by one worker at a time, and a
key asked for again while it runs is processed once more right after."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._due: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._counter = 0
        self._running: set[K] = set()
        self._again: set[K] = set()
        # Asked for while running and due again at once: the next run is the one asked for, and
        # the due time the finished run schedules (its interval, a backoff) must not put it off.
        self._rerun: set[K] = set()
        self._changed = asyncio.Event()
        self._closed = False

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def add(self, key: K, delay: float = 0.0) -> None:
        """Process `key` after `delay` seconds, or sooner if it is already due sooner."""
        if self._closed:
            return
        if key in self._running and delay <= 0:
            self._again.add(key)
            return
        when = self._now() + max(0.0, delay)
        current = self._due.get(key)
        if current is not None and current <= when:
            return
        self._push(key, when)

    def schedule(self, key: K, delay: float) -> None:
        """Process `key` after `delay`, replacing any later or earlier due time, except the
        rerun of a key asked for while it ran: that comes first, and schedules its own."""
        if self._closed:
            return
        if key in self._rerun and key in self._due:
            return
        self._push(key, self._now() + max(0.0, delay))

    def forget(self, key: K) -> None:
        self._due.pop(key, None)
        self._again.discard(key)
        self._rerun.discard(key)

    def _push(self, key: K, when: float) -> None:
        self._due[key] = when
        self._counter += 1
        heapq.heappush(self._heap, (when, self._counter, key))
        self._changed.set()

    async def get(self) -> K:
        """The next due key not being processed; it counts as running until `done`."""
        while True:
            if self._closed:
                raise asyncio.CancelledError
            while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
                heapq.heappop(self._heap)  # superseded entry
            if self._heap:
                when, _, key = self._heap[0]
                wait = when - self._now()
                if wait <= 0 and key not in self._running:
                    heapq.heappop(self._heap)
                    del self._due[key]
                    self._rerun.discard(key)
                    self._running.add(key)
                    return key
                if key in self._running:
                    # Parked until done(); look again when anything changes.
                    heapq.heappop(self._heap)
                    del self._due[key]
                    self._again.add(key)
                    continue
            else:
                wait = None
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=wait)

    def done(self, key: K) -> None:
        self._running.discard(key)
        if key in self._again:
            self._again.discard(key)
            self.add(key, 0.0)
            self._rerun.add(key)
        self._changed.set()

    def close(self) -> None:
        self._closed = True
        self._changed.set()

    @property
    def running(self) -> frozenset[K]:
        return frozenset(self._running)

    def due(self, key: K) -> float | None:
        return self._due.get(key)
