"""Artifacts on disk: `<root>/<key>/<sha>/` holds the tree, `<root>/<key>/<sha>.json` says what it
is. The JSON is written last, so a tree without one is an unfinished artifact and never used.

Trees are unpacked in a `.tmp-*` directory next to their final place and renamed into it, so a
crash leaves only a leftover that the next fetch of the key removes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gitmoor.model import Artifact, Commit

_LEFTOVER = (".tmp-", ".trash-")


def key_slug(key: str) -> str:
    """A directory name for a source key: readable, and unique through a hash of the key."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", key).strip("-.")[:48]
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{readable}-{digest}" if readable else digest


@dataclass(frozen=True)
class Stored:
    artifact: Artifact
    ignore: str


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def directory(self, key: str) -> Path:
        return self.root / key_slug(key)

    def load(self, key: str, sha: str) -> Stored | None:
        """The complete artifact of `sha` for `key`, if one is on disk."""
        directory = self.directory(key)
        meta = directory / f"{sha}.json"
        try:
            record = json.loads(meta.read_text(encoding="utf-8"))
            stored = _from_record(record, directory / sha)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return stored if Path(stored.artifact.path).is_dir() else None

    def find(self, key: str, sha_prefix: str) -> Stored | None:
        """The newest complete artifact whose sha starts with `sha_prefix`."""
        found = [
            stored
            for meta in self._metas(key)
            if meta.stem.startswith(sha_prefix) and (stored := self.load(key, meta.stem))
        ]
        return max(found, key=lambda s: s.artifact.fetched_at, default=None)

    def stage(self, key: str) -> Path:
        """A fresh private directory on the same file system as the key's artifacts."""
        directory = self.directory(key)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".tmp-", dir=directory))

    def install(self, key: str, tree: Path, artifact: Artifact, ignore: str) -> Stored:
        """Move the unpacked `tree` into place for `artifact.commit.sha` and describe it."""
        directory = self.directory(key)
        sha = artifact.commit.sha
        final = directory / sha
        meta = directory / f"{sha}.json"
        # An older artifact of the same commit (other ignore rules) stops being valid first.
        meta.unlink(missing_ok=True)
        trash: Path | None = None
        if final.exists() or final.is_symlink():
            trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=directory))
            final.rename(trash / sha)
        tree.rename(final)
        stored = Stored(_with_path(artifact, final), ignore)
        partial = directory / f".tmp-{sha}.json"
        partial.write_text(json.dumps(_to_record(stored)), encoding="utf-8")
        partial.replace(meta)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        return stored

    def prune(self, key: str, *, keep: int, protect: str) -> list[str]:
        """Delete all but the `keep` newest artifacts of `key` (never `protect`), and any
        leftovers of interrupted work; returns the shas deleted."""
        directory = self.directory(key)
        # Newest by last use: `touch` marks an older artifact that was taken up again.
        ranked = sorted(
            ((meta.stat().st_mtime, meta.stem) for meta in self._metas(key)), reverse=True
        )
        kept = {protect}
        for _, sha in ranked:
            if len(kept) >= keep:
                break
            kept.add(sha)
        deleted: list[str] = []
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(directory):
                name = entry.name
                sha = name.removesuffix(".json")
                if name.startswith(_LEFTOVER) or sha not in kept:
                    if name.endswith(".json") or not entry.is_dir(follow_symlinks=False):
                        Path(entry.path).unlink(missing_ok=True)
                    else:
                        shutil.rmtree(entry.path, ignore_errors=True)
                    if not name.startswith(".") and not name.endswith(".json"):
                        deleted.append(sha)
        return deleted

    def touch(self, key: str, sha: str) -> None:
        with contextlib.suppress(OSError):
            (self.directory(key) / f"{sha}.json").touch(exist_ok=True)

    def _metas(self, key: str) -> list[Path]:
        with contextlib.suppress(FileNotFoundError):
            return [
                Path(e.path)
                for e in os.scandir(self.directory(key))
                if e.name.endswith(".json") and not e.name.startswith(".")
            ]
        return []


def _with_path(artifact: Artifact, path: Path) -> Artifact:
    return dataclasses.replace(artifact, path=str(path))


def _to_record(stored: Stored) -> dict[str, Any]:
    artifact = stored.artifact
    commit = artifact.commit
    return {
        "url": artifact.url,
        "revision": artifact.revision,
        "digest": artifact.digest,
        "fetchedAt": artifact.fetched_at.isoformat(),
        "ignore": stored.ignore,
        "refused": list(artifact.refused),
        "commit": {
            "sha": commit.sha,
            "author": commit.author,
            "authorEmail": commit.author_email,
            "time": commit.time.isoformat(),
            "message": commit.message,
        },
    }


def _from_record(record: dict[str, Any], path: Path) -> Stored:
    commit = record["commit"]
    artifact = Artifact(
        url=str(record["url"]),
        revision=str(record["revision"]),
        digest=str(record["digest"]),
        path=str(path),
        commit=Commit(
            sha=str(commit["sha"]),
            author=str(commit["author"]),
            author_email=str(commit["authorEmail"]),
            time=datetime.fromisoformat(commit["time"]),
            message=str(commit["message"]),
        ),
        fetched_at=datetime.fromisoformat(record["fetchedAt"]),
        refused=tuple(str(r) for r in record.get("refused") or ()),
    )
    if artifact.commit.sha != path.name:
        raise ValueError("artifact record does not match its directory")
    return Stored(artifact, str(record["ignore"]))
