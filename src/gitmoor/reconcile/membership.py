"""One replica's membership of the group sharing the Syncs (the protocol: `shards`).

It holds a Lease of its own, renews it and lists the group's Leases every `renew` seconds,
and answers from the resulting view which keys it may work (`standing`) and, installed in the
client as its write fence (`check`), refuses any write the protocol forbids. It has the shape
of `LeaderElector` (acquire, keep, release, check), so `gitmoor run` drives either the same
way: losing the Lease stops everything in flight and joins again afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from gitmoor.errors import GitmoorError, KubeApiError, NotLeaderError
from gitmoor.kube import Kube
from gitmoor.reconcile import shards
from gitmoor.reconcile.shards import GROUP_LABEL, WORKING_ON, Sighting, Standing, View

log = structlog.get_logger("gitmoor.membership")
_LEASE = "coordination.k8s.io/v1"
_GONE = 4  # Lease durations unrenewed after which a replica's Lease is deleted


def _now() -> float:
    # Monotonic: runs on while the process is stopped, so a paused replica sees its lapse.
    return time.monotonic()


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_name(group: str, identity: str) -> str:
    """`<group>-<identity>` as a valid object name (lower case, [a-z0-9-.], at most 253)."""
    name = re.sub(r"[^a-z0-9.-]+", "-", f"{group}-{identity}".lower()).strip("-.")
    return name[:253].rstrip("-.")


class Membership:
    def __init__(
        self,
        kube: Kube,
        *,
        namespace: str,
        group: str,
        identity: str,
        duration: float = 15.0,
        renew: float = 2.0,
        deadline: float = 10.0,
    ) -> None:
        self._kube = kube
        self.namespace = namespace
        self.group = group
        self.identity = identity
        self.name = lease_name(group, identity)
        self.duration = duration
        self.renew = renew
        self.deadline = min(deadline, duration - renew)
        # Others' fresh views contain this replica once it has been a member this long.
        self.grace = self.deadline + renew
        self._seen: dict[str, Sighting] = {}
        self.view = View(identity, frozenset(), 0.0, 0.0, None)
        self._resource_version: str | None = None
        # Called with the new view whenever members or this replica's standing change.
        self.on_change: Callable[[View], None] | None = None

    # -- what the agent asks ------------------------------------------------------------------
    @property
    def is_leader(self) -> bool:
        """A member (the name `gitmoor run` asks of either kind of election)."""
        return self.view.joined is not None

    def standing(self, key: str) -> Standing:
        return shards.standing(self.view, key, _now(), grace=self.grace, deadline=self.deadline)

    def ready_in(self) -> float:
        """Seconds until the joining grace ends (0 when it has)."""
        if self.view.joined is None:
            return self.grace
        return max(0.0, self.view.joined + self.grace - _now())

    def check(self, method: str, path: str) -> None:
        """The write fence: the member's own Lease always passes; anything else needs the
        Lease surely held and a fresh view, and a write for a key needs the key to be ours."""
        if path.startswith(f"/apis/{_LEASE}/namespaces/{self.namespace}/leases"):
            return
        key = WORKING_ON.get() or shards.SINGLETONS
        answer = self.standing(key)
        if answer is Standing.MINE:
            return
        if answer is Standing.UNSURE or WORKING_ON.get() is not None:
            raise NotLeaderError(
                f"{method} refused: {key} is not this replica's to write ({answer.value}; "
                f"lease {self.namespace}/{self.name})"
            )
        # Not working on a key (events of no Sync, the snapshot key): the Lease suffices.

    # -- the Lease ----------------------------------------------------------------------------
    async def acquire(self, stop: asyncio.Event) -> bool:
        """Create (or take back) this replica's Lease; True once a member, False if `stop`."""
        while not stop.is_set():
            try:
                if await self._beat():
                    log.info("joined the replicas", lease=f"{self.namespace}/{self.name}")
                    return True
            except GitmoorError as err:
                log.warning("could not join the replicas", error=str(err))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.renew)
        return False

    async def keep(self) -> None:
        """Renew and list until the Lease could not be renewed before the fence closed; then
        return (membership lost: stop everything and join again)."""
        announced_ready = False
        while True:
            wait = max(0.0, min(self.renew, self.view.held_until - _now()))
            if not announced_ready:
                wait = min(wait, max(0.01, self.ready_in()))
            await asyncio.sleep(wait)
            try:
                await self._beat()
            except GitmoorError as err:
                log.warning("replica lease renewal failed", error=str(err))
            if self.view.joined is None or _now() >= self.view.held_until:
                log.error("could not renew the replica lease in time; writes stopped")
                self._set(View(self.identity, frozenset(), 0.0, 0.0, None))
                return
            if not announced_ready and self.ready_in() == 0:
                announced_ready = True
                log.info("replica ready", members=len(self.view.members))
                self._notify()

    async def release(self) -> None:
        """Leave: delete the Lease (only once nothing runs any more) so the others take this
        replica's share at once instead of after the Lease's duration."""
        joined = self.view.joined is not None
        self._set(View(self.identity, frozenset(), 0.0, 0.0, None))
        if not joined:
            return
        try:
            await self._kube.delete(_LEASE, "Lease", self.name, self.namespace)
            log.info("left the replicas", lease=f"{self.namespace}/{self.name}")
        except GitmoorError as err:
            log.warning("could not delete the replica lease", error=str(err))

    async def _beat(self) -> bool:
        """Renew (or create) the own Lease, then list the group; update the view."""
        sent = _now()
        renewed = await self._renew()
        if not renewed:
            return False
        listed_at = _now()
        leases = await self._kube.list(
            _LEASE, "Lease", self.namespace, label_selector=f"{GROUP_LABEL}={self.group}"
        )
        now = _now()
        found: dict[str, tuple[str, float]] = {}
        for lease in leases:
            spec = lease.get("spec") or {}
            holder = spec.get("holderIdentity")
            if not holder:
                continue  # released
            found[str(holder)] = (
                str(lease["metadata"].get("resourceVersion", "")),
                float(spec.get("leaseDurationSeconds") or self.duration),
            )
        self._seen = shards.observe(self._seen, found, now)
        members = shards.live(self._seen, now) | {self.identity}
        joined = self.view.joined if self.view.joined is not None else sent
        self._set(View(self.identity, members, listed_at, sent + self.deadline, joined))
        if self.standing(shards.SINGLETONS) is Standing.MINE:
            await self._clean(leases, now)
        return True

    async def _clean(self, leases: list[dict[str, Any]], now: float) -> None:
        """Delete the Leases of replicas gone for long (Pods of a Deployment get new names at
        every restart, so theirs would pile up): a chore of the singletons' owner. Only the
        version seen expired is deleted, never one renewed meanwhile."""
        for lease in leases:
            holder = str((lease.get("spec") or {}).get("holderIdentity") or "")
            seen = self._seen.get(holder)
            if seen is None or holder == self.identity or now - seen.since < _GONE * seen.duration:
                continue
            meta = lease["metadata"]
            try:
                await self._kube.delete(
                    _LEASE,
                    "Lease",
                    meta["name"],
                    self.namespace,
                    resource_version=str(meta.get("resourceVersion", "")),
                )
                log.info("deleted the lease of a replica long gone", replica=holder)
            except GitmoorError as err:
                log.info("could not delete a stale replica lease", error=str(err))

    async def _renew(self) -> bool:
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.duration),
            "renewTime": _micro_now(),
        }
        meta: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "labels": {GROUP_LABEL: self.group},
        }
        lease = {"apiVersion": _LEASE, "kind": "Lease", "metadata": meta, "spec": spec}
        try:
            if self._resource_version is None:
                created = await self._kube.create(
                    {**lease, "spec": {**spec, "acquireTime": _micro_now()}}
                )
                self._resource_version = created["metadata"]["resourceVersion"]
                return True
            meta["resourceVersion"] = self._resource_version
            updated = await self._kube.replace(lease)
            self._resource_version = updated["metadata"]["resourceVersion"]
            return True
        except KubeApiError as err:
            if err.status == 409 and self._resource_version is None:
                # Our name from an earlier life: take it over (we are its only writer).
                current = await self._kube.get(_LEASE, "Lease", self.name, self.namespace)
                self._resource_version = (current or {}).get("metadata", {}).get("resourceVersion")
                return False
            if err.status in (404, 409):
                # Deleted (cleaned up as expired) or written by someone else: start over as
                # a new member, which waits its grace again.
                self._resource_version = None
                self._set(View(self.identity, frozenset(), 0.0, 0.0, None))
                return False
            raise

    def _set(self, view: View) -> None:
        changed = (view.members, view.joined is None) != (
            self.view.members,
            self.view.joined is None,
        )
        self.view = view
        if changed:
            self._notify()

    def _notify(self) -> None:
        if self.on_change is not None:
            self.on_change(self.view)
