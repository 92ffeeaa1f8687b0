"""What scans, choices and update runs mean for status and Events (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gitmoor.errors import NoMatchingTagError, PushRefusedError, RegistryUnavailableError
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile.image_report import Chosen, chose, push_wait, scanned, updated
from gitmoor.sources.images.markers import Change, Field

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _obj(status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "apps", "generation": 2}, "status": status}


def test_a_scan_counts_tags_and_says_so_only_when_the_count_changes() -> None:
    first = scanned(
        _obj(),
        canonical="r/web",
        tags=["1.0.0", "1.1.0"],
        latest=["1.1.0", "1.0.0"],
        error=None,
        now=NOW,
        failures=0,
        interval=60,
    )
    assert first.status is not None
    assert first.status["lastScanResult"] == {
        "tagCount": 2,
        "scanTime": "2026-12-01T12:00:00Z",
        "latestTags": ["1.1.0", "1.0.0"],
    }
    assert [e.reason for e in first.events] == ["Scanned"]
    again = scanned(
        _obj(first.status),
        canonical="r/web",
        tags=["1.0.0", "1.1.0"],
        latest=["1.1.0", "1.0.0"],
        error=None,
        now=NOW,
        failures=0,
        interval=60,
    )
    assert again.events == ()
    assert again.delay == 60


def test_a_failed_scan_keeps_the_last_result_and_honours_retry_after() -> None:
    ok = {"lastScanResult": {"tagCount": 2}, "conditions": []}
    failed = scanned(
        _obj(ok),
        canonical="r/web",
        tags=None,
        latest=[],
        error=RegistryUnavailableError("429", url="oci://r/web", retry_after=17),
        now=NOW,
        failures=0,
        interval=60,
    )
    assert failed.status is not None
    assert failed.status["lastScanResult"] == {"tagCount": 2}
    ready = cond.get_condition({"status": failed.status}, cond.READY)
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "RegistryUnavailable")
    assert [(e.type, e.reason) for e in failed.events] == [("Warning", "RegistryUnavailable")]
    assert failed.delay == 17


@pytest.mark.parametrize(
    ("before", "events", "previous"),
    [
        (None, ["NewTag"], None),
        ({"name": "r/web", "tag": "1.0.0"}, ["NewTag"], {"name": "r/web", "tag": "1.0.0"}),
        ({"name": "r/web", "tag": "1.1.0", "digest": "sha256:a"}, [], None),
    ],
)
def test_a_choice(
    before: dict[str, Any] | None, events: list[str], previous: dict[str, Any] | None
) -> None:
    report = chose(
        _obj({"latestRef": before} if before else None),
        chosen=Chosen("r/web", "1.1.0", "sha256:a", None),
        error=None,
        failures=0,
        interval=300,
    )
    assert report.status is not None
    assert report.status["latestRef"] == {"name": "r/web", "tag": "1.1.0", "digest": "sha256:a"}
    assert report.status.get("observedPreviousRef") == previous
    assert [e.reason for e in report.events] == events


def test_no_matching_tag_keeps_the_last_choice() -> None:
    report = chose(
        _obj({"latestRef": {"name": "r/web", "tag": "1.0.0"}}),
        chosen=None,
        error=NoMatchingTagError("no version in range '^9'", policy="apps/web"),
        failures=0,
        interval=300,
    )
    assert report.status is not None
    assert report.status["latestRef"] == {"name": "r/web", "tag": "1.0.0"}
    assert [e.reason for e in report.events] == ["NoMatchingTag"]


def test_an_update_run() -> None:
    change = Change("deploy/web.yaml", 12, "apps/web", Field.IMAGE, "r/web:1.0.0", "r/web:1.1.0")
    pushed = updated(
        _obj(),
        commit="a" * 40,
        branch="main",
        changes=(change,),
        pushed_at=NOW,
        observed={},
        outside=("other/x.yaml:3 (apps/web)",),
        now=NOW,
        failures=0,
        interval=300,
        path="./deploy",
    )
    assert pushed.status is not None
    assert pushed.status["lastPushCommit"] == "a" * 40
    assert [e.reason for e in pushed.events] == ["Pushed", "MarkersOutsidePath"]
    refused = updated(
        _obj(pushed.status),
        commit=None,
        branch="",
        changes=(),
        pushed_at=None,
        observed={},
        error=PushRefusedError("protected branch", url="https://g/x", branch="main"),
        now=NOW,
        failures=1,
        interval=300,
    )
    assert refused.status is not None
    assert refused.status["lastPushCommit"] == "a" * 40  # the last push stays
    assert [e.reason for e in refused.events] == ["PushRefused"]
    assert refused.delay == 4


@pytest.mark.parametrize(
    ("last_push", "now", "asked", "wait"),
    [
        (None, 100.0, False, 0.0),  # never pushed
        (100.0, 130.0, False, 270.0),  # a policy moved 30 s after the last push
        (100.0, 400.0, False, 0.0),  # an interval has passed
        (100.0, 130.0, True, 0.0),  # `gitmoor sync` does not wait
    ],
)
def test_at_most_one_push_per_interval(
    last_push: float | None, now: float, asked: bool, wait: float
) -> None:
    assert push_wait(last_push, now, 300.0, asked=asked) == wait
