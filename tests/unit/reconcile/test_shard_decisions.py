"""Sharding decisions from the case table: owners, standings, liveness; and the properties
that make rendezvous hashing fit: an even share, and a change of members moving only what
it must."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gitmoor.reconcile.shards import (
    Sighting,
    Standing,
    View,
    live,
    moved,
    observe,
    owner,
    standing,
)

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "shards.yaml").read_text())
KEYS = [f"Sync/team-{i % 37}/app-{i}" for i in range(3000)]


@pytest.mark.parametrize("case", CASES["owner"], ids=lambda c: f"{c['key']}@{len(c['members'])}")
def test_owner(case: dict[str, Any]) -> None:
    assert owner(case["key"], case["members"]) == case["owner"]


@pytest.mark.parametrize("case", CASES["standing"], ids=lambda c: c["why"])
def test_standing(case: dict[str, Any]) -> None:
    v = case["view"]
    view = View("agent-c", frozenset(v["members"]), v["listed"], v["held_until"], v["joined"])
    got = standing(view, case["key"], case["now"], grace=6, deadline=5)
    assert got is Standing(case["standing"])


@pytest.mark.parametrize("case", CASES["liveness"], ids=lambda c: c["why"])
def test_liveness(case: dict[str, Any]) -> None:
    seen = {m: Sighting(str(r), float(t), float(d)) for m, (r, t, d) in case["seen"].items()}
    listed = {m: (str(r), float(d)) for m, (r, d) in case["listed"].items()}
    now = float(case["now"])
    assert live(observe(seen, listed, now), now) == frozenset(case["live"])


@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_each_member_gets_about_an_even_share(n: int) -> None:
    members = [f"gitmoor-{i}" for i in range(n)]
    counts = {m: 0 for m in members}
    for key in KEYS:
        counts[owner(key, members) or ""] += 1
    for member, count in counts.items():
        assert abs(count - len(KEYS) / n) < 0.2 * len(KEYS) / n, (member, counts)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_a_member_that_joins_takes_about_its_share_and_nothing_else_moves(n: int) -> None:
    before = [f"gitmoor-{i}" for i in range(n)]
    after = [*before, "gitmoor-new"]
    share = moved(KEYS, before, after) / len(KEYS)
    assert abs(share - 1 / (n + 1)) < 0.05, share
    for key in KEYS:
        # Every key that moved went to the newcomer, none between the old members.
        if owner(key, before) != owner(key, after):
            assert owner(key, after) == "gitmoor-new"


def test_a_member_that_leaves_hands_on_only_its_own_keys() -> None:
    before = ["gitmoor-0", "gitmoor-1", "gitmoor-2", "gitmoor-3"]
    after = ["gitmoor-0", "gitmoor-2", "gitmoor-3"]
    for key in KEYS:
        if owner(key, before) != "gitmoor-1":
            assert owner(key, after) == owner(key, before)
    gone = sum(1 for k in KEYS if owner(k, before) == "gitmoor-1")
    assert moved(KEYS, before, after) == gone


def test_two_fresh_views_that_both_hold_two_members_never_both_pick_them() -> None:
    # The fencing argument: whatever else two views differ in, a key cannot belong to A in
    # one and to B in the other while both views contain A and B.
    a, b = "gitmoor-a", "gitmoor-b"
    views = [
        [a, b],
        [a, b, "gitmoor-c"],
        [a, b, "gitmoor-d"],
        [a, b, "gitmoor-c", "gitmoor-d"],
    ]
    for key in KEYS[:500]:
        owners = {owner(key, v) for v in views}
        assert not {a, b} <= owners, key
