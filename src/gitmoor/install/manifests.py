"""The objects that install gitmoor into a cluster, in the order they must be applied.

RBAC is split by purpose so each part can be read, audited and narrowed on its own:

- ClusterRole/ClusterRoleBinding `gitmoor`: what the agent needs for itself (its own resources and
  their status, reading Secrets for Git credentials, recording Events);
- Role/RoleBinding `gitmoor-leader-election`: Leases in the agent's own namespace only;
- ClusterRoleBinding `gitmoor-apply` to `cluster-admin`: applying arbitrary manifests from Git
  needs write access to whatever those manifests hold. This is the binding to narrow (to the
  kinds your Syncs manage), or to drop once tenants' Syncs run as their own serviceAccountName.
"""

from __future__ import annotations

from typing import Any

from gitmoor import __version__
from gitmoor.model.crds import crds
from gitmoor.model.resources import GROUP

DEFAULT_NAMESPACE = "gitmoor-system"
DEFAULT_IMAGE = f"ghcr.io/gitmoor/gitmoor:{__version__}"
NAME = "gitmoor"
APPLY_BINDING = "gitmoor-apply"
LEADER_ELECTION = "gitmoor-leader-election"
HTTP_PORT = 8080
# A path inside the agent's container (an emptyDir), not on the machine rendering this.
_TMP = "/tmp"  # noqa: S108
# The image's non-root user; fixed so file ownership on volumes is predictable.
_UID = 65532

_PART_OF = {"app.kubernetes.io/part-of": NAME}
_SELECTOR = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/component": "agent"}


def manifests(
    *, namespace: str = DEFAULT_NAMESPACE, image: str = DEFAULT_IMAGE
) -> list[dict[str, Any]]:
    """CRDs, Namespace, ServiceAccount, RBAC, Service and the agent Deployment.

    CRDs and the Namespace come first, so applying the list in order always works.
    """
    return [
        *crds(),
        _namespace(namespace),
        _service_account(namespace),
        _agent_cluster_role(),
        _cluster_role_binding(NAME, NAME, namespace),
        _leader_election_role(namespace),
        _leader_election_binding(namespace),
        _apply_binding(namespace),
        _service(namespace),
        _deployment(namespace, image),
    ]


def _meta(name: str, namespace: str = "", **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = dict(_PART_OF)
    meta.update(extra)
    return meta


def _namespace(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(namespace)}


def _service_account(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME, namespace)}


def _agent_cluster_role() -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _meta(NAME),
        "rules": [
            {
                "apiGroups": [GROUP],
                "resources": ["gitsources", "syncs"],
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
            },
            {
                "apiGroups": [GROUP],
                "resources": [
                    "gitsources/status",
                    "syncs/status",
                    "gitsources/finalizers",
                    "syncs/finalizers",
                ],
                "verbs": ["get", "update", "patch"],
            },
            # Git credentials, read by name from the secretRef of a GitSource.
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
            {
                "apiGroups": ["", "events.k8s.io"],
                "resources": ["events"],
                "verbs": ["create", "patch"],
            },
        ],
    }


def _subject(namespace: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": NAME, "namespace": namespace}


def _cluster_role_binding(name: str, role: str, namespace: str, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _meta(name, **meta),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [_subject(namespace)],
    }


def _leader_election_role(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(LEADER_ELECTION, namespace),
        "rules": [
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "verbs": ["get", "create", "update"],
            }
        ],
    }


def _leader_election_binding(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(LEADER_ELECTION, namespace),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": LEADER_ELECTION,
        },
        "subjects": [_subject(namespace)],
    }


def _apply_binding(namespace: str) -> dict[str, Any]:
    return _cluster_role_binding(
        APPLY_BINDING,
        "cluster-admin",
        namespace,
        annotations={
            "kubernetes.io/description": "Lets gitmoor apply whatever the Syncs' manifests "
            "hold. Narrow this binding to the kinds your Syncs manage, or remove it when "
            "every Sync runs as its own serviceAccountName."
        },
    )


def _service(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(NAME, namespace),
        "spec": {
            "selector": dict(_SELECTOR),
            "ports": [{"name": "http", "port": HTTP_PORT, "targetPort": "http"}],
        },
    }


def _deployment(namespace: str, image: str) -> dict[str, Any]:
    labels = {**_PART_OF, **_SELECTOR}
    container = {
        "name": NAME,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["gitmoor"],
        "args": ["run"],
        "env": [
            # Leader election: the Lease lives in the agent's namespace, held by the pod's name.
            _field_env("GITMOOR_NAMESPACE", "metadata.namespace"),
            _field_env("GITMOOR_POD_NAME", "metadata.name"),
            # The root filesystem is read-only: git, helm and kustomize write here instead.
            {"name": "HOME", "value": _TMP},
            {"name": "XDG_CACHE_HOME", "value": "/var/cache/gitmoor"},
        ],
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "initialDelaySeconds": 5,
            "periodSeconds": 10,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 5,
        },
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": _TMP},
            {"name": "cache", "mountPath": "/var/cache/gitmoor"},
            {"name": "data", "mountPath": "/var/lib/gitmoor"},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(NAME, namespace),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(_SELECTOR)},
            # One writer of the ledger volume at a time, even during a rollout.
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": NAME,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": _UID,
                        "runAsGroup": _UID,
                        "fsGroup": _UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {}},
                        {"name": "cache", "emptyDir": {}},
                        # The ledger's home; an emptyDir until the ledger gets a volume claim.
                        {"name": "data", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def _field_env(name: str, field_path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}}
