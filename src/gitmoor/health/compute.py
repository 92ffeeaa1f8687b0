"""The health of one object, from the object alone (no API calls)."""

from __future__ import annotations

from typing import Any

from gitmoor.health import generic
from gitmoor.health.facts import Outcome
from gitmoor.health.rules import RULES
from gitmoor.model import Health, ObjectRef, Status


def compute(obj: dict[str, Any]) -> Health:
    """kstatus-style health of a live object: the generic rules first, then its kind's rule, or
    its `Ready` condition when its kind has no rule (see `gitmoor.health.generic`).

    Never raises for a malformed object: a status that cannot be read yields Unknown with the
    reason, so one odd object cannot break a wait on hundreds.
    """
    ref = ObjectRef.from_object(obj)
    try:
        outcome = _assess(ref, obj)
    except (TypeError, ValueError, AttributeError, KeyError) as err:
        outcome = Outcome(Status.UNKNOWN, f"cannot compute health: {err}")
    return Health(ref, outcome.status, outcome.message)


def _assess(ref: ObjectRef, obj: dict[str, Any]) -> Outcome:
    decided = generic.before_kind(obj)
    if decided is not None:
        return decided
    rule = RULES.get((ref.group, ref.kind))
    return rule(obj) if rule is not None else generic.without_rule(obj)
