"""The built-in kinds of one Kubernetes release, offline.

Their JSON schemas come from the `kubernetes-validate` package, which ships the "strict" form of
every release's OpenAPI definitions (unknown fields refused, as server-side apply refuses them).
Only the data files are read: one definitions document per release, with each top-level kind
marked by `x-kubernetes-group-version-kind`.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from gitmoor.errors import PermanentError
from gitmoor.validate.releases import available_versions, schemas_dir
from gitmoor.validate.scopes import CLUSTER_SCOPED

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?$")
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
# Kinds with a group-version-kind that are messages of the API, never stored objects.
_NOT_OBJECTS = frozenset({"APIGroup", "APIVersions", "DeleteOptions", "Status", "WatchEvent"})


class KubernetesVersionError(PermanentError):
    """No schemas for the Kubernetes version asked for."""

    def __init__(self, version: str, available: list[str]) -> None:
        super().__init__(
            f"no schemas for Kubernetes {version!r}: kubernetes-validate knows "
            f"{available[0]} to {available[-1]}"
            if available
            else "no schemas installed"
        )
        self.version = version
        self.available = available


@dataclass(frozen=True)
class BuiltinKind:
    group: str
    version: str
    kind: str
    definition: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def resolve_version(requested: str | None) -> str:
    """The installed release to check against: `requested` (`1.31`, `v1.31`, `1.31.2`), or the
    newest when None. Raises KubernetesVersionError when it is not installed."""
    available = available_versions()
    if requested is None:
        if not available:
            raise KubernetesVersionError("", available)
        return available[-1]
    match = _VERSION.match(requested.strip())
    wanted = f"{match.group(1)}.{match.group(2)}" if match else None
    if wanted is None or wanted not in available:
        raise KubernetesVersionError(requested, available)
    return wanted


class BuiltinCatalog:
    """The built-in kinds of one release and a schema validator for each."""

    def __init__(self, version: str, definitions: dict[str, Any]) -> None:
        self.version = version
        self._definitions = definitions
        self._registry: Registry[Any] = Registry().with_resource(
            definitions["$id"], Resource.from_contents(definitions)
        )
        self._kinds: dict[tuple[str, str, str], BuiltinKind] = {}
        self._versions: dict[tuple[str, str], list[str]] = defaultdict(list)
        for name, schema in definitions["$defs"].items():
            for gvk in schema.get("x-kubernetes-group-version-kind") or ():
                group, version, kind = gvk["group"], gvk["version"], gvk["kind"]
                if kind in _NOT_OBJECTS or kind.endswith("List"):
                    continue
                namespaced = (group, kind) not in CLUSTER_SCOPED
                self._kinds[(group, version, kind)] = BuiltinKind(
                    group, version, kind, name, namespaced
                )
                self._versions[(group, kind)].append(version)
        self._groups = frozenset(group for group, _, _ in self._kinds)
        self._validators: dict[str, Draft202012Validator] = {}

    @classmethod
    def load(cls, version: str | None = None) -> BuiltinCatalog:
        """The catalog of `version` (see `resolve_version`); loaded once per process."""
        return _load(resolve_version(version))

    def kind(self, api_version: str, kind: str) -> BuiltinKind | None:
        group, _, version = api_version.rpartition("/")
        return self._kinds.get((group, version, kind))

    def kinds(self) -> list[BuiltinKind]:
        return list(self._kinds.values())

    def versions_of(self, group: str, kind: str) -> list[str]:
        """The API versions that serve a built-in kind (empty when it is not built in)."""
        return sorted(self._versions.get((group, kind), ()))

    def has_group(self, group: str) -> bool:
        return group in self._groups

    def validator(self, kind: BuiltinKind) -> Draft202012Validator:
        return self._validator(kind.definition)

    def object_meta(self) -> Draft202012Validator:
        """metadata of any object, custom resources included."""
        return self._validator(_OBJECT_META)

    def _validator(self, definition: str) -> Draft202012Validator:
        validator = self._validators.get(definition)
        if validator is None:
            ref = f"{self._definitions['$id']}#/$defs/{definition}"
            validator = Draft202012Validator({"$ref": ref}, registry=self._registry)
            self._validators[definition] = validator
        return validator


@functools.cache
def _load(version: str) -> BuiltinCatalog:
    directory = schemas_dir(version)
    definitions = orjson.loads(directory.joinpath("_definitions.json").read_bytes())
    return BuiltinCatalog(version, definitions)
