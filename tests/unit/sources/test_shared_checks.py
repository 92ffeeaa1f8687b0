"""Sources asking one remote the same question share one check (pure asyncio, no server)."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from gitmoor.errors import SourceAuthError
from gitmoor.model.credentials import GitCredentials
from gitmoor.sources.remote import Query, RemoteRefs
from gitmoor.sources.sharing import CheckKey, SharedChecks, fingerprint, fresh_since

URL = "https://git.example.com/repo.git"
QUERY = Query((), ("refs/heads/main",))
REFS = RemoteRefs({"refs/heads/main": "a" * 40}, None)
INF = math.inf  # a check of its own


class Remote:
    """Counts the checks that reached it; `gate` holds them until released."""

    def __init__(self) -> None:
        self.asked = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = asyncio.Event()
        self.fail = False

    async def ask(self) -> RemoteRefs:
        self.asked += 1
        self.started.set()
        await self.gate.wait()
        if self.fail:
            raise SourceAuthError("authentication failed", url=URL)
        return REFS


def RECENT() -> float:
    """A check begun within the last minute may answer."""
    return time.monotonic() - 60


def key(credentials: GitCredentials | None = None) -> CheckKey:
    return CheckKey(URL, QUERY, fingerprint(credentials))


async def test_a_recent_answer_is_shared_within_max_age() -> None:
    shared, remote = SharedChecks(), Remote()
    for _ in range(3):
        assert await shared.refs(key(), RECENT(), remote.ask) == REFS
    assert (remote.asked, shared.shared) == (1, 2)


async def test_a_check_of_its_own_always_asks() -> None:
    shared, remote = SharedChecks(), Remote()
    await shared.refs(key(), RECENT(), remote.ask)
    await shared.refs(key(), INF, remote.ask)
    await shared.refs(key(), INF, remote.ask)
    assert remote.asked == 3


async def test_checks_in_flight_are_joined() -> None:
    shared, remote = SharedChecks(), Remote()
    remote.gate.clear()
    waiting = [asyncio.create_task(shared.refs(key(), RECENT(), remote.ask)) for _ in range(4)]
    # The first asks and waits at the gate; the other three, queued behind it, run before
    # this test resumes: all four are in.
    await remote.started.wait()
    assert not any(task.done() for task in waiting)
    remote.gate.set()
    assert await asyncio.gather(*waiting) == [REFS] * 4
    assert remote.asked == 1


async def test_a_failure_is_shared_by_those_waiting_but_not_kept() -> None:
    shared, remote = SharedChecks(), Remote()
    remote.fail = True
    with pytest.raises(SourceAuthError):
        await shared.refs(key(), RECENT(), remote.ask)
    remote.fail = False
    assert await shared.refs(key(), RECENT(), remote.ask) == REFS
    assert remote.asked == 2


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (None, GitCredentials(username="u", password="p")),
        (GitCredentials(username="u", password="p"), GitCredentials(username="u", password="q")),
        (GitCredentials(bearer_token="t"), GitCredentials(ca_file=b"t")),
    ],
)
def test_other_credentials_are_another_check(
    a: GitCredentials | None, b: GitCredentials | None
) -> None:
    assert fingerprint(a) != fingerprint(b)
    assert fingerprint(a) == fingerprint(a)


NOW = 1000.0


@pytest.mark.parametrize(
    ("why", "timed", "asked_at", "expected"),
    [
        ("its interval, never asked: a check begun within one interval", True, None, NOW - 60),
        ("its interval, asked long ago: the interval still bounds it", True, NOW - 3600, NOW - 60),
        ("its interval, a push 5 s ago: only a check begun since", True, NOW - 5, NOW - 5),
        ("a push 2 s ago: a check begun since the push", False, NOW - 2, NOW - 2),
        ("asked at this instant: a check begun from now on", False, NOW, NOW),
        ("not timed and never asked (nothing says since when): its own check", False, None, INF),
    ],
)
def test_which_shared_check_may_answer(
    why: str, timed: bool, asked_at: float | None, expected: float
) -> None:
    assert fresh_since(60.0, timed=timed, asked_at=asked_at, now=NOW) == expected, why


async def test_sources_asked_by_one_push_share_the_check_begun_after_it() -> None:
    shared, remote = SharedChecks(), Remote()
    await shared.refs(key(), -INF, remote.ask)  # before the push
    pushed = time.monotonic()
    for _ in range(3):  # three sources of the repository, each asked by the push
        since = fresh_since(60, timed=False, asked_at=pushed, now=time.monotonic())
        await shared.refs(key(), since, remote.ask)
    assert remote.asked == 2  # the answer from before the push was not reused, the new one was
