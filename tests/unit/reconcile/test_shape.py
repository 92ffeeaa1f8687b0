"""The shape the reconcile layer keeps: one Sync is read top to bottom in one short function."""

from __future__ import annotations

import inspect

from gitmoor.reconcile.sync import SyncReconciler

_LIMIT = 60  # lines: what fits on a screen, read without scrolling back


def test_the_reconcile_of_a_sync_reads_in_one_screen() -> None:
    lines = inspect.getsource(SyncReconciler.reconcile).splitlines()
    assert len(lines) <= _LIMIT, f"SyncReconciler.reconcile is {len(lines)} lines"
