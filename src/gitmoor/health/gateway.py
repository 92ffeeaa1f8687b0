"""Rules for the Gateway API (group gateway.networking.k8s.io).

A Gateway (and GatewayClass) reports `Accepted` and `Programmed` for itself; a route reports
`Accepted` and `ResolvedRefs` once per parent Gateway that it names (`status.parents`), a policy
once per ancestor (`status.ancestors`). The conditions' reasons separate "not done yet" (Pending,
the API server's default before any controller looked) from "will not work as written"
(Invalid, NotAllowedByListeners, BackendNotFound, RefNotPermitted...): only the latter fails.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gitmoor.health.facts import (
    Outcome,
    awaiting_generation,
    current,
    describe,
    failed,
    generation,
    in_progress,
    joined,
    section,
)

# Reasons that mean "wait": the controller has not got to it, or is still at work.
_WAITING_REASONS = frozenset(
    {"Pending", "NotReconciled", "Waiting", "Unknown", "AddressNotAssigned", "NoResources", ""}
)


def gateway(obj: dict[str, Any]) -> Outcome:
    conditions = section(obj, "status").get("conditions") or ()
    return _judge(obj, conditions, ("Accepted", "Programmed"), "Gateway") or current(
        "Gateway is Accepted and Programmed"
    )


def gateway_class(obj: dict[str, Any]) -> Outcome:
    conditions = section(obj, "status").get("conditions") or ()
    return _judge(obj, conditions, ("Accepted",), "GatewayClass") or current(
        "GatewayClass is Accepted"
    )


def route(obj: dict[str, Any]) -> Outcome:
    return _per_parent(obj, "parents", "parentRef", "parent")


def policy(obj: dict[str, Any]) -> Outcome:
    # Policies report Accepted per ancestor; ResolvedRefs only where the policy refers to
    # other objects (BackendTLSPolicy's CA certificates), so it is judged when present.
    return _per_parent(obj, "ancestors", "ancestorRef", "ancestor", ("Accepted",))


def always_current(obj: dict[str, Any]) -> Outcome:
    # ReferenceGrant has no status: it takes effect as soon as it exists.
    return current()


def _per_parent(
    obj: dict[str, Any],
    field: str,
    ref_field: str,
    noun: str,
    required: tuple[str, ...] = ("Accepted", "ResolvedRefs"),
) -> Outcome:
    parents = [p for p in section(obj, "status").get(field) or () if isinstance(p, dict)]
    if field == "ancestors":
        # Every implementation in the cluster writes an entry for a policy; one that does not
        # manage its target says Accepted=False with reason TargetNotFound, which is not a
        # verdict on the policy (GEP-713's status rules).
        parents = [p for p in parents if not _not_responsible(p)]
    if not parents:
        return in_progress(f"no {noun} has accepted it yet")
    for parent in parents:
        name = _parent_name(section(parent, ref_field))
        conditions = [c for c in parent.get("conditions") or () if isinstance(c, dict)]
        reported = {str(c.get("type")) for c in conditions}
        judged = (*required, *(k for k in ("ResolvedRefs",) if k in reported))
        decided = _judge(obj, conditions, tuple(dict.fromkeys(judged)), name)
        if decided is not None:
            return decided
    return current(f"accepted by {len(parents)} {noun}{'s' if len(parents) != 1 else ''}")


def _not_responsible(ancestor: dict[str, Any]) -> bool:
    for cond in ancestor.get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == "Accepted":
            return cond.get("status") != "True" and cond.get("reason") == "TargetNotFound"
    return False


def _judge(
    obj: dict[str, Any], conditions: Iterable[Any], required: tuple[str, ...], subject: str
) -> Outcome | None:
    """Failed, InProgress, or None when every required condition is True and current."""
    by_type = {c.get("type"): c for c in conditions if isinstance(c, dict)}
    wanted = generation(obj)
    waiting: Outcome | None = None
    for kind in required:
        cond = by_type.get(kind)
        if cond is None:
            waiting = waiting or in_progress(f"{subject}: no {kind} condition yet")
            continue
        observed = cond.get("observedGeneration")
        if isinstance(observed, int) and wanted is not None and observed < wanted:
            waiting = waiting or awaiting_generation(obj)
            continue
        value, reason = cond.get("status"), str(cond.get("reason") or "")
        if value == "True":
            continue
        head = f"{subject}: {kind}={value}"
        if value == "False" and reason not in _WAITING_REASONS:
            return failed(joined(head, describe(cond)))
        waiting = waiting or in_progress(joined(head, describe(cond)))
    return waiting


def _parent_name(ref: dict[str, Any]) -> str:
    kind = ref.get("kind") or "Gateway"
    where = f"{ref['namespace']}/" if ref.get("namespace") else ""
    listener = f" ({ref['sectionName']})" if ref.get("sectionName") else ""
    return f"{kind}/{where}{ref.get('name', '?')}{listener}"
