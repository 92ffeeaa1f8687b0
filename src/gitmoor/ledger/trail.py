"""An image's trail through the ledger: pushed to the registry, written into Git by an image
update automation, applied by the Syncs that deployed that commit.

`Ledger.image_trail(image)` answers it: one `ImageTrail` per update commit of the image (newest
first), with the first deployment of that commit in each Sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gitmoor.ledger.deployments import Deployment
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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageTrail:
        return trail_from_dict(data)

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
            "source_url": u.source_url,
            "applied": [a.as_dict() for a in self.applied],
        }


def _when(value: object) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def trail_from_dict(data: dict[str, Any]) -> ImageTrail:
    """The ImageTrail `as_dict` gave (as the agent's ledger API sends it)."""
    image, tag = split_image(str(data["image"]))
    namespace, _, name = str(data["automation"]).partition("/")
    committed = _when(data["committed_at"])
    assert committed is not None
    update = ImageUpdate(
        automation_namespace=namespace,
        automation_name=name,
        policy=str(data["policy"]),
        image=image,
        old_tag=str(data["previous_tag"]),
        new_tag=tag or "",
        digest=data.get("digest"),
        pushed_at=_when(data.get("pushed_at")),
        source_url=str(data.get("source_url", "")),
        branch=str(data["branch"]),
        commit=str(data["commit"]),
        committed_at=committed,
        file=str(data["file"]),
    )
    applied = []
    for a in data.get("applied") or []:
        sync_namespace, _, sync_name = str(a["sync"]).partition("/")
        at = _when(a["applied_at"])
        assert at is not None
        applied.append(
            Applied(
                str(a["environment"]),
                str(a["cluster"]),
                sync_namespace,
                sync_name,
                at,
                int(a["record_id"]),
            )
        )
    return ImageTrail(update, tuple(applied))


def with_trail(found: list[Deployment], trail: list[ImageTrail]) -> list[dict[str, Any]]:
    """`where IMAGE` for scripts: each deployment as `Deployment.as_dict` gives it, plus
    `image_updates`: the trail (pushed, committed by which automation and commit, applied in
    every environment) of each update commit of the image that this deployment's Sync applied,
    newest first as `trail` is; empty when the image came to it some other way. The list shape
    of `where` stays the same for revisions, charts and images."""
    out = []
    for d in found:
        mine = (d.cluster, d.sync_namespace, d.sync_name)
        updates = [
            t.as_dict()
            for t in trail
            if any((a.cluster, a.sync_namespace, a.sync_name) == mine for a in t.applied)
        ]
        out.append({**d.as_dict(), "image_updates": updates})
    return out


def split_image(text: str) -> tuple[str, str | None]:
    """`registry/path:tag` -> (registry/path, tag); no tag (or a digest) -> (image, None)."""
    name = text.split("@", 1)[0]
    head, colon, tail = name.rpartition(":")
    if colon and "/" not in tail:
        return head, tail
    return name, None
