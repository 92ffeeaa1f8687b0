"""Bring a ledger database to the schema this gitmoor ships, with Alembic, when it is opened.

Runs inside the caller's transaction. On PostgreSQL a transaction-scoped advisory lock makes
agents that open one shared ledger at the same moment migrate one after the other (the second
finds the schema current); PostgreSQL's DDL is transactional, so a failed migration leaves
nothing behind. SQLite's write lock (BEGIN IMMEDIATE) does the same for a file.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection

from gitmoor.ledger.schema import VERSION_TABLE, lock_schema

MIGRATIONS = Path(__file__).parent / "migrations"


class UnknownSchemaError(Exception):
    """The database's schema version is not one of ours: a newer gitmoor wrote it."""

    def __init__(self, version: str) -> None:
        super().__init__(version)
        self.version = version


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest schema version this gitmoor knows."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(connection: Connection) -> str | None:
    """The schema version of the database; None when it has no ledger yet."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(connection: Connection) -> None:
    """Migrate to `head()`; a no-op when the database is there already."""
    lock_schema(connection)
    config = _config(connection)
    version = current(connection)
    if version is not None:
        try:
            ScriptDirectory.from_config(config).get_revision(version)
        except CommandError:
            raise UnknownSchemaError(version) from None
    command.upgrade(config, "head")
