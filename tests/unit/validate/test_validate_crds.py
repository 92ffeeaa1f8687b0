"""Custom resources checked against the openAPIV3Schema of their CRD, as the API server reads it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
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


def with_size_rule(rule: str, value: Any) -> dict[str, Any]:
    """The CRD with `rule: value` on spec.size, as a deep copy."""
    changed = copy.deepcopy(CRD)
    version = changed["spec"]["versions"][0]
    version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["size"][rule] = value
    return changed


def test_a_crd_whose_schema_cannot_be_used_is_reported_on_the_crd() -> None:
    found = findings(with_size_rule("minLength", -1))
    assert found == [
        "spec.versions[0].schema.openAPIV3Schema: unusable openAPIV3Schema: "
        "-1 is less than the minimum of 0"
    ]


def with_pattern(pattern: str) -> dict[str, Any]:
    """The CRD with string fields `spec.name` matching `pattern` and `spec.names` (a list)."""
    crd = copy.deepcopy(CRD)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    fields = schema["properties"]["spec"]["properties"]
    fields["name"] = {"type": "string", "pattern": pattern}
    fields["names"] = {"type": "array", "items": {"type": "string"}}
    return crd


def pattern_findings(crd: dict[str, Any], name: str = "x") -> tuple[list[str], list[str]]:
    """(findings on the CRD, findings on a Widget whose spec.name is `name`)."""
    kinds = CustomKinds()
    kinds.add_all([(Manifest(crd, "crd.yaml", 1), "crd.yaml")])
    out = []
    for obj in (crd, widget(name=name)):
        checked = check_object(
            Manifest(obj, "w.yaml", 1),
            builtin=BuiltinCatalog.load(),
            custom=kinds,
            target_namespace=None,
        )
        out.append(sorted(f"{field_path(p)}: {m}" for (p, m), _ in checked.findings))
    return out[0], out[1]


# (pattern, value, whether the API server accepts the value) where RE2 and Python's re differ
RE2_PATTERNS = [
    ("^((?i)january|february)$", "JANUARY", True),  # a flag group mid-pattern: Python refuses
    ("^((?i)january|february)$", "FeBrUaRy", True),
    ("^((?i)january|february)$", "march", False),
    (r"^\d+$", "2024", True),
    (r"^\d+$", "\u0662\u0660\u0662\u0664", False),  # Arabic-Indic digits: \d is ASCII in RE2
    (r"^\w+$", "é", False),  # and so is \w
    (r"^[\p{Greek}]+$", "αβγ", True),  # Unicode classes, which Python's re lacks
]


@pytest.mark.parametrize(("pattern", "value", "accepted"), RE2_PATTERNS)
def test_crd_patterns_are_matched_as_re2_matches_them(
    pattern: str, value: str, accepted: bool
) -> None:
    on_crd, on_object = pattern_findings(with_pattern(pattern), value)

    assert on_crd == []
    expected = (
        []
        if accepted
        else [f'spec.name: a string ("{value}") does not match the pattern {pattern}']
    )
    assert on_object == expected


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("[unclosed", "missing ]: [unclosed"),
        ("^(?=a)b", "invalid perl operator: (?="),  # lookahead: Python takes it, Go does not
        (r"(a)\1", "invalid escape sequence: \\1"),  # backreference
    ],
)
def test_a_pattern_re2_cannot_compile_is_reported_on_the_crd_as_the_api_server_does(
    pattern: str, reason: str
) -> None:
    on_crd, on_object = pattern_findings(with_pattern(pattern))

    assert on_crd == [
        "spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.name.pattern: "
        f'Invalid value: "{pattern}": must be a valid regular expression, but isn\'t: {reason}'
    ]
    assert on_object == []  # the CRD's objects cannot be checked against a broken schema


def test_invalid_patterns_are_found_in_items_and_combinators_too() -> None:
    crd = with_pattern("^ok$")
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["names"]["items"]["pattern"] = "(?<=a)"
    spec["anyOf"] = [{"properties": {"name": {"pattern": "a**"}}}]

    on_crd, _ = pattern_findings(crd)

    assert [finding.partition(": Invalid")[0] for finding in on_crd] == [
        "spec.versions[0].schema.openAPIV3Schema.properties.spec.anyOf[0].properties.name.pattern",
        "spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.names.items.pattern",
    ]
