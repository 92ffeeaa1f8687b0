"""`gitmoor events`: Events as rows (which time is the last one), oldest first, at 80 and 200
columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gitmoor.cli.events import EVENT_COLUMNS, event_cells
from gitmoor.cli.table import render
from gitmoor.commands.events import event_row, oldest_first

NOW = datetime.now(UTC).replace(microsecond=0)


def stamp(ago: timedelta) -> str:
    return (NOW - ago).strftime("%Y-%m-%dT%H:%M:%SZ")


def event(name: str, **fields: object) -> dict[str, object]:
    return {
        "metadata": {"name": name, "namespace": "team-a", "creationTimestamp": stamp(timedelta())},
        "involvedObject": {"kind": "Sync", "name": "web", "namespace": "team-a"},
        "type": "Normal",
        "reason": "ReconciliationSucceeded",
        "message": "Applied revision main@sha1:0123456789abcdef",
        **fields,
    }


def test_the_last_time_is_lasttimestamp_else_the_series_else_eventtime() -> None:
    core = event_row(
        event(
            "a",
            firstTimestamp=stamp(timedelta(hours=1)),
            lastTimestamp=stamp(timedelta(minutes=5)),
            count=4,
        )
    )
    assert core.last_seen == NOW - timedelta(minutes=5)
    assert core.first_seen == NOW - timedelta(hours=1)
    assert core.count == 4
    assert core.object == "sync/web"
    series = event_row(
        event(
            "b",
            eventTime=(NOW - timedelta(hours=2)).isoformat(),
            series={"count": 7, "lastObservedTime": (NOW - timedelta(minutes=1)).isoformat()},
        )
    )
    assert series.last_seen == NOW - timedelta(minutes=1)
    assert series.count == 7
    bare = event_row(event("c"))
    assert bare.last_seen == NOW
    assert bare.count == 1


def test_rows_are_oldest_first() -> None:
    rows = [
        event_row(event("new", lastTimestamp=stamp(timedelta(seconds=5)))),
        event_row(event("old", lastTimestamp=stamp(timedelta(hours=3)))),
        event_row(event("mid", lastTimestamp=stamp(timedelta(minutes=3)))),
    ]
    assert [r.name for r in oldest_first(rows)] == ["old", "mid", "new"]


@pytest.mark.parametrize("width", [80, 200])
def test_events_fit_the_width(width: int) -> None:
    long = (
        "Deployment/team-a/web-frontend: timed out waiting for rollout: 1 of 3 replicas "
        "ready; Pod web-frontend-7c9d: ImagePullBackOff"
    )
    rows = [
        event_row(event("a", lastTimestamp=stamp(timedelta(days=3)))),
        event_row(
            event(
                "b",
                lastTimestamp=stamp(timedelta(days=5)),
                type="Warning",
                reason="HealthCheckFailed",
                message=long,
            )
            | {"involvedObject": {"kind": "GitSource", "name": "platform"}}
        ),
    ]
    lines = render(EVENT_COLUMNS[1:], [event_cells(r)[1:] for r in rows], width=width)
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    for line in lines:
        assert len(line) <= width, line
    assert lines[1].split()[:4] == ["3d", "Normal", "ReconciliationSucceeded", "sync/web"]
    assert lines[2].split()[:4] == [
        "5d",
        "Warning",
        "HealthCheckFailed",
        "gitsource/platform",
    ]
    assert lines[2].endswith("…") == (width == 80)


@pytest.mark.parametrize("width", [80, 200])
def test_all_namespaces_fit_without_cutting_names_or_reasons(width: int) -> None:
    """`events -A`: NAMESPACE too. What does not fit is left out (TYPE first, then MESSAGE),
    so that every namespace, reason and object is whole, never split mid-word."""
    rows = [
        event_row(
            event("a", lastTimestamp=stamp(timedelta(minutes=3)))
            | {
                "metadata": {"name": "a", "namespace": "gitmoor-system"},
                "involvedObject": {"kind": "GitSource", "name": "shop-config"},
            }
        ),
        event_row(
            event(
                "b",
                lastTimestamp=stamp(timedelta(minutes=2)),
                type="Warning",
                reason="HealthCheckFailed",
                message="Deployment/shop/web: 1 of 4 replicas ready after 2m",
            )
            | {"metadata": {"name": "b", "namespace": "team-frontend"}}
        ),
    ]
    cells = [event_cells(r) for r in rows]
    lines = render(EVENT_COLUMNS, cells, width=width)
    for line in lines:
        assert len(line) <= width, line
    whole = ("gitmoor-system", "team-frontend", "ReconciliationSucceeded", "HealthCheckFailed")
    for value in (*whole, "gitsource/shop-config", "sync/web"):
        assert sum(value in line.split() for line in lines) == 1, value
    headers = lines[0].split()
    if width == 200:
        assert headers == ["NAMESPACE", "LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
        assert "Deployment/shop/web: 1 of 4 replicas ready after 2m" in lines[2]
    else:
        assert headers == ["NAMESPACE", "LAST", "SEEN", "REASON", "OBJECT"]
