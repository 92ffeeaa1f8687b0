"""Custom resources checked against the openAPIV3Schema of their CRD, as the API server reads it."""

from __future__ import annotations

from typing import Any

import yaml

from gitmoor.model import Manifest
from gitmoor.validate.builtin import BuiltinCatalog
from gitmoor.validate.crds import CustomKinds, custom_kind
from gitmoor.validate.objects import check_object
from gitmoor.validate.problems import field_path

CRD = yaml.safe_load(
    """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size]
              properties:
                size: {type: integer, minimum: 0, exclusiveMinimum: true}
                colour: {type: string, enum: [red, green], nullable: true}
                port: {x-kubernetes-int-or-string: true}
                labels:
                  type: object
                  additionalProperties: {type: string}
                extra:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
                template:
                  type: object
                  x-kubernetes-embedded-resource: true
                  properties:
                    spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
                ports:
                  type: array
                  items:
                    type: object
                    properties:
                      name: {type: string}
                      number: {type: integer}
                mode:
                  type: object
                  properties:
                    auto: {type: boolean}
                    manual: {type: boolean}
                  oneOf:
                    - required: [auto]
                    - required: [manual]
    - name: v1beta1
      served: false
      storage: false
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""
)
CLUSTER_CRD = {
    **CRD,
    "spec": {**CRD["spec"], "names": {"kind": "Gizmo", "plural": "gizmos"}, "scope": "Cluster"},
}


def widget(version: str = "v1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"example.com/{version}",
        "kind": "Widget",
        "metadata": {"name": "gear", "namespace": "web"},
        "spec": {"size": 1, **spec},
    }


def findings(obj: dict[str, Any]) -> list[str]:
    kinds = CustomKinds()
    kinds.add_all(
        [(Manifest(CRD, "crd.yaml", 1), "apps/crd.yaml"), (Manifest(CLUSTER_CRD, "c", 1), "c")]
    )
    checked = check_object(
        Manifest(obj, "w.yaml", 1),
        builtin=BuiltinCatalog.load(),
        custom=kinds,
        target_namespace=None,
    )
    return sorted(f"{field_path(p)}: {m}" for (p, m), _ in checked.findings)


def test_a_valid_custom_resource_has_no_findings() -> None:
    obj = widget(
        colour=None,
        port="http",
        labels={"team": "a"},
        extra={"anything": {"goes": [1, 2]}},
        template={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"a": 1}},
        ports=[{"name": "http", "number": 80}],
        mode={"auto": True},
    )
    assert findings(obj) == []
    obj["spec"]["port"] = 8080
    obj["status"] = {"ready": True}  # the schema lists no status
    assert findings(obj) == ["status: unknown field"]


def test_types_required_fields_enums_and_bounds_of_the_schema_are_enforced() -> None:
    obj = widget(size=0, colour="purple", port=1.5, labels={"team": 3})
    del obj["spec"]["size"]
    obj["spec"]["size"] = 0
    assert findings(obj) == [
        'spec.colour: must be one of: red, green, got a string ("purple")',
        'spec.labels.team: expected a string, got an integer ("3")',
        'spec.port: expected an integer or a string, got a number ("1.5")',
        "spec.size: must be greater than 0",
    ]
    missing = widget()
    del missing["spec"]["size"]
    assert findings(missing) == ["spec.size: required field is missing"]


def test_unlisted_fields_are_unknown_unless_the_schema_preserves_them() -> None:
    obj = widget(sise=2, ports=[{"name": "http", "numbr": 80}], extra={"free": "form"})
    assert findings(obj) == ["spec.ports[0].numbr: unknown field", "spec.sise: unknown field"]


def test_combinators_check_values_without_closing_the_object() -> None:
    assert findings(widget(mode={"manual": True})) == []
    [found] = findings(widget(mode={"auto": True, "manual": False}))
    assert found.startswith("spec.mode: ")


def test_metadata_of_a_custom_resource_is_checked_as_object_metadata() -> None:
    obj = widget()
    obj["metadata"]["label"] = {"a": "b"}
    assert findings(obj) == ["metadata.label: unknown field"]


def test_a_version_the_crd_does_not_serve_or_lack_is_named() -> None:
    assert findings(widget("v1beta1")) == [
        "apiVersion: v1beta1 is not served by the CustomResourceDefinition for Widget "
        "(apps/crd.yaml); served: v1"
    ]
    assert findings(widget("v2")) == [
        "apiVersion: v2 is not a version of the CustomResourceDefinition for Widget "
        "(apps/crd.yaml); served: v1"
    ]


def test_the_crd_decides_the_scope() -> None:
    assert custom_kind(CRD, "")
    kinds = CustomKinds()
    kinds.add_all([(Manifest(CLUSTER_CRD, "c.yaml", 1), "c.yaml")])
    gizmo = {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}}
    gizmo["spec"] = {"size": 1}
    checked = check_object(
        Manifest(gizmo, "g.yaml", 1),
        builtin=BuiltinCatalog.load(),
        custom=kinds,
        target_namespace="web",
    )
    assert checked.namespaced is False
    assert checked.ref.subject == "Gizmo/g"
    assert checked.findings == ()


def test_a_crd_whose_schema_cannot_be_used_is_reported_on_the_crd() -> None:
    broken = yaml.safe_load(yaml.safe_dump(CRD))
    broken["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "size"
    ]["pattern"] = "[unclosed"
    found = findings(broken)
    assert len(found) == 1
    assert found[0].startswith("spec.versions[0].schema.openAPIV3Schema: unusable openAPIV3Schema")
