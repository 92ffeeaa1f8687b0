"""CustomResourceDefinitions for GitSource, ChartSource, OCISource and Sync, from their models.

The models' JSON Schema is turned into a *structural* openAPIV3Schema, the only kind the API
server accepts for apiextensions.k8s.io/v1: every node typed, no `$ref`, unions with null reduced
to the plain type (an optional field is simply not required), free-form maps kept with
`x-kubernetes-preserve-unknown-fields`. Checks the schema cannot state (one kind of ref, a URL
without credentials, a path inside the source) become CEL `x-kubernetes-validations` rules, so the
API server refuses what `gitmoor validate` refuses.

A JSON Schema construct with no structural equivalent raises `ValueError` naming its path: the
model has to change, rather than the CRD silently accepting less than the model does.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from gitmoor.model.api import GROUP, VERSION
from gitmoor.model.images import ImagePolicy, ImageRepository, ImageUpdateAutomation, Policy
from gitmoor.model.resources import (
    ChartSource,
    ChartSourceSpec,
    GitRef,
    GitSource,
    GitSourceSpec,
    OCIRef,
    OCISource,
    OCISourceSpec,
    Sync,
    SyncSpec,
)

CRD_API_VERSION = "apiextensions.k8s.io/v1"
CATEGORY = "gitmoor"

# Keywords copied as they are: the OpenAPI v3 subset a structural schema allows.
_KEPT = frozenset(
    {
        "description",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "multipleOf",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "required",
    }
)
# Keywords that only decorate a JSON Schema; they carry no validation.
_DROPPED = frozenset({"title", "examples", "readOnly", "writeOnly", "deprecated"})
# Formats the API server knows; others would be ignored by it, so they are not claimed.
_FORMATS = frozenset({"date-time", "date", "duration", "byte", "int32", "int64", "float", "double"})


@dataclass(frozen=True)
class Rule:
    """A CEL validation rule attached to one node of the schema."""

    rule: str
    message: str
    # FieldValueForbidden keeps the value out of the API server's error: a URL may carry a
    # password, and errors end up in logs, events and status.
    reason: str = ""

    def as_dict(self) -> dict[str, str]:
        out = {"rule": self.rule, "message": self.message}
        if self.reason:
            out["reason"] = self.reason
        return out


# The models' own validators, restated in CEL. Keyed by (model, field alias or "" for the model).
# They belong with the models; they live here until resources.py carries them as
# json_schema_extra, and the unit tests keep both in agreement.
_RULES: dict[tuple[type[BaseModel], str], tuple[Rule, ...]] = {
    (GitRef, ""): (
        Rule(
            "[has(self.branch), has(self.tag), has(self.semver), has(self.commit)]"
            ".filter(x, x).size() <= 1",
            "ref takes one of branch, tag, semver, commit",
        ),
    ),
    (GitSourceSpec, ""): (
        Rule(
            "!has(self.verify) || !has(self.verify.mode) || self.verify.mode == 'head'"
            " || (has(self.ref) && (has(self.ref.tag) || has(self.ref.semver)))",
            "verify.mode tag and tagAndHead check a tag's signature: set ref.tag or ref.semver, "
            "or use mode head",
        ),
    ),
    (GitSourceSpec, "url"): (
        Rule(
            "self.matches('^(https?|ssh|file)://')"
            " || self.matches('^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(/?$|[^/]|/[^/])')",
            "expected https://, ssh://, git@host:path (scp-like) or file://",
            reason="FieldValueForbidden",
        ),
        Rule(
            "!self.matches('^https?://[^/]*@') && !self.matches('^ssh://[^/]*:[^/]*@')",
            "url must not carry credentials: put them in a Secret (secretRef)",
            reason="FieldValueForbidden",
        ),
    ),
    (ChartSourceSpec, "url"): (
        Rule(
            "self.matches('^(https?|oci)://[^/@]+')",
            "expected https:// (or http://) of a Helm chart repository, or oci:// of a "
            "registry path",
            reason="FieldValueForbidden",
        ),
        Rule(
            "!self.matches('^(https?|oci)://[^/]*@')",
            "url must not carry credentials: put them in a Secret (secretRef)",
            reason="FieldValueForbidden",
        ),
    ),
    (ChartSourceSpec, "version"): (
        Rule(
            "self.matches('^[0-9A-Za-z.*+<>=!~^|, -]+$')",
            "version must be a version (6.5.0) or a semver range (>=6.0.0 <7.0.0, ~6.5, 6.x)",
        ),
    ),
    (OCISourceSpec, "url"): (
        Rule(
            "self.matches('^oci://[^/@]+/[^/]')",
            "expected oci://HOST/REPOSITORY",
            reason="FieldValueForbidden",
        ),
    ),
    (OCIRef, "tag"): (
        Rule("self.matches('^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$')", "tag is not an OCI tag"),
    ),
    (OCIRef, "digest"): (
        Rule(
            "self.matches('^sha256:[0-9a-f]{64}$')",
            "digest must be sha256:<64 lower-case hex digits>",
        ),
    ),
    (OCIRef, "semver"): (
        Rule(
            "self.matches('^[0-9A-Za-z.*+<>=!~^|, -]+$')",
            "semver must be a semver range (>=1.0.0 <2.0.0, 1.x)",
        ),
    ),
    (Policy, ""): (
        Rule(
            "[has(self.semver), has(self.alphabetical), has(self.numerical)]"
            ".filter(x, x).size() == 1",
            "policy takes exactly one of semver, alphabetical, numerical",
        ),
    ),
    (SyncSpec, ""): (
        Rule(
            "has(self.sourceRef) || has(self.chartRef)",
            "sourceRef is required (without one, chartRef and helm.values)",
        ),
        Rule(
            "has(self.sourceRef) || !has(self.helm) || !has(self.helm.valuesFiles)"
            " || size(self.helm.valuesFiles) == 0",
            "helm.valuesFiles are read from Git: set sourceRef",
        ),
        Rule(
            "has(self.sourceRef) || !has(self.path) || self.path in ['./', '.', '']",
            "path is a directory of the sourceRef's: set sourceRef",
        ),
        Rule(
            "has(self.sourceRef) || !has(self.decryption)",
            "decryption reads files of the sourceRef's path: set sourceRef",
        ),
    ),
    (SyncSpec, "path"): (
        Rule(
            # A segment of just '..', with / or \ as separators (the regex reads [/\\]).
            r"!self.startsWith('/') && !self.matches('(^|[/\\\\])[.][.]([/\\\\]|$)')",
            "path must stay inside the source (no '..', not absolute)",
        ),
    ),
}


@dataclass(frozen=True)
class Column:
    name: str
    json_path: str
    type: str = "string"
    priority: int = 0
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.priority:
            out["priority"] = self.priority
        if self.description:
            out["description"] = self.description
        return out


def _condition(kind: str, attr: str) -> str:
    return f'.status.conditions[?(@.type=="{kind}")].{attr}'


# `kubectl get` shows NAME, READY, STATUS (the reason, one word), REVISION (short: 12 hex
# digits or a chart's name@version) and AGE: a row fits 80 columns. Messages and the rest are
# for `-o wide` (priority 1), where a long message does not push the essentials off the screen.
_READY = (
    Column("Ready", _condition("Ready", "status")),
    Column("Status", _condition("Ready", "reason")),
    Column("Revision", ".status.shortRevision"),
)
_AGE = Column("Age", ".metadata.creationTimestamp", "date")
_MESSAGE = Column("Message", _condition("Ready", "message"), priority=1)


@dataclass(frozen=True)
class Names:
    """How users and kubectl name one kind."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    description: str
    columns: tuple[Column, ...] = field(default_factory=tuple)


