"""Custom kinds from CustomResourceDefinitions, each version's openAPIV3Schema as a JSON Schema.

A CRD's schema is OpenAPI v3 with Kubernetes extensions; what the API server does with it is
restated here so that jsonschema does the same:
- `nullable: true` lets a field be null;
- `x-kubernetes-int-or-string: true` takes an integer or a string;
- `x-kubernetes-preserve-unknown-fields: true` keeps fields the schema does not list, where
  otherwise an unlisted field is refused (as server-side apply refuses it);
- `x-kubernetes-embedded-resource: true` is an object with its own apiVersion, kind, metadata;
- OpenAPI's boolean `exclusiveMinimum`/`exclusiveMaximum` become JSON Schema's numeric ones.
`metadata` at the top is checked against the built-in ObjectMeta instead. `pattern`s are RE2,
as in the API server (`gitmoor.validate.patterns`). CEL rules (`x-kubernetes-validations`) and
formats are left to the server's dry run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator

from gitmoor.model import Manifest
from gitmoor.validate.patterns import SCHEMA_FORMATS, CrdValidator, invalid_patterns

CRD_GROUP = "apiextensions.k8s.io"
CRD_KIND = "CustomResourceDefinition"

_KEPT = (
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "multipleOf",
    "required",
)
_ANY_OBJECT: dict[str, Any] = {"type": "object"}
_IDENTITY: dict[str, Any] = {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": _ANY_OBJECT,
}


@dataclass(frozen=True)
class CustomVersion:
    name: str
    served: bool
    validator: Validator | None  # None: the version has no (usable) schema
    # Why the schema is unusable, each at a path below openAPIV3Schema.
    schema_problems: tuple[tuple[tuple[str | int, ...], str], ...] = ()


@dataclass(frozen=True)
class CustomKind:
    """A kind a CRD defines, and where that CRD was found."""

    group: str
    kind: str
    namespaced: bool
    versions: dict[str, CustomVersion] = field(default_factory=dict)
    origin: str = ""

    def served(self) -> list[str]:
        return [v.name for v in self.versions.values() if v.served]


class CustomKinds:
    """Every custom kind known: the first CRD found for a (group, kind) wins."""

    def __init__(self) -> None:
        self._kinds: dict[tuple[str, str], CustomKind] = {}

    def add_all(self, manifests: Iterable[tuple[Manifest, str]]) -> None:
        """Add the CRDs among `manifests`, each given with the place it was found."""
        for manifest, origin in manifests:
            if not is_crd(manifest.obj):
                continue
            kind = custom_kind(manifest.obj, origin)
            if kind is not None:
                self._kinds.setdefault((kind.group, kind.kind), kind)

    def get(self, group: str, kind: str) -> CustomKind | None:
        return self._kinds.get((group, kind))

    def __len__(self) -> int:
        return len(self._kinds)


def is_crd(obj: Mapping[str, Any]) -> bool:
    api_version = str(obj.get("apiVersion", ""))
    return obj.get("kind") == CRD_KIND and api_version.startswith(f"{CRD_GROUP}/")


def custom_kind(crd: Mapping[str, Any], origin: str) -> CustomKind | None:
    """The kind a CRD defines; None when the CRD is too broken to say (its own schema check
    reports why)."""
    spec = crd.get("spec")
    if not isinstance(spec, Mapping):
        return None
    names = spec.get("names")
    group, kind = spec.get("group"), names.get("kind") if isinstance(names, Mapping) else None
    if not isinstance(group, str) or not isinstance(kind, str):
        return None
    versions: dict[str, CustomVersion] = {}
    for entry in spec.get("versions") or ():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            continue
        versions[entry["name"]] = _version(entry)
    return CustomKind(group, kind, spec.get("scope") != "Cluster", versions, origin)


def crd_schema_findings(crd: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """The versions of a CRD whose openAPIV3Schema cannot be used to check its objects."""
    spec = crd.get("spec")
    entries = spec.get("versions") if isinstance(spec, Mapping) else None
    out: list[tuple[tuple[str | int, ...], str]] = []
    for index, entry in enumerate(entries if isinstance(entries, list) else ()):
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            at = ("spec", "versions", index, "schema", "openAPIV3Schema")
            out.extend(((*at, *path), problem) for path, problem in _version(entry).schema_problems)
    return out


def _version(entry: Mapping[str, Any]) -> CustomVersion:
    name, served = str(entry["name"]), entry.get("served") is not False
    schema = entry.get("schema")
    openapi = schema.get("openAPIV3Schema") if isinstance(schema, Mapping) else None
    if not isinstance(openapi, Mapping):
        return CustomVersion(name, served, None)
    patterns = tuple(invalid_patterns(openapi))
    if patterns:
        return CustomVersion(name, served, None, patterns)
    converted = to_json_schema(openapi, top=True)
    try:
        Draft202012Validator.check_schema(converted, format_checker=SCHEMA_FORMATS)
    except SchemaError as err:
        problem = f"unusable openAPIV3Schema: {err.message}"
        return CustomVersion(name, served, None, (((), problem),))
    return CustomVersion(name, served, CrdValidator(converted))


def to_json_schema(
    node: Mapping[str, Any], *, top: bool = False, closed: bool = True
) -> dict[str, Any]:
    """One openAPIV3Schema node as JSON Schema (draft 2020-12), its children converted too.

    `closed` refuses unlisted fields; it is off inside allOf/anyOf/oneOf/not, whose branches
    only add value checks to fields the main schema declares.
    """
    out: dict[str, Any] = {}
    nullable = node.get("nullable") is True
    types: list[str] = []
    if node.get("x-kubernetes-int-or-string") is True:
        types = ["integer", "string"]
    elif isinstance(node.get("type"), str):
        types = [node["type"]]
    if types:
        out["type"] = [*types, "null"] if nullable else (types[0] if len(types) == 1 else types)
    for key in _KEPT:
        if key in node:
            out[key] = node[key]
    if nullable and isinstance(out.get("enum"), list) and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if bound in node:
            out[exclusive if node.get(exclusive) is True else bound] = node[bound]
    for combinator in ("allOf", "anyOf", "oneOf"):
        if isinstance(node.get(combinator), list):
            out[combinator] = [
                to_json_schema(n, closed=False) for n in node[combinator] if isinstance(n, Mapping)
            ]
    if isinstance(node.get("not"), Mapping):
        out["not"] = to_json_schema(node["not"], closed=False)
    if isinstance(node.get("items"), Mapping):
        out["items"] = to_json_schema(node["items"], closed=closed)
    properties = {
        str(k): to_json_schema(v, closed=closed)
        for k, v in (node.get("properties") or {}).items()
        if isinstance(v, Mapping)
    }
    embedded = node.get("x-kubernetes-embedded-resource") is True
    if top or embedded:
        properties = {**_IDENTITY, **properties}
        properties["metadata"] = _ANY_OBJECT  # checked against ObjectMeta separately (top)
    if properties:
        out["properties"] = properties
    additional = node.get("additionalProperties")
    if isinstance(additional, bool):
        out["additionalProperties"] = additional
    elif isinstance(additional, Mapping):
        out["additionalProperties"] = to_json_schema(additional, closed=closed)
    elif closed and _is_object(node) and not _preserves(node):
        out["additionalProperties"] = False
    return out


def _is_object(node: Mapping[str, Any]) -> bool:
    return node.get("type") == "object" or isinstance(node.get("properties"), Mapping)


def _preserves(node: Mapping[str, Any]) -> bool:
    return node.get("x-kubernetes-preserve-unknown-fields") is True
