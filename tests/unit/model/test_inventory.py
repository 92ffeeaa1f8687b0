"""The inventory in a Sync's status: listed while small, compressed when large, and a status
of 50,000 objects stays far below what the API server accepts in one write."""

from __future__ import annotations

import orjson

from gitmoor.model import InventoryEntry, inventory


def entries(n: int) -> list[InventoryEntry]:
    return [
        InventoryEntry(f"apps_Deployment_team-{i % 50}_service-{i:06d}", "v1") for i in range(n)
    ]


def test_a_small_inventory_is_listed_as_kubectl_shows_it() -> None:
    encoded = inventory.encode(entries(3))

    assert encoded == {
        "count": 3,
        "entries": [
            {"id": "apps_Deployment_team-0_service-000000", "v": "v1"},
            {"id": "apps_Deployment_team-1_service-000001", "v": "v1"},
            {"id": "apps_Deployment_team-2_service-000002", "v": "v1"},
        ],
    }
    assert inventory.decode(encoded) == entries(3)


def test_fifty_thousand_objects_fit_one_status_write() -> None:
    many = entries(50_000)

    encoded = inventory.encode(many)

    assert "entries" not in encoded
    assert encoded["count"] == 50_000
    # The API server refuses requests over 3 MiB, etcd objects over 1.5 MiB; the whole status
    # also holds conditions and history.
    assert len(orjson.dumps(encoded)) < 512 * 1024
    assert inventory.decode(encoded) == many
    assert inventory.count(encoded) == 50_000


def test_an_inventory_written_before_compression_existed_still_reads() -> None:
    old = {"entries": [{"id": "_ConfigMap_web_settings", "v": "v1"}]}

    assert inventory.decode(old) == [InventoryEntry("_ConfigMap_web_settings", "v1")]
    assert inventory.count(old) == 1
    assert inventory.decode(None) == []
