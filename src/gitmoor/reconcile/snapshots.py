"""The last healthy revision of each atomic Sync, kept on the agent's disk as the objects that
were sent, so a rollback needs neither Git nor a render.

Those objects include Secrets from the repository (decrypted SOPS files among them), so a
snapshot is never plaintext on disk: each file is sealed with AES-256-GCM under a key the agent
keeps in a Kubernetes Secret (`KEY_SECRET` in its own namespace), the Sync's name bound in as
associated data so one Sync's file cannot stand in for another's.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from gitmoor.model.content import content_digest

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_SECRET = "gitmoor-snapshot-key"  # noqa: S105 - the Secret's name, not a value
KEY_FIELD = "key"
_NONCE = 12
_MAGIC = b"gmsnap1\n"  # a sealed file; anything else (an old plaintext one) is dropped


@dataclass(frozen=True)
class Kept:
    """What a snapshot holds, without its objects: the revision and the digest of its objects
    (model.content). One revision can render other objects (a chart dependency's range taking a
    newer version, a spec change), so the revision alone does not say what would be restored."""

    revision: str
    content: str


@dataclass(frozen=True)
class Snapshot:
    revision: str
    objects: list[dict[str, Any]]

    def kept(self) -> Kept:
        return Kept(self.revision, content_digest(self.objects))


def new_key() -> bytes:
    return os.urandom(32)  # what AESGCM.generate_key(bit_length=256) returns


class SnapshotStore:
    def __init__(self, directory: Path, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("a snapshot key is 32 bytes")
        self.directory = directory
        self._key = key
        self._sealer: AESGCM | None = None
        # What each snapshot on disk holds, once read or written: asked at every attempt of an
        # atomic Sync, it must not cost a decryption each time.
        self._kept: dict[Path, Kept | None] = {}

    @property
    def _seal(self) -> AESGCM:
        # Imported at the first atomic Sync's snapshot, not at start: the bindings hold ~6 MiB
        # that an agent without atomic Syncs never needs.
        if self._sealer is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self._sealer = AESGCM(self._key)
        return self._sealer

    def _path(self, namespace: str, name: str) -> Path:
        digest = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:24]
        return self.directory / f"{digest}.snap"

    def save(self, namespace: str, name: str, snapshot: Snapshot) -> None:
        """Write sealed, atomically and privately."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self._path(namespace, name)
        plain = orjson.dumps({"revision": snapshot.revision, "objects": snapshot.objects})
        nonce = os.urandom(_NONCE)
        sealed = _MAGIC + nonce + self._seal.encrypt(nonce, plain, _bound(namespace, name))
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".snapshot-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(sealed)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            self._kept.pop(target, None)
            raise
        self._kept[target] = snapshot.kept()
        # Snapshots written in plaintext by an older agent go at the first new one.
        self._legacy(namespace, name).unlink(missing_ok=True)

    def load(self, namespace: str, name: str) -> Snapshot | None:
        """The snapshot, or None when there is none or it cannot be opened with this key (a
        new key, a damaged file): a rollback then says it has nothing to restore."""
        self._legacy(namespace, name).unlink(missing_ok=True)
        try:
            sealed = self._path(namespace, name).read_bytes()
        except OSError:
            return None
        if not sealed.startswith(_MAGIC):
            return None
        body = sealed[len(_MAGIC) :]
        from cryptography.exceptions import InvalidTag  # late, as in `_seal`

        try:
            plain = self._seal.decrypt(body[:_NONCE], body[_NONCE:], _bound(namespace, name))
            raw = orjson.loads(plain)
        except (InvalidTag, ValueError, orjson.JSONDecodeError):
            return None
        return Snapshot(str(raw["revision"]), list(raw["objects"]))

    def kept(self, namespace: str, name: str) -> Kept | None:
        """What the snapshot of the Sync holds, None when there is none to restore."""
        path = self._path(namespace, name)
        if path not in self._kept:
            snapshot = self.load(namespace, name)
            self._kept[path] = snapshot.kept() if snapshot is not None else None
        return self._kept[path]

    def delete(self, namespace: str, name: str) -> None:
        self._kept.pop(self._path(namespace, name), None)
        self._path(namespace, name).unlink(missing_ok=True)
        self._legacy(namespace, name).unlink(missing_ok=True)

    def _legacy(self, namespace: str, name: str) -> Path:
        return self._path(namespace, name).with_suffix(".json")


def _bound(namespace: str, name: str) -> bytes:
    return f"gitmoor snapshot of Sync {namespace}/{name}".encode()
