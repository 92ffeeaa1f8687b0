"""Sources asking one remote the same question share one check (pure asyncio, no server)."""

from __future__ import annotations

import asyncio

import pytest

from gitmoor.errors import SourceAuthError
from gitmoor.model.credentials import GitCredentials
from gitmoor.sources.remote import Query, RemoteRefs
from gitmoor.sources.sharing import CheckKey, SharedChecks, fingerprint

URL = "https://git.example.com/repo.git"
QUERY = Query((), ("refs/heads/main",))
REFS = RemoteRefs({"refs/heads/main": "a" * 40}, None)


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


def key(credentials: GitCredentials | None = None) -> CheckKey:
    return CheckKey(URL, QUERY, fingerprint(credentials))


async def test_a_recent_answer_is_shared_within_max_age() -> None:
    shared, remote = SharedChecks(), Remote()
    for _ in range(3):
        assert await shared.refs(key(), 60, remote.ask) == REFS
    assert (remote.asked, shared.shared) == (1, 2)


async def test_max_age_zero_always_asks() -> None:
    shared, remote = SharedChecks(), Remote()
    await shared.refs(key(), 60, remote.ask)
    await shared.refs(key(), 0, remote.ask)
    await shared.refs(key(), 0, remote.ask)
    assert remote.asked == 3


async def test_checks_in_flight_are_joined() -> None:
    shared, remote = SharedChecks(), Remote()
    remote.gate.clear()
    waiting = [asyncio.create_task(shared.refs(key(), 60, remote.ask)) for _ in range(4)]
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
        await shared.refs(key(), 60, remote.ask)
    remote.fail = False
    assert await shared.refs(key(), 60, remote.ask) == REFS
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
