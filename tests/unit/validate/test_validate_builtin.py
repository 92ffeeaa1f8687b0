"""Built-in kinds: releases, kinds known and unknown, schema problems worded for people."""

from __future__ import annotations

from typing import Any

import pytest

from gitmoor.model import Manifest
from gitmoor.validate import KubernetesVersionError, available_versions
from gitmoor.validate.builtin import BuiltinCatalog, resolve_version
from gitmoor.validate.crds import CustomKinds
from gitmoor.validate.objects import check_object
from gitmoor.validate.problems import field_path


def deployment(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        },
    }
    base.update(spec)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "web"},
        "spec": base,
    }


def findings(
    obj: dict[str, Any], *, version: str | None = None, target: str | None = None
) -> list[str]:
    checked = check_object(
        Manifest(obj, "x.yaml", 1),
        builtin=BuiltinCatalog.load(version),
        custom=CustomKinds(),
        target_namespace=target,
    )
    return [f"{field_path(path)}: {message}" for (path, message), _ in checked.findings]


def test_releases_are_listed_oldest_first_and_the_newest_is_the_default() -> None:
    versions = available_versions()
    assert versions[0] == "1.25"
    assert versions[-1] == "1.37"
    assert BuiltinCatalog.load().version == "1.37"


@pytest.mark.parametrize(
    ("asked", "used"), [("1.30", "1.30"), ("v1.31", "1.31"), ("1.29.4", "1.29")]
)
def test_a_release_may_be_written_several_ways(asked: str, used: str) -> None:
    assert resolve_version(asked) == used


@pytest.mark.parametrize("asked", ["1.99", "1.10", "latest", ""])
def test_a_release_without_schemas_is_refused_naming_what_exists(asked: str) -> None:
    with pytest.raises(KubernetesVersionError, match=r"1\.25 to 1\.37"):
        resolve_version(asked)


def test_a_valid_deployment_has_no_findings() -> None:
    assert findings(deployment()) == []


def test_wrong_types_unknown_and_missing_fields_are_each_named_by_their_path() -> None:
    obj = deployment(replicas="three", strategy={"rollingUpdate": {"maxSurge": True}})
    obj["spec"]["template"]["spec"]["containers"][0]["port"] = 80
    del obj["spec"]["selector"]
    assert sorted(findings(obj)) == [
        'spec.replicas: expected an integer, got a string ("three")',
        "spec.selector: required field is missing",
        "spec.strategy.rollingUpdate.maxSurge: expected a string or an integer, got a "
        'boolean ("true")',
        "spec.template.spec.containers[0].port: unknown field",
    ]


def test_a_misspelt_metadata_field_is_unknown() -> None:
    obj = deployment()
    obj["metadata"]["label"] = {"app": "web"}
    assert findings(obj) == ["metadata.label: unknown field"]


def test_values_of_a_secret_never_appear_in_messages() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "token", "namespace": "web"},
        "stringData": {"token": 123456789},
    }
    found = findings(secret)
    assert found == ["stringData.token: expected a string, got an integer"]
    assert "123456789" not in found[0]


def test_a_kind_served_under_another_version_says_which_to_use() -> None:
    obj = deployment()
    obj["apiVersion"] = "apps/v1beta1"
    assert findings(obj) == [
        "apiVersion: Deployment is not served in apps/v1beta1 by Kubernetes 1.37: use apps/v1"
    ]


def test_an_unknown_kind_of_an_unknown_group_asks_for_its_crd() -> None:
    obj = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {}}
    obj["metadata"] = {"name": "web", "namespace": "web"}
    [found] = findings(obj)
    assert found.startswith("kind: unknown kind ServiceMonitor in monitoring.coreos.com/v1")
    assert "CustomResourceDefinition" in found


def test_an_unknown_kind_of_a_built_in_group() -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deploymnet", "metadata": {"name": "web"}}
    assert findings(obj) == ["kind: Kubernetes 1.37 has no kind Deploymnet in apps/v1"]


def test_the_release_decides_which_kinds_exist() -> None:
    device_class = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": {"name": "gpu"},
        "spec": {},
    }
    assert findings(device_class, version="1.37") == []
    [found] = findings(device_class, version="1.32")
    assert found.startswith("apiVersion: DeviceClass is not served in resource.k8s.io/v1 by")
    assert found.endswith("resource.k8s.io/v1beta1")
    assert findings(device_class, version="1.30") == [
        "kind: Kubernetes 1.30 has no kind DeviceClass in resource.k8s.io/v1"
    ]


def test_namespace_comes_from_the_target_and_cluster_scoped_objects_have_none() -> None:
    catalog = BuiltinCatalog.load()

    def final(obj: dict[str, Any], target: str | None) -> str:
        return check_object(
            Manifest(obj, "x.yaml", 1),
            builtin=catalog,
            custom=CustomKinds(),
            target_namespace=target,
        ).ref.subject

    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "reader", "namespace": "web"},
    }
    assert final(deployment(), "shop") == "Deployment/shop/web"
    assert final(deployment(), None) == "Deployment/web/web"
    assert final(role, "shop") == "ClusterRole/reader"


def test_a_namespaced_object_without_namespace_or_target_is_a_problem() -> None:
    obj = deployment()
    del obj["metadata"]["namespace"]
    [found] = findings(obj)
    assert found.startswith("metadata.namespace: the object is namespaced but has no namespace")
    assert findings(obj, target="web") == []


def test_namespace_names_must_be_dns_labels() -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Web_Apps"}}
    [found] = findings(namespace)
    assert found.startswith("metadata.name: 'Web_Apps' is not a valid namespace name")
