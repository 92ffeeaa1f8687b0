"""Alembic migrations of the ledger schema, run by `gitmoor.ledger.migrate` when a ledger opens."""
