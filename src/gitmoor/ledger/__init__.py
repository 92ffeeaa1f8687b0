"""The deployment ledger: store and query Records (SQLite default, PostgreSQL shared).

ledger = await Ledger.open("sqlite:///var/lib/gitmoor/ledger.db", cluster="prod-eu")
record_id = await ledger.begin(record)          # in_progress
await ledger.finish(record_id, final_record)    # applied / failed / rolled_back
await ledger.where("nginx:1.27")                # where it runs now, and since when
ledger.raise_broken(await ledger.verify())      # the audit chain: ChainBrokenError if edited
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitmoor.lazy import exports
from gitmoor.model.defaults import IN_CLUSTER_URL

if TYPE_CHECKING:
    from gitmoor.ledger.chain import ChainBreak, ChainStatus, Problem
    from gitmoor.ledger.deployments import Deployment
    from gitmoor.ledger.dora import Dora
    from gitmoor.ledger.errors import (
        ChainBrokenError,
        LedgerConfigError,
        LedgerError,
        LedgerNotFoundError,
        LedgerSchemaError,
        LedgerUnavailableError,
        RecordFinishedError,
        RecordNotFoundError,
    )
    from gitmoor.ledger.store import Ledger
    from gitmoor.ledger.urls import ENV_VAR, local_default

# Loaded on first use (PEP 562): the CLI asks the agent's ledger API with the plain parts
# (records, deployments, DORA figures) and loads SQLAlchemy (the store, the chain, URLs) only
# when it opens a ledger database itself.
_HOMES = {
    "ChainBreak": "chain",
    "ChainStatus": "chain",
    "Problem": "chain",
    "Deployment": "deployments",
    "Dora": "dora",
    "ChainBrokenError": "errors",
    "LedgerConfigError": "errors",
    "LedgerError": "errors",
    "LedgerNotFoundError": "errors",
    "LedgerSchemaError": "errors",
    "LedgerUnavailableError": "errors",
    "RecordFinishedError": "errors",
    "RecordNotFoundError": "errors",
    "Ledger": "store",
    "ENV_VAR": "urls",
    "local_default": "urls",
}


__getattr__ = exports(__name__, _HOMES)


__all__ = [
    "ENV_VAR",
    "IN_CLUSTER_URL",
    "ChainBreak",
    "ChainBrokenError",
    "ChainStatus",
    "Deployment",
    "Dora",
    "Ledger",
    "LedgerConfigError",
    "LedgerError",
    "LedgerNotFoundError",
    "LedgerSchemaError",
    "LedgerUnavailableError",
    "Problem",
    "RecordFinishedError",
    "RecordNotFoundError",
    "local_default",
]
