"""Rules for Pods and Jobs: things that run, and may finish or fail."""

from __future__ import annotations

from collections.abc import Iterator
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
)

# Waiting reasons the kubelet reports after it has already retried and backed off, or for a
# spec it can never start: waiting longer does not help, the pod (or its image) must change.
# ErrImagePull and CreateContainerConfigError are not here: the first often clears on the next
# pull, the second as soon as the missing ConfigMap or Secret (often applied alongside) exists.
_HOPELESS_WAITING = frozenset(
    {"CrashLoopBackOff", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)


def pod(obj: dict[str, Any]) -> Outcome:
    status = section(obj, "status")
    phase = status.get("phase") or "Pending"
    if phase == "Succeeded":
        return current("Pod completed")
    if phase == "Failed":
        return failed(joined("Pod failed", _reason(status)))
    if section(obj, "spec").get("restartPolicy") in ("Never", "OnFailure"):
        # A one-shot pod (a Job's, or a bare migration pod) is done when it exits, not when it
        # runs: Running is work still going on, and a container that exited with an error has
        # failed it even while its siblings run on.
        for name, ended in _terminated(status):
            if number(ended, "exitCode") != 0:
                detail = describe(ended) or "terminated"
                return failed(f"container {name}: {detail} (exit code {ended.get('exitCode')})")
        if phase == "Running":
            return in_progress("one-shot Pod is still running")
    ready = condition(obj, "Ready")
    if phase == "Running" and is_true(ready):
        return current("Pod is Running and Ready")
    for name, waiting in _waiting(status):
        if waiting.get("reason") in _HOPELESS_WAITING:
            return failed(f"container {name}: {describe(waiting)}")
    scheduled = condition(obj, "PodScheduled")
    if is_false(scheduled):
        return in_progress(joined("Pod is not scheduled", describe(scheduled)))
    first_waiting = next(_waiting(status), None)
    if first_waiting is not None:
        name, waiting = first_waiting
        return in_progress(joined(f"container {name} is waiting", describe(waiting)))
    if phase == "Running":
        return in_progress(joined("Pod is Running but not Ready", describe(ready)))
    return in_progress(f"Pod is {phase}")


def job(obj: dict[str, Any]) -> Outcome:
    spec, status = section(obj, "spec"), section(obj, "status")
    # FailureTarget comes first and Failed follows once the pods are gone; both are final.
    for kind in ("Failed", "FailureTarget"):
        cond = condition(obj, kind)
        if is_true(cond):
            return failed(joined("Job failed", describe(cond)))
    succeeded = number(status, "succeeded")
    if is_true(condition(obj, "Complete")) or is_true(condition(obj, "SuccessCriteriaMet")):
        return current(f"Job completed: {succeeded} succeeded")
    if spec.get("suspend") or is_true(condition(obj, "Suspended")):
        # A suspended Job never finishes on its own; whoever suspended it resumes it.
        return current("Job is suspended")
    completions = spec.get("completions")
    done = f"{succeeded}/{completions}" if isinstance(completions, int) else str(succeeded)
    active, failures = number(status, "active"), number(status, "failed")
    return in_progress(f"Job running: {active} active, {done} succeeded, {failures} failed")


def _waiting(status: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(container name, state.waiting) of every waiting container, init containers first."""
    return _in_state(status, "waiting")


def _terminated(status: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(container name, state.terminated) of every ended container, init containers first."""
    return _in_state(status, "terminated")


def _in_state(status: dict[str, Any], state: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for key in ("initContainerStatuses", "containerStatuses"):
        for container in status.get(key) or ():
            detail = section(section(container, "state"), state)
            if detail:
                yield str(container.get("name", "?")), detail


def _reason(status: dict[str, Any]) -> str:
    """Why a failed pod failed: its own reason, else the first container that exited badly."""
    own = describe(status)
    if own:
        return own
    for name, ended in _terminated(status):
        if number(ended, "exitCode") != 0:
            detail = describe(ended) or "terminated"
            return f"container {name}: {detail} (exit code {ended.get('exitCode')})"
    return ""
