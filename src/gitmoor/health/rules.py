"""The table from (API group, kind) to the rule that judges that kind; kinds not listed are
judged by the generic rules alone."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from gitmoor.health import core, pods, workloads
from gitmoor.health.facts import Rule

RULES: Mapping[tuple[str, str], Rule] = MappingProxyType(
    {
        ("apps", "Deployment"): workloads.deployment,
        ("apps", "StatefulSet"): workloads.stateful_set,
        ("apps", "DaemonSet"): workloads.daemon_set,
        ("apps", "ReplicaSet"): workloads.replica_set,
        ("batch", "Job"): pods.job,
        ("", "Pod"): pods.pod,
        ("", "PersistentVolumeClaim"): core.persistent_volume_claim,
        ("", "Service"): core.service,
        ("", "Namespace"): core.namespace,
        ("apiextensions.k8s.io", "CustomResourceDefinition"): core.custom_resource_definition,
        ("policy", "PodDisruptionBudget"): core.pod_disruption_budget,
    }
)
