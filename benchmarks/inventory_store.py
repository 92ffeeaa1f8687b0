"""What a large inventory costs to write and read back, on the local control plane.

    .venv/bin/python -m benchmarks.inventory_store [--objects 50000 100000] [--repeat 3]
                                                  [--kubeconfig PATH]

For each size, entries with random names (24 hex characters: they do not compress, the worst
case) are written as the agent's publisher writes them (chunks beside the status, then the
status, then the old chunks swept) into a suspended Sync, and read back with their digests
checked. Prints how the inventory is held, the size of the Sync and of the largest chunk, and
the best write and read times. Without --kubeconfig a throwaway control plane is started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from gitmoor.commands.run import install_crds
from gitmoor.kube import Kube
from gitmoor.kube import inventory as stored
from gitmoor.model import InventoryEntry, inventory
from gitmoor.model.resources import API_VERSION
from gitmoor.reconcile import status
from gitmoor.reconcile.outcome import Outcome

NAMESPACE = "bench-inventory"


def entries(n: int, salt: int) -> tuple[InventoryEntry, ...]:
    return tuple(
        InventoryEntry(
            f"apps_Deployment_team_{hashlib.sha256(f'{salt}/{i}'.encode()).hexdigest()[:24]}",
            "v1",
        )
        for i in range(n)
    )


async def measure(kube: Kube, n: int, repeat: int) -> str:
    name = f"inventory-{n}"
    sync = await kube.apply(
        {
            "apiVersion": API_VERSION,
            "kind": "Sync",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"sourceRef": {"name": "none"}, "suspend": True},
        },
        field_manager="bench",
    )
    writes, reads = [], []
    for run in range(repeat):
        many = entries(n, run)  # another inventory each run: every write replaces chunks
        start = time.perf_counter()
        new = status.sync_status(
            sync.get("status") or {}, 1, Outcome("r", applied=True, inventory=many), wait=False
        )
        new = await stored.store(kube, sync, new)
        sync = await kube.patch_merge(
            API_VERSION, "Sync", name, NAMESPACE, {"status": new}, subresource="status"
        )
        await stored.sweep(kube, sync, inventory.chunk_names(new["inventory"]))
        writes.append(time.perf_counter() - start)
        start = time.perf_counter()
        back = await stored.load(kube, sync)
        reads.append(time.perf_counter() - start)
        assert back == list(many)
    held = sync["status"]["inventory"]
    form = next(f for f in ("entries", "compressed", "chunks") if held.get(f))
    names = inventory.chunk_names(held)
    chunks = [await kube.get("v1", "ConfigMap", c, NAMESPACE) for c in names]
    largest = max((len(orjson.dumps(c)) for c in chunks), default=0)
    await kube.delete(API_VERSION, "Sync", name, NAMESPACE)
    return (
        f"{n:,} random names: {form} ({len(names)} chunks), Sync {len(orjson.dumps(sync)):,} "
        f"bytes, largest chunk {largest:,} bytes; write {min(writes):.2f} s, "
        f"read {min(reads):.2f} s (best of {repeat})"
    )


async def run(kubeconfig: Path, sizes: list[int], repeat: int) -> None:
    async with await Kube.from_kubeconfig(str(kubeconfig)) as kube:
        await install_crds(kube)
        await kube.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
            field_manager="bench",
        )
        for n in sizes:
            print(await measure(kube, n, repeat))


@contextlib.contextmanager
def control_plane(given: Path | None) -> Iterator[Path]:
    if given is not None:
        yield given
        return
    from testenv.cluster import ControlPlane

    with tempfile.TemporaryDirectory() as tmp:
        plane = ControlPlane(Path(tmp), nodes=1)
        plane.start()
        try:
            yield plane.kubeconfig
        finally:
            plane.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, nargs="+", default=[50_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kubeconfig", type=Path)
    args = parser.parse_args()
    with control_plane(args.kubeconfig) as kubeconfig:
        asyncio.run(run(kubeconfig, args.objects, args.repeat))


if __name__ == "__main__":
    main()
