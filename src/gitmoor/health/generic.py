"""The rules every object is judged by, before and after its kind's own rule.

Before (in this order, the first that applies decides):
1. `metadata.deletionTimestamp` set -> Terminating;
2. `status.observedGeneration` differs from `metadata.generation` -> InProgress: the status
   describes an older spec;
3. condition `Reconciling=True` -> InProgress;
4. condition `Stalled=True` -> Failed: by the conventions this is how a controller says it cannot
   make progress without outside help.

After, only for kinds without a rule of their own, the `Ready` condition: `True` -> Current,
`False` or `Unknown` -> InProgress with its reason. `Ready=False` is deliberately not Failed:
controllers set it while work is ongoing (a certificate being issued, a release installing), and
the conventions reserve "cannot progress" for `Stalled=True`. A wait on such an object times out
with the reason in the message instead of failing early. An object with neither a rule nor a
`Ready` condition (ConfigMap, Secret, RBAC, ...) is Current once it exists.

A `Ready`, `Reconciling` or `Stalled` condition that records an `observedGeneration` older than
the object's generation describes an older spec and is treated as "not observed yet".
"""

from __future__ import annotations

from typing import Any

from gitmoor.health.facts import (
    Outcome,
    awaiting_generation,
    condition,
    current,
    describe,
    failed,
    generation,
    in_progress,
    is_true,
    joined,
    section,
)
from gitmoor.model import Status

_STANDARD_CONDITIONS = ("Ready", "Reconciling", "Stalled")


def before_kind(obj: dict[str, Any]) -> Outcome | None:
    """The generic verdict that overrides any kind rule, or None when it has nothing to say."""
    metadata = section(obj, "metadata")
    if metadata.get("deletionTimestamp"):
        return Outcome(Status.TERMINATING, "deletion in progress")
    observed = section(obj, "status").get("observedGeneration")
    wanted = generation(obj)
    if wanted is not None and observed is not None and observed != wanted:
        return awaiting_generation(obj)
    if wanted is not None and any(_stale(obj, kind, wanted) for kind in _STANDARD_CONDITIONS):
        return awaiting_generation(obj)
    reconciling = condition(obj, "Reconciling")
    if is_true(reconciling):
        return in_progress(joined("reconciling", describe(reconciling)))
    stalled = condition(obj, "Stalled")
    if is_true(stalled):
        return failed(joined("stalled", describe(stalled)))
    return None


def without_rule(obj: dict[str, Any]) -> Outcome:
    """The verdict for a kind with no rule of its own: its `Ready` condition, if any."""
    ready = condition(obj, "Ready")
    if ready is None:
        return current()
    if is_true(ready):
        return current(joined("Ready", str(ready.get("message") or "").strip()))
    if ready.get("status") == "False":
        return in_progress(joined("not Ready", describe(ready)))
    return in_progress(joined("readiness unknown", describe(ready)))


def _stale(obj: dict[str, Any], kind: str, wanted: int) -> bool:
    cond = condition(obj, kind)
    if cond is None:
        return False
    observed = cond.get("observedGeneration")
    return isinstance(observed, int) and observed < wanted
