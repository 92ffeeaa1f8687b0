from __future__ import annotations

import pytest

from gitmoor.model import ObjectRef
from gitmoor.plan import changed_paths, differs
from gitmoor.plan.ordering import is_foundation, parse_order, sort_key


def test_volatile_metadata_and_status_are_not_differences() -> None:
    live = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "a", "resourceVersion": "1", "managedFields": [{"x": 1}], "uid": "u"},
        "data": {"k": "v"},
        "status": {"phase": "old"},
    }
    dry = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "a", "resourceVersion": "2", "managedFields": [{"x": 2}], "uid": "u"},
        "data": {"k": "v"},
        "status": {"phase": "new"},
    }
    assert differs(live, dry) == []


def test_every_content_change_is_found_by_path_without_values() -> None:
    live = {
        "spec": {"replicas": 1, "template": {"containers": [{"image": "a:1"}]}},
        "data": {"pw": "s3cret"},
    }
    dry = {
        "spec": {"replicas": 2, "template": {"containers": [{"image": "a:2"}]}},
        "data": {"pw": "other"},
    }
    paths = changed_paths(live, dry)
    assert paths == ["data.pw", "spec.replicas", "spec.template.containers[0].image"]
    assert not any("s3cret" in p or "other" in p for p in paths)


def test_removed_and_added_fields_and_list_lengths_count() -> None:
    assert changed_paths({"a": {"b": 1}}, {"a": {}}) == ["a.b"]
    assert changed_paths({"l": [1]}, {"l": [1, 2]}) == ["l"]


def test_foundation_and_ordering() -> None:
    crd = ObjectRef("apiextensions.k8s.io", "CustomResourceDefinition", "", "x")
    ns = ObjectRef("", "Namespace", "", "n")
    assert is_foundation(crd)
    assert is_foundation(ns)
    assert not is_foundation(ObjectRef("", "ConfigMap", "n", "c"))
    refs = [
        ObjectRef("apps", "Deployment", "n", "web"),
        ObjectRef("", "ServiceAccount", "n", "sa"),
        ObjectRef("example.com", "Widget", "n", "w"),
        ObjectRef("rbac.authorization.k8s.io", "ClusterRole", "", "r"),
    ]
    ordered = [r.kind for r in sorted(refs, key=sort_key)]
    assert ordered == ["ClusterRole", "ServiceAccount", "Deployment", "Widget"]


def test_order_annotation_must_be_an_integer() -> None:
    assert parse_order(None) == 0
    assert parse_order(" 3 ") == 3
    assert parse_order("-1") == -1
    with pytest.raises(ValueError, match=r"gitmoor\.io/order"):
        parse_order("first")