_NAMES: dict[type[BaseModel], Names] = {
    GitSource: Names(
        kind="GitSource",
        plural="gitsources",
        singular="gitsource",
        short_names=("gs",),
        description="Where desired state comes from: a Git repository, the ref to follow in "
        "it, and how often to look for new commits.",
        columns=(
            *_READY,
            _AGE,
            Column("URL", ".spec.url", priority=1),
            Column("Suspended", ".spec.suspend", "boolean", priority=1),
            _MESSAGE,
        ),
    ),
    ChartSource: Names(
        kind="ChartSource",
        plural="chartsources",
        singular="chartsource",
        short_names=("gchart",),
        description="A chart from its vendor's Helm repository: the repository, the chart, the "
        "versions to follow and how often to look for new ones.",
        columns=(
            *_READY,
            _AGE,
            Column("URL", ".spec.url", priority=1),
            Column("Suspended", ".spec.suspend", "boolean", priority=1),
            _MESSAGE,
        ),
    ),
    OCISource: Names(
        kind="OCISource",
        plural="ocisources",
        singular="ocisource",
        short_names=("goci",),
        description="Manifests published as an OCI artifact (flux push artifact, oras push): "
        "the registry repository, the tag, range or digest to follow and how often to look.",
        columns=(
            *_READY,
            _AGE,
            Column("Revision", ".status.artifact.revision", priority=1),
            Column("URL", ".spec.url", priority=1),
            Column("Suspended", ".spec.suspend", "boolean", priority=1),
            _MESSAGE,
        ),
    ),
    Sync: Names(
        kind="Sync",
        plural="syncs",
        singular="sync",
        # `sync` alone is a likely name for other projects' kinds; `gsync` stays unambiguous.
        short_names=("gsync",),
        description="What to apply from a GitSource, and how: path, pruning, health gate, "
        "rollback, dependencies.",
        columns=(
            *_READY,
            _AGE,
            Column("Healthy", _condition("Healthy", "status"), priority=1),
            Column("Source", ".spec.sourceRef.name", priority=1),
            Column("Suspended", ".spec.suspend", "boolean", priority=1),
            Column("Replica", ".status.replica", priority=1),
            _MESSAGE,
        ),
    ),
    ImageRepository: Names(
        kind="ImageRepository",
        plural="imagerepositories",
        singular="imagerepository",
        short_names=("gimgrepo",),
        description="An image in a registry whose tags are listed at an interval.",
        columns=(
            *_READY,
            _AGE,
            Column("Tags", ".status.lastScanResult.tagCount", "integer", priority=1),
            Column("Last scan", ".status.lastScanResult.scanTime", "date", priority=1),
            Column("Image", ".spec.image", priority=1),
            _MESSAGE,
        ),
    ),
    ImagePolicy: Names(
        kind="ImagePolicy",
        plural="imagepolicies",
        singular="imagepolicy",
        short_names=("gimgpol",),
        description="Which tag of an ImageRepository is the latest: a semver range, or an "
        "alphabetical or numerical order over (a part of) filtered tags.",
        columns=(
            *_READY,
            _AGE,
            Column("Tag", ".status.latestRef.tag", priority=1),
            Column("Repository", ".spec.imageRepositoryRef.name", priority=1),
            _MESSAGE,
        ),
    ),
    ImageUpdateAutomation: Names(
        kind="ImageUpdateAutomation",
        plural="imageupdateautomations",
        singular="imageupdateautomation",
        short_names=("gimgauto",),
        description="Writes the tags ImagePolicies choose into marked YAML fields of a "
        "GitSource's repository, as one commit pushed to a branch.",
        columns=(
            *_READY,
            _AGE,
            Column("Last push", ".status.lastPushTime", "date", priority=1),
            Column("Commit", ".status.lastPushCommit", priority=1),
            Column("Source", ".spec.sourceRef.name", priority=1),
            _MESSAGE,
        ),
    ),
}


