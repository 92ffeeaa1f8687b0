"""Who owns a live object, and whether this Sync may write it.

An object carries the ownership labels of the Sync that applied it last. Another Sync that
declares the same object may write it only when that owner has released it: the owner no longer
exists, its inventory no longer lists the object, or it is being deleted and leaves what it
applied in place. Or when the desired object is annotated `gitmoor.io/takeover: "true"`, unless
the live object carries that annotation itself: the first Sync to take an object over keeps it,
so two Syncs that both ask can never take it back and forth. Anything else refuses the revision.

The check reads what the planner read anyway (the live object behind a dry run); only an object
owned by another Sync costs a read of that Sync, once per Sync and plan.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from typing import Any

from gitmoor.errors import GitmoorError, KubeApiError, TransientError, UnknownKindError
from gitmoor.kube import Kube
from gitmoor.kube import inventory as stored_inventory
from gitmoor.model import InventoryEntry, ObjectRef, inventory, labels
from gitmoor.model.api import API_VERSION
from gitmoor.plan.prepare import Owner


class Decision(enum.StrEnum):
    OURS = "ours"  # nobody else's (or nobody's yet): write it as planned
    TAKE_OVER = "take-over"  # another Sync's, which let it go or is overruled: write, record
    CONFLICT = "conflict"  # another Sync's, which holds it: refuse the revision


@dataclass(frozen=True)
class Claim:
    """What the Sync named by an object's ownership labels says about that object."""

    exists: bool = True
    deleting: bool = False
    orphans: bool = False  # deleting it leaves what it applied in place
    reconciling: bool = False  # applying a revision now: its inventory may not list it yet
    lists: bool = True  # its status inventory lists the object
    unknown: str = ""  # the Sync could not be read: why


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    owner: str = ""  # `namespace/name` of the Sync the live object's labels name
    why: str = ""


OURS = Verdict(Decision.OURS)


def judge(
    me: Owner,
    owner: tuple[str, str] | None,
    claim: Claim | None,
    *,
    asks: bool,
    asked_before: bool,
) -> Verdict:
    """May `me` write an object whose live labels name `owner` (namespace, name)? `claim` is
    what that owner says about the object (None when the labels name `me` or nobody); `asks`:
    the desired object carries the takeover annotation; `asked_before`: the live one does."""
    if owner is None or owner == (me.namespace, me.name):
        return OURS
    name = f"{owner[0]}/{owner[1]}"
    if claim is None:
        claim = Claim(unknown="not looked up")
    if not claim.unknown:
        if not claim.exists:
            return Verdict(Decision.TAKE_OVER, name, f"Sync {name} no longer exists")
        if claim.deleting and claim.orphans:
            return Verdict(
                Decision.TAKE_OVER, name, f"Sync {name} is being deleted and leaves it in place"
            )
        if not claim.lists and not claim.reconciling:
            return Verdict(Decision.TAKE_OVER, name, f"Sync {name} no longer lists it")
    if asks and not asked_before:
        return Verdict(
            Decision.TAKE_OVER,
            name,
            f'{labels.TAKEOVER}: "{labels.TAKEOVER_ALLOWED}" while Sync {name} still declares it',
        )
    if asks:
        why = (
            f"owned by Sync {name}, which took it over with {labels.TAKEOVER} itself: the first "
            "takeover stands"
        )
    elif asked_before:
        why = f"owned by Sync {name}, which took it over with {labels.TAKEOVER}"
    elif claim.unknown:
        why = f"owned by Sync {name}, which could not be asked about it: {claim.unknown}"
    elif claim.reconciling and not claim.lists:
        why = f"owned by Sync {name}, which is applying a revision now"
    elif claim.deleting:
        why = f"owned by Sync {name}, which is being deleted and prunes it"
    else:
        why = f"owned by Sync {name}, which still declares it"
    return Verdict(Decision.CONFLICT, name, why)


