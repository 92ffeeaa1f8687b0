"""The sharded write fence (`Membership.check`), from a table: which writes leave the process
for a given view of the replicas. The view is set by hand; no API server is involved."""

from __future__ import annotations

import time
from typing import cast

import pytest

from gitmoor.errors import NotLeaderError
from gitmoor.kube import Kube
from gitmoor.reconcile.membership import Membership, lease_name
from gitmoor.reconcile.shards import WORKING_ON, View, owner

NS = "gitmoor-system"
MEMBERS = frozenset({"agent-a", "agent-b", "agent-c"})
MINE = next(
    f"Sync/apps/app-{i}" for i in range(100) if owner(f"Sync/apps/app-{i}", MEMBERS) == "agent-c"
)
THEIRS = next(
    f"Sync/apps/app-{i}" for i in range(100) if owner(f"Sync/apps/app-{i}", MEMBERS) != "agent-c"
)
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/gitmoor-replica-agent-c"
SYNC = "/apis/gitmoor.io/v1alpha1/namespaces/apps/syncs/app/status"


def membership(state: str) -> Membership:
    m = Membership(cast(Kube, None), namespace=NS, group="gitmoor-replica", identity="agent-c")
    now = time.monotonic()
    views = {
        "member": View("agent-c", MEMBERS, now, now + 5, now - 60),
        "joining": View("agent-c", MEMBERS, now, now + 5, now - 1),
        "lapsed": View("agent-c", MEMBERS, now - 20, now - 1, now - 60),
        "outsider": View("agent-c", frozenset(), 0.0, 0.0, None),
    }
    m.view = views[state]
    return m


CASES: list[tuple[str, str | None, str, bool]] = [
    # (state, working on, path, allowed)
    ("member", MINE, SYNC, True),
    ("member", THEIRS, SYNC, False),
    ("member", None, SYNC, True),  # not a key's work (an Event, the snapshot key)
    ("joining", MINE, SYNC, False),
    ("joining", None, SYNC, True),
    ("lapsed", MINE, SYNC, False),
    ("lapsed", None, SYNC, False),
    ("outsider", None, SYNC, False),
    ("lapsed", MINE, LEASES, True),  # its own Lease is always renewed
    ("outsider", None, LEASES, True),
]


@pytest.mark.parametrize(("state", "key", "path", "allowed"), CASES)
def test_the_fence(state: str, key: str | None, path: str, allowed: bool) -> None:
    fence = membership(state)
    token = WORKING_ON.set(key)
    try:
        if allowed:
            fence.check("PATCH", path)
        else:
            with pytest.raises(NotLeaderError, match="refused"):
                fence.check("PATCH", path)
    finally:
        WORKING_ON.reset(token)


@pytest.mark.parametrize(
    ("group", "identity", "name"),
    [
        ("gitmoor-replica", "gitmoor-7d9f-x2k", "gitmoor-replica-gitmoor-7d9f-x2k"),
        ("gitmoor-replica", "Host_Name.local-1a2b", "gitmoor-replica-host-name.local-1a2b"),
        ("gitmoor-replica", "x" * 300, ("gitmoor-replica-" + "x" * 300)[:253]),
    ],
)
def test_lease_names_are_valid_object_names(group: str, identity: str, name: str) -> None:
    assert lease_name(group, identity) == name
