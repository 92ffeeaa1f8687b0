"""Carry out a Plan phase by phase, patching only what differs, pruning by policy."""

from gitmoor.apply.pruner import prune
from gitmoor.apply.writer import apply_phase, merge

__all__ = ["apply_phase", "merge", "prune"]
