"""The table from (API group, kind) to the rule that judges that kind; kinds not listed are
judged by the generic rules alone."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from gitmoor.health import core, gateway, pods, workloads
from gitmoor.health.facts import Rule

_GATEWAY = "gateway.networking.k8s.io"
_ROUTES = ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute")
# Implementations' own kinds with the Gateway API's per-parent status: Envoy Gateway's policies
# (https://gateway.envoyproxy.io/docs/api/extension_types/) and Linkerd's routes
# (https://linkerd.io/2-edge/reference/httproute/).
_ENVOY_GATEWAY = "gateway.envoyproxy.io"
_ENVOY_POLICIES = (
    "SecurityPolicy",
    "BackendTrafficPolicy",
    "ClientTrafficPolicy",
    "EnvoyExtensionPolicy",
    "EnvoyPatchPolicy",
)
_LINKERD_POLICY = "policy.linkerd.io"

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
        ("networking.k8s.io", "Ingress"): core.ingress,
        ("apiregistration.k8s.io", "APIService"): core.api_service,
        ("autoscaling", "HorizontalPodAutoscaler"): core.horizontal_pod_autoscaler,
        ("batch", "CronJob"): core.cron_job,
        (_GATEWAY, "Gateway"): gateway.gateway,
        (_GATEWAY, "GatewayClass"): gateway.gateway_class,
        **{(_GATEWAY, kind): gateway.route for kind in _ROUTES},
        **{(_GATEWAY, kind): gateway.policy for kind in ("BackendTLSPolicy",)},
        (_GATEWAY, "ReferenceGrant"): gateway.always_current,
        **{(_ENVOY_GATEWAY, kind): gateway.policy for kind in _ENVOY_POLICIES},
        **{(_LINKERD_POLICY, kind): gateway.route for kind in ("HTTPRoute", "GRPCRoute")},
    }
)
