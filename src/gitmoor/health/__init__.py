"""kstatus-style health of objects, and waiting on a ChangeSet. Writes nothing.

`compute(obj)` judges one live object (pure); `wait_healthy(kube, targets, timeout=...)` polls a
set of objects until all are Current, one Failed, or time is up, and returns a `Verdict`. User
rules (CEL, see `gitmoor.health.exprs`) come as `rules=`: `load_rules` reads a rules file,
`sync_rules` adds a Sync's `spec.healthCheckExprs` to the agent-wide ones.
"""

from gitmoor.health.compute import Explanation, Overrides, compute, explain
from gitmoor.health.exprs import LIBRARY, ExprRule, RuleError, load_rules, sync_rules
from gitmoor.health.rules import RULES
from gitmoor.health.wait import ObjectReader, wait_healthy

__all__ = [
    "LIBRARY",
    "RULES",
    "Explanation",
    "ExprRule",
    "ObjectReader",
    "Overrides",
    "RuleError",
    "compute",
    "explain",
    "load_rules",
    "sync_rules",
    "wait_healthy",
]