def claim_of(
    sync: dict[str, Any] | None, entry_id: str, listed: frozenset[str] | None = None
) -> Claim:
    """What a Sync resource as read (None: it does not exist) says about the object whose
    inventory id is `entry_id`; `listed` is the Sync's inventory ids when already decoded."""
    if sync is None:
        return Claim(exists=False)
    meta, spec = sync.get("metadata") or {}, sync.get("spec") or {}
    status = sync.get("status") or {}
    policy = spec.get("deletionPolicy") or ("Delete" if spec.get("prune", True) else "Orphan")
    finalized = labels.FINALIZER in (meta.get("finalizers") or [])
    return Claim(
        exists=True,
        deleting=bool(meta.get("deletionTimestamp")),
        # Without gitmoor's finalizer (or while suspended) a deletion prunes nothing.
        orphans=policy == "Orphan" or bool(spec.get("suspend")) or not finalized,
        reconciling=any(
            c.get("type") == "Reconciling" and c.get("status") == "True"
            for c in status.get("conditions") or []
            if isinstance(c, dict)
        ),
        lists=entry_id in (listed if listed is not None else inventory_ids(sync)),
    )


def inventory_ids(sync: dict[str, Any]) -> frozenset[str]:
    """The ids of a Sync's `status.inventory`, in either of its forms."""
    return frozenset(e.id for e in inventory.decode((sync.get("status") or {}).get("inventory")))


class Ownership:
    """The ownership check of one plan: a verdict per desired object with a live counterpart,
    reading each other Sync named by live labels at most once."""

    def __init__(self, kube: Kube, me: Owner) -> None:
        self._kube = kube
        self._me = me
        # Per Sync named by live labels: the resource (None: gone), why it could not be read,
        # and its inventory ids, decoded once however many of its objects this plan meets.
        self._syncs: dict[tuple[str, str], tuple[dict[str, Any] | None, str, frozenset[str]]] = {}
        self._lock = asyncio.Lock()

    async def verdict(
        self, desired: dict[str, Any], api_version: str, live: dict[str, Any]
    ) -> Verdict:
        if not self._me.name:
            return OURS  # a preview without a Sync: nobody to compare with
        owner = labels.owner_of(live)
        if owner is None or owner == (self._me.namespace, self._me.name):
            return OURS
        sync, problem, listed = await self._sync(owner)
        ref = ObjectRef.from_object(desired)
        claim = (
            Claim(unknown=problem)
            if problem
            else claim_of(sync, InventoryEntry.of(ref, api_version).id, listed)
        )
        return judge(
            self._me,
            owner,
            claim,
            asks=_asks(desired),
            asked_before=_asks(live),
        )

    async def _sync(
        self, owner: tuple[str, str]
    ) -> tuple[dict[str, Any] | None, str, frozenset[str]]:
        async with self._lock:
            if owner not in self._syncs:
                sync, problem = await self._read(owner)
                listed: frozenset[str] = frozenset()
                if sync is not None:
                    try:
                        entries = await stored_inventory.load(self._kube, sync)
                        listed = frozenset(e.id for e in entries)
                    except TransientError:
                        raise
                    except GitmoorError as err:
                        sync, problem = None, str(err)  # not known: never taken from it
                self._syncs[owner] = (sync, problem, listed)
            return self._syncs[owner]

    async def _read(self, owner: tuple[str, str]) -> tuple[dict[str, Any] | None, str]:
        namespace, name = owner
        if not namespace:
            return None, "its labels name no namespace"
        try:
            return await self._kube.get(API_VERSION, "Sync", name, namespace), ""
        except UnknownKindError:
            return None, ""  # no Sync resources at all: nobody holds it
        except TransientError:
            raise
        except KubeApiError as err:
            return None, err.detail


def _asks(obj: dict[str, Any]) -> bool:
    return labels.annotation(obj, labels.TAKEOVER) == labels.TAKEOVER_ALLOWED
