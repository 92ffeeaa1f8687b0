"""A Sync deleted with deletionPolicy Delete whose inventory cannot be read whole is held: the
report says why and what to do, prunes nothing and tries again at the interval."""

from __future__ import annotations

from gitmoor.errors import InventoryUnreadableError
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile import report


def test_a_deletion_with_an_unreadable_inventory_is_held_and_said() -> None:
    obj = {
        "metadata": {"name": "app", "namespace": "web", "generation": 3},
        "status": {"inventory": {"count": 9, "digest": "sha256:x", "chunks": []}},
    }
    ctx = report.Context(obj=obj, interval=300.0, retry_interval=60.0, wait=True)
    error = InventoryUnreadableError("web", "app", chunk="app-inventory-1", why="was changed")

    held = report.deletion_unreadable(ctx, error)

    assert held.status is not None
    ready = cond.get_condition({"status": held.status}, cond.READY) or {}
    assert (ready["status"], ready["reason"]) == ("False", "InventoryUnreadable")
    assert "deletion held" in ready["message"]
    assert "deletionPolicy: Orphan" in ready["message"]
    assert held.status["inventory"] == obj["status"]["inventory"]  # kept as it was
    assert [(e.type, e.reason) for e in held.events] == [("Warning", "InventoryUnreadable")]
    assert held.retry is not None
    assert held.retry.delay == 300.0
    assert held.finish is None
