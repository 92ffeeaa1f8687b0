"""Which commit a Sync's running content is attributed to: a case table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gitmoor.ledger.attribution import State, origins
from gitmoor.model.record import Result

APPLIED, ROLLED_BACK = Result.APPLIED, Result.ROLLED_BACK
T = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def state(i: int, content: str | None, sha: str, result: Result = APPLIED) -> State:
    return State(i, result, content, f"main@sha1:{sha}", sha, f"author {sha}", T, f"subject {sha}")


CASES = [
    ("one deployment is its own origin", [state(1, "c1", "a")], {1: "a"}),
    (
        "a commit to another app keeps the origin",
        [state(1, "c1", "a"), state(2, "c1", "b"), state(3, "c1", "c")],
        {1: "a", 2: "a", 3: "a"},
    ),
    (
        "a new content is its commit's",
        [state(1, "c1", "a"), state(2, "c2", "b"), state(3, "c2", "c")],
        {1: "a", 2: "b", 3: "b"},
    ),
    (
        "a revert to an older content is the revert's",
        [state(1, "c1", "a"), state(2, "c2", "b"), state(3, "c1", "r")],
        {1: "a", 2: "b", 3: "r"},
    ),
    (
        "a rollback goes to the origin of what it restored",
        [
            state(1, "c1", "a"),
            state(2, "c1", "b"),
            state(3, "c2", "x"),
            state(4, "c1", "b", ROLLED_BACK),
        ],
        {1: "a", 2: "a", 3: "x", 4: "a"},
    ),
    (
        "a rollback to a revision no longer recorded is its own, without author",
        [state(5, "c2", "x"), state(6, "c1", "gone", ROLLED_BACK)],
        {5: "x", 6: "gone"},
    ),
    (
        "records without a content digest are their own origin",
        [state(1, None, "a"), state(2, None, "b")],
        {1: "a", 2: "b"},
    ),
]


@pytest.mark.parametrize(("states", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_origins(states: list[State], expected: dict[int, str]) -> None:
    found = origins(states)
    assert {i: o.sha for i, o in found.items()} == expected
    for origin in found.values():
        source = next(s for s in states if s.deployed_sha == origin.sha)
        assert origin.record_id == source.id or source.result is ROLLED_BACK


def test_an_origin_carries_its_commit() -> None:
    found = origins([state(1, "c1", "a"), state(2, "c1", "b")])[2]
    assert (found.revision, found.author, found.subject, found.time) == (
        "main@sha1:a",
        "author a",
        "subject a",
        T,
    )
    assert origins([state(5, "c2", "x"), state(6, "c1", "gone", ROLLED_BACK)])[6].author == ""
