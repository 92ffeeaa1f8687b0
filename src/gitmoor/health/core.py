"""Rules for the simpler built-in kinds: PersistentVolumeClaim, Service, Namespace,
CustomResourceDefinition and PodDisruptionBudget."""

from __future__ import annotations

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
from gitmoor.model import Status


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
    ingress = section(section(obj, "status"), "loadBalancer").get("ingress") or ()
    addresses = [
        str(address)
        for entry in ingress
        if isinstance(entry, dict) and (address := entry.get("ip") or entry.get("hostname"))
    ]
    if not addresses:
        return in_progress("waiting for a load balancer address")
    return current(f"load balancer at {', '.join(addresses)}")


def namespace(obj: dict[str, Any]) -> Outcome:
    phase = section(obj, "status").get("phase")
    if phase == "Active":
        return current()
    if phase == "Terminating":
        return Outcome(Status.TERMINATING, "Namespace is terminating")
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
