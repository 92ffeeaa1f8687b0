"""kstatus-style health of objects, and waiting on a ChangeSet. Writes nothing.

`compute(obj)` judges one live object (pure); `wait_healthy(kube, targets, timeout=...)` polls a
set of objects until all are Current, one Failed, or time is up, and returns a `Verdict`.
"""

from gitmoor.health.compute import compute
from gitmoor.health.rules import RULES
from gitmoor.health.wait import ObjectReader, wait_healthy

__all__ = ["RULES", "ObjectReader", "compute", "wait_healthy"]
