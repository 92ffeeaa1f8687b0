"""What one attempt did, as a value: every status, Event, record and notification about the
attempt is derived from it."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any

from gitmoor.errors import GitmoorError
from gitmoor.model import Applied, ChangeSet, InventoryEntry, ObjectRef, Verdict
from gitmoor.model.hooks import HookRuns


class Stage(enum.StrEnum):
    """Where an attempt is (or stopped)."""

    NONE = ""
    RENDER = "render"
    PLAN = "plan"
    APPLY = "apply"
    HOOKS = "hooks"
    WAIT = "wait"
    PRUNE = "prune"


@dataclass
class Outcome:
    """What one reconcile did. `error` is set when it stopped early; `stage` says where."""

    revision: str
    stage: Stage = Stage.RENDER
    changes: ChangeSet = field(default_factory=ChangeSet)
    inventory: tuple[InventoryEntry, ...] | None = None
    verdict: Verdict | None = None
    error: GitmoorError | None = None
    started: float = field(default_factory=time.time)
    finished: float = 0.0
    applied: bool = False  # every object of the revision was applied (health aside)
    applied_at: float = 0.0
    # What may exist now: the previous inventory plus everything this attempt may have created.
    partial: tuple[InventoryEntry, ...] = ()
    # The objects of the revision as sent (labels, namespace): the snapshot a rollback restores.
    desired: list[dict[str, Any]] = field(default_factory=list)
    content: str = ""  # model.content.content_digest of `desired`, once planned
    # Which points' hooks have completed for `content` (None: hooks were not considered).
    hooks: HookRuns | None = None
    # `content` holds pre-delete or post-delete hooks (status.deleteHooks).
    delete_hooks: bool = False
    # Per object: its apiVersion, the object as sent, and the server's view of the fields it
    # sets (PlannedObject.baseline): what the drift monitor compares live objects with.
    tracked: dict[ObjectRef, Applied] = field(default_factory=dict)
    # With `drift: report`, a reconcile of the revision already applied writes nothing and
    # lists here what differs from Git: object -> changed fields (empty: the object is missing).
    drifted: dict[ObjectRef, tuple[str, ...]] = field(default_factory=dict)

    @property
    def wrote(self) -> bool:
        return bool(self.changes.written)

    @property
    def progress(self) -> tuple[InventoryEntry, ...] | None:
        """What a later prune must know of, however far the attempt got."""
        return self.inventory if self.inventory is not None else (self.partial or None)
