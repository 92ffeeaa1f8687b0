"""Live updates: the keys the agent's cache stores or drops, handed to each open event stream.

The hub does no work per change beyond marking each subscriber (a set add and an Event set): a
stream wakes, takes the keys that changed since it last sent, and sends their rows. Many
changes between two sends cost one row each, so a burst never queues unbounded work.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson

from gitmoor.reconcile.memory import Key


@dataclass(eq=False)
class Subscriber:
    pending: set[Key] = field(default_factory=set)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def take(self) -> set[Key]:
        taken, self.pending = self.pending, set()
        self.wake.clear()
        return taken


class Hub:
    def __init__(self) -> None:
        self._subscribers: set[Subscriber] = set()
        self._closed = False

    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """The server stops: every stream wakes, sees `closed()` and ends (a server waits for
        its handlers to return before it stops)."""
        self._closed = True
        for subscriber in self._subscribers:
            subscriber.wake.set()

    def __len__(self) -> int:
        return len(self._subscribers)

    def changed(self, key: Key) -> None:
        for subscriber in self._subscribers:
            subscriber.pending.add(key)
            subscriber.wake.set()

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber()
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)


def event(name: str, data: Any) -> bytes:
    """One server-sent event (JSON data holds no newline, so one `data:` line)."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
