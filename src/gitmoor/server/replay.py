"""Replays of authenticated webhook requests, keyed on what the authentication covers.

A delivery id (`X-GitHub-Delivery`, ...) is an unsigned header: anyone who captured one signed
request can send it again under a new id. So two things are remembered for `window` seconds:

- the delivery id: the same id again is the sender retrying; answered "duplicate", no effect;
- a digest of the signed content (the body, and for the generic form its timestamp too, as its
  MAC covers both; for GitLab, whose token covers nothing, the body): the same content under
  another id, or none, is a replay; refused, no effect.

Only verified requests are remembered, so a stranger cannot flush the memory; past `capacity`
the oldest is forgotten first. What is remembered is lost on a restart or a change of leader,
and a GitHub or GitLab body can be replayed once the window has passed: then it only makes the
GitSources check their remote once more, which finds what is really there. A generic request
cannot be replayed at all while the window covers the span its timestamp is accepted in.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import time
from collections.abc import Callable, Mapping

from gitmoor.model.notifications import Provider
from gitmoor.notify import signature
from gitmoor.recent import RecentKeys

REPLAY_WINDOW = 600.0  # covers the generic form's timestamp span: +-signature.MAX_SKEW
CAPACITY = 10_000


class Seen(enum.Enum):
    NEW = "new"
    DUPLICATE = "duplicate"  # this delivery id was handled within the window
    REPLAY = "replay"  # this signed content was handled within the window, under another id


def signed_digest(provider: Provider, headers: Mapping[str, str], body: bytes) -> str:
    """A digest of what the provider's authentication vouches for."""
    content = hashlib.sha256()
    if provider is Provider.GENERIC:
        stamp = headers.get(signature.TIMESTAMP_HEADER, "").strip()
        # The MAC covers the timestamp as a number: `+17…` or `017…` must not be new content.
        with contextlib.suppress(ValueError):
            stamp = str(int(stamp))
        content.update(stamp.encode() + b".")
    content.update(body)
    return content.hexdigest()


class ReplayGuard:
    def __init__(
        self,
        window: float = REPLAY_WINDOW,
        *,
        capacity: int = CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._deliveries: RecentKeys[str, bool] = RecentKeys(window, capacity=capacity, clock=clock)
        self._contents: RecentKeys[str, bool] = RecentKeys(window, capacity=capacity, clock=clock)

    def claim(self, provider: Provider, delivery: str, content: str) -> Seen:
        """Whether this verified request was seen; a NEW one is remembered."""
        delivery_key, content_key = f"{provider.value}:{delivery}", f"{provider.value}:{content}"
        if delivery_key in self._deliveries:
            return Seen.DUPLICATE
        if content_key in self._contents:
            return Seen.REPLAY
        self._deliveries.remember(delivery_key, True)
        self._contents.remember(content_key, True)
        return Seen.NEW

    def release(self, provider: Provider, delivery: str, content: str) -> None:
        """Forget a claim, so the sender's retry of a delivery that failed here is handled."""
        self._deliveries.forget(f"{provider.value}:{delivery}")
        self._contents.forget(f"{provider.value}:{content}")
