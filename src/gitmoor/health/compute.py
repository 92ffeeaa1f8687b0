"""The health of one object, from the object alone (no API calls)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitmoor.health import generic
from gitmoor.health.exprs import LIBRARY, ExprRule, Key, find
from gitmoor.health.facts import Outcome
from gitmoor.health.rules import RULES
from gitmoor.model import Health, ObjectRef, Status

Overrides = Mapping[Key, ExprRule]
"""User rules by (group, kind): a Sync's `healthCheckExprs` over the agent's `--health-rules`."""


@dataclass(frozen=True)
class Explanation:
    """A verdict and the rule that gave it (for `gitmoor health`)."""

    health: Health
    rule: str


def compute(
    obj: dict[str, Any], *, rules: Overrides | None = None, now: float | None = None
) -> Health:
    """kstatus-style health of a live object: the generic rules first, then a user rule for its
    kind, its built-in rule, its rule in the library (each layer picks its rule with
    `gitmoor.health.exprs.find`: exact version, kind, group family), or else the generic table (see
    `gitmoor.health.generic`). `now` (epoch seconds) is for the no-status grace period.

    Never raises for a malformed object or a failing rule: a status that cannot be read yields
    Unknown with the reason, so one odd object cannot break a wait on hundreds.
    """
    return explain(obj, rules=rules, now=now).health


def explain(
    obj: dict[str, Any], *, rules: Overrides | None = None, now: float | None = None
) -> Explanation:
    """`compute`, and which rule decided."""
    ref = ObjectRef.from_object(obj)
    try:
        outcome, rule = _assess(ref, obj, rules, now)
    except (TypeError, ValueError, AttributeError, KeyError) as err:
        outcome, rule = Outcome(Status.UNKNOWN, f"cannot compute health: {err}"), "error"
    return Explanation(Health(ref, outcome.status, outcome.message), rule)


def _assess(
    ref: ObjectRef, obj: dict[str, Any], rules: Overrides | None, now: float | None
) -> tuple[Outcome, str]:
    decided = generic.before_kind(obj)
    if decided is not None:
        return decided, "generic (deletion, observedGeneration, Reconciling, Stalled)"
    version = str(obj.get("apiVersion", "")).rpartition("/")[2]
    user = find(rules, ref.group, version, ref.kind) if rules else None
    if user is not None:
        outcome, matched = user.explain(obj)
        return outcome, f"{user.origin}; {matched}"
    built_in = RULES.get((ref.group, ref.kind))
    if built_in is not None:
        return built_in(obj), f"built-in {ref.kind} rule"
    library = find(LIBRARY, ref.group, version, ref.kind)
    if library is not None:
        outcome, matched = library.explain(obj)
        return outcome, f"{library.origin}; {matched}"
    return generic.without_rule(obj, now=now), "generic table"
