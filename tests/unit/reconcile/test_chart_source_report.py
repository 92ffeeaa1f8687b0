"""What a ChartSource's check reports: the chart in its status (kept through a failure), the
Ready condition with the reason of what failed, an Event for a new chart, and the next check."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gitmoor.errors import ChartAuthError, ChartDigestError
from gitmoor.model import ChartArtifact
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile.report import chart_fetched

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _chart(version: str) -> ChartArtifact:
    return ChartArtifact(
        "web", version, f"sha256:{version}", f"https://r/web-{version}.tgz", "/x", AT
    )


def _obj(status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "apps", "generation": 3},
        "status": status or {},
    }


def test_a_new_chart_is_stored_announced_and_checked_again_after_the_interval() -> None:
    report = chart_fetched(
        _obj(), chart=_chart("1.1.0"), error=None, before=_chart("1.0.0"), failures=2, interval=600
    )
    assert report.status is not None
    assert report.status["artifact"] == {
        "revision": "web@1.1.0@sha256:1.1.0",
        "digest": "sha256:1.1.0",
        "chart": "web",
        "version": "1.1.0",
        "url": "https://r/web-1.1.0.tgz",
        "lastUpdateTime": "2026-01-02T03:04:05Z",
    }
    ready = cond.get_condition({"status": report.status}, cond.READY)
    assert ready is not None
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == (
        "True",
        "Succeeded",
        3,
    )
    assert [(e.reason, e.message) for e in report.events] == [
        ("NewArtifact", "chart web@1.1.0@sha256:1.1.0")
    ]
    assert report.retry is not None
    assert (report.retry.delay, report.retry.failures) == (600, 0)


def test_an_unchanged_chart_is_no_event() -> None:
    report = chart_fetched(
        _obj(), chart=_chart("1.0.0"), error=None, before=_chart("1.0.0"), failures=0, interval=60
    )
    assert report.events == ()


def test_a_failure_keeps_the_chart_in_use_and_says_why() -> None:
    error = ChartAuthError("refused", url="https://r", chart="web")
    report = chart_fetched(
        _obj(), chart=None, error=error, before=_chart("1.0.0"), failures=0, interval=600
    )
    assert report.status is not None
    assert report.status["artifact"]["version"] == "1.0.0"
    ready = cond.get_condition({"status": report.status}, cond.READY)
    assert ready is not None
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "AuthenticationFailed",
        "refused",
    )
    assert cond.get_condition({"status": report.status}, cond.STALLED) is None
    assert [e.type for e in report.events] == ["Warning"]
    assert report.retry is not None
    assert (report.retry.delay, report.retry.failures) == (2.0, 1)


def test_a_digest_mismatch_is_stalled_until_the_next_interval() -> None:
    error = ChartDigestError("mismatch", url="https://r", chart="web")
    report = chart_fetched(_obj(), chart=None, error=error, before=None, failures=0, interval=600)
    assert report.status is not None
    assert "artifact" not in report.status
    stalled = cond.get_condition({"status": report.status}, cond.STALLED)
    assert stalled is not None
    assert stalled["reason"] == "DigestMismatch"
    assert report.retry is not None
    assert report.retry.delay == 600
