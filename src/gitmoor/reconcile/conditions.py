"""Standard Kubernetes conditions, set the way kubectl and kstatus expect.

`lastTransitionTime` moves only when a condition's status flips, so a reconcile that changes
nothing leaves the status byte for byte as it was, and gitmoor writes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
HEALTHY = "Healthy"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: list[dict[str, Any]],
    type_: str,
    status: bool | None,
    reason: str,
    message: str,
    generation: int | None,
) -> list[dict[str, Any]]:
    """A new list with `type_` set; status None means Unknown."""
    text = "Unknown" if status is None else ("True" if status else "False")
    old = next((c for c in conditions if c.get("type") == type_), None)
    same = old is not None and old.get("status") == text
    when = (old or {}).get("lastTransitionTime") if same else None
    when = when or now()
    new = {
        "type": type_,
        "status": text,
        "reason": reason,
        "message": _clip(message),
        "lastTransitionTime": when,
    }
    if generation is not None:
        new["observedGeneration"] = generation
    others = [c for c in conditions if c.get("type") != type_]
    return _ordered([*others, new])


def remove_condition(conditions: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [c for c in conditions if c.get("type") != type_]


def get_condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def is_true(obj: dict[str, Any] | None, type_: str) -> bool:
    c = get_condition(obj, type_)
    return bool(c and c.get("status") == "True")


_ORDER = {READY: 0, HEALTHY: 1, "Drifted": 2, RECONCILING: 3, STALLED: 4}


def _ordered(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(conditions, key=lambda c: (_ORDER.get(str(c.get("type")), 9), str(c.get("type"))))


def _clip(message: str, limit: int = 32000) -> str:
    # The API server refuses condition messages over 32768 bytes.
    return message if len(message) <= limit else message[: limit - 20] + " ... (truncated)"
