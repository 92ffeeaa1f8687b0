"""Rules for the simpler built-in kinds: PersistentVolumeClaim, Service, Namespace,
CustomResourceDefinition, PodDisruptionBudget, Ingress, APIService, HorizontalPodAutoscaler and
CronJob."""

from __future__ import annotations

import json
from typing import Any

from gitmoor.health.facts import (
    Outcome,
    condition,
    current,
    describe,
    failed,
    in_progress,
    is_false,
    is_true,
    joined,
    number,
    section,
    unobserved,
)


def persistent_volume_claim(obj: dict[str, Any]) -> Outcome:
    phase = section(obj, "status").get("phase") or "Pending"
    if phase == "Bound":
        return current("PVC is Bound")
    if phase == "Lost":
        return failed("PVC lost its PersistentVolume")
    # A storage class with volumeBindingMode WaitForFirstConsumer binds only once a pod uses the
    # claim; such a claim stays here until its pod is scheduled.
    return in_progress(f"PVC is {phase}, not Bound")


def service(obj: dict[str, Any]) -> Outcome:
    if section(obj, "spec").get("type") != "LoadBalancer":
        return current()
    addresses = _addresses(section(section(obj, "status"), "loadBalancer").get("ingress") or ())
    if not addresses:
        return in_progress("waiting for a load balancer address")
    return current(f"load balancer at {', '.join(addresses)}")


def namespace(obj: dict[str, Any]) -> Outcome:
    phase = section(obj, "status").get("phase")
    if phase == "Active":
        return current()
    if phase == "Terminating":
        return in_progress("Namespace is terminating")
    return in_progress(f"Namespace is {phase or 'not yet Active'}")


def custom_resource_definition(obj: dict[str, Any]) -> Outcome:
    names = condition(obj, "NamesAccepted")
    if is_false(names):
        # Another CRD already claims these names: the API server will not serve this one.
        return failed(joined("CRD names not accepted", describe(names)))
    established = condition(obj, "Established")
    if is_true(established):
        return current("CRD is Established")
    return in_progress(joined("CRD is not yet Established", describe(established)))


def pod_disruption_budget(obj: dict[str, Any]) -> Outcome:
    if waiting := unobserved(obj):
        return waiting
    status = section(obj, "status")
    healthy, wanted = number(status, "currentHealthy"), number(status, "desiredHealthy")
    if healthy < wanted:
        return in_progress(f"budget not met: {healthy}/{wanted} healthy pods")
    return current(f"budget met: {healthy}/{wanted} healthy pods")


def ingress(obj: dict[str, Any]) -> Outcome:
    entries = section(section(obj, "status"), "loadBalancer").get("ingress") or ()
    addresses = _addresses(entries)
    if not addresses:
        return in_progress("waiting for the ingress controller to publish an address")
    return current(f"published at {', '.join(addresses)}")


def api_service(obj: dict[str, Any]) -> Outcome:
    available = condition(obj, "Available")
    if is_true(available):
        return current("APIService is Available")
    # An aggregated API is unavailable while its backing Service's pods start: the cause is
    # usually elsewhere (a Deployment also being waited on), so it is awaited, not failed.
    return in_progress(joined("APIService is not Available", describe(available)))


# HPA reasons for a False condition that mean its target or metrics cannot be read at all.
_HPA_BROKEN = frozenset({"FailedGetScale", "FailedUpdateScale"})


def horizontal_pod_autoscaler(obj: dict[str, Any]) -> Outcome:
    obj = _hpa_v1_conditions(obj)
    active = condition(obj, "ScalingActive")
    able = condition(obj, "AbleToScale")
    if active is None and able is None:
        return in_progress("waiting for the autoscaler to compute its first metrics")
    if able is not None and is_false(able) and able.get("reason") in _HPA_BROKEN:
        return failed(joined("HPA cannot scale its target", describe(able)))
    if is_false(active):
        if active is not None and active.get("reason") == "ScalingDisabled":
            # Its target was scaled to zero on purpose: autoscaling is off until it is not.
            return current(joined("autoscaling disabled", describe(active)))
        return failed(joined("HPA cannot compute its metrics", describe(active)))
    if not is_true(active):
        return in_progress(joined("HPA metrics not yet known", describe(active)))
    status = section(obj, "status")
    return current(
        f"{number(status, 'currentReplicas')} replicas, {number(status, 'desiredReplicas')} desired"
    )


_HPA_V1_CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"


def _hpa_v1_conditions(obj: dict[str, Any]) -> dict[str, Any]:
    """The object with its conditions where the rules read them: autoscaling/v1 has no
    status.conditions, the API server serves them as a JSON annotation instead."""
    status = section(obj, "status")
    raw = (section(obj, "metadata").get("annotations") or {}).get(_HPA_V1_CONDITIONS)
    if status.get("conditions") or not isinstance(raw, str):
        return obj
    try:
        conditions = json.loads(raw)
    except ValueError:
        return obj  # unreadable: judged as an autoscaler that has said nothing yet
    return {**obj, "status": {**status, "conditions": conditions}}


def cron_job(obj: dict[str, Any]) -> Outcome:
    if section(obj, "spec").get("suspend"):
        return current("CronJob is suspended")
    status = section(obj, "status")
    scheduled, succeeded = status.get("lastScheduleTime"), status.get("lastSuccessfulTime")
    running = status.get("active") or ()
    # Timestamps are RFC 3339 in UTC, so they compare as strings. A run scheduled after the last
    # success that is no longer active ended without success.
    if (
        isinstance(scheduled, str)
        and not running
        and (not isinstance(succeeded, str) or succeeded < scheduled)
    ):
        return failed(f"the run scheduled at {scheduled} did not succeed")
    if running:
        return current(f"{len(running)} job(s) running; next runs follow the schedule")
    if isinstance(succeeded, str):
        return current(f"last run succeeded at {succeeded}")
    return current("no run scheduled yet")


def _addresses(entries: Any) -> list[str]:
    return [
        str(address)
        for entry in entries
        if isinstance(entry, dict) and (address := entry.get("ip") or entry.get("hostname"))
    ]
