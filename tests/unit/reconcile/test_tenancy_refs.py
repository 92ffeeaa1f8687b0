"""Cross-namespace references under --no-cross-namespace-refs, for every kind that names
another object (a Sync's source, an automation's GitSource, a policy's ImageRepository)."""

from __future__ import annotations

from typing import Any

import pytest

from gitmoor.reconcile.tenancy import Tenancy


def _source(namespace: str, access_from: list[str] | None = None) -> dict[str, Any]:
    spec = {"accessFrom": access_from} if access_from else {}
    return {
        "kind": "ImageRepository",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("cross", "own", "source", "refused"),
    [
        (True, "a", _source("b"), False),
        (False, "a", _source("a"), False),
        (False, "a", _source("b"), True),
        (False, "a", _source("b", ["a"]), False),
    ],
)
def test_ref_refused(cross: bool, own: str, source: dict[str, Any], refused: bool) -> None:
    why = Tenancy(cross_namespace_refs=cross).ref_refused(own, source)
    assert (why is not None) == refused
    if why is not None:
        assert "ImageRepository b/web is in another namespace" in str(why)
