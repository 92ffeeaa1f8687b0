"""A Sync's inventory too large for its status is kept in chunks beside it: written before the
status names them and read back whole or not at all, on the real API server (its request and
ConfigMap limits, immutability, the garbage collector)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson
import pytest

from gitmoor.commands.preview import sync_target
from gitmoor.commands.trace import parse_target, trace
from gitmoor.commands.tree import read_tree
from gitmoor.errors import InventoryUnreadableError
from gitmoor.kube import Kube
from gitmoor.kube import inventory as stored
from gitmoor.model import InventoryEntry, inventory
from gitmoor.model.labels import INVENTORY_OF, SYNC_NAME, SYNC_NAMESPACE
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile import status
from gitmoor.reconcile.outcome import Outcome
from testenv.gitserver import GitServers
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import configmap

pytestmark = [pytest.mark.cluster]
API = "gitmoor.io/v1alpha1"
REVISION = "main@sha1:" + "a" * 40
ETCD_LIMIT = int(1.5 * 1024 * 1024)


def random_names(n: int, namespace: str, salt: str = "") -> tuple[InventoryEntry, ...]:
    """Names that do not compress: the audit's worst case (2.08 MB gzipped at 100,000)."""
    return tuple(
        InventoryEntry(
            f"apps_Deployment_{namespace}_{hashlib.sha256(f'{salt}{i}'.encode()).hexdigest()[:24]}",
            "v1",
        )
        for i in range(n)
    )


async def suspended_sync(kube: Kube, namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return await kube.apply(
        {
            "apiVersion": API,
            "kind": "Sync",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"sourceRef": {"name": "repo"}, "interval": "30s", "suspend": True, **spec},
        },
        field_manager="gitmoor-tests",
    )


async def write(kube: Kube, sync: dict[str, Any], entries: tuple[InventoryEntry, ...]) -> None:
    """What the agent's publisher does: chunks, then the status naming them, then the sweep."""
    before = (sync.get("status") or {}).get("inventory")
    new = status.sync_status(
        sync.get("status") or {}, 1, Outcome(REVISION, applied=True, inventory=entries), wait=False
    )
    new = await stored.store(kube, sync, new)
    meta = sync["metadata"]
    await kube.patch_merge(
        API, "Sync", meta["name"], meta["namespace"], {"status": new}, subresource="status"
    )
    if before != new["inventory"]:
        await stored.sweep(kube, sync, inventory.chunk_names(new["inventory"]))


async def chunks_of(kube: Kube, sync: dict[str, Any]) -> list[dict[str, Any]]:
    meta = sync["metadata"]
    return await kube.list(
        "v1", "ConfigMap", meta["namespace"], label_selector=f"{INVENTORY_OF}={meta['uid']}"
    )


async def test_a_hundred_thousand_random_names_are_stored_read_back_and_replaced(
    kube: Kube, namespace: str, crds: None
) -> None:
    sync = await suspended_sync(kube, namespace, "huge")
    many = random_names(100_000, namespace)

    await write(kube, sync, many)

    got = await kube.get(API, "Sync", "huge", namespace)
    assert got is not None
    held = got["status"]["inventory"]
    assert held["count"] == 100_000
    assert len(held["chunks"]) == 4
    # The whole Sync stays far inside etcd's limit; so does every chunk.
    assert len(orjson.dumps(got)) < 16 * 1024
    chunks = await chunks_of(kube, got)
    assert sorted(c["metadata"]["name"] for c in chunks) == sorted(inventory.chunk_names(held))
    for chunk in chunks:
        assert len(orjson.dumps(chunk)) < ETCD_LIMIT // 2
        assert chunk["immutable"] is True
        (owner,) = chunk["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == (
            "Sync",
            "huge",
            sync["metadata"]["uid"],
        )
    assert await stored.load(kube, got) == list(many)

    # A new inventory: new chunks first, then the status, then the old ones are gone.
    fewer = many[:-1]
    await write(kube, got, fewer)
    again = await kube.get(API, "Sync", "huge", namespace)
    assert again is not None
    assert await stored.load(kube, again) == list(fewer)
    names = {c["metadata"]["name"] for c in await chunks_of(kube, again)}
    assert names == set(inventory.chunk_names(again["status"]["inventory"]))
    # A reader holding the Sync as it was before finds the chunks gone and reads it afresh.
    assert await stored.load(kube, got) == list(fewer)

    # Deleting the Sync takes its chunks with it (the garbage collector, by ownerReferences).
    assert await kube.delete(API, "Sync", "huge", namespace)
    await eventually(
        lambda: chunks_of(kube, again), lambda left: not left, within=120, what="chunks collected"
    )


async def test_a_chunk_a_tenant_replaced_or_deleted_is_never_read_as_the_inventory(
    kube: Kube, namespace: str, crds: None
) -> None:
    sync = await suspended_sync(kube, namespace, "edited")
    await write(kube, sync, random_names(60_000, namespace))
    got = await kube.get(API, "Sync", "edited", namespace)
    assert got is not None
    first, second, *_ = inventory.chunk_names(got["status"]["inventory"])

    # Immutable: changing a chunk takes deleting it and creating another under its name.
    cm = await kube.get("v1", "ConfigMap", first, namespace)
    assert cm is not None
    assert await kube.delete("v1", "ConfigMap", first, namespace)
    data = bytearray(base64.b64decode(cm["binaryData"][stored.KEY]))
    data[200] ^= 1
    cm["binaryData"][stored.KEY] = base64.b64encode(bytes(data)).decode()
    del cm["metadata"]["resourceVersion"], cm["metadata"]["uid"]
    await kube.create(cm)
    with pytest.raises(InventoryUnreadableError, match=f"chunk {first} was changed"):
        await stored.load(kube, got)

    assert await kube.delete("v1", "ConfigMap", second, namespace)
    with pytest.raises(InventoryUnreadableError) as raised:
        await stored.load(kube, got)
    assert raised.value.chunk == first  # the first fault found, in order


