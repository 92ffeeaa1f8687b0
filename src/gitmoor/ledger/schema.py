"""The ledger's tables (SQLAlchemy Core). Migrations in `migrations/versions` create them; a test
checks that the migrated database and these definitions agree.

`ledger_records` holds one row per attempt. Its `deployed_*` columns are derived from the final
state when it is written (see `Record.deployed_revision` / `deployed_at`): they make "what runs
now / then" an indexed lookup instead of a replay of history. `ledger_objects` holds the refs and
actions of an attempt's objects (never their content), `ledger_images` its container images.

`ledger_chain` is the audit chain, one per cluster: each entry seals a record's final state
(its content digest) or its pruning, linked to the entry before it by hash (see `seal`);
`ledger_chain_heads` holds each chain's last entry, and its row is the lock that orders the
appends of one cluster. Chain entries have no foreign key: they outlive the records retention
deletes, which is how verify tells a pruned record from a deleted one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

VERSION_TABLE = "ledger_schema_version"
# The newest migration in `migrations/versions` (a test checks it against Alembic's head): a
# ledger at this version is opened without loading Alembic at all.
HEAD = "0008"
# Any fixed 64-bit key for PostgreSQL's advisory lock around creating or migrating the schema:
# it only has to be the same for every gitmoor.
_SCHEMA_LOCK = 0x6769746D6F6F72


def lock_schema(connection: Connection) -> None:
    """Agents opening one shared PostgreSQL ledger at once create or migrate it one after the
    other (the lock ends with the transaction); SQLite's write lock (BEGIN IMMEDIATE) does the
    same for a file."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend.

    PostgreSQL stores `timestamptz`. SQLite has no time type: values are stored as naive UTC
    text of one fixed format, so comparing and sorting them in SQL is comparing instants.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"the ledger stores aware datetimes only, got {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite makes an INTEGER PRIMARY KEY the rowid (auto-incrementing); PostgreSQL gets a bigint.
_ID = BigInteger().with_variant(Integer(), "sqlite")

records = Table(
    "ledger_records",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("cluster", String, nullable=False),
    Column("environment", String, nullable=False),
    Column("sync_namespace", String, nullable=False),
    Column("sync_name", String, nullable=False),
    Column("source_url", Text, nullable=False),
    Column("revision", String, nullable=False),
    Column("commit_sha", String, nullable=False),
    Column("commit_author", Text, nullable=False),
    Column("commit_time", UTCDateTime(), nullable=True),
    Column("commit_message", Text, nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("result", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("applied_at", UTCDateTime(), nullable=True),
    Column("healthy_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("created", Integer, nullable=False),
    Column("configured", Integer, nullable=False),
    Column("deleted", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("rolled_back_to", String, nullable=True),
    Column("deployed_revision", String, nullable=True),
    Column("deployed_sha", String, nullable=True),
    Column("deployed_at", UTCDateTime(), nullable=True),
    Column("signer", String, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="1"),
    Column("content", String, nullable=True),
    # The position of the record's latest seal in its cluster's chain (`ledger_chain`); NULL
    # while it is in progress.
    Column("chain_seq", BigInteger, nullable=True),
    # Never reuse an id, even the highest one after it was pruned.
    sqlite_autoincrement=True,
)
Index(
    "ix_ledger_records_sync_started",
    records.c.cluster,
    records.c.sync_namespace,
    records.c.sync_name,
    records.c.started_at,
)
Index(
    "ix_ledger_records_sync_deployed",
    records.c.cluster,
    records.c.sync_namespace,
    records.c.sync_name,
    records.c.deployed_at,
)
Index("ix_ledger_records_cluster_result", records.c.cluster, records.c.result)
Index("ix_ledger_records_environment_started", records.c.environment, records.c.started_at)
Index("ix_ledger_records_started", records.c.started_at)
Index("ix_ledger_records_deployed_sha", records.c.deployed_sha)

objects = Table(
    "ledger_objects",
    metadata,
    Column(
        "record_id",
        _ID,
        ForeignKey("ledger_records.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("api_group", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("namespace", String, nullable=False),
    Column("name", String, nullable=False),
    Column("api_version", String, nullable=False),
    Column("action", String(16), nullable=False),
)

images = Table(
    "ledger_images",
    metadata,
    Column(
        "record_id",
        _ID,
        ForeignKey("ledger_records.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("image", String, primary_key=True),
)
Index("ix_ledger_images_image", images.c.image)

chain = Table(
    "ledger_chain",
    metadata,
    Column("cluster", String, primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("record_id", _ID, nullable=False),
    Column("event", String(8), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("prev", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
Index("ix_ledger_chain_record_id", chain.c.record_id)

chain_heads = Table(
    "ledger_chain_heads",
    metadata,
    Column("cluster", String, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("record_id", _ID, nullable=False),
    Column("hash", String(64), nullable=False),
)

# One row per image field an ImageUpdateAutomation's commit changed: the link from an image's
# push (`image_pushed_at`, its config's `created`) to the commit that wrote the new tag, which
# the records of the Syncs that applied that commit (`deployed_sha`) continue.
image_updates = Table(
    "ledger_image_updates",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("automation_namespace", String, nullable=False),
    Column("automation_name", String, nullable=False),
    Column("policy", String, nullable=False),
    Column("image", String, nullable=False),
    Column("old_tag", String, nullable=False),
    Column("new_tag", String, nullable=False),
    Column("digest", String, nullable=True),
    Column("image_pushed_at", UTCDateTime(), nullable=True),
    Column("source_url", Text, nullable=False),
    Column("branch", String, nullable=False),
    Column("commit_sha", String, nullable=False),
    Column("committed_at", UTCDateTime(), nullable=False),
    Column("file", Text, nullable=False),
    # The cluster whose agent wrote it, and the position of its seal in that cluster's chain;
    # both NULL in rows written before the chain covered image updates (0008).
    Column("cluster", String, nullable=True),
    Column("chain_seq", BigInteger, nullable=True),
    sqlite_autoincrement=True,
)
Index("ix_ledger_image_updates_commit_sha", image_updates.c.commit_sha)
Index("ix_ledger_image_updates_image", image_updates.c.image, image_updates.c.new_tag)
