"""Composes the stages per Sync: scheduling, rollback, status.

The only module that knows the order of the stages."""