@pytest.mark.gitserver
async def test_a_sync_whose_inventory_chunks_were_lost_prunes_nothing_and_says_why(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    tree.commit("v1", {"a.yaml": configmap("a", ns)})
    tree.push()
    await harness.source("repo", repo.file_url)
    sync = await harness.sync("app", "repo", suspend=True, deletionPolicy="Delete")
    # What it applied before, listed in an inventory kept in chunks: an object it would prune.
    labels = {SYNC_NAME: "app", SYNC_NAMESPACE: ns}
    await harness.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "old", "namespace": ns, "labels": labels},
        },
        field_manager="gitmoor",
    )
    old = InventoryEntry(f"_ConfigMap_{ns}_old", "v1")
    await write(harness.kube, sync, (old, *random_names(60_000, ns)))
    seeded = await harness.get("Sync", "app")
    assert seeded is not None
    lost = inventory.chunk_names(seeded["status"]["inventory"])[0]
    assert await harness.kube.delete("v1", "ConfigMap", lost, ns)

    await harness.kube.patch_merge(API, "Sync", "app", ns, {"spec": {"suspend": False}})
    failed = await harness.wait_condition(
        "Sync", "app", cond.READY, "False", reason="InventoryUnreadable"
    )

    message = str((cond.get_condition(failed, cond.READY) or {}).get("message"))
    assert f"chunk {lost} is missing" in message, message
    assert cond.is_true(failed, cond.STALLED)
    # Read before anything was rendered: nothing applied, nothing pruned.
    assert await harness.kube.get("v1", "ConfigMap", "old", ns) is not None
    assert await harness.kube.get("v1", "ConfigMap", "a", ns) is None

    # Deleted with deletionPolicy Delete: held, never pruned from a partial inventory.
    assert await harness.kube.delete(API, "Sync", "app", ns)
    await eventually(
        lambda: harness.events("Sync", "app"),
        lambda events: any(
            e["reason"] == "InventoryUnreadable" and "deletion held" in e["message"] for e in events
        ),
        within=60,
        what="the deletion to be held",
    )
    assert await harness.get("Sync", "app") is not None
    assert await harness.kube.get("v1", "ConfigMap", "old", ns) is not None

    # Orphan lets it go, leaving what it applied.
    await harness.kube.patch_merge(API, "Sync", "app", ns, {"spec": {"deletionPolicy": "Orphan"}})
    await eventually(
        lambda: harness.get("Sync", "app"), lambda o: o is None, within=60, what="Sync deleted"
    )
    assert await harness.kube.get("v1", "ConfigMap", "old", ns) is not None


@pytest.mark.gitserver
async def test_the_agent_applies_prunes_and_deletes_from_an_inventory_in_chunks(
    harness: AgentHarness,
    git_servers: GitServers,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Limits lowered so a few objects take the path of 50,000 (the agent runs in this process).
    monkeypatch.setattr(inventory, "INLINE_LIMIT", 64)
    monkeypatch.setattr(inventory, "CHUNK_BYTES", 64)
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    files = {f"{n}.yaml": configmap(n, ns) for n in ("a", "b", "c")}
    sha = tree.commit("v1", files)
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", deletionPolicy="Delete")
    first = await harness.wait_applied("app", sha)

    held = first["status"]["inventory"]
    assert held["count"] == 3
    assert len(held["chunks"]) >= 2
    assert "entries" not in held
    assert "compressed" not in held
    # Every reader reads it whole: diff's target, tree, trace.
    target = await sync_target(harness.kube, "app", ns)
    assert {e.ref.name for e in target.inventory} == {"a", "b", "c"}
    root = await read_tree(harness.kube, "app", ns)
    assert {n.ref.name for n in root.children} == {"a", "b", "c"}
    traced = await trace(
        harness.kube, parse_target("configmap/b"), ns, ledger_url=str(harness.ledger_url)
    )
    assert traced.sync is not None
    assert traced.sync["inInventory"] is True

    # A revision without c prunes it: the previous inventory came from the chunks.
    sha = tree.commit("drop c", remove=["c.yaml"])
    tree.push()
    second = await harness.wait_applied("app", sha)
    assert await harness.kube.get("v1", "ConfigMap", "c", ns) is None
    assert second["status"]["inventory"]["count"] == 2
    # The old chunks go once the status naming the new ones is written (just after it).
    wanted = set(inventory.chunk_names(second["status"]["inventory"]))
    await eventually(
        lambda: chunks_of(harness.kube, second),
        lambda found: {c["metadata"]["name"] for c in found} == wanted,
        within=30,
        what="the old chunks swept",
    )

    # Deleted with deletionPolicy Delete: pruned from the chunks.
    assert await harness.kube.delete(API, "Sync", "app", ns)
    await eventually(
        lambda: harness.get("Sync", "app"), lambda o: o is None, within=60, what="Sync deleted"
    )
    for name in ("a", "b"):
        assert await harness.kube.get("v1", "ConfigMap", name, ns) is None, name
