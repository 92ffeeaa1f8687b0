"""The audit chain: records are sealed into one hash chain per cluster (`gitmoor.ledger.chain`),
so an edited or deleted row is detectable.

Every finished record already in the ledger is sealed here, per cluster in the order of its
id (the order the attempts began: the closest to their finish order the old schema knows), so
an upgraded ledger verifies. Records still in progress are sealed when they are finished.

The tables are spelled out as they stand at this revision (not imported from `schema`, which
moves on with later migrations); the hashing is `gitmoor.ledger.seal`, whose format is fixed.
A column that a migration before this one adds to `ledger_records` must be sealed too: list it
in `seal.LATER_COLUMNS` and in `_records` below, with its type, so these digests match the
ones verify computes.

Revision ID: 0006
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from gitmoor.ledger import seal
from gitmoor.ledger.schema import UTCDateTime

revision = "0006"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIMES = {"commit_time", "started_at", "applied_at", "healthy_at", "finished_at", "deployed_at"}
_INTEGERS = {"created", "configured", "deleted", "unchanged", "attempts"}
_PAGE = 500

_records = sa.table(
    "ledger_records",
    sa.column("id", _ID),
    sa.column("chain_seq", sa.BigInteger()),
    *(
        sa.column(
            name,
            UTCDateTime() if name in _TIMES else sa.Integer() if name in _INTEGERS else sa.String(),
        )
        for name in seal.COLUMNS
    ),
)
_objects = sa.table(
    "ledger_objects",
    sa.column("record_id", _ID),
    sa.column("position", sa.Integer()),
    sa.column("api_group", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("namespace", sa.String()),
    sa.column("name", sa.String()),
    sa.column("api_version", sa.String()),
    sa.column("action", sa.String()),
)
_images = sa.table("ledger_images", sa.column("record_id", _ID), sa.column("image", sa.String()))


def upgrade() -> None:
    op.add_column("ledger_records", sa.Column("chain_seq", sa.BigInteger(), nullable=True))
    chain = op.create_table(
        "ledger_chain",
        sa.Column("cluster", sa.String(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("record_id", _ID, nullable=False),
        sa.Column("event", sa.String(8), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("prev", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("cluster", "seq", name="pk_ledger_chain"),
    )
    op.create_index("ix_ledger_chain_record_id", "ledger_chain", ["record_id"])
    heads = op.create_table(
        "ledger_chain_heads",
        sa.Column("cluster", sa.String(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("record_id", _ID, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("cluster", name="pk_ledger_chain_heads"),
    )
    assert chain is not None
    assert heads is not None
    _seal_existing(op.get_bind(), chain, heads)


def _seal_existing(connection: sa.Connection, chain: sa.Table, heads: sa.Table) -> None:
    clusters = sorted(
        connection.execute(
            sa.select(_records.c.cluster).where(_records.c.result != "in_progress").distinct()
        ).scalars()
    )
    for cluster in clusters:
        seq, prev, last = 0, seal.GENESIS, 0
        after = 0
        while True:
            page = (
                connection.execute(
                    sa.select(_records)
                    .where(
                        _records.c.cluster == cluster,
                        _records.c.result != "in_progress",
                        _records.c.id > after,
                    )
                    .order_by(_records.c.id)
                    .limit(_PAGE)
                )
                .mappings()
                .all()
            )
            if not page:
                break
            digests = _digests(connection, page)
            entries = []
            pointers = []
            for row in page:
                seq += 1
                record_id = int(row["id"])
                digest = digests[record_id]
                link = seal.link(
                    cluster=cluster,
                    seq=seq,
                    event=seal.Event.SEAL,
                    record=record_id,
                    digest=digest,
                    prev=prev,
                )
                entries.append(
                    {
                        "cluster": cluster,
                        "seq": seq,
                        "record_id": record_id,
                        "event": seal.Event.SEAL.value,
                        "digest": digest,
                        "prev": prev,
                        "hash": link,
                    }
                )
                pointers.append({"rid": record_id, "seq": seq})
                prev, last = link, record_id
            connection.execute(chain.insert(), entries)
            connection.execute(
                _records.update()
                .where(_records.c.id == sa.bindparam("rid"))
                .values(chain_seq=sa.bindparam("seq")),
                pointers,
            )
            after = last
        connection.execute(
            heads.insert().values(cluster=cluster, seq=seq, record_id=last, hash=prev)
        )


def _digests(connection: sa.Connection, page: Sequence[Mapping[Any, Any]]) -> dict[int, str]:
    ids = [int(row["id"]) for row in page]
    objects: dict[int, list[Mapping[Any, Any]]] = {i: [] for i in ids}
    images: dict[int, list[str]] = {i: [] for i in ids}
    for row in connection.execute(
        sa.select(_objects)
        .where(_objects.c.record_id.in_(ids))
        .order_by(_objects.c.record_id, _objects.c.position)
    ).mappings():
        objects[int(row["record_id"])].append(row)
    for image in connection.execute(
        sa.select(_images.c.record_id, _images.c.image).where(_images.c.record_id.in_(ids))
    ):
        images[int(image.record_id)].append(str(image.image))
    return {i: seal.digest(row, objects[i], images[i]) for i, row in zip(ids, page, strict=True)}


def downgrade() -> None:
    op.drop_table("ledger_chain_heads")
    op.drop_index("ix_ledger_chain_record_id", table_name="ledger_chain")
    op.drop_table("ledger_chain")
    with op.batch_alter_table("ledger_records") as batch:
        batch.drop_column("chain_seq")
