"""How often one client may try to sign in: each attempt costs the API server a TokenReview,
so a client that guesses tokens is slowed down (429 with `Retry-After`) instead of passing its
load on. A token bucket per client address: `burst` attempts at once, then one every
`1 / per_second` seconds. The table of clients is bounded: when full, clients whose bucket has
refilled are forgotten first (forgetting them changes nothing), then the longest unseen."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

BURST = 10  # sign-in attempts a client may make at once
PER_SECOND = 1 / 6  # then one every 6 seconds (10 a minute)
CLIENTS = 4096  # client addresses remembered at most


@dataclass
class _Bucket:
    tokens: float
    at: float


def refilled(tokens: float, at: float, now: float, *, burst: int, per_second: float) -> float:
    """The tokens a bucket holding `tokens` at `at` holds at `now` (never above `burst`)."""
    return min(float(burst), tokens + max(0.0, now - at) * per_second)


class Limiter:
    def __init__(
        self,
        *,
        burst: int = BURST,
        per_second: float = PER_SECOND,
        clients: int = CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1 or per_second <= 0 or clients < 1:
            raise ValueError("a limiter needs burst >= 1, per_second > 0 and clients >= 1")
        self._burst = burst
        self._rate = per_second
        self._clients = clients
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, client: str) -> int:
        """0 when `client` may make an attempt now (and it is counted), else the whole seconds
        to wait before the next one is allowed (what `Retry-After` says)."""
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            self._make_room(now)
            bucket = self._buckets[client] = _Bucket(float(self._burst), now)
        else:
            self._buckets.move_to_end(client)
        tokens = refilled(bucket.tokens, bucket.at, now, burst=self._burst, per_second=self._rate)
        bucket.at = now
        if tokens >= 1.0:
            bucket.tokens = tokens - 1.0
            return 0
        bucket.tokens = tokens
        return max(1, math.ceil((1.0 - tokens) / self._rate))

    def _make_room(self, now: float) -> None:
        if len(self._buckets) < self._clients:
            return
        full = [
            client
            for client, b in self._buckets.items()
            if refilled(b.tokens, b.at, now, burst=self._burst, per_second=self._rate)
            >= self._burst
        ]
        for client in full:
            del self._buckets[client]
        while len(self._buckets) >= self._clients:
            self._buckets.popitem(last=False)  # the longest unseen
