"""What goes wrong with a ledger, typed so callers decide: retry (unavailable) or report.

`url` in every error is the ledger URL with any password masked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitmoor.errors import GitmoorError, PermanentError, TransientError

if TYPE_CHECKING:
    from gitmoor.ledger.chain import ChainBreak


class LedgerError(GitmoorError):
    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class LedgerUnavailableError(LedgerError, TransientError):
    """The database could not be reached or was busy: retry later."""

    def __init__(self, message: str, *, url: str) -> None:
        LedgerError.__init__(self, message, url=url)
        self.retry_after = None


class LedgerNotFoundError(LedgerError, PermanentError):
    """A SQLite ledger file that should exist does not (opened with `create=False`)."""


class LedgerConfigError(LedgerError, PermanentError):
    """The ledger URL names a database gitmoor cannot use."""


class LedgerSchemaError(LedgerError, PermanentError):
    """The database holds a schema this gitmoor does not know (written by a newer version)."""


class RecordNotFoundError(LedgerError, PermanentError):
    """`finish` named a record that is not in the ledger (pruned, or never begun)."""

    def __init__(self, message: str, *, url: str, record_id: int) -> None:
        super().__init__(message, url=url)
        self.record_id = record_id


class RecordFinishedError(LedgerError, PermanentError):
    """`finish` named a record that already has its final state."""

    def __init__(self, message: str, *, url: str, record_id: int) -> None:
        super().__init__(message, url=url)
        self.record_id = record_id


class ChainBrokenError(LedgerError, PermanentError):
    """`gitmoor ledger verify` found a chain whose records were edited, deleted or reordered
    outside gitmoor. `breaks` holds the first broken record of each broken chain (a
    `gitmoor.ledger.chain.ChainBreak`: cluster, record id, sync, revision, what is wrong)."""

    def __init__(self, message: str, *, url: str, breaks: tuple[ChainBreak, ...]) -> None:
        super().__init__(message, url=url)
        self.breaks = breaks
        self.record_id = breaks[0].record_id
        self.cluster = breaks[0].cluster
