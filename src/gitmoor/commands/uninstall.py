"""`gitmoor uninstall`: remove the agent and its CRDs, and leave every application running.

Deleting gitmoor's CRDs deletes every GitSource and Sync with them. A Sync's finalizer would
prune what it applied, so the order matters: the CRDs are deleted first (a running agent that
sees its CRD going away releases each Sync without pruning), then the finalizers are released
here too (the agent may not be running at all), then the agent's own objects go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitmoor import install
from gitmoor.errors import GitmoorError, KubeApiError, KubeNotFoundError, UnknownKindError
from gitmoor.kube import Kube
from gitmoor.model import inventory
from gitmoor.model.api import API_VERSION
from gitmoor.model.labels import FINALIZER

_CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
# What stays on purpose: the namespace may hold the GitSources' Secrets and more, the claim the
# ledger's history.
_KEPT_KINDS = {"Namespace", "PersistentVolumeClaim"}


@dataclass(frozen=True)
class Left:
    """A Sync that is gone, and how many objects it applied that are still running."""

    namespace: str
    name: str
    objects: int


@dataclass(frozen=True)
class Uninstalled:
    left: tuple[Left, ...]
    removed: tuple[str, ...]  # subjects of the agent's own objects deleted
    kept: tuple[str, ...]  # subjects of the agent's objects left on purpose


async def uninstall(
    kube: Kube,
    *,
    namespace: str = install.DEFAULT_NAMESPACE,
    timeout: float = 120.0,
    progress: Callable[[str], None] = lambda _: None,
) -> Uninstalled:
    syncs = await _syncs(kube)
    left = tuple(
        Left(
            s["metadata"]["namespace"],
            s["metadata"]["name"],
            inventory.count((s.get("status") or {}).get("inventory")),
        )
        for s in syncs
    )
    objects = install.manifests(namespace=namespace)
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    for crd in crds:
        await kube.delete(_CRD[0], _CRD[1], crd["metadata"]["name"])
        progress(f"deleting CustomResourceDefinition {crd['metadata']['name']}")
    for kind in ("Sync", "GitSource"):
        await _release(kube, kind, progress)
    await _gone(kube, [c["metadata"]["name"] for c in crds], timeout)
    removed: list[str] = []
    kept: list[str] = []
    for obj in reversed(objects):
        meta = obj["metadata"]
        subject = f"{obj['kind']}/{meta.get('namespace', '')}/{meta['name']}".replace("//", "/")
        if obj["kind"] == "CustomResourceDefinition":
            removed.append(subject)
            continue
        if obj["kind"] in _KEPT_KINDS:
            kept.append(subject)
            continue
        if await kube.delete(
            obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace", "")
        ):
            removed.append(subject)
            progress(f"deleted {subject}")
    return Uninstalled(left, tuple(removed), tuple(kept))


async def _syncs(kube: Kube) -> list[dict[str, Any]]:
    try:
        return list(await kube.list(API_VERSION, "Sync", ""))
    except (UnknownKindError, KubeNotFoundError):
        return []


async def _release(kube: Kube, kind: str, progress: Callable[[str], None]) -> None:
    """Take gitmoor's finalizer off every object of `kind`: nothing is pruned on their way out."""
    try:
        items = await kube.list(API_VERSION, kind, "")
    except (UnknownKindError, KubeNotFoundError):
        return  # already gone with its CRD
    for item in items:
        meta = item["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if FINALIZER not in finalizers:
            continue
        patch = {"metadata": {"finalizers": [f for f in finalizers if f != FINALIZER]}}
        try:
            await kube.patch_merge(API_VERSION, kind, meta["name"], meta["namespace"], patch)
        except KubeApiError as err:
            if err.status != 404:
                raise
        progress(f"released {kind} {meta['namespace']}/{meta['name']} without pruning")


async def _gone(kube: Kube, names: list[str], timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = list(names)
    while pending:
        pending = [n for n in pending if await kube.get(_CRD[0], _CRD[1], n) is not None]
        if not pending:
            return
        if loop.time() > deadline:
            raise GitmoorError(
                f"CustomResourceDefinitions still terminating after {timeout:.0f}s: "
                f"{', '.join(pending)} (`kubectl get crd {pending[0]} -o yaml` tells why)"
            )
        await asyncio.sleep(0.5)
