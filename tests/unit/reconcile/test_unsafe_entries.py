"""A revision whose tree held entries left out as unsafe: the GitSource lists them and warns,
and every Sync refuses the revision naming them, wherever they lie (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gitmoor.errors import RenderError
from gitmoor.model import Artifact, Commit
from gitmoor.reconcile import report
from gitmoor.reconcile.pipeline import _refuse_unsafe_entries

SHA = "c" * 40
# The finding-1 tree: the chart's `files/ext -> ../../chain2` survives the fetch; `chain2/k`
# (and the climbing `chain/upN`) do not.
REFUSED = ("chain/up3", "chain/up2", "chain2/k")


def artifact(refused: tuple[str, ...]) -> Artifact:
    return Artifact(
        url="https://git.example.com/apps.git",
        revision=f"main@sha1:{SHA}",
        digest="sha256:00",
        path="/cache/x",
        commit=Commit(SHA, "Ada", "ada@example.com", datetime(2026, 12, 1, tzinfo=UTC), "ship"),
        fetched_at=datetime(2026, 12, 1, 12, tzinfo=UTC),
        refused=refused,
    )


def source() -> dict[str, Any]:
    return {
        "apiVersion": "gitmoor.io/v1alpha1",
        "kind": "GitSource",
        "metadata": {"name": "apps", "namespace": "team", "generation": 1},
        "spec": {"url": "https://git.example.com/apps.git"},
    }


def fetched(got: Artifact, before: Artifact | None) -> report.Report:
    return report.fetched(
        source(), artifact=got, error=None, before=before, seconds=0.1, failures=0, interval=60
    )


def test_a_new_revision_with_unsafe_entries_lists_them_and_warns_once() -> None:
    got = artifact(REFUSED)
    answer = fetched(got, None)
    assert answer.status is not None
    assert answer.status["artifact"]["unsafeEntries"] == ["chain/up2", "chain/up3", "chain2/k"]
    (_, warning) = answer.events
    assert (warning.type, warning.reason) == ("Warning", "UnsafeEntries")
    assert "3 entries left out as unsafe" in warning.message
    assert "chain2/k" in warning.message
    assert SHA in warning.message
    again = fetched(got, got)  # the same revision at the next interval: no new Event
    assert again.events == ()
    assert again.status is not None
    assert "unsafeEntries" in again.status["artifact"]


def test_a_clean_revision_has_no_unsafe_entries() -> None:
    answer = fetched(artifact(()), None)
    assert answer.status is not None
    assert "unsafeEntries" not in answer.status["artifact"]
    assert [e.reason for e in answer.events] == ["NewArtifact"]


@pytest.mark.parametrize("count", [1, 3, 25])
def test_any_unsafe_entry_refuses_the_revision_naming_it(count: int) -> None:
    refused = (*(f"z/link{i:02}" for i in range(count - 1)), "chain2/k")
    with pytest.raises(RenderError) as caught:
        _refuse_unsafe_entries(artifact(refused))
    message = str(caught.value)
    assert "chain2/k" in message  # named first: sorted
    assert "nothing was applied" in message
    assert ("and 5 more" in message) is (count == 25)


def test_a_clean_revision_is_not_refused() -> None:
    _refuse_unsafe_entries(artifact(()))
