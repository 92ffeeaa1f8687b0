"""The bounded, time-limited memory behind replay refusal and notification deduplication."""

from __future__ import annotations

import pytest

from gitmoor.recent import RecentKeys
from tests.unit.clock import Clock


def test_a_key_is_remembered_for_the_window_from_when_it_was_last_recorded() -> None:
    clock = Clock()
    recent: RecentKeys[str, int] = RecentKeys(60, clock=clock)
    recent.remember("a", 1)
    clock.now = 59.9
    assert recent.get("a") == 1
    assert "a" in recent
    recent.remember("a", 2)  # recorded again: the window starts over
    clock.now = 119
    assert recent.get("a") == 2
    clock.now = 119.9
    assert recent.get("a") is None
    assert "a" not in recent
    assert len(recent) == 0


def test_past_capacity_the_oldest_recorded_goes_first() -> None:
    clock = Clock()
    recent: RecentKeys[str, bool] = RecentKeys(60, capacity=2, clock=clock)
    recent.remember("a", True)
    recent.remember("b", True)
    recent.remember("a", True)  # now newer than b
    recent.remember("c", True)
    assert "b" not in recent
    assert "a" in recent
    assert "c" in recent
    assert len(recent) == 2


def test_forget() -> None:
    recent: RecentKeys[str, bool] = RecentKeys(60, clock=Clock())
    recent.remember("a", True)
    recent.forget("a")
    recent.forget("never")
    assert "a" not in recent


@pytest.mark.parametrize(("window", "capacity"), [(0, 10), (-1, 10), (60, 0)])
def test_a_memory_that_could_hold_nothing_is_refused(window: float, capacity: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        RecentKeys(window, capacity=capacity)
