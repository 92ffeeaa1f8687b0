"""Image update rows join the audit chain: each is sealed into the chain of the cluster whose
agent wrote it (`cluster`, `chain_seq`; see `gitmoor.ledger.seal`).

Rows written before this revision stay outside the chain (both columns NULL): which cluster
wrote them is not known, so they cannot be placed in any cluster's chain, and verify does not
check them. Retention deletes them as before.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("ledger_image_updates", sa.Column("cluster", sa.String(), nullable=True))
    op.add_column("ledger_image_updates", sa.Column("chain_seq", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_image_updates") as table:
        table.drop_column("chain_seq")
        table.drop_column("cluster")
