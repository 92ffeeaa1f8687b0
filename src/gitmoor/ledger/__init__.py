"""The deployment ledger: store and query Records (SQLite default, PostgreSQL shared)."""
