"""Which objects go together, and in what order.

The foundation phase (CustomResourceDefinitions and Namespaces) comes first because everything
else may need it to be validated at all; then one phase per `gitmoor.io/order` value, ascending
(objects without the annotation are in order 0). Within a phase cluster-scoped objects go before
namespaced ones, and kinds follow the order Helm installs them in, so a ServiceAccount exists
before the Deployment naming it.
"""

from __future__ import annotations

from gitmoor.model import ObjectRef

FOUNDATION = "foundation"
HOOK = "hook"  # created when its moment comes, never applied with a phase

# Helm's install order, a well-known convention for dependencies between built-in kinds.
_KIND_ORDER = (
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
)
_RANK = {kind: rank for rank, kind in enumerate(_KIND_ORDER)}


def is_foundation(ref: ObjectRef) -> bool:
    return (ref.group, ref.kind) in {
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("", "Namespace"),
    }


def sort_key(ref: ObjectRef) -> tuple[int, int, str, str, str]:
    """Cluster-scoped first, then by kind rank (unknown kinds last), then by identity."""
    return (
        1 if ref.namespace else 0,
        _RANK.get(ref.kind, len(_RANK)) if _built_in(ref.group) else len(_RANK),
        ref.kind,
        ref.namespace,
        ref.name,
    )


def phase_name(order: int) -> str:
    return f"order-{order}"


def parse_order(value: str | None) -> int:
    """The phase of an object; raises ValueError for a value that is not an integer."""
    if value is None or value == "":
        return 0
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError(f'annotation gitmoor.io/order must be an integer, got "{value}"') from None


def _built_in(group: str) -> bool:
    # Built-in groups have no dot (apps, batch, policy) or end in .k8s.io.
    return "." not in group or group.endswith(".k8s.io")
