"""What health rules read from an object, tolerant of absent fields, and what they answer.

Objects are JSON from the API server: any field may be missing while a controller has not yet
written it, so every reader has a default instead of raising.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gitmoor.model import Status


@dataclass(frozen=True)
class Outcome:
    """A rule's answer for one object; `compute` adds the object's identity."""

    status: Status
    message: str = ""


Rule = Callable[[dict[str, Any]], Outcome]


def current(message: str = "") -> Outcome:
    return Outcome(Status.CURRENT, message)


def in_progress(message: str) -> Outcome:
    return Outcome(Status.IN_PROGRESS, message)


def failed(message: str) -> Outcome:
    return Outcome(Status.FAILED, message)


def section(obj: Mapping[str, Any], key: str) -> dict[str, Any]:
    """`obj[key]` when it is a mapping (spec, status, metadata), else an empty one."""
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def number(mapping: Mapping[str, Any], key: str, default: int = 0) -> int:
    """An integer field; absent or null counts as `default` (the API omits zero counts)."""
    value = mapping.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} is {value!r}, not an integer")
    return value


def condition(obj: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    """The status condition of type `kind`, if the object has one."""
    for cond in section(obj, "status").get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return None


def is_true(cond: Mapping[str, Any] | None) -> bool:
    return cond is not None and cond.get("status") == "True"


def is_false(cond: Mapping[str, Any] | None) -> bool:
    return cond is not None and cond.get("status") == "False"


def describe(cond: Mapping[str, Any] | None) -> str:
    """`Reason: message` of a condition, whichever parts it has."""
    if cond is None:
        return ""
    parts = [str(cond[key]).strip() for key in ("reason", "message") if cond.get(key)]
    return ": ".join(p for p in parts if p)


def joined(head: str, detail: str) -> str:
    """`head: detail`, or just `head` when there is no detail."""
    return f"{head}: {detail}" if detail else head


def generation(obj: Mapping[str, Any]) -> int | None:
    value = section(obj, "metadata").get("generation")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def awaiting_generation(obj: Mapping[str, Any]) -> Outcome:
    return in_progress(
        f"waiting for the controller to observe generation {generation(obj) or '(unset)'}"
    )


def unobserved(obj: Mapping[str, Any]) -> Outcome | None:
    """InProgress while the kind's controller has never written `status.observedGeneration`.

    For kinds whose controller always reports it (Deployment, StatefulSet, ...), a status without
    it is a freshly created object that nothing has looked at yet, not a healthy one.
    """
    if section(obj, "status").get("observedGeneration") is None:
        return awaiting_generation(obj)
    return None


def count(n: int, noun: str) -> str:
    """`1 replica`, `2 replicas`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
