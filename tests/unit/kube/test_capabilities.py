"""Discovery answers -> Helm's `.Capabilities.APIVersions` entries."""

from __future__ import annotations

from typing import Any

import pytest

from gitmoor.kube.client import _served

AGGREGATED_CORE = {
    "kind": "APIGroupDiscoveryList",
    "items": [
        {
            "metadata": {},
            "versions": [
                {
                    "version": "v1",
                    "resources": [
                        {"resource": "pods", "responseKind": {"kind": "Pod"}},
                        {"resource": "bindings", "responseKind": {"kind": "Binding"}},
                    ],
                }
            ],
        }
    ],
}
AGGREGATED_GROUPS = {
    "kind": "APIGroupDiscoveryList",
    "items": [
        {
            "metadata": {"name": "apps"},
            "versions": [
                {
                    "version": "v1",
                    "resources": [
                        {"resource": "deployments", "responseKind": {"kind": "Deployment"}}
                    ],
                }
            ],
        },
        {
            "metadata": {"name": "autoscaling"},
            "versions": [
                {"version": "v2", "resources": []},
                {"version": "v1", "resources": [{"resource": "x", "responseKind": {}}]},
            ],
        },
    ],
}
OLD_CORE = {"kind": "APIVersions", "versions": ["v1"]}
OLD_GROUPS = {
    "kind": "APIGroupList",
    "groups": [{"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}]}],
}


@pytest.mark.parametrize(
    ("listing", "expected"),
    [
        (AGGREGATED_CORE, {"v1", "v1/Pod", "v1/Binding"}),
        (AGGREGATED_GROUPS, {"apps/v1", "apps/v1/Deployment", "autoscaling/v2", "autoscaling/v1"}),
        (OLD_CORE, {"v1"}),
        (OLD_GROUPS, {"apps/v1"}),
        ({"kind": "Status"}, set()),
    ],
    ids=["aggregated core", "aggregated groups", "older core", "older groups", "nothing"],
)
def test_served_versions_and_kinds(listing: dict[str, Any], expected: set[str]) -> None:
    assert _served(listing) == expected
