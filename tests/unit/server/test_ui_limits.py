"""How often one client may try to sign in (gitmoor.server.ui.limits), from tables of
timestamps: a burst, then one attempt per period; clients apart; a bounded table."""

from __future__ import annotations

import pytest

from gitmoor.server.ui.limits import Limiter, refilled


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# burst 3, one attempt every 10 s. Each step: (seconds, client, what `take` answers).
CASES = {
    "a burst, then the wait to the next token": [
        (0, "a", 0),
        (0, "a", 0),
        (0, "a", 0),
        (0, "a", 10),
        (4, "a", 6),  # a refused attempt costs nothing: the wait shrinks with time
        (10, "a", 0),
        (10, "a", 10),
    ],
    "clients are apart": [
        (0, "a", 0),
        (0, "a", 0),
        (0, "a", 0),
        (0, "a", 10),
        (0, "b", 0),
        (1, "a", 9),
    ],
    "a quiet client gets its whole burst back, no more": [
        (0, "a", 0),
        (0, "a", 0),
        (0, "a", 0),
        (1000, "a", 0),
        (1000, "a", 0),
        (1000, "a", 0),
        (1000, "a", 10),
    ],
    "a slow, steady client is never refused": [(t * 10, "a", 0) for t in range(20)],
    "waits round up to whole seconds": [
        (0, "a", 0),
        (0, "a", 0),
        (0, "a", 0),
        (9.5, "a", 1),
    ],
}


@pytest.mark.parametrize("steps", CASES.values(), ids=CASES.keys())
def test_sign_in_attempts_per_client(steps: list[tuple[float, str, int]]) -> None:
    clock = Clock()
    limiter = Limiter(burst=3, per_second=0.1, clients=100, clock=clock)
    answers = []
    for at, client, _ in steps:
        clock.now = at
        answers.append(limiter.take(client))
    assert answers == [wait for _, _, wait in steps]


@pytest.mark.parametrize(
    ("tokens", "at", "now", "expected"),
    [(0.0, 0.0, 5.0, 0.5), (2.5, 0.0, 100.0, 3.0), (1.0, 10.0, 5.0, 1.0)],
)
def test_refilled(tokens: float, at: float, now: float, expected: float) -> None:
    assert refilled(tokens, at, now, burst=3, per_second=0.1) == pytest.approx(expected)


def test_the_table_of_clients_is_bounded_and_forgets_refilled_clients_first() -> None:
    clock = Clock()
    limiter = Limiter(burst=2, per_second=0.1, clients=3, clock=clock)
    for client in ("busy", "busy", "quiet", "idle"):
        limiter.take(client)  # busy: empty; quiet, idle: one token left
    clock.now = 10.0  # quiet and idle are full again, busy has one token
    limiter.take("new")
    assert len(limiter) == 2  # quiet and idle forgotten, busy kept
    assert limiter.take("busy") == 0
    assert limiter.take("busy") == 10  # busy's spent tokens were remembered
    for client in ("x", "y", "z"):
        limiter.take(client)
        limiter.take(client)
    assert len(limiter) == 3  # nobody refilled: the longest unseen went


def test_a_limiter_needs_sensible_bounds() -> None:
    with pytest.raises(ValueError, match="burst"):
        Limiter(burst=0)
