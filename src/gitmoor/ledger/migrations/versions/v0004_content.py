"""A record names the content its Sync deployed (the digest of the objects as sent), so
revisions that changed nothing of a Sync are told apart from its own changes.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Nullable: records written before did not know it.
    op.add_column("ledger_records", sa.Column("content", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_records") as batch:
        batch.drop_column("content")
