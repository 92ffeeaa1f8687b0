"""The store's decisions that need no API server: what stays inline is written with the status
alone, and no status is sent over the size the API server and etcd accept."""

from __future__ import annotations

from typing import Any, cast

import pytest

from gitmoor.errors import StatusTooLargeError
from gitmoor.kube import Kube
from gitmoor.kube import inventory as stored
from gitmoor.model import InventoryEntry, inventory

SYNC: dict[str, Any] = {"metadata": {"name": "app", "namespace": "web", "uid": "u-1"}}
# Any call on it fails the test: these cases must not reach the API server.
NO_SERVER = cast(Kube, object())


async def test_a_small_inventory_is_written_with_the_status_alone() -> None:
    status = {"inventory": inventory.encode([InventoryEntry("_ConfigMap_web_a", "v1")])}

    assert await stored.store(NO_SERVER, SYNC, status) == status
    assert await stored.load(NO_SERVER, {**SYNC, "status": status}) == [
        InventoryEntry("_ConfigMap_web_a", "v1")
    ]


async def test_a_status_over_the_limit_is_refused_before_it_is_sent() -> None:
    status = {"conditions": [{"type": "Ready", "message": "x" * stored.STATUS_LIMIT}]}

    with pytest.raises(StatusTooLargeError, match="web/app"):
        await stored.store(NO_SERVER, SYNC, status)


async def test_an_inventory_already_in_chunks_is_not_written_again() -> None:
    held = inventory.split(
        inventory.encode([InventoryEntry(f"_ConfigMap_web_{i}", "v1") for i in range(50)]),
        owner="app",
        uid="u-1",
        inline_limit=1,
    ).inventory
    status = {"inventory": held}

    assert await stored.store(NO_SERVER, {**SYNC, "status": status}, status) == status
