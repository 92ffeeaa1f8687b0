"""An image's trail through the ledger: pushed to the registry, written into Git by an image
update automation, applied by the Syncs that deployed that commit.

`Ledger.image_trail(image)` answers it: one `ImageTrail` per update commit of the image (newest
first), with the first deployment of that commit in each Sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gitmoor.model.images import ImageUpdate


@dataclass(frozen=True)
class Applied:
    """The first record of one Sync that deployed the update commit."""

    environment: str
    cluster: str
    sync_namespace: str
    sync_name: str
    applied_at: datetime
    record_id: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "cluster": self.cluster,
            "sync": f"{self.sync_namespace}/{self.sync_name}",
            "applied_at": self.applied_at.isoformat(),
            "record_id": self.record_id,
        }


@dataclass(frozen=True)
class ImageTrail:
    update: ImageUpdate
    applied: tuple[Applied, ...]

    def as_dict(self) -> dict[str, Any]:
        u = self.update
        return {
            "image": f"{u.image}:{u.new_tag}",
            "previous_tag": u.old_tag,
            "digest": u.digest,
            "pushed_at": u.pushed_at.isoformat() if u.pushed_at else None,
            "policy": u.policy,
            "automation": f"{u.automation_namespace}/{u.automation_name}",
            "commit": u.commit,
            "branch": u.branch,
            "committed_at": u.committed_at.isoformat(),
            "file": u.file,
            "applied": [a.as_dict() for a in self.applied],
        }


def split_image(text: str) -> tuple[str, str | None]:
    """`registry/path:tag` -> (registry/path, tag); no tag (or a digest) -> (image, None)."""
    name = text.split("@", 1)[0]
    head, colon, tail = name.rpartition(":")
    if colon and "/" not in tail:
        return head, tail
    return name, None
