"""Image update commits: which policy moved which image to which tag, in which commit, and when
the image was pushed, so `where` and `dora` reach back from a deployment to the image push.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gitmoor.ledger.schema import UTCDateTime

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_image_updates",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("automation_namespace", sa.String(), nullable=False),
        sa.Column("automation_name", sa.String(), nullable=False),
        sa.Column("policy", sa.String(), nullable=False),
        sa.Column("image", sa.String(), nullable=False),
        sa.Column("old_tag", sa.String(), nullable=False),
        sa.Column("new_tag", sa.String(), nullable=False),
        sa.Column("digest", sa.String(), nullable=True),
        sa.Column("image_pushed_at", UTCDateTime(), nullable=True),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column("branch", sa.String(), nullable=False),
        sa.Column("commit_sha", sa.String(), nullable=False),
        sa.Column("committed_at", UTCDateTime(), nullable=False),
        sa.Column("file", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_image_updates"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_ledger_image_updates_commit_sha", "ledger_image_updates", ["commit_sha"])
    op.create_index("ix_ledger_image_updates_image", "ledger_image_updates", ["image", "new_tag"])


def downgrade() -> None:
    op.drop_index("ix_ledger_image_updates_image", "ledger_image_updates")
    op.drop_index("ix_ledger_image_updates_commit_sha", "ledger_image_updates")
    op.drop_table("ledger_image_updates")
