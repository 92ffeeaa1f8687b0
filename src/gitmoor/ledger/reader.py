"""What the ledger commands ask of a ledger, whoever answers: the database itself (`Ledger`), or
the agent's ledger API (`gitmoor.commands.agent_ledger.AgentLedger`)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from gitmoor.ledger.attribution import Origin
from gitmoor.ledger.deployments import Deployment
from gitmoor.ledger.dora import Dora
from gitmoor.ledger.trail import ImageTrail
from gitmoor.model.record import Record


class LedgerReader(Protocol):
    async def history(
        self,
        *,
        sync: str | None = None,
        namespace: str | None = None,
        environment: str | None = None,
        cluster: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        changed_only: bool = False,
    ) -> list[Record]: ...

    async def where(self, what: str) -> list[Deployment]: ...

    async def at(self, when: datetime, *, environment: str | None = None) -> list[Record]: ...

    async def running_at(
        self, when: datetime, *, environment: str | None = None
    ) -> list[tuple[Record, Origin]]: ...

    async def dora(
        self, *, environment: str | None = None, since: datetime | None = None
    ) -> Dora: ...

    async def image_trail(self, image: str) -> list[ImageTrail]: ...

    async def record(self, record_id: int, *, sync: str, namespace: str) -> Record | None:
        """Record `record_id` if it is one of Sync `namespace/sync`'s, else None."""
        ...
