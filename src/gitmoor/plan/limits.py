"""How much one revision may delete: the guard that stops a commit which empties a
kustomization, or drops a base, from pruning most of what a Sync runs."""

from __future__ import annotations

# A percentage never holds a change that prunes this few objects: small apps lose a ConfigMap
# or two in ordinary commits, and a count limit is there for whoever wants it exact.
SMALL_CHANGE = 5


def over_prune_limit(limit: int | str, pruned: int, inventory: int) -> str | None:
    """Why pruning `pruned` of the `inventory` objects a Sync manages exceeds `limit` (a count,
    or a percentage such as "50%"), or None when it does not."""
    if pruned == 0 or inventory == 0:
        return None
    if isinstance(limit, str) and limit.endswith("%"):
        percent = int(limit[:-1])
        if pruned <= SMALL_CHANGE or pruned * 100 <= percent * inventory:
            return None
        share = pruned * 100 // inventory
        return (
            f"the revision would prune {pruned} of {inventory} objects ({share}%), more than "
            f"pruneLimit {limit}"
        )
    count = int(limit)
    if pruned <= count:
        return None
    return f"the revision would prune {pruned} of {inventory} objects, more than pruneLimit {count}"
