"""The inventory in a Sync's status: listed while small, compressed when large, in chunks
beside the status when larger still (checked by digest when read back), and a status of any
size stays far below what the API server accepts in one write."""

from __future__ import annotations

import copy
import functools
import hashlib
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

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


# -- beyond the status: chunks -----------------------------------------------------------------

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "inventory.yaml").read_text())
KIB = 1024


@functools.cache
def named(n: int, names: str) -> tuple[InventoryEntry, ...]:
    if names == "plain":
        return tuple(entries(n))
    return tuple(
        InventoryEntry(f"apps_Deployment_team-{i % 50}_{_token(i)}", "v1") for i in range(n)
    )


def _token(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()[:24]


def _cases(table: str) -> list[Any]:
    return [pytest.param(c, id=c["case"]) for c in CASES[table]]


@pytest.mark.parametrize("case", _cases("split"))
def test_split(case: dict[str, Any]) -> None:
    many = named(case["objects"], case["names"])
    limits = {
        "inline_limit": case.get("inline_kib", inventory.INLINE_LIMIT // KIB) * KIB,
        "chunk_bytes": case.get("chunk_kib", inventory.CHUNK_BYTES // KIB) * KIB,
    }

    held = inventory.split(inventory.encode(many), owner="app", uid="uid-1", **limits)

    form = next(f for f in ("entries", "compressed", "chunks") if held.inventory.get(f))
    assert form == case["held"]
    assert len(held.chunks) == case.get("chunks", 0)
    assert len(orjson.dumps(held.inventory)) < case["status_kib"] * KIB
    assert inventory.count(held.inventory) == len(many)
    assert all(len(c.data) <= limits["chunk_bytes"] for c in held.chunks)
    found = {c.name: c.data for c in held.chunks}
    back = inventory.assemble(held.inventory, found) if held.chunks else None
    assert (back if held.chunks else inventory.decode(held.inventory)) == list(many)
    # The same inventory always makes the same status: an unchanged one writes nothing.
    again = inventory.split(inventory.encode(many), owner="app", uid="uid-1", **limits)
    assert again == held
    # An inventory already in chunks is left as it is.
    assert inventory.split(held.inventory, owner="app", uid="uid-1", **limits).chunks == ()


@pytest.mark.parametrize("case", _cases("assemble"))
def test_assemble(case: dict[str, Any]) -> None:
    many = named(2000, "random")
    held = inventory.split(
        inventory.encode(many), owner="app", uid="uid-1", inline_limit=8 * KIB, chunk_bytes=8 * KIB
    )
    status = copy.deepcopy(held.inventory)
    found: dict[str, bytes | None] = {c.name: c.data for c in held.chunks}
    names = [c.name for c in held.chunks]
    verb, *args = case["change"].split()
    if verb == "delete":
        found[names[int(args[0])]] = None
    elif verb == "edit":
        data = found[names[int(args[0])]] or b""
        found[names[int(args[0])]] = data[:100] + bytes([data[100] ^ 1]) + data[101:]
    elif verb == "empty":
        found[names[int(args[0])]] = b""
    elif verb == "swap":
        a, b = names[int(args[0])], names[int(args[1])]
        found[a], found[b] = found[b], found[a]
    elif (verb, args[:1]) == ("status", ["digest"]):
        status["digest"] = inventory.digest(b"something else")
    elif (verb, args[:1]) == ("status", ["count"]):
        status["count"] += 1
    elif (verb, args[:1]) == ("status", ["unnamed"]):
        status["chunks"][int(args[1])]["name"] = ""

    got = inventory.assemble(status, found)

    if "broken" not in case:
        assert got == list(many)
        return
    assert isinstance(got, inventory.Broken)
    at = case["broken"]["chunk"]
    assert got.chunk == (names[at] if at != "" else "")
    assert case["broken"]["why"] in str(got)


def test_chunk_names_are_valid_object_names_whatever_the_syncs_name() -> None:
    for owner in ("app", "a" * 253, "team.web-", "x-" * 40):
        held = inventory.split(
            inventory.encode(named(2000, "random")), owner=owner, uid="u", inline_limit=1
        )
        for chunk in held.chunks:
            assert len(chunk.name) <= 63
            assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", chunk.name), chunk.name
    # Another Sync's chunks (another uid) never share a name.
    mine = inventory.split(
        inventory.encode(named(2000, "random")), owner="a", uid="1", inline_limit=1
    )
    other = inventory.split(
        inventory.encode(named(2000, "random")), owner="a", uid="2", inline_limit=1
    )
    assert not {c.name for c in mine.chunks} & {c.name for c in other.chunks}


def test_an_inventory_in_chunks_is_never_read_as_empty_from_the_status_alone() -> None:
    held = inventory.split(
        inventory.encode(named(2000, "random")), owner="a", uid="1", inline_limit=1
    )
    with pytest.raises(ValueError, match="chunks"):
        inventory.decode(held.inventory)
    assert inventory.count(held.inventory) == 2000
    assert inventory.chunk_names(held.inventory) == [c.name for c in held.chunks]
