"""The deployment ledger: store and query Records (SQLite default, PostgreSQL shared).

ledger = await Ledger.open("sqlite:///var/lib/gitmoor/ledger.db", cluster="prod-eu")
record_id = await ledger.begin(record)          # in_progress
await ledger.finish(record_id, final_record)    # applied / failed / rolled_back
await ledger.where("nginx:1.27")                # where it runs now, and since when
ledger.raise_broken(await ledger.verify())      # the audit chain: ChainBrokenError if edited
"""

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
from gitmoor.model.defaults import IN_CLUSTER_URL

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
