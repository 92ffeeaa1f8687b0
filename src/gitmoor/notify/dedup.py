"""Send each state of a Sync once per sink, not once per reconcile.

A failing Sync is retried with backoff and fails the same way each time; its watchers want one
message, not one per retry. A notification repeats an earlier one when it has the same sink,
Sync, kind, revision and reason and comes within the window. A change of state re-arms: after a
recovery the next failure is news even if it is the same failure as before, and after a failure
the next recovery is.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gitmoor.model.notifications import NotificationEvent, NotificationKind
from gitmoor.recent import RecentKeys

DEDUP_WINDOW = 1800.0

_TROUBLE = frozenset({NotificationKind.FAILURE, NotificationKind.ROLLBACK, NotificationKind.DRIFT})

_Key = tuple[str, str, str, NotificationKind]  # sink, namespace, name, kind
_Sent = tuple[str, str]  # revision, reason


class Deduplicator:
    def __init__(
        self,
        window: float = DEDUP_WINDOW,
        *,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sent: RecentKeys[_Key, _Sent] = RecentKeys(window, capacity=capacity, clock=clock)

    def admit(self, sink: str, event: NotificationEvent) -> bool:
        """True when `event` is news for `sink` (and remembers it); False for a repeat."""
        key = (sink, event.namespace, event.name, event.kind)
        sent = (event.revision, event.reason)
        if self._sent.get(key) == sent:
            return False
        self._sent.remember(key, sent)
        # The opposite state is over: its next occurrence must be sent again.
        over = _TROUBLE if event.kind is NotificationKind.RECOVERY else {NotificationKind.RECOVERY}
        for kind in over:
            self._sent.forget((sink, event.namespace, event.name, kind))
        return True

    def forget(self, sink: str, event: NotificationEvent) -> None:
        """Undo `admit` for an event that could not be delivered, so a repeat is tried again."""
        key = (sink, event.namespace, event.name, event.kind)
        if self._sent.get(key) == (event.revision, event.reason):
            self._sent.forget(key)
