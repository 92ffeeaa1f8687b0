"""The repository content every scenario applies, identical for both tools.

`objects` objects, round robin over ConfigMaps, ServiceAccounts, Services and Deployments at 0
replicas, spread over `namespaces` Namespaces (which come on top of the count). One file per
namespace and kind, and no kustomization.yaml: plain YAML is what gitmoor renders without
Kustomize, and what Flux's kustomize-controller turns into a generated kustomization.

The first ConfigMap (`cm-00000` in the first namespace) carries `data.revision`: S3 changes it
with a commit, S5 changes it out of band.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

KINDS = ("ConfigMap", "ServiceAccount", "Service", "Deployment")
_SHORT = {"ConfigMap": "cm", "ServiceAccount": "sa", "Service": "svc", "Deployment": "deploy"}
MARKED = "cm-00000"
_PADDING = "x" * 160  # a ConfigMap of a realistic few hundred bytes


@dataclass(frozen=True)
class Layout:
    prefix: str  # namespaces are named <prefix>-00, <prefix>-01, ...
    namespaces: int
    objects: int

    def namespace(self, index: int) -> str:
        return f"{self.prefix}-{index:02d}"

    @property
    def all_namespaces(self) -> list[str]:
        return [self.namespace(i) for i in range(self.namespaces)]

    @property
    def marked(self) -> tuple[str, str]:
        """(namespace, name) of the ConfigMap S3 and S5 change."""
        return self.namespace(0), MARKED


def _object(kind: str, name: str, namespace: str, marker: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace, "labels": {"app": name}}
    if kind == "ConfigMap":
        data = {"revision": marker if name == MARKED else "0", "padding": _PADDING}
        return {"apiVersion": "v1", "kind": kind, "metadata": meta, "data": data}
    if kind == "ServiceAccount":
        return {"apiVersion": "v1", "kind": kind, "metadata": meta}
    if kind == "Service":
        spec: dict[str, Any] = {
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        }
        return {"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": spec}
    container = {
        "name": "app",
        "image": "registry.invalid/bench:1.0",
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
    }
    spec = {
        "replicas": 0,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
    }
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": spec}


def files(layout: Layout, *, marker: str = "0", root: str = "") -> dict[str, str]:
    """Relative path -> YAML text of the whole revision, under `root` in the repository."""
    docs: dict[str, list[dict[str, Any]]] = {}
    for index in range(layout.namespaces):
        ns = layout.namespace(index)
        docs[f"{ns}/namespace.yaml"] = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        ]
    for i in range(layout.objects):
        ns = layout.namespace(i % layout.namespaces)
        kind = KINDS[(i // layout.namespaces) % len(KINDS)]
        name = f"{_SHORT[kind]}-{i:05d}"
        docs.setdefault(f"{ns}/{_SHORT[kind]}.yaml", []).append(_object(kind, name, ns, marker))
    prefix = f"{root.strip('/')}/" if root.strip("/") else ""
    return {
        prefix + path: yaml.safe_dump_all(items, sort_keys=False) for path, items in docs.items()
    }
