"""The CRDs generated from the models are structural and say what the models say."""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field, ValidationError

from gitmoor.model.crds import crd_for, crds, structural_schema
from gitmoor.model.resources import (
    ChartSource,
    ChartSourceSpec,
    GitSource,
    GitSourceSpec,
    Sync,
    SyncSpec,
)

_FORBIDDEN = {"$ref", "$defs", "anyOf", "allOf", "oneOf", "not", "title", "nullable", "const"}


def _nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its path: object properties, array items, map values."""
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}" if path else name)
    if "items" in schema:
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}.*")


def _schema(model: type[GitSource] | type[ChartSource] | type[Sync]) -> dict[str, Any]:
    schema: dict[str, Any] = crd_for(model)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _at(schema: dict[str, Any], path: str) -> dict[str, Any]:
    return dict(_nodes(schema))[path]


@pytest.mark.parametrize("model", [GitSource, ChartSource, Sync])
def test_schema_is_structural(model: type[GitSource] | type[ChartSource] | type[Sync]) -> None:
    for path, node in _nodes(_schema(model)):
        # Kubernetes' one exception to "every node has a type": int-or-string.
        assert node.get("type") or node.get("x-kubernetes-int-or-string"), f"{path} has no type"
        assert not _FORBIDDEN & node.keys(), f"{path}: {sorted(_FORBIDDEN & node.keys())}"
        assert not ("properties" in node and "additionalProperties" in node), path
        assert node.get("additionalProperties") is not False, path
        for name in node.get("required", ()):
            assert name in node["properties"], f"{path} requires unknown {name}"


@pytest.mark.parametrize("model", [GitSource, ChartSource, Sync])
def test_metadata_is_left_to_the_api_server_and_spec_is_required(
    model: type[GitSource] | type[ChartSource] | type[Sync],
) -> None:
    schema = _schema(model)
    assert schema["properties"]["metadata"] == {"type": "object"}
    assert schema["properties"]["apiVersion"] == {"type": "string"}
    assert schema["properties"]["kind"] == {"type": "string"}
    assert schema["required"] == ["spec"]
    assert "status" in schema["properties"]


@pytest.mark.parametrize(("model", "spec_model"), [(GitSource, GitSourceSpec), (Sync, SyncSpec)])
def test_defaults_are_the_models_defaults_and_match_their_own_patterns(
    model: type[GitSource] | type[ChartSource] | type[Sync],
    spec_model: type[GitSourceSpec] | type[SyncSpec],
) -> None:
    spec = _at(_schema(model), "spec")
    declared = {
        field.alias: field.default
        for field in spec_model.model_fields.values()
        # None means "unset" and a factory's value is not carried: only plain defaults are.
        if not field.is_required() and field.default_factory is None and field.default is not None
    }
    carried = {name: sub["default"] for name, sub in spec["properties"].items() if "default" in sub}
    assert carried == declared
    for path, node in _nodes(_schema(model)):
        if "default" in node and "pattern" in node:
            assert re.search(node["pattern"], node["default"]), path
        if "default" in node and "enum" in node:
            assert node["default"] in node["enum"], path


def test_spec_defaults_a_user_relies_on() -> None:
    source = _at(_schema(GitSource), "spec")["properties"]
    sync = _at(_schema(Sync), "spec")["properties"]
    assert (source["interval"]["default"], source["timeout"]["default"]) == ("1m", "60s")
    assert source["suspend"]["default"] is False
    assert sync["path"]["default"] == "./"
    assert (sync["interval"]["default"], sync["timeout"]["default"]) == ("5m", "5m")
    assert sync["prune"]["default"] is True
    assert sync["wait"]["default"] is True
    assert sync["createNamespace"]["default"] is False
    assert sync["sourceRef"]["properties"]["kind"] == {
        "type": "string",
        "enum": ["GitSource", "OCISource"],
        "default": "GitSource",
    }


def test_optional_fields_are_plain_types_that_are_not_required() -> None:
    spec = _at(_schema(GitSource), "spec")
    assert spec["required"] == ["url"]
    assert spec["properties"]["secretRef"]["type"] == "object"
    assert spec["properties"]["secretRef"]["required"] == ["name"]
    assert spec["properties"]["ignore"]["type"] == "string"
    assert "default" not in spec["properties"]["ignore"]
    sync = _at(_schema(Sync), "spec")
    # sourceRef or chartRef: a rule says it, not `required` (see the CRD's rules).
    assert "required" not in sync
    assert sync["properties"]["retryInterval"]["type"] == "string"


def test_validation_of_the_models_is_kept() -> None:
    source = _schema(GitSource)
    sync = _schema(Sync)
    assert _at(source, "spec.ref.commit")["pattern"] == "^[0-9a-f]{7,40}$"
    assert _at(source, "spec.ref.branch")["minLength"] == 1
    assert re.fullmatch(_at(source, "spec.interval")["pattern"], "1h30m")
    assert not re.fullmatch(_at(source, "spec.interval")["pattern"], "5 minutes")
    name = _at(sync, "spec.sourceRef.name")
    assert (name["minLength"], name["maxLength"]) == (1, 253)
    assert _at(sync, "spec.targetNamespace")["maxLength"] == 63
    assert _at(sync, "status.conditions[].status")["enum"] == ["True", "False", "Unknown"]
    assert _at(sync, "status.history[].startedAt")["format"] == "date-time"
    assert _at(sync, "spec.healthChecks[]")["required"] == ["apiVersion", "kind", "name"]


def test_checks_beyond_openapi_are_cel_rules_on_the_right_fields() -> None:
    def rules(schema: dict[str, Any], path: str) -> list[str]:
        return [v["message"] for v in _at(schema, path).get("x-kubernetes-validations", [])]

    source = _schema(GitSource)
    assert rules(source, "spec.ref") == ["ref takes one of branch, tag, semver, commit"]
    assert any("verify.mode tag" in m for m in rules(source, "spec"))
    assert any("credentials" in m for m in rules(source, "spec.url"))
    assert any("scp-like" in m for m in rules(source, "spec.url"))
    assert rules(_schema(Sync), "spec.path") == [
        "path must stay inside the source (no '..', not absolute)"
    ]


def test_helm_values_are_free_form() -> None:
    assert _at(_schema(Sync), "spec.helm.values") == {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }


def test_conditions_are_a_list_keyed_by_type() -> None:
    for model in (GitSource, Sync):
        conditions = _at(_schema(model), "status.conditions")
        assert conditions["x-kubernetes-list-type"] == "map"
        assert conditions["x-kubernetes-list-map-keys"] == ["type"]


def test_crds_name_group_scope_and_status_subresource() -> None:
    source, chart, oci, sync, repository, policy, automation = crds()
    assert source["metadata"]["name"] == "gitsources.gitmoor.io"
    assert chart["metadata"]["name"] == "chartsources.gitmoor.io"
    assert oci["metadata"]["name"] == "ocisources.gitmoor.io"
    assert sync["metadata"]["name"] == "syncs.gitmoor.io"
    assert repository["metadata"]["name"] == "imagerepositories.gitmoor.io"
    assert policy["metadata"]["name"] == "imagepolicies.gitmoor.io"
    assert automation["metadata"]["name"] == "imageupdateautomations.gitmoor.io"
    for crd, short in (
        (source, ["gs"]),
        (chart, ["gchart"]),
        (oci, ["goci"]),
        (sync, ["gsync"]),
        (repository, ["gimgrepo"]),
        (policy, ["gimgpol"]),
        (automation, ["gimgauto"]),
    ):
        assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
        assert crd["spec"]["group"] == "gitmoor.io"
        assert crd["spec"]["scope"] == "Namespaced"
        assert crd["spec"]["names"]["shortNames"] == short
        assert crd["spec"]["names"]["categories"] == ["gitmoor"]
        (version,) = crd["spec"]["versions"]
        assert (version["name"], version["served"], version["storage"]) == (
            "v1alpha1",
            True,
            True,
        )
        assert version["subresources"] == {"status": {}}


def _columns(model: type[GitSource] | type[ChartSource] | type[Sync]) -> list[tuple[str, str, int]]:
    version = crd_for(model)["spec"]["versions"][0]
    return [
        (c["name"], c["jsonPath"], c.get("priority", 0))
        for c in version["additionalPrinterColumns"]
    ]


def test_printer_columns() -> None:
    # Compact by default (NAME, READY, STATUS reason, short REVISION, AGE fit 80 columns); the
    # rest with -o wide.
    ready = '.status.conditions[?(@.type=="Ready")]'
    common = [
        ("Ready", f"{ready}.status", 0),
        ("Status", f"{ready}.reason", 0),
        ("Revision", ".status.shortRevision", 0),
        ("Age", ".metadata.creationTimestamp", 0),
    ]
    assert _columns(GitSource) == [
        *common,
        ("URL", ".spec.url", 1),
        ("Suspended", ".spec.suspend", 1),
        ("Message", f"{ready}.message", 1),
    ]
    assert _columns(ChartSource) == _columns(GitSource)
    assert _columns(Sync) == [
        *common,
        ("Healthy", '.status.conditions[?(@.type=="Healthy")].status', 1),
        ("Source", ".spec.sourceRef.name", 1),
        ("Suspended", ".spec.suspend", 1),
        ("Replica", ".status.replica", 1),  # sharded: the agent replica that owns it
        ("Message", f"{ready}.message", 1),
    ]


# --- the conversion on models of other shapes ---------------------------------------------------


class Color(StrEnum):
    RED = "red"
    BLUE = "blue"


class Shapes(BaseModel):
    count: int | None = Field(default=3, gt=0, le=10)
    color: Color = Color.RED
    mode: Literal["a", "b"] = "a"
    labels: dict[str, str] = Field(default_factory=dict)
    tags: set[str] = Field(default_factory=set)


def test_other_shapes_convert_to_their_structural_forms() -> None:
    props = structural_schema(Shapes)["properties"]
    assert props["count"] == {
        "type": "integer",
        "default": 3,
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": 10,
    }
    assert props["color"] == {"type": "string", "enum": ["red", "blue"], "default": "red"}
    assert props["mode"] == {"type": "string", "enum": ["a", "b"], "default": "a"}
    assert props["labels"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert props["tags"] == {
        "type": "array",
        "items": {"type": "string"},
        "x-kubernetes-list-type": "set",
    }


class IntOrText(BaseModel):
    port: int | str


class FloatOrText(BaseModel):
    port: float | str


class Anything(BaseModel):
    value: Any


class Tree(BaseModel):
    children: list[Tree] = Field(default_factory=list)


@pytest.mark.parametrize(
    ("model", "field"),
    [(FloatOrText, "port"), (Anything, "value"), (Tree, r"children\[\]")],
)
def test_constructs_without_a_structural_form_are_refused_by_name(
    model: type[BaseModel], field: str
) -> None:
    with pytest.raises(ValueError, match=rf"^{field}: "):
        structural_schema(model)


def test_an_int_or_a_string_is_kubernetes_int_or_string() -> None:
    # How `pruneLimit: 10` and `pruneLimit: "25%"` both stay valid, as maxUnavailable does.
    assert structural_schema(IntOrText)["properties"]["port"] == {
        "x-kubernetes-int-or-string": True
    }


def test_chart_source_and_chart_ref_checks_are_cel_rules() -> None:
    spec = _schema(ChartSource)["properties"]["spec"]
    assert spec["required"] == ["url", "chart"]
    url_rules = [r["rule"] for r in spec["properties"]["url"]["x-kubernetes-validations"]]
    assert any("(https?|oci)://" in r for r in url_rules)
    version = spec["properties"]["version"]
    assert version["default"] == "*"
    assert version["x-kubernetes-validations"][0]["rule"].startswith("self.matches(")
    chart_ref = _schema(Sync)["properties"]["spec"]["properties"]["chartRef"]
    assert chart_ref["required"] == ["name"]
    assert chart_ref["properties"]["kind"]["enum"] == ["ChartSource"]


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"url": "s3://bucket/x", "chart": "x"}, "or oci:// of a registry path"),
        ({"url": "oci://u:p@ghcr.io/x", "chart": "x"}, "must not carry credentials"),
        ({"url": "https://u:p@charts.example.com", "chart": "x"}, "must not carry credentials"),
        ({"url": "ftp://charts.example.com", "chart": "x"}, "expected https://"),
        ({"url": "https://charts.example.com", "chart": "X_"}, "pattern"),
        ({"url": "https://charts.example.com", "chart": "x", "version": "6;rm"}, "semver range"),
    ],
)
def test_chart_source_spec_refusals(spec: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem) as caught:
        ChartSourceSpec.model_validate(spec)
    # What gitmoor shows (the messages, not pydantic's echo of the input) holds no password.
    assert all("u:p" not in e["msg"] for e in caught.value.errors())


def test_chart_source_spec_defaults() -> None:
    spec = ChartSourceSpec.model_validate({"url": "https://charts.example.com", "chart": "web"})
    assert (spec.version, spec.interval, spec.timeout) == ("*", "10m", "60s")
    assert (
        ChartSourceSpec.model_validate(
            {"url": "https://c.example.com", "chart": "web", "version": " >=6.0.0 <7.0.0 "}
        ).version
        == ">=6.0.0 <7.0.0"
    )
