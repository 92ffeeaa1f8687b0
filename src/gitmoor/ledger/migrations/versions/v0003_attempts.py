"""A record counts the identical attempts it stands for: a Sync failing the same way at every
retry is one record with a count, not one record per retry.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Every record written before stands for one attempt.
    op.add_column(
        "ledger_records",
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"),
    )


def downgrade() -> None:
    with op.batch_alter_table("ledger_records") as batch:
        batch.drop_column("attempts")
