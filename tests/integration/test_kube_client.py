"""The Kubernetes client as the API server sees it."""

from __future__ import annotations

import asyncio

import pytest

from gitmoor.kube import Kube

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
