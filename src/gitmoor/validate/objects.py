"""Each object on its own: is its kind known, does it fit its schema, where will it live.

Built-in kinds are checked against the chosen Kubernetes release's schemas, custom kinds against
the CRDs found, gitmoor's own kinds against their models. Scope decides the namespace the way
the agent's plan does: a target namespace replaces a namespaced object's namespace, and a
cluster-scoped object has none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gitmoor.model import Manifest, ObjectRef
from gitmoor.validate.builtin import BuiltinCatalog
from gitmoor.validate.crds import CustomKinds, crd_schema_findings, is_crd
from gitmoor.validate.resources import is_gitmoor, model_findings
from gitmoor.validate.schema import Finding, schema_findings

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_HIDDEN_VALUES = frozenset({("", "Secret")})  # their values never go into messages


@dataclass(frozen=True)
class Checked:
    """One object after the per-object checks.

    `ref` is the object as it would be applied (target namespace set, or no namespace when
    cluster-scoped); `namespaced` is None when the kind is unknown.
    """

    manifest: Manifest
    ref: ObjectRef
    namespaced: bool | None
    findings: tuple[tuple[Finding, str], ...]  # ((path, message), check)
    namespace_from_target: bool = False


def check_object(
    manifest: Manifest,
    *,
    builtin: BuiltinCatalog,
    custom: CustomKinds,
    target_namespace: str | None,
) -> Checked:
    obj = manifest.obj
    ref = manifest.ref
    findings: list[tuple[Finding, str]] = []
    namespaced = _kind_findings(obj, ref, builtin, custom, findings)
    meta = obj.get("metadata") or {}
    namespace = str(meta.get("namespace") or "")
    from_target = False
    if namespaced is True:
        if target_namespace:
            from_target = namespace != target_namespace
            namespace = target_namespace
        elif not namespace:
            findings.append(
                (
                    (
                        ("metadata", "namespace"),
                        "the object is namespaced but has no namespace, and no target "
                        "namespace is set (set metadata.namespace; or the targetNamespace of a "
                        "Sync whose path this is, in the repository or given with --sync FILE; "
                        "or --target-namespace)",
                    ),
                    "namespace",
                )
            )
    elif namespaced is False:
        namespace = ""
    if namespace and not _DNS_LABEL.match(namespace):
        findings.append(
            (
                (("metadata", "namespace"), f"{namespace!r} is not a valid namespace name"),
                "namespace",
            )
        )
    if ref.group == "" and ref.kind == "Namespace" and not _DNS_LABEL.match(ref.name):
        findings.append(
            (
                (
                    ("metadata", "name"),
                    f"{ref.name!r} is not a valid namespace name (lowercase letters, digits "
                    "and '-', at most 63, starting and ending with a letter or digit)",
                ),
                "schema",
            )
        )
    final = ObjectRef(ref.group, ref.kind, namespace, ref.name)
    return Checked(manifest, final, namespaced, tuple(findings), from_target)


def _kind_findings(
    obj: dict[str, Any],
    ref: ObjectRef,
    builtin: BuiltinCatalog,
    custom: CustomKinds,
    findings: list[tuple[Finding, str]],
) -> bool | None:
    """Schema findings for the object's kind; returns whether the kind is namespaced."""
    api_version = str(obj.get("apiVersion", ""))
    version = api_version.rpartition("/")[2]
    if is_gitmoor(obj):
        found, _ = model_findings(obj)
        findings.extend((f, "gitmoor") for f in found)
        return True
    kind = builtin.kind(api_version, ref.kind)
    if kind is not None:
        show = (ref.group, ref.kind) not in _HIDDEN_VALUES
        found = schema_findings(builtin.validator(kind), obj, show_values=show)
        findings.extend((f, "schema") for f in found)
        if is_crd(obj):
            findings.extend((f, "schema") for f in crd_schema_findings(obj))
        return kind.namespaced
    defined = custom.get(ref.group, ref.kind)
    if defined is not None:
        served = defined.served()
        entry = defined.versions.get(version)
        if entry is None or not entry.served:
            why = "is not a version of" if entry is None else "is not served by"
            findings.append(
                (
                    (
                        ("apiVersion",),
                        f"{version} {why} the CustomResourceDefinition for {ref.kind} "
                        f"({defined.origin}); served: {', '.join(served) or 'none'}",
                    ),
                    "kind",
                )
            )
            return defined.namespaced
        if entry.validator is not None:
            findings.extend((f, "schema") for f in schema_findings(entry.validator, obj))
        metadata = obj.get("metadata")
        if isinstance(metadata, dict):
            for path, message in schema_findings(builtin.object_meta(), metadata):
                findings.append(((("metadata", *path), message), "schema"))
        return defined.namespaced
    findings.append(_unknown(api_version, ref, builtin))
    return None


def _unknown(api_version: str, ref: ObjectRef, builtin: BuiltinCatalog) -> tuple[Finding, str]:
    served = builtin.versions_of(ref.group, ref.kind)
    release = f"Kubernetes {builtin.version}"
    if served:
        group = f"{ref.group}/" if ref.group else ""
        use = ", ".join(group + v for v in served)
        return (
            ("apiVersion",),
            f"{ref.kind} is not served in {api_version} by {release}: use {use}",
        ), "kind"
    if builtin.has_group(ref.group):
        return (
            ("kind",),
            f"{release} has no kind {ref.kind} in {api_version}",
        ), "kind"
    return (
        ("kind",),
        f"unknown kind {ref.kind} in {api_version}: not built into {release}, and no "
        "CustomResourceDefinition for it in the validated paths or --crds",
    ), "kind"
