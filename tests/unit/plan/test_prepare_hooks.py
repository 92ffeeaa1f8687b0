"""Preparing hooks, waves and objects named by generateName (no cluster: scopes are given)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from gitmoor.kube import Kube
from gitmoor.kube.client import Resource
from gitmoor.model import Manifest, labels
from gitmoor.plan import HOOK, Owner, prepare

OWNER = Owner("web", "apps")


class Scopes:
    """Discovery for the kinds these tests use: every one is namespaced."""

    async def resource_for(self, api_version: str, kind: str) -> Resource:
        group, _, version = api_version.rpartition("/")
        return Resource(group, version, kind, kind.lower() + "s", True)


def manifest(kind: str, meta: dict[str, Any], api_version: str = "v1") -> Manifest:
    return Manifest({"apiVersion": api_version, "kind": kind, "metadata": meta}, "app.yaml", 1)


async def run(*manifests: Manifest, owner: Owner = OWNER) -> Any:
    return await prepare(cast(Kube, Scopes()), list(manifests), owner, target_namespace="shop")


async def test_an_object_named_by_generate_name_keeps_one_name_across_revisions() -> None:
    first, failures = await run(manifest("ConfigMap", {"generateName": "settings-"}))
    again, _ = await run(manifest("ConfigMap", {"generateName": "settings-", "labels": {"v": "2"}}))
    other_sync, _ = await run(
        manifest("ConfigMap", {"generateName": "settings-"}), owner=Owner("api", "apps")
    )
    assert failures == []
    name = first[0].ref.name
    assert name.startswith("settings-")
    assert len(name) == len("settings-") + 5
    assert set(name.removeprefix("settings-")) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert again[0].ref.name == name  # a changed object is the same object
    assert other_sync[0].ref.name != name


async def test_two_objects_with_one_prefix_get_two_names() -> None:
    desired, failures = await run(
        manifest("ConfigMap", {"generateName": "part-"}),
        manifest("ConfigMap", {"generateName": "part-"}),
    )
    assert failures == []
    assert len({d.ref.name for d in desired}) == 2


async def test_a_long_prefix_is_cut_as_the_api_server_cuts_it() -> None:
    desired, _ = await run(manifest("ConfigMap", {"generateName": "x" * 70}))
    assert len(desired[0].ref.name) == 63


async def test_hooks_are_set_apart_with_their_key_and_weight() -> None:
    hook_meta = {
        "generateName": "migrate-",
        "annotations": {"argocd.argoproj.io/hook": "PreSync", "argocd.argoproj.io/sync-wave": "-1"},
    }
    desired, failures = await run(
        manifest("Job", hook_meta, "batch/v1"),
        manifest("Job", dict(hook_meta), "batch/v1"),
        manifest(
            "ConfigMap", {"name": "plain", "annotations": {"argocd.argoproj.io/sync-wave": "2"}}
        ),
        manifest("Pod", {"name": "t", "annotations": {"helm.sh/hook": "test"}}),
    )
    assert failures == []  # two hooks of one prefix are not "defined twice"
    hooks = [d for d in desired if d.hook is not None]
    assert [(d.phase, d.order, d.ref.name) for d in hooks] == [(HOOK, -1, "migrate-*")] * 2
    assert "name" not in hooks[0].obj["metadata"]  # the server names it when it runs
    key = hooks[0].obj["metadata"]["labels"][labels.HOOK]
    assert key == hooks[1].obj["metadata"]["labels"][labels.HOOK]
    plain = [d for d in desired if d.hook is None]
    # Argo CD's wave orders ordinary objects like gitmoor.io/order; the test hook is left out.
    assert [(d.ref.name, d.phase, d.order) for d in plain] == [("plain", "order-2", 2)]


async def test_gitmoor_order_wins_over_the_wave() -> None:
    desired, _ = await run(
        manifest(
            "ConfigMap",
            {
                "name": "a",
                "annotations": {"gitmoor.io/order": "1", "argocd.argoproj.io/sync-wave": "7"},
            },
        )
    )
    assert desired[0].order == 1


@pytest.mark.parametrize(
    ("annotations", "field"),
    [
        ({"argocd.argoproj.io/hook": "Later"}, "metadata.annotations[argocd.argoproj.io/hook]"),
        (
            {"argocd.argoproj.io/sync-wave": "soon"},
            "metadata.annotations[argocd.argoproj.io/sync-wave]",
        ),
        ({"gitmoor.io/order": "x"}, "metadata.annotations[gitmoor.io/order]"),
    ],
)
async def test_a_bad_annotation_names_the_object_file_and_annotation(
    annotations: dict[str, str], field: str
) -> None:
    desired, failures = await run(manifest("ConfigMap", {"name": "a", "annotations": annotations}))
    assert desired == []
    assert [(f.ref.name, f.where, f.field) for f in failures] == [("a", "app.yaml:1", field)]
