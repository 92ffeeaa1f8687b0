"""Rules for the controllers of group `apps`: Deployment, StatefulSet, DaemonSet, ReplicaSet.

Each is Current only when its controller has observed the latest spec and every desired replica
runs the latest template and is available. The counts in the status are the truth here; the
conditions add why a rollout is stuck.
"""

from __future__ import annotations

from typing import Any

from gitmoor.health.facts import (
    Outcome,
    condition,
    count,
    current,
    describe,
    failed,
    in_progress,
    is_true,
    joined,
    number,
    section,
    unobserved,
)


def deployment(obj: dict[str, Any]) -> Outcome:
    if waiting := unobserved(obj):
        return waiting
    spec, status = section(obj, "spec"), section(obj, "status")
    progressing = condition(obj, "Progressing")
    # The controller gives up on a rollout after spec.progressDeadlineSeconds and says so only
    # here; nothing else will change until the spec does.
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return failed(joined("Deployment exceeded its progress deadline", describe(progressing)))
    if spec.get("paused"):
        return current("Deployment is paused: its rollout is not awaited")
    replica_failure = condition(obj, "ReplicaFailure")
    if is_true(replica_failure):
        return in_progress(joined("cannot create pods", describe(replica_failure)))
    wanted = number(spec, "replicas", 1)
    updated = number(status, "updatedReplicas")
    if updated < wanted:
        return in_progress(f"{updated}/{wanted} replicas updated")
    old = number(status, "replicas") - updated
    if old > 0:
        return in_progress(f"{count(old, 'old replica')} pending termination")
    available = number(status, "availableReplicas")
    if available < wanted:
        return in_progress(f"{available}/{wanted} replicas available")
    available_cond = condition(obj, "Available")
    if not is_true(available_cond):
        return in_progress(joined("Deployment is not Available", describe(available_cond)))
    # Without a progress deadline (set to the maximum) the controller keeps no Progressing
    # condition; with one, it marks the end of a rollout with NewReplicaSetAvailable.
    if progressing is not None and not (
        is_true(progressing) and progressing.get("reason") == "NewReplicaSetAvailable"
    ):
        return in_progress(joined("rollout in progress", describe(progressing)))
    return current(f"{available}/{wanted} replicas available")


def stateful_set(obj: dict[str, Any]) -> Outcome:
    if waiting := unobserved(obj):
        return waiting
    spec, status = section(obj, "spec"), section(obj, "status")
    wanted = number(spec, "replicas", 1)
    replicas = number(status, "replicas")
    if replicas < wanted:
        return in_progress(f"{replicas}/{wanted} replicas created")
    ready = number(status, "readyReplicas")
    if ready < wanted:
        return in_progress(f"{ready}/{wanted} replicas ready")
    # availableReplicas (minReadySeconds) is reported by every supported release; older API
    # servers omit it, and then readiness is all there is.
    if "availableReplicas" in status and number(status, "availableReplicas") < wanted:
        return in_progress(f"{number(status, 'availableReplicas')}/{wanted} replicas available")
    if replicas > wanted:
        return in_progress(f"{count(replicas - wanted, 'replica')} pending termination")
    strategy = section(spec, "updateStrategy")
    if strategy.get("type") == "OnDelete":
        # The controller replaces pods only when someone deletes them: there is no rollout to
        # wait for.
        return current(f"{ready}/{wanted} replicas ready (OnDelete: pods update when deleted)")
    update_revision = status.get("updateRevision")
    if update_revision == status.get("currentRevision"):
        return current(f"{ready}/{wanted} replicas ready")
    updated = number(status, "updatedReplicas")
    partition = number(section(strategy, "rollingUpdate"), "partition")
    if partition > 0:
        # Ordinals below the partition keep the old revision on purpose (a canary), so the
        # revisions never converge: the rollout is done when every pod above it is updated.
        target = max(wanted - partition, 0)
        if updated < target:
            return in_progress(f"{updated}/{target} replicas updated (partition {partition})")
        return current(f"partitioned rollout complete: {updated}/{wanted} replicas updated")
    return in_progress(f"rolling out revision {update_revision}: {updated}/{wanted} updated")


def daemon_set(obj: dict[str, Any]) -> Outcome:
    if waiting := unobserved(obj):
        return waiting
    spec, status = section(obj, "spec"), section(obj, "status")
    if status.get("desiredNumberScheduled") is None:
        return in_progress("waiting for the controller to count eligible nodes")
    desired = number(status, "desiredNumberScheduled")
    scheduled = number(status, "currentNumberScheduled")
    if scheduled < desired:
        return in_progress(f"{scheduled}/{desired} pods scheduled")
    on_delete = section(spec, "updateStrategy").get("type") == "OnDelete"
    updated = number(status, "updatedNumberScheduled")
    if not on_delete and updated < desired:
        return in_progress(f"{updated}/{desired} pods updated")
    available = number(status, "numberAvailable")
    if available < desired:
        return in_progress(f"{available}/{desired} pods available")
    return current(f"{available}/{desired} pods available")


def replica_set(obj: dict[str, Any]) -> Outcome:
    if waiting := unobserved(obj):
        return waiting
    spec, status = section(obj, "spec"), section(obj, "status")
    replica_failure = condition(obj, "ReplicaFailure")
    if is_true(replica_failure):
        return in_progress(joined("cannot create pods", describe(replica_failure)))
    wanted = number(spec, "replicas", 1)
    replicas = number(status, "replicas")
    if replicas > wanted:
        return in_progress(f"{count(replicas - wanted, 'replica')} pending termination")
    ready = number(status, "readyReplicas")
    if ready < wanted:
        return in_progress(f"{ready}/{wanted} replicas ready")
    available = number(status, "availableReplicas")
    if available < wanted:
        return in_progress(f"{available}/{wanted} replicas available")
    return current(f"{available}/{wanted} replicas available")
