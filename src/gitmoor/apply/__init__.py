"""Carry out a Plan phase by phase, patching only what differs, pruning by policy."""

from gitmoor.apply.corrections import Correction, correct
from gitmoor.apply.hooks import Created, HookObject
from gitmoor.apply.hooks import clear_previous as clear_hooks
from gitmoor.apply.hooks import create as create_hooks
from gitmoor.apply.hooks import remove as remove_hooks
from gitmoor.apply.namespaces import create_namespace, namespace_to_create
from gitmoor.apply.pruner import Judgement, examine, judge, prune
from gitmoor.apply.writer import apply_phase, merge

__all__ = [
    "Correction",
    "Created",
    "HookObject",
    "Judgement",
    "apply_phase",
    "clear_hooks",
    "correct",
    "create_hooks",
    "create_namespace",
    "examine",
    "judge",
    "merge",
    "namespace_to_create",
    "prune",
    "remove_hooks",
]
