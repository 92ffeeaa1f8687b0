"""`gitmoor tree`: the tree built from a Sync's inventory and the live objects (a case table),
and its rendering at 80 and 200 columns."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from typer.testing import CliRunner

from gitmoor.cli.app import app
from gitmoor.cli.table import render
from gitmoor.cli.tree import TREE_COLUMNS, tree_rows
from gitmoor.commands.tree import Node, build
from gitmoor.model import ObjectRef, inventory
from gitmoor.model.pipeline import InventoryEntry

Obj = dict[str, Any]


def obj(api_version: str, kind: str, name: str, namespace: str = "", **extra: Any) -> Obj:
    meta: Obj = {"name": name, "uid": f"uid-{kind}-{name}"}
    if namespace:
        meta["namespace"] = namespace
    meta.update(extra.pop("metadata", {}))
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **extra}


def ready(status: str = "True") -> Obj:
    return {"conditions": [{"type": "Ready", "status": status, "reason": "R", "message": "m"}]}


def sync(name: str, namespace: str, *members: Obj, **status: Any) -> Obj:
    entries = [InventoryEntry.of(ObjectRef.from_object(m), m["apiVersion"]) for m in members]
    body = {"inventory": inventory.encode(entries), "observedGeneration": 1, **ready(), **status}
    return obj(
        "gitmoor.io/v1alpha1", "Sync", name, namespace, metadata={"generation": 1}, status=body
    )


def available(name: str, namespace: str, **meta: Any) -> Obj:
    return obj(
        "apps/v1",
        "Deployment",
        name,
        namespace,
        metadata={"generation": 1, **meta},
        spec={"replicas": 1},
        status={
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1,
            "availableReplicas": 1,
            "conditions": [{"type": "Available", "status": "True"}],
        },
    )


def cm(name: str, namespace: str, **meta: Any) -> Obj:
    return obj("v1", "ConfigMap", name, namespace, metadata=meta, data={})


def ns(name: str) -> Obj:
    return obj("v1", "Namespace", name, status={"phase": "Active"})


def shape(node: Node) -> list[tuple[int, str, str]]:
    return [(depth, n.ref.subject, n.health) for depth, n in node.walk()]


def live_of(*objects: Obj) -> dict[ObjectRef, Obj]:
    return {ObjectRef.from_object(o): o for o in objects}


WEB = available("web", "apps")
SETTINGS = cm("settings", "apps")
APPS_NS = ns("apps")
APP = sync("app", "apps", WEB, SETTINGS)
CRD = obj(
    "apiextensions.k8s.io/v1",
    "CustomResourceDefinition",
    "widgets.example.com",
    status={"conditions": [{"type": "Established", "status": "True"}]},
)
# A ConfigMap owned by the Deployment, both in the inventory: shown under its owner.
OWNED = cm(
    "owned",
    "apps",
    ownerReferences=[{"uid": WEB["metadata"]["uid"], "kind": "Deployment", "name": "web"}],
)

CASES: dict[str, tuple[Obj, list[Obj], list[tuple[int, str, str]]]] = {
    "grouped by kind, namespaces first, each object's health": (
        sync("app", "apps", SETTINGS, WEB, APPS_NS, CRD),
        [SETTINGS, WEB, APPS_NS, CRD],
        [
            (0, "Sync/apps/app", "Current"),
            (1, "CustomResourceDefinition/widgets.example.com", "Current"),
            (1, "Namespace/apps", "Current"),
            (1, "ConfigMap/apps/settings", "Current"),
            (1, "Deployment/apps/web", "Current"),
        ],
    ),
    "an object missing from the cluster is NotFound": (
        APP,
        [WEB],
        [
            (0, "Sync/apps/app", "Current"),
            (1, "ConfigMap/apps/settings", "NotFound"),
            (1, "Deployment/apps/web", "Current"),
        ],
    ),
    "a nested Sync is a subtree, after the other objects": (
        sync("cluster", "ops", APP, APPS_NS),
        [APP, APPS_NS, WEB, SETTINGS],
        [
            (0, "Sync/ops/cluster", "Current"),
            (1, "Namespace/apps", "Current"),
            (1, "Sync/apps/app", "Current"),
            (2, "ConfigMap/apps/settings", "Current"),
            (2, "Deployment/apps/web", "Current"),
        ],
    ),
    "an inventory object owned by another is shown under its owner": (
        sync("app", "apps", WEB, OWNED),
        [WEB, OWNED],
        [
            (0, "Sync/apps/app", "Current"),
            (1, "Deployment/apps/web", "Current"),
            (2, "ConfigMap/apps/owned", "Current"),
        ],
    ),
    "a Sync managing its own ancestor is not expanded again": (
        sync("loop", "ops", sync("cluster", "ops")),
        [sync("cluster", "ops", sync("loop", "ops"))],
        [
            (0, "Sync/ops/loop", "Current"),
            (1, "Sync/ops/cluster", "Current"),
            (2, "Sync/ops/loop", "Current"),
        ],
    ),
    "a failing nested Sync shows as Failed": (
        sync("cluster", "ops", APP),
        [
            sync("app", "apps", WEB, stalled=True)
            | {
                "status": {
                    "observedGeneration": 1,
                    "conditions": [
                        {"type": "Stalled", "status": "True", "reason": "Bad", "message": "x"}
                    ],
                    "inventory": inventory.encode([]),
                }
            }
        ],
        [(0, "Sync/ops/cluster", "Current"), (1, "Sync/apps/app", "Failed")],
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_tree_from_inventory_and_live_objects(case: str) -> None:
    root, live, expected = CASES[case]
    assert shape(build(root, live_of(*live))) == expected


def test_an_object_that_could_not_be_read_is_unknown_with_the_reason() -> None:
    ref = ObjectRef.from_object(SETTINGS)
    tree = build(APP, live_of(WEB), problems={ref: "cannot read it: forbidden"})
    node = next(n for _, n in tree.walk() if n.ref == ref)
    assert (node.health, node.message) == ("Unknown", "cannot read it: forbidden")


def test_the_json_shape_nests_children() -> None:
    data = build(sync("cluster", "ops", APP), live_of(APP, WEB, SETTINGS)).as_dict()
    assert data["kind"] == "Sync"
    assert data["health"] == "Current"
    (child,) = data["children"]
    assert (child["namespace"], child["name"]) == ("apps", "app")
    assert [c["kind"] for c in child["children"]] == ["ConfigMap", "Deployment"]


@pytest.mark.parametrize("width", [80, 200])
def test_the_tree_fits_the_width(width: int) -> None:
    long = "a-rather-long-configuration-map-name-for-the-frontend-team"
    failing = cm(long, "frontend")
    nested = sync("frontend", "frontend", WEB, failing)
    root = sync("cluster", "gitmoor-system", nested, APPS_NS)
    tree = build(root, live_of(nested, WEB, APPS_NS))
    text = render(TREE_COLUMNS, tree_rows(tree), width=width)
    assert text[0].split() == ["NAMESPACE", "NAME", "HEALTH", "MESSAGE"]
    for line in text:
        assert len(line) <= width, line
    name = text[0].index("NAME ")
    assert [line[:name].rstrip() for line in text[1:]] == [
        "gitmoor-system",
        "",
        "frontend",
        "frontend",
        "apps",
    ]
    assert text[1][name:].startswith("Sync/cluster ")
    assert text[2][name:].startswith("├── Namespace/apps ")
    assert text[3][name:].startswith("└── Sync/frontend ")
    assert text[4][name:].startswith("    ├── ConfigMap/a-rather-long")
    assert text[5][name:].startswith("    └── Deployment/web ")
    health = text[0].index("HEALTH")
    assert text[4][health:].startswith("NotFound ")
    assert text[3][health:].startswith("Current ")


def test_a_deep_tree_is_shortened_after_its_indentation_never_in_it() -> None:
    deepest = cm("settings-of-the-innermost-application", "apps")
    inner = sync("inner", "apps", deepest)
    middle = sync("middle", "apps", inner)
    outer = sync("outer", "apps", middle)
    root = sync("root", "apps", outer)
    tree = build(root, live_of(outer, middle, inner, deepest))
    text = render(TREE_COLUMNS, tree_rows(tree), width=52)
    name = text[0].index("NAME ")
    last = text[-1][name:]
    assert last.startswith("            └── Con"), last
    assert len(text[-1]) <= 52


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """No cluster: `tree` reads the tree of the case above; what it asked for is recorded."""
    asked: list[tuple[str, str]] = []

    @asynccontextmanager
    async def fake_kube() -> AsyncIterator[object]:
        yield object()

    async def connect(*_: object) -> Any:
        return fake_kube()

    async def read_tree(_: object, name: str, namespace: str) -> Node:
        asked.append((namespace, name))
        return build(sync("cluster", "ops", APP, APPS_NS), live_of(APP, APPS_NS, WEB, SETTINGS))

    monkeypatch.setattr("gitmoor.commands.cluster.connect", connect)
    monkeypatch.setattr("gitmoor.commands.tree.read_tree", read_tree)
    return asked


def test_the_command_at_80_columns_and_its_names(cluster: list[tuple[str, str]]) -> None:
    shown = CliRunner().invoke(app, ["tree", "cluster", "-n", "ops"], env={"COLUMNS": "80"})
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].split() == ["NAMESPACE", "NAME", "HEALTH", "MESSAGE"]
    assert lines[1].split()[:3] == ["ops", "Sync/cluster", "Current"]
    assert lines[2].split()[:3] == ["├──", "Namespace/apps", "Current"]
    assert lines[3].split()[:3] == ["apps", "└──", "Sync/app"]
    assert cluster == [("ops", "cluster")]
    named = CliRunner().invoke(app, ["tree", "cluster", "-n", "ops", "-o", "name"])
    assert named.stdout.splitlines() == [
        "sync.gitmoor.io/cluster",
        "namespace/apps",
        "sync.gitmoor.io/app",
        "configmap/settings",
        "deployment.apps/web",
    ]
