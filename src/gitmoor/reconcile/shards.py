"""Syncs shared out across agent replicas: who owns what, and when a replica may write.

**Members.** Each replica announces itself with a coordination.k8s.io Lease of its own
(`<group>-<identity>`, labelled `gitmoor.io/replica-group=<group>`), renewed every `renew`
seconds, and lists the group's Leases as often. A Lease is *live* to an observer until the
observer has seen its resourceVersion unchanged for the Lease's own duration, measured on the
observer's monotonic clock (no two clocks are compared); a deleted Lease (a replica that left
after stopping) is gone at once.

**Owners.** A key (`Kind/namespace/name`) belongs to the live member with the highest
rendezvous score `blake2b(member, key)` (highest-random-weight hashing). Chosen over a hash
ring because it needs no virtual nodes and no shared state to be even, and because a change
of membership moves only what it must: a member that joins takes about 1/N of the keys, each
from whichever member held it, and a member that leaves hands each of its keys to the member
that scored next for it; nothing else moves. Every replica computes the same owner from the
same members, so no assignment is ever written anywhere.

**Fencing.** Replica R writes for key K at time t only when all of these hold:
1. R's own Lease is surely held: its last successful renewal was *sent* less than `deadline`
   (< duration) ago. A paused or partitioned replica stops writing before any observer could
   call its Lease expired.
2. R's view is fresh: the Lease list it was computed from was sent less than `deadline` ago.
3. R has been a member for at least `grace` (>= deadline + renew) without a lapse: every other
   replica's fresh view then contains R.
4. K's owner in R's view is R.

Two replicas A and B writing K at once would both satisfy 1-3, so each one's view holds the
other (B's view was listed after A joined, and A renewed all along, so B never saw it expire),
and rendezvous hashing over two views that both contain A and B cannot pick A in one and B
in the other. So: a replica that joins waits `grace` before it works anything, while the
others drop its share as soon as they list it; the keys of a replica whose Lease expired move
at once (it fenced itself before expiring). Writes are refused in the Kubernetes client
itself (`check`), whatever coroutine makes them. Status writes carry a second guard, a JSON
patch `test` of `status.replica` against the value this replica read, so a write from a
replica whose view of the object is stale is refused by the API server.

**Singletons.** Work done once per cluster (pruning old ledger records, deleting Leases of
replicas long gone) belongs to the owner of the pseudo-key `SINGLETONS`, fenced like any key:
no second election, and the leader Lease of single-replica mode is not used.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass

GROUP_LABEL = "gitmoor.io/replica-group"
REPLICA_GROUP = "gitmoor-replica"  # the default group: Leases `gitmoor-replica-<pod name>`
SINGLETONS = "gitmoor/singletons"

# The key a reconcile works on, set by the runtime for each task: the client's write fence
# reads it (a write made outside any key's work is fenced by the member's Lease alone).
WORKING_ON: ContextVar[str | None] = ContextVar("gitmoor_working_on", default=None)


class Standing(enum.StrEnum):
    """What this replica may do with one key right now."""

    MINE = "mine"  # work it and write for it
    THEIRS = "theirs"  # another live member owns it
    JOINING = "joining"  # this replica joined less than `grace` ago: hands off everything
    UNSURE = "unsure"  # own Lease or view too old: write nothing at all


def score(member: str, key: str) -> int:
    """The rendezvous weight of `member` for `key`: stable across processes and versions
    (Python's `hash` is salted per process)."""
    digest = hashlib.blake2b(f"{member}\n{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(key: str, members: Iterable[str]) -> str | None:
    """The member `key` belongs to (ties, which need a 64-bit collision, go to the larger
    name); None without members."""
    return max(members, key=lambda m: (score(m, key), m), default=None)


@dataclass(frozen=True)
class Sighting:
    """What an observer last saw of one member's Lease."""

    marker: str  # the Lease's resourceVersion: changes at every renewal
    since: float  # observer's monotonic time when it first saw this marker
    duration: float  # the Lease's leaseDurationSeconds


def observe(
    seen: Mapping[str, Sighting], leases: Mapping[str, tuple[str, float]], now: float
) -> dict[str, Sighting]:
    """Fold one listing (member -> (resourceVersion, duration)) into what was seen before;
    members absent from the listing are forgotten (their Lease was deleted)."""
    out: dict[str, Sighting] = {}
    for member, (marker, duration) in leases.items():
        before = seen.get(member)
        if before is not None and before.marker == marker:
            out[member] = Sighting(marker, before.since, duration)
        else:
            out[member] = Sighting(marker, now, duration)
    return out


def live(seen: Mapping[str, Sighting], now: float) -> frozenset[str]:
    """Members whose Lease changed within its duration, as this observer saw it."""
    return frozenset(m for m, s in seen.items() if now - s.since <= s.duration)


@dataclass(frozen=True)
class View:
    """One replica's idea of the group, and how sure it may be of it."""

    me: str
    members: frozenset[str]  # live members, `me` among them while its Lease is held
    listed: float  # monotonic time the listing it came from was sent
    held_until: float  # own Lease surely held before this (last renewal sent + deadline)
    joined: float | None  # since when a member without a lapse (None: not a member)


def standing(view: View, key: str, now: float, *, grace: float, deadline: float) -> Standing:
    """What `view.me` may do with `key` at `now` (the four conditions of the module's doc)."""
    if view.joined is None or now >= view.held_until or now - view.listed >= deadline:
        return Standing.UNSURE
    if now - view.joined < grace:
        return Standing.JOINING
    return Standing.MINE if owner(key, view.members) == view.me else Standing.THEIRS


def moved(keys: Iterable[str], before: Iterable[str], after: Iterable[str]) -> int:
    """How many of `keys` change owner between two member sets."""
    old, new = frozenset(before), frozenset(after)
    return sum(1 for k in keys if owner(k, old) != owner(k, new))
