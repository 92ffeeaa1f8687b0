"""Send each state of a Sync once per sink, not once per reconcile.

A failing Sync is retried with backoff and fails the same way each time; its watchers want one
message, not one per retry. A notification repeats an earlier one when it has the same sink,
Sync, kind, revision and reason and comes within the window. A change of state re-arms: after a
recovery the next failure is news even if it is the same failure as before, and after a failure
the next recovery is.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from gitmoor.model.notifications import NotificationEvent, NotificationKind

DEDUP_WINDOW = 1800.0

_TROUBLE = frozenset({NotificationKind.FAILURE, NotificationKind.ROLLBACK, NotificationKind.DRIFT})

_Key = tuple[str, str, str]  # sink, namespace, name
_Seen = tuple[str, str, float]  # revision, reason, when


class Deduplicator:
    def __init__(
        self,
        window: float = DEDUP_WINDOW,
        *,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window = window
        self._capacity = capacity
        self._clock = clock
        self._last: OrderedDict[_Key, dict[NotificationKind, _Seen]] = OrderedDict()

    def admit(self, sink: str, event: NotificationEvent) -> bool:
        """True when `event` is news for `sink` (and remembers it); False for a repeat."""
        now = self._clock()
        key = (sink, event.namespace, event.name)
        states = self._last.setdefault(key, {})
        self._last.move_to_end(key)
        seen = states.get(event.kind)
        if (
            seen is not None
            and seen[0] == event.revision
            and seen[1] == event.reason
            and now - seen[2] < self._window
        ):
            return False
        states[event.kind] = (event.revision, event.reason, now)
        # The opposite state is over: its next occurrence must be sent again.
        if event.kind is NotificationKind.RECOVERY:
            for kind in _TROUBLE:
                states.pop(kind, None)
        else:
            states.pop(NotificationKind.RECOVERY, None)
        while len(self._last) > self._capacity:
            self._last.popitem(last=False)
        return True

    def forget(self, sink: str, event: NotificationEvent) -> None:
        """Undo `admit` for an event that could not be delivered, so a repeat is tried again."""
        states = self._last.get((sink, event.namespace, event.name))
        if states is None:
            return
        seen = states.get(event.kind)
        if seen is not None and seen[:2] == (event.revision, event.reason):
            del states[event.kind]
