"""Identity of Kubernetes objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class ObjectRef:
    """Identity of a Kubernetes object; the key of every map of objects.

    `group` is empty for the core API group; `namespace` is empty for cluster-scoped objects.
    """

    group: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> ObjectRef:
        api_version = str(obj.get("apiVersion", ""))
        group = api_version.rpartition("/")[0]
        meta = obj.get("metadata") or {}
        return cls(
            group,
            str(obj.get("kind", "")),
            str(meta.get("namespace") or ""),
            str(meta.get("name") or _generated(meta)),
        )

    @property
    def subject(self) -> str:
        """`Kind/namespace/name`, or `Kind/name` when cluster-scoped: how users read objects."""
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"

    def __str__(self) -> str:
        return self.subject


def _generated(meta: dict[str, Any]) -> str:
    # An object named by the server at creation (`generateName`) until it has its name.
    prefix = meta.get("generateName")
    return f"{prefix}*" if isinstance(prefix, str) and prefix else ""


@dataclass(frozen=True, order=True)
class Missing:
    """Something a revision needs that the cluster does not have yet, so that waiting (and
    watching for it) can help: a Namespace (`kind` "Namespace", `name` its name) or a kind no
    API serves (`kind` "Kind", `name` written `Kind.group`, just `Kind` in the core group)."""

    kind: str
    name: str

    NAMESPACE = "Namespace"
    KIND = "Kind"

    @classmethod
    def namespace(cls, name: str) -> Missing:
        return cls(cls.NAMESPACE, name)

    @classmethod
    def served_kind(cls, group: str, kind: str) -> Missing:
        return cls(cls.KIND, f"{kind}.{group}" if group else kind)

    def __str__(self) -> str:
        return f"namespace {self.name}" if self.kind == self.NAMESPACE else f"kind {self.name}"
