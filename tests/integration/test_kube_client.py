"""The Kubernetes client as the API server sees it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gitmoor.errors import NotLeaderError
from gitmoor.kube import Kube
from testenv.wait import eventually

pytestmark = [pytest.mark.cluster]


def _configmap(name: str, namespace: str, **data: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


async def test_writes_are_recorded_under_gitmoors_name(kube: Kube, namespace: str) -> None:
    # Server-side apply names its field manager; other writes (status, finalizers, annotations)
    # are recorded under the client's User-Agent, which must say gitmoor too.
    await kube.apply(_configmap("settings", namespace, mode="blue"))
    patched = await kube.patch_merge(
        "v1", "ConfigMap", "settings", namespace, {"metadata": {"annotations": {"a": "b"}}}
    )
    managers = {(m["manager"], m["operation"]) for m in patched["metadata"]["managedFields"]}
    assert managers == {("gitmoor", "Apply"), ("gitmoor", "Update")}


async def test_many_requests_at_once_all_complete(kube: Kube, namespace: str) -> None:
    # More than the client lets through at once: the rest wait for a connection, none fails.
    names = [f"cm-{i:03}" for i in range(120)]
    applies = asyncio.gather(*(kube.apply(_configmap(n, namespace, v="1")) for n in names))
    await asyncio.wait_for(applies, timeout=120)  # a starved pool would hang here
    listed = await kube.list("v1", "ConfigMap", namespace)
    assert set(names) <= {o["metadata"]["name"] for o in listed}


async def test_capabilities_list_what_the_server_serves_and_follow_a_new_crd(
    kube: Kube, namespace: str
) -> None:
    caps = await kube.capabilities()
    assert caps.kube_version.startswith("v1.")
    for served in ("v1", "v1/Pod", "apps/v1", "apps/v1/Deployment", "batch/v1/Job"):
        assert served in caps.api_versions
    assert caps.api_versions == tuple(sorted(caps.api_versions))

    group = f"g{namespace[-6:]}.caps.example.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gizmos.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": "Gizmo", "plural": "gizmos"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
        },
    }
    await kube.apply(crd)  # applying a CRD through the client forgets what it knew
    try:

        async def seen() -> tuple[str, ...]:
            kube.forget(f"{group}/v1")  # until the server serves it, ask again
            return (await kube.capabilities()).api_versions

        found = await eventually(
            seen, lambda versions: f"{group}/v1/Gizmo" in versions, within=30, what="the CRD"
        )
        assert f"{group}/v1" in found
    finally:
        await kube.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"gizmos.{group}")


async def test_a_write_is_fenced_again_once_its_connection_is_ready(
    kubeconfig: Path, namespace: str
) -> None:
    """A leader paused between the fence's first check and the moment its request goes out
    (waiting for a connection, a TLS handshake) must not write when it runs again: the fence
    is asked once more when the connection is ready."""
    asked: list[str] = []

    def lease_lost_meanwhile(method: str, path: str) -> None:
        asked.append(method)
        if len(asked) > 1:
            raise NotLeaderError(f"{method} refused: the lease passed on meanwhile")

    async with await Kube.from_kubeconfig(kubeconfig) as fenced:
        fenced.fence(lease_lost_meanwhile)
        with pytest.raises(NotLeaderError):
            await fenced.apply(_configmap("late", namespace, v="1"))
        assert asked == ["PATCH", "PATCH"]
        fenced.fence(None)
        # Reads are never fenced, and the write never reached the server.
        assert await fenced.get("v1", "ConfigMap", "late", namespace) is None
