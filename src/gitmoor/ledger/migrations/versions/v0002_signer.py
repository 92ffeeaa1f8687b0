"""Records name the key that signed the deployed revision (GitSource spec.verify).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Nullable, no default: records written before are simply of unverified revisions, and
    # adding such a column rewrites no rows on either backend.
    op.add_column("ledger_records", sa.Column("signer", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_records") as batch:
        batch.drop_column("signer")