Model = (
    type[GitSource]
    | type[ChartSource]
    | type[OCISource]
    | type[Sync]
    | type[ImageRepository]
    | type[ImagePolicy]
    | type[ImageUpdateAutomation]
)


def crd_for(model: Model) -> dict[str, Any]:
    """The apiextensions.k8s.io/v1 CustomResourceDefinition serving `model`."""
    names = _NAMES[model]
    return {
        "apiVersion": CRD_API_VERSION,
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{names.plural}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "gitmoor"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": names.kind,
                "listKind": f"{names.kind}List",
                "plural": names.plural,
                "singular": names.singular,
                "shortNames": list(names.short_names),
                "categories": [CATEGORY],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi_schema(model)},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [c.as_dict() for c in names.columns],
                }
            ],
        },
    }


def crds() -> list[dict[str, Any]]:
    """Every CRD gitmoor serves, the sources first."""
    return [
        crd_for(GitSource),
        crd_for(ChartSource),
        crd_for(OCISource),
        crd_for(Sync),
        crd_for(ImageRepository),
        crd_for(ImagePolicy),
        crd_for(ImageUpdateAutomation),
    ]


def openapi_schema(model: Model) -> dict[str, Any]:
    """The structural openAPIV3Schema of one resource model."""
    props = structural_schema(model)["properties"]
    return {
        "description": _NAMES[model].description,
        "type": "object",
        "required": ["spec"],
        "properties": {
            # The API server owns these three; a CRD may not constrain metadata beyond its name.
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": props["spec"],
            "status": props["status"],
        },
    }


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of `model` (by alias) as a structural OpenAPI v3 schema.

    Raises ValueError naming the field when the model uses a construct a structural schema
    cannot express (a union other than with None, a field of type Any, allOf of several).
    """
    schema = model.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})
    schema["__def__"] = model.__name__
    return _Walker(defs, _rules_by_def_name()).convert(schema, "")


def _rules_by_def_name() -> dict[str, dict[str, tuple[Rule, ...]]]:
    # pydantic names a model's $defs entry after the class while names do not collide.
    out: dict[str, dict[str, tuple[Rule, ...]]] = {}
    for (model, alias), rules in _RULES.items():
        out.setdefault(model.__name__, {})[alias] = rules
    return out


class _Walker:
    def __init__(self, defs: dict[str, Any], rules: dict[str, dict[str, tuple[Rule, ...]]]) -> None:
        self._defs = defs
        self._rules = rules
        self._open: list[str] = []  # models being converted, to refuse recursive ones

    def convert(self, node: dict[str, Any], path: str) -> dict[str, Any]:
        node = self._flatten(node, path)
        out: dict[str, Any] = {}
        def_name = node.pop("__def__", None)
        kind = node.get("type")
        if node.get("x-kubernetes-int-or-string"):
            return {k: copy.deepcopy(v) for k, v in node.items() if k != "type"}
        if kind is None:
            raise ValueError(f"{path}: no type can be stated structurally for {node!r}")
        if kind == "null":
            raise ValueError(f"{path}: a field that can only be null has no structural type")
        out["type"] = kind
        for key, value in node.items():
            if key in _DROPPED or key == "type":
                continue
            if key in _KEPT:
                out[key] = copy.deepcopy(value)
            elif key == "format":
                if value in _FORMATS:
                    out["format"] = value
            elif key == "enum":
                out["enum"] = list(value)
            elif key == "const":
                out["enum"] = [value]
            elif key == "default":
                if value is not None:
                    out["default"] = copy.deepcopy(value)
            elif key == "exclusiveMinimum":
                # JSON Schema 2020-12 states the bound; OpenAPI v3.0 marks `minimum` exclusive.
                out["minimum"], out["exclusiveMinimum"] = value, True
            elif key == "exclusiveMaximum":
                out["maximum"], out["exclusiveMaximum"] = value, True
            elif key == "uniqueItems":
                if value:
                    # A structural schema forbids uniqueItems; a set-typed list says the same.
                    out["x-kubernetes-list-type"] = "set"
            elif key.startswith("x-kubernetes-"):
                out[key] = copy.deepcopy(value)
            elif key in ("properties", "items", "additionalProperties"):
                continue
            else:
                raise ValueError(f"{path}: JSON Schema keyword {key!r} has no structural form")
        if kind == "object":
            if def_name in self._open:
                raise ValueError(f"{path}: {def_name} contains itself; a CRD schema cannot")
            self._open.append(def_name or "")
            try:
                self._object(node, out, path, def_name)
            finally:
                self._open.pop()
        elif kind == "array":
            if "items" not in node:
                raise ValueError(f"{path}: an array needs a typed items schema")
            out["items"] = self.convert(node["items"], f"{path}[]")
            if path.rsplit(".", 1)[-1] == "conditions" and "type" in out["items"].get(
                "required", ()
            ):
                # Conditions are a map keyed by type, so several writers can own one each.
                out["x-kubernetes-list-type"] = "map"
                out["x-kubernetes-list-map-keys"] = ["type"]
        return out

    def _object(
        self, node: dict[str, Any], out: dict[str, Any], path: str, def_name: str | None
    ) -> None:
        props: dict[str, Any] = node.get("properties", {})
        extra = node.get("additionalProperties")
        rules = self._rules.get(def_name or "", {})
        if props:
            out["properties"] = {}
            for name, sub in props.items():
                converted = self.convert(sub, f"{path}.{name}" if path else name)
                for rule in rules.get(name, ()):
                    converted.setdefault("x-kubernetes-validations", []).append(rule.as_dict())
                out["properties"][name] = converted
        # `additionalProperties: false` is what pruning does anyway, and a structural schema
        # may not combine additionalProperties with properties.
        if isinstance(extra, dict) and extra:
            if props:
                raise ValueError(f"{path}: both fixed properties and a map of extra ones")
            out["additionalProperties"] = self.convert(extra, f"{path}.*")
        elif (extra is True or extra == {}) or (not props and extra is None):
            # A free-form object (dict[str, Any]): keep what users put in it.
            out["x-kubernetes-preserve-unknown-fields"] = True
        for rule in rules.get("", ()):
            out.setdefault("x-kubernetes-validations", []).append(rule.as_dict())

    def _flatten(self, node: dict[str, Any], path: str) -> dict[str, Any]:
        """Inline `$ref`s and reduce `anyOf`/`allOf` to one typed node.

        Keys beside a `$ref` or union (description, default) win over the referenced schema's.
        """
        node = dict(node)
        def_name: str | None = None
        if "$ref" in node:
            ref = node.pop("$ref")
            def_name = ref.rsplit("/", 1)[-1]
            target = self._flatten(self._defs[def_name], path)
            def_name = target.pop("__def__", None) or def_name
            node = {**target, **node}
        if "allOf" in node:
            parts = node.pop("allOf")
            if len(parts) != 1:
                raise ValueError(f"{path}: allOf of several schemas has no structural form")
            inner = self._flatten(parts[0], path)
            def_name = inner.pop("__def__", None) or def_name
            node = {**inner, **node}
        if "anyOf" in node:
            options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
            types = sorted(o.get("type", "") for o in options)
            if len(options) == 1:
                inner = self._flatten(options[0], path)
                def_name = inner.pop("__def__", None) or def_name
                node = {**inner, **node}
            elif types == ["integer", "string"]:
                # Kubernetes' IntOrString (`maxUnavailable: 1` or `"25%"`).
                kept = {k: v for k, v in node.items() if k in ("description", "default")}
                node = {**kept, "x-kubernetes-int-or-string": True}
            else:
                raise ValueError(f"{path}: a union of {types} has no structural form")
        if def_name:
            node["__def__"] = def_name
        return node
