"""desired manifests + live objects + previous inventory -> Plan (see ARCHITECTURE.md).

Nothing in this package writes to the cluster: server-side dry runs are validated and discarded.
"""

from gitmoor.model.labels import owned_by, owner_selector
from gitmoor.plan.diff import changed_paths, differs, normalise, project
from gitmoor.plan.limits import over_prune_limit
from gitmoor.plan.ordering import FOUNDATION, HOOK
from gitmoor.plan.planner import (
    carried_over,
    check_hooks,
    listed_objects,
    live_objects,
    make_plan,
    phases,
    plan_objects,
)
from gitmoor.plan.prepare import Desired, Owner, prepare

__all__ = [
    "FOUNDATION",
    "HOOK",
    "Desired",
    "Owner",
    "carried_over",
    "changed_paths",
    "check_hooks",
    "differs",
    "listed_objects",
    "live_objects",
    "make_plan",
    "normalise",
    "over_prune_limit",
    "owned_by",
    "owner_selector",
    "phases",
    "plan_objects",
    "prepare",
    "project",
]
