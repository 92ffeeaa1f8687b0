"""The rules every object is judged by, before and after its kind's own rule.

Before (in this order, the first that applies decides):
1. `metadata.deletionTimestamp` set -> InProgress ("deletion in progress", naming the finalizers
   that hold it): the object is on its way out, which a wait treats as work going on, as Argo CD
   does ("Pending deletion"); kstatus' separate Terminating status is not used;
2. `status.observedGeneration` older than `metadata.generation` -> InProgress: the status
   describes an older spec;
3. condition `Reconciling=True` -> InProgress;
4. condition `Stalled=True` -> Failed: by the conventions this is how a controller says it cannot
   make progress without outside help.

After, only for kinds without a rule of their own (built in or in the rule library), the table in
`generic.yaml`: the common condition types by polarity, then the `status.phase` / `status.state`
vocabularies, then the grace period of a resource with a spec and no status. `Ready=False` is
deliberately InProgress, not Failed: controllers set it while work is ongoing (a certificate being
issued, a release installing), and the conventions reserve "cannot progress" for `Stalled=True`
and the negative conditions (`Failed`, `Degraded`, ...). A wait on such an object times out with
the reason in the message instead of failing early. An object with nothing to read (ConfigMap,
Secret, RBAC, ...) is Current once it exists.

A condition that records an `observedGeneration` older than the object's generation describes an
older spec and is treated as "not observed yet".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import yaml

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


@dataclass(frozen=True)
class ConditionRule:
    type: str
    positive: bool
    false_is_failure: bool = False


@dataclass(frozen=True)
class Table:
    conditions: tuple[ConditionRule, ...]
    failed_phases: frozenset[str]
    progress_phases: frozenset[str]
    current_phases: frozenset[str]
    grace_seconds: float


def _load() -> Table:
    raw = yaml.safe_load(resources.files("gitmoor.health").joinpath("generic.yaml").read_text())
    phases = raw["phases"]
    return Table(
        conditions=tuple(
            ConditionRule(c["type"], c["polarity"] == "positive", bool(c.get("falseIsFailure")))
            for c in raw["conditions"]
        ),
        failed_phases=frozenset(phases["failed"]),
        progress_phases=frozenset(phases["inProgress"]),
        current_phases=frozenset(phases["current"]),
        grace_seconds=float(raw["noStatusGraceSeconds"]),
    )


TABLE = _load()
_STANDARD_CONDITIONS = ("Ready", "Reconciling", "Stalled")


def before_kind(obj: dict[str, Any]) -> Outcome | None:
    """The generic verdict that overrides any kind rule, or None when it has nothing to say."""
    metadata = section(obj, "metadata")
    if metadata.get("deletionTimestamp"):
        finalizers = [str(f) for f in metadata.get("finalizers") or ()]
        held = f"; waiting for finalizers: {', '.join(finalizers)}" if finalizers else ""
        return in_progress(f"deletion in progress{held}")
    status = section(obj, "status")
    observed = status.get("observedGeneration")
    if isinstance(observed, str):
        # Argo Rollouts writes it as a string ("3"); a non-numeric one (old releases wrote a
        # hash) cannot be compared, so it says nothing.
        observed = int(observed) if observed.isdigit() else None
    wanted = generation(obj)
    # Only an older generation is one not observed yet: a larger number is no generation at all
    # (Argo Rollouts before v0.10 wrote a pod-template hash there, sometimes all digits).
    if wanted is not None and observed is not None and observed < wanted:
        return awaiting_generation(obj)
    listed = status.get("conditions")
    if not listed:
        return None  # most objects: nothing more to read (and this runs for every object)
    by_type = {c.get("type"): c for c in listed if isinstance(c, dict)}
    if wanted is not None:
        for kind in _STANDARD_CONDITIONS:
            seen = (by_type.get(kind) or {}).get("observedGeneration")
            if isinstance(seen, int) and seen < wanted:
                return awaiting_generation(obj)
    reconciling = by_type.get("Reconciling")
    if is_true(reconciling):
        return in_progress(joined("reconciling", describe(reconciling)))
    stalled = by_type.get("Stalled")
    if is_true(stalled):
        return failed(joined("stalled", describe(stalled)))
    return None


def without_rule(obj: dict[str, Any], *, now: float | None = None) -> Outcome:
    """The verdict for a kind with no rule of its own: the generic table."""
    decided = _by_conditions(obj)
    if decided is not None:
        return decided
    status = section(obj, "status")
    for field in ("phase", "state"):
        decided = _by_phase(field, status.get(field))
        if decided is not None:
            return decided
    if not status and "spec" in obj:
        age = _age(obj, time.time() if now is None else now)
        if age is not None and age < TABLE.grace_seconds:
            return in_progress(
                f"no status yet: Current after {TABLE.grace_seconds:g}s if none appears"
            )
    return current()


def _by_conditions(obj: dict[str, Any]) -> Outcome | None:
    wanted = generation(obj)
    seen_good: list[dict[str, Any]] = []
    waiting: Outcome | None = None
    for rule in TABLE.conditions:
        cond = condition(obj, rule.type)
        if cond is None:
            continue
        if wanted is not None and _stale(obj, rule.type, wanted):
            waiting = waiting or awaiting_generation(obj)
            continue
        value = cond.get("status")
        if not rule.positive:
            if value == "True":
                return failed(joined(rule.type, describe(cond)))
            continue
        if value == "True":
            seen_good.append(cond)
        elif value == "False" and (rule.false_is_failure or cond.get("severity") == "Error"):
            # Cluster API (v1beta1), Azure's operator and Knative-style APIs grade a False
            # condition: severity Error means the controller gave up until the spec changes.
            return failed(joined(f"not {rule.type}", describe(cond)))
        elif waiting is None:
            head = f"not {rule.type}" if value == "False" else f"{rule.type} unknown"
            if (rule.type, value) != ("Ready", "False") and rule.type == "Ready":
                head = "readiness unknown"  # the wording users of earlier releases know
            waiting = in_progress(joined(head, describe(cond)))
    if waiting is not None:
        return waiting
    if seen_good:
        first = seen_good[0]
        return current(joined(str(first["type"]), str(first.get("message") or "").strip()))
    return None


def _by_phase(field: str, value: Any) -> Outcome | None:
    if not isinstance(value, str) or not value:
        return None
    word = value.strip().lower()
    if word in TABLE.failed_phases:
        return failed(f"{field} is {value}")
    if word in TABLE.progress_phases:
        return in_progress(f"{field} is {value}")
    if word in TABLE.current_phases:
        return current(f"{field} is {value}")
    return None


def _age(obj: dict[str, Any], now: float) -> float | None:
    created = section(obj, "metadata").get("creationTimestamp")
    if not isinstance(created, str):
        return None
    try:
        stamp = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return None
    return now - stamp.timestamp()


def _stale(obj: dict[str, Any], kind: str, wanted: int) -> bool:
    cond = condition(obj, kind)
    if cond is None:
        return False
    observed = cond.get("observedGeneration")
    return isinstance(observed, int) and observed < wanted
