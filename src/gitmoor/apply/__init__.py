"""Carry out a Plan phase by phase, patching only what differs, pruning by policy."""

from gitmoor.apply.corrections import Correction, correct
from gitmoor.apply.pruner import prune
from gitmoor.apply.writer import apply_phase, merge

__all__ = ["Correction", "apply_phase", "correct", "merge", "prune"]
