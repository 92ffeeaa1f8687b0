"""The last healthy revision of each Sync, kept on the agent's disk as the objects that were
sent, so a rollback needs neither Git nor a render."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson


@dataclass(frozen=True)
class Snapshot:
    revision: str
    objects: list[dict[str, Any]]


class SnapshotStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, namespace: str, name: str) -> Path:
        digest = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:24]
        return self.directory / f"{digest}.json"

    def save(self, namespace: str, name: str, snapshot: Snapshot) -> None:
        """Write atomically and privately: the objects may include Secrets from the repository."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self._path(namespace, name)
        data = orjson.dumps(
            {
                "sync": f"{namespace}/{name}",
                "revision": snapshot.revision,
                "objects": snapshot.objects,
            }
        )
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".snapshot-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self, namespace: str, name: str) -> Snapshot | None:
        try:
            raw = orjson.loads(self._path(namespace, name).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        return Snapshot(str(raw["revision"]), list(raw["objects"]))

    def delete(self, namespace: str, name: str) -> None:
        self._path(namespace, name).unlink(missing_ok=True)
