"""`spec.createNamespace`: which namespace is created, from a case table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gitmoor.apply import namespace_to_create
from gitmoor.model.resources import Sync

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "create_namespace.yaml").read_text())


@pytest.mark.parametrize("case", [pytest.param(c, id=c["case"]) for c in CASES])
def test_the_namespace_to_create(case: dict[str, Any]) -> None:
    got = namespace_to_create(case["target"], case["helm"], set(case["declared"]))

    assert got == case["creates"]


def test_create_namespace_is_off_unless_asked() -> None:
    base = {
        "apiVersion": "gitmoor.io/v1alpha1",
        "kind": "Sync",
        "metadata": {"name": "app", "namespace": "web"},
        "spec": {"sourceRef": {"name": "repo"}},
    }
    assert Sync.model_validate(base).spec.create_namespace is False
    asked = {**base, "spec": {**base["spec"], "createNamespace": True, "targetNamespace": "x"}}
    assert Sync.model_validate(asked).spec.create_namespace is True
