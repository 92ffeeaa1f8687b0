"""When an atomic Sync's snapshot is written again, and when a failed attempt can be rolled
back: by what the snapshot holds (revision and content), since one revision can render other
objects (a chart dependency's range taking a newer version, a spec change)."""

from __future__ import annotations

import pytest

from gitmoor.errors import HealthGateError
from gitmoor.model import Verdict
from gitmoor.reconcile import report, status
from gitmoor.reconcile.outcome import Outcome
from gitmoor.reconcile.snapshots import Kept

OLD = Kept("main@sha1:old", "sha256:aaaaaaaaaaaa")


def _outcome(revision: str, content: str) -> Outcome:
    return Outcome(revision=revision, content=content)


@pytest.mark.parametrize(
    ("kept", "revision", "content", "due"),
    [
        pytest.param(None, "main@sha1:old", "sha256:aaaaaaaaaaaa", True, id="none kept"),
        pytest.param(OLD, "main@sha1:new", "sha256:bbbbbbbbbbbb", True, id="a new revision"),
        pytest.param(OLD, "main@sha1:old", "sha256:bbbbbbbbbbbb", True, id="same, other objects"),
        pytest.param(OLD, "main@sha1:old", "sha256:aaaaaaaaaaaa", False, id="kept already"),
    ],
)
def test_a_healthy_attempt_is_kept_unless_the_snapshot_holds_it(
    kept: Kept | None, revision: str, content: str, due: bool
) -> None:
    assert report.snapshot_due(kept, _outcome(revision, content)) is due


@pytest.mark.parametrize(
    ("kept", "revision", "content", "restorable"),
    [
        pytest.param(None, "main@sha1:new", "sha256:bbbbbbbbbbbb", False, id="nothing kept"),
        pytest.param(OLD, "main@sha1:new", "sha256:bbbbbbbbbbbb", True, id="a new revision"),
        pytest.param(OLD, "main@sha1:old", "sha256:bbbbbbbbbbbb", True, id="same, other objects"),
        pytest.param(OLD, "main@sha1:old", "sha256:aaaaaaaaaaaa", False, id="what is kept failed"),
    ],
)
def test_a_failed_attempt_is_restorable_when_the_snapshot_holds_something_else(
    kept: Kept | None, revision: str, content: str, restorable: bool
) -> None:
    assert report.restorable(kept, _outcome(revision, content)) is restorable


@pytest.mark.parametrize(
    ("restored", "ends"),
    [
        pytest.param("main@sha1:old", "restored main@sha1:old", id="another revision"),
        pytest.param(
            "main@sha1:new", "restored main@sha1:new as it rendered before", id="the same one"
        ),
    ],
)
def test_the_rollback_message_says_when_it_restored_the_same_revision(
    restored: str, ends: str
) -> None:
    failed = _outcome("main@sha1:new", "sha256:bbbbbbbbbbbb")
    failed.error = HealthGateError(Verdict(healthy=False, timed_out=True))
    back = _outcome(restored, "sha256:aaaaaaaaaaaa")

    new = status.rolled_back({}, 1, failed, back)

    ready = next(c for c in new["conditions"] if c["type"] == "Ready")
    assert (ready["reason"], ready["message"].endswith(ends)) == ("RolledBack", True)
