"""Alembic's entry point: migrate over the connection `gitmoor.ledger.migrate` hands in.

There is no alembic.ini and no offline (`--sql`) mode: the ledger migrates itself when opened.
"""

from __future__ import annotations

from alembic import context

from gitmoor.ledger.schema import VERSION_TABLE, metadata

if context.is_offline_mode():
    raise RuntimeError("the gitmoor ledger migrates online only, when a ledger is opened")

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    # SQLite alters tables by copying them; batch mode lets later migrations do that.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
