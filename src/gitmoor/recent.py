"""A bounded, time-limited memory of keys seen recently.

Used where "have I seen this lately?" decides what happens and the memory must not grow with
what senders choose to send: webhook replays (`gitmoor.server.replay`) and repeated
notifications (`gitmoor.notify.dedup`). A key is remembered for `window` seconds from when it
was last recorded; past `capacity` keys the oldest is forgotten first, so the memory's size is
a fixed bound whatever the traffic.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class RecentKeys(Generic[K, V]):
    """Keys, each with a value, remembered for `window` seconds (at most `capacity` of them)."""

    def __init__(
        self,
        window: float,
        *,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window <= 0 or capacity < 1:
            raise ValueError("a memory of recent keys needs a positive window and capacity")
        self._window = window
        self._capacity = capacity
        self._clock = clock
        # Ordered by when each key was last recorded, oldest first: expiry and eviction both
        # take from the front.
        self._seen: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value recorded with `key`, or None when it was not seen within the window."""
        self._expire()
        hit = self._seen.get(key)
        return None if hit is None else hit[1]

    def __contains__(self, key: K) -> bool:
        self._expire()
        return key in self._seen

    def __len__(self) -> int:
        self._expire()
        return len(self._seen)

    def remember(self, key: K, value: V) -> None:
        """Record `key` now; its window starts again if it was already known."""
        self._seen.pop(key, None)
        self._seen[key] = (self._clock(), value)
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)

    def forget(self, key: K) -> None:
        self._seen.pop(key, None)

    def _expire(self) -> None:
        now = self._clock()
        while self._seen:
            oldest, (when, _) = next(iter(self._seen.items()))
            if now - when < self._window:
                return
            del self._seen[oldest]
