"""The prune rules (`apply.judge`), shared by the agent's prune and `gitmoor diff`, from a
case table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gitmoor.apply import judge
from gitmoor.model import ObjectRef
from gitmoor.model.labels import PRUNE, SYNC_NAME, SYNC_NAMESPACE

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "prune.yaml").read_text())
_GROUPS = {
    "CustomResourceDefinition": "apiextensions.k8s.io",
    "ClusterRole": "rbac.authorization.k8s.io",
}


def _live(case: dict[str, Any]) -> tuple[ObjectRef, dict[str, Any]]:
    kind, *rest = case["object"].split("/")
    namespace, name = (rest[0], rest[1]) if len(rest) == 2 else ("", rest[0])
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if "labels" in case:
        owner_ns, owner = case["labels"].split("/")
        meta["labels"] = {SYNC_NAME: owner, SYNC_NAMESPACE: owner_ns}
    if "prune" in case:
        meta["annotations"] = {PRUNE: case["prune"]}
    return ObjectRef(_GROUPS.get(kind, ""), kind, namespace, name), {"kind": kind, "metadata": meta}


@pytest.mark.parametrize("case", [pytest.param(c, id=c["case"]) for c in CASES])
def test_the_prune_rules(case: dict[str, Any]) -> None:
    ref, live = _live(case)

    got = judge(ref, live, "app", "web")

    seen = {
        "action": got.action.value,
        "guarded": got.guarded,
        "owner": got.owner,
        "message": got.message,
    }
    assert {k: seen[k] for k in case["expect"]} == case["expect"]
