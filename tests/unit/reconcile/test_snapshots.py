"""Rollback snapshots hold the repository's Secrets: on disk they are sealed, bound to their
Sync, and unreadable without the agent's key."""

from __future__ import annotations

import base64
from pathlib import Path

from gitmoor.reconcile.snapshots import Snapshot, SnapshotStore, new_key

SENTINEL = "SENTINEL-SNAPSHOT-PASSWORD"
SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "db", "namespace": "web"},
    "data": {"password": base64.b64encode(SENTINEL.encode()).decode()},
    "stringData": {"token": SENTINEL},
}


def test_a_snapshot_round_trips_and_nothing_of_it_is_plaintext_on_disk(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, new_key())
    store.save("web", "app", Snapshot("main@sha1:abc", [SECRET]))

    assert store.load("web", "app") == Snapshot("main@sha1:abc", [SECRET])
    (written,) = [p for p in tmp_path.iterdir() if p.is_file()]
    raw = written.read_bytes()
    assert SENTINEL.encode() not in raw
    assert SECRET["data"]["password"].encode() not in raw  # type: ignore[index]
    assert b"main@sha1:abc" not in raw
    assert written.stat().st_mode & 0o077 == 0


def test_another_key_or_another_sync_cannot_open_it(tmp_path: Path) -> None:
    key = new_key()
    SnapshotStore(tmp_path, key).save("web", "app", Snapshot("main@sha1:abc", [SECRET]))

    assert SnapshotStore(tmp_path, new_key()).load("web", "app") is None
    store = SnapshotStore(tmp_path, key)
    # A file copied over another Sync's does not open as that Sync's.
    own = store._path("web", "app")
    other = store._path("web", "other")
    other.write_bytes(own.read_bytes())
    assert store.load("web", "other") is None


def test_a_plaintext_snapshot_of_an_older_agent_is_dropped(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, new_key())
    legacy = store._legacy("web", "app")
    legacy.write_text(f'{{"revision": "r", "objects": [{{"token": "{SENTINEL}"}}]}}')

    assert store.load("web", "app") is None
    assert not legacy.exists()


def test_what_a_snapshot_keeps_is_known_without_reading_it_again(tmp_path: Path) -> None:
    key = new_key()
    store = SnapshotStore(tmp_path, key)
    assert store.kept("web", "app") is None
    store.save("web", "app", Snapshot("main@sha1:abc", [SECRET]))
    kept = Snapshot("main@sha1:abc", [SECRET]).kept()
    assert store.kept("web", "app") == kept
    # A new agent (a restart) reads it from disk once.
    assert SnapshotStore(tmp_path, key).kept("web", "app") == kept
    store.delete("web", "app")
    assert store.kept("web", "app") is None
