"""Plain values that cross module borders. No I/O, no other gitmoor imports."""

from gitmoor.model.pipeline import (
    Action,
    Applied,
    Artifact,
    ChangeSet,
    ChartArtifact,
    Commit,
    Health,
    InventoryEntry,
    Manifest,
    ObjectChange,
    Phase,
    Plan,
    PlannedObject,
    Rendered,
    Signature,
    Status,
    Verdict,
)
from gitmoor.model.refs import Missing, ObjectRef

__all__ = [
    "Action",
    "Applied",
    "Artifact",
    "ChangeSet",
    "ChartArtifact",
    "Commit",
    "Health",
    "InventoryEntry",
    "Manifest",
    "Missing",
    "ObjectChange",
    "ObjectRef",
    "Phase",
    "Plan",
    "PlannedObject",
    "Rendered",
    "Signature",
    "Status",
    "Verdict",
]
