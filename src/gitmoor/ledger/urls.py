"""Ledger URLs: what users write, and the SQLAlchemy URL with the driver gitmoor ships.

Users write `sqlite:///path/ledger.db` or `postgresql://user@host:port/db`; gitmoor speaks to
SQLite through the standard library's `sqlite3` and to PostgreSQL through psycopg 3. The async
driver spellings (`sqlite+aiosqlite`, `postgresql+psycopg_async`) are accepted and mapped too.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from gitmoor.ledger.errors import LedgerConfigError

ENV_VAR = "GITMOOR_LEDGER"

_DRIVERS = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite",
    "sqlite+aiosqlite": "sqlite",
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
    "postgresql+psycopg_async": "postgresql+psycopg",
}


def local_default() -> str:
    """Where a ledger lives for gitmoor run out of the cluster, and so where the CLI looks:
    `$GITMOOR_LEDGER`, else `$XDG_STATE_HOME/gitmoor/ledger.db` (~/.local/state/...)."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return configured
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return f"sqlite:///{Path(state) / 'gitmoor' / 'ledger.db'}"


def redacted(url: str) -> str:
    """The URL for messages: any password masked; unparsable text shown only by its scheme."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.partition("://")[0] + "://..."


def engine_url(url: str) -> URL:
    """The SQLAlchemy URL for a ledger URL; raises LedgerConfigError for anything else."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise LedgerConfigError(
            f"not a ledger URL: {redacted(url)!r}: expected sqlite:///PATH or "
            "postgresql://USER@HOST:PORT/DB",
            url=redacted(url),
        ) from None
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise LedgerConfigError(
            f"unsupported ledger database {parsed.drivername!r}: use sqlite:///PATH or "
            "postgresql://USER@HOST:PORT/DB",
            url=redacted(url),
        )
    parsed = parsed.set(drivername=driver)
    if driver == "sqlite" and parsed.database in (None, "", ":memory:"):
        # Each connection of the pool would see its own empty in-memory database.
        raise LedgerConfigError(
            "a SQLite ledger needs a file: sqlite:///PATH (relative) or sqlite:////PATH (absolute)",
            url=redacted(url),
        )
    return parsed


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL; None for other databases."""
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    return Path(url.database)
