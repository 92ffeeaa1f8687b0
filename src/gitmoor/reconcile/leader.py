"""Leader election with a coordination.k8s.io Lease: one active agent at a time.

The holder renews every `renew` seconds; others take over once `duration` seconds pass without a
renewal. Updates carry the resourceVersion they read, so two candidates cannot both win.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import structlog

from gitmoor.errors import GitmoorError, KubeApiError, KubeNotFoundError
from gitmoor.kube import Kube

log = structlog.get_logger("gitmoor.leader")
_LEASE = "coordination.k8s.io/v1"


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
        renew: float = 5.0,
    ) -> None:
        self._kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.duration = duration
        self.renew = renew
        self.is_leader = False

    async def try_acquire(self) -> bool:
        """One attempt to take or renew the lease."""
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
        """Renew until renewals fail for a whole lease duration; then return (leadership lost)."""
        loop = asyncio.get_running_loop()
        last_ok = loop.time()
        while True:
            await asyncio.sleep(self.renew)
            try:
                if await self.try_acquire():
                    last_ok = loop.time()
                    continue
                log.error("lost leadership to another agent")
                self.is_leader = False
                return
            except GitmoorError as err:
                log.warning("lease renewal failed", error=str(err))
            if loop.time() - last_ok > self.duration - self.renew:
                log.error("could not renew the lease in time; stepping down")
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
