"""The initial ledger schema: records, their objects and their images.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "ledger_records",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("cluster", sa.String(), nullable=False),
        sa.Column("environment", sa.String(), nullable=False),
        sa.Column("sync_namespace", sa.String(), nullable=False),
        sa.Column("sync_name", sa.String(), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column("revision", sa.String(), nullable=False),
        sa.Column("commit_sha", sa.String(), nullable=False),
        sa.Column("commit_author", sa.Text(), nullable=False),
        _time("commit_time"),
        sa.Column("commit_message", sa.Text(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        _time("started_at", nullable=False),
        _time("applied_at"),
        _time("healthy_at"),
        _time("finished_at"),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("configured", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("rolled_back_to", sa.String(), nullable=True),
        sa.Column("deployed_revision", sa.String(), nullable=True),
        sa.Column("deployed_sha", sa.String(), nullable=True),
        _time("deployed_at"),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_records"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_ledger_records_sync_started",
        "ledger_records",
        ["cluster", "sync_namespace", "sync_name", "started_at"],
    )
    op.create_index(
        "ix_ledger_records_sync_deployed",
        "ledger_records",
        ["cluster", "sync_namespace", "sync_name", "deployed_at"],
    )
    op.create_index("ix_ledger_records_cluster_result", "ledger_records", ["cluster", "result"])
    op.create_index(
        "ix_ledger_records_environment_started", "ledger_records", ["environment", "started_at"]
    )
    op.create_index("ix_ledger_records_started", "ledger_records", ["started_at"])
    op.create_index("ix_ledger_records_deployed_sha", "ledger_records", ["deployed_sha"])

    op.create_table(
        "ledger_objects",
        sa.Column("record_id", _ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("api_group", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("namespace", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("api_version", sa.String(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("record_id", "position", name="pk_ledger_objects"),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["ledger_records.id"],
            name="fk_ledger_objects_record_id_ledger_records",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "ledger_images",
        sa.Column("record_id", _ID, nullable=False),
        sa.Column("image", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("record_id", "image", name="pk_ledger_images"),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["ledger_records.id"],
            name="fk_ledger_images_record_id_ledger_records",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_ledger_images_image", "ledger_images", ["image"])


def downgrade() -> None:
    op.drop_table("ledger_images")
    op.drop_table("ledger_objects")
    op.drop_table("ledger_records")
