"""Leader election with a coordination.k8s.io Lease: one active agent at a time.

The holder renews every `renew` seconds; others take over once `duration` seconds pass without a
renewal. Updates carry the resourceVersion they read, so two candidates cannot both win.

Leadership is fenced: the holder counts its lease from the moment it *sent* its last successful
renewal, and stops every write `duration - deadline` seconds before a rival could take over
(`check`, installed in the client, refuses a write outside that window). A paused process
(SIGSTOP, a long GC, a frozen VM) that wakes up past its lease writes nothing, whatever its
coroutines were in the middle of.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime

import structlog

from gitmoor.errors import GitmoorError, KubeApiError, KubeNotFoundError, NotLeaderError
from gitmoor.kube import Kube

log = structlog.get_logger("gitmoor.leader")
_LEASE = "coordination.k8s.io/v1"


def _now() -> float:
    # CLOCK_MONOTONIC runs on while the process is stopped: a paused leader sees the time it
    # lost as soon as it runs again.
    return time.monotonic()


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")


class LeaderElector:
    def __init__(
        self,
        kube: Kube,
        *,
        namespace: str,
        name: str,
        identity: str,
        duration: float = 15.0,
        renew: float = 2.0,
        deadline: float = 10.0,
    ) -> None:
        self._kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.duration = duration
        self.renew = renew
        # Writes stop this long after the last renewal was sent: well before `duration`.
        self.deadline = min(deadline, duration - renew)
        self.is_leader = False
        self._valid_until = 0.0  # monotonic; writes are allowed before it

    @property
    def holds(self) -> bool:
        """Leader, and surely so: the lease cannot have passed to anybody yet."""
        return self.is_leader and _now() < self._valid_until

    def check(self, method: str, path: str) -> None:
        """The write fence (installed in the client): refuse a write unless `holds`; the
        lease's own renewals always pass."""
        if path.startswith(f"/apis/{_LEASE}/namespaces/{self.namespace}/leases"):
            return
        if not self.holds:
            raise NotLeaderError(
                f"{method} refused: this agent's lease {self.namespace}/{self.name} is not "
                "surely held (lost, expired, or not renewed in time)"
            )

    async def try_acquire(self) -> bool:
        """One attempt to take or renew the lease."""
        sent = _now()
        if await self._try_acquire():
            self._valid_until = sent + self.deadline
            return True
        return False

    async def _try_acquire(self) -> bool:
        try:
            lease = await self._kube.get(_LEASE, "Lease", self.name, self.namespace)
        except KubeNotFoundError:
            lease = None
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.duration),
            "renewTime": _micro_now(),
        }
        try:
            if lease is None:
                await self._kube.create(
                    {
                        "apiVersion": _LEASE,
                        "kind": "Lease",
                        "metadata": {"name": self.name, "namespace": self.namespace},
                        "spec": {**spec, "acquireTime": _micro_now(), "leaseTransitions": 0},
                    }
                )
                return True
            current = lease.get("spec") or {}
            holder = current.get("holderIdentity")
            renewed = _parse(current.get("renewTime"))
            expired = renewed is None or (datetime.now(UTC) - renewed).total_seconds() > float(
                current.get("leaseDurationSeconds") or self.duration
            )
            if holder and holder != self.identity and not expired:
                return False
            if holder != self.identity:
                spec["acquireTime"] = _micro_now()
                spec["leaseTransitions"] = int(current.get("leaseTransitions") or 0) + 1
            else:
                spec["acquireTime"] = current.get("acquireTime") or _micro_now()
                spec["leaseTransitions"] = int(current.get("leaseTransitions") or 0)
            lease["spec"] = spec
            await self._kube.replace(lease)
            return True
        except KubeApiError as err:
            if err.status in (409, 422):
                return False  # someone else wrote the lease between our read and write
            raise

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until leader (True) or until `stop` is set (False)."""
        announced = False
        while not stop.is_set():
            try:
                if await self.try_acquire():
                    self.is_leader = True
                    log.info("became leader", lease=f"{self.namespace}/{self.name}")
                    return True
            except GitmoorError as err:
                log.warning("leader election failed", error=str(err))
            if not announced:
                log.info("waiting for leadership", lease=f"{self.namespace}/{self.name}")
                announced = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.renew)
        return False

    async def keep(self) -> None:
        """Renew until the lease is lost or could not be renewed before the fence closed; then
        return (leadership lost: stop everything, and try to acquire again)."""
        while True:
            wait = max(0.0, min(self.renew, self._valid_until - _now()))
            await asyncio.sleep(wait)
            try:
                if await self.try_acquire():
                    continue
                log.error("lost leadership to another agent")
                self.is_leader = False
                return
            except GitmoorError as err:
                log.warning("lease renewal failed", error=str(err))
            if not self.holds:
                log.error("could not renew the lease in time; writes stopped")
                self.is_leader = False
                return

    async def release(self) -> None:
        """Give the lease up so a successor need not wait for it to expire."""
        if not self.is_leader:
            return
        self.is_leader = False
        try:
            lease = await self._kube.get(_LEASE, "Lease", self.name, self.namespace)
            if lease and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = None
                lease["spec"]["renewTime"] = None
                await self._kube.replace(lease)
        except GitmoorError as err:
            log.warning("could not release the lease", error=str(err))
