"""One remote check for every source that asks the same question of the same remote.

Sources pointing at one URL with one ref and the same credentials ask the server the same thing;
a platform with one Sync per app and environment has many such. A check's answer is shared with
any source whose answer may be as old as that check (`fresh_since`): a timed check takes one
begun within its interval (it never sees the remote older than that); a source asked to look by
a person or a webhook takes only one begun after that ask, so a push announced to fifty sources
of one repository costs one check, and none of them misses it. Failures are not kept:
the next asker tries again.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields

from gitmoor.model.credentials import GitCredentials
from gitmoor.sources.remote import Query, RemoteRefs

# Answers older than this are dropped when the next check is stored.
_FORGET_AFTER = 3600.0


def fingerprint(credentials: GitCredentials | None) -> str:
    """A digest of every credential field: equal only for the same Secret content."""
    digest = hashlib.sha256()
    for field in fields(GitCredentials):
        value = getattr(credentials, field.name, None) if credentials else None
        raw = value.encode() if isinstance(value, str) else value or b""
        digest.update(f"{field.name}:{len(raw)}:".encode())
        digest.update(raw)
    return digest.hexdigest()


def fresh_since(interval: float, *, timed: bool, asked_at: float | None, now: float) -> float:
    """The earliest start (a `time.monotonic()` instant) of a shared check that may answer a
    source: one begun within its `interval` when `timed` (its interval, or a sibling's news,
    woke it), and never one begun before `asked_at`, the last time it was asked to look (a
    push, a person, a changed spec). An instant, not an age: the source may wait (for its
    credentials, a lock) between deciding and asking, and must not lose the answer to that.
    `math.inf`: a check of its own."""
    floor = asked_at if asked_at is not None else -math.inf
    if timed:
        return max(now - interval, floor)
    return floor if asked_at is not None else math.inf


@dataclass(frozen=True)
class CheckKey:
    url: str
    query: Query
    credentials: str  # fingerprint()


@dataclass
class _Check:
    started: float
    task: asyncio.Task[RemoteRefs]


class SharedChecks:
    def __init__(self) -> None:
        self._checks: dict[CheckKey, _Check] = {}
        self.shared = 0  # answers handed out without asking the remote

    async def refs(
        self, key: CheckKey, since: float, ask: Callable[[], Awaitable[RemoteRefs]]
    ) -> RemoteRefs:
        """The answer of a check begun at or after `since` (running or done), else of a new
        one."""
        # time.monotonic, not the loop's clock: askers give `since` on it.
        now = time.monotonic()
        check = self._checks.get(key)
        usable = (
            check is not None
            and check.started >= since
            and not (check.task.done() and check.task.exception() is not None)
        )
        if usable:
            assert check is not None
            self.shared += 1
        else:
            self._forget_old(now)
            check = _Check(now, asyncio.ensure_future(ask()))
            check.task.add_done_callback(lambda task: self._failed(key, task))
            self._checks[key] = check
        # Shielded: one asker cancelled (its source deleted) leaves the others their answer.
        return await asyncio.shield(check.task)

    def _failed(self, key: CheckKey, task: asyncio.Task[RemoteRefs]) -> None:
        if task.cancelled() or task.exception() is not None:
            check = self._checks.get(key)
            if check is not None and check.task is task:
                del self._checks[key]

    def _forget_old(self, now: float) -> None:
        for key in [k for k, c in self._checks.items() if now - c.started > _FORGET_AFTER]:
            del self._checks[key]


__all__ = ["CheckKey", "SharedChecks", "fingerprint", "fresh_since"]
