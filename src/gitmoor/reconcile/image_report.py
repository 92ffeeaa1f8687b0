"""Pure: what a scan, a policy choice or an update run means for the status and Events of
ImageRepositories, ImagePolicies and ImageUpdateAutomations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gitmoor.errors import GitmoorError
from gitmoor.model.labels import REQUESTED_AT
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile.report import NORMAL, WARNING, Event, Report
from gitmoor.reconcile.retry import Retry, classify, reason_of
from gitmoor.sources.images.markers import Change


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Chosen:
    """An ImagePolicy's choice as its status shows it (`latestRef`)."""

    name: str
    tag: str
    digest: str | None
    created: datetime | None

    def as_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "tag": self.tag}
        if self.digest:
            out["digest"] = self.digest
        if self.created:
            out["created"] = iso(self.created)
        return out


def push_wait(last_push: float | None, now: float, interval: float, *, asked: bool) -> float:
    """Seconds an automation waits before it may push again (0: it may run now). At most one
    commit per interval, however many policies move within it; `gitmoor sync` (`asked`) does
    not wait. Times are monotonic seconds."""
    if asked or last_push is None:
        return 0.0
    return max(0.0, interval - (now - last_push))


def _base(obj: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], int | None]:
    old = dict(obj.get("status") or {})
    generation = obj["metadata"].get("generation")
    old["observedGeneration"] = generation
    requested = (obj["metadata"].get("annotations") or {}).get(REQUESTED_AT)
    if requested:
        old["lastHandledReconcileAt"] = requested
    conditions = cond.remove_condition(list(old.get("conditions") or []), cond.RECONCILING)
    return old, conditions, generation


def _ok(
    conditions: list[dict[str, Any]], reason: str, message: str, generation: int | None
) -> list[dict[str, Any]]:
    conditions = cond.set_condition(conditions, cond.READY, True, reason, message, generation)
    return cond.remove_condition(conditions, cond.STALLED)


def _failed(obj: dict[str, Any], error: GitmoorError, *, failures: int, interval: float) -> Report:
    status, conditions, generation = _base(obj)
    reason, stalled = reason_of(error)
    conditions = cond.set_condition(conditions, cond.READY, False, reason, str(error), generation)
    if stalled:
        conditions = cond.set_condition(
            conditions, cond.STALLED, True, reason, str(error), generation
        )
    else:
        conditions = cond.remove_condition(conditions, cond.STALLED)
    status["conditions"] = conditions
    return Report(
        status=status,
        events=(Event(WARNING, reason, str(error)),),
        retry=classify(error, failures=failures, interval=interval),
    )


def scanned(
    obj: dict[str, Any],
    *,
    canonical: str,
    tags: list[str] | None,
    latest: list[str],
    error: GitmoorError | None,
    now: datetime,
    failures: int,
    interval: float,
) -> Report:
    """An ImageRepository's scan: the count, time and latest tags, or why it failed (the last
    good scan result stays)."""
    if error is not None:
        return _failed(obj, error, failures=failures, interval=interval)
    assert tags is not None
    status, conditions, generation = _base(obj)
    before = (status.get("lastScanResult") or {}).get("tagCount")
    status["canonicalImageName"] = canonical
    status["lastScanResult"] = {
        "tagCount": len(tags),
        "scanTime": iso(now),
        "latestTags": latest,
    }
    status["conditions"] = _ok(
        conditions, "Succeeded", f"{len(tags)} tags of {canonical}", generation
    )
    events: tuple[Event, ...] = ()
    if before != len(tags):
        events = (Event(NORMAL, "Scanned", f"{len(tags)} tags of {canonical}"),)
    return Report(status=status, events=events, retry=Retry("", False, interval, 0))


def chose(
    obj: dict[str, Any],
    *,
    chosen: Chosen | None,
    error: GitmoorError | None,
    failures: int,
    interval: float,
) -> Report:
    """An ImagePolicy's choice (latestRef, the previous one kept as observedPreviousRef), or
    why there is none; a failure keeps the last choice (automations keep writing it)."""
    if error is not None:
        return _failed(obj, error, failures=failures, interval=interval)
    assert chosen is not None
    status, conditions, generation = _base(obj)
    previous = status.get("latestRef")
    latest = chosen.as_status()
    events: tuple[Event, ...] = ()
    if previous != latest:
        if previous:
            status["observedPreviousRef"] = previous
        status["latestRef"] = latest
        was = f" (was {previous.get('tag')})" if previous else ""
        events = (Event(NORMAL, "NewTag", f"latest tag of {chosen.name} is {chosen.tag}{was}"),)
    status["conditions"] = _ok(
        conditions, "Succeeded", f"latest tag of {chosen.name} is {chosen.tag}", generation
    )
    # Woken by its repository's scans: no timer of its own.
    return Report(status=status, events=events, retry=Retry("", False, None, 0))


def updated(
    obj: dict[str, Any],
    *,
    commit: str | None,
    branch: str,
    changes: tuple[Change, ...],
    pushed_at: datetime | None,
    observed: dict[str, dict[str, Any]],
    outside: tuple[str, ...] = (),
    error: GitmoorError | None = None,
    now: datetime,
    failures: int,
    interval: float,
    path: str = "./",
) -> Report:
    """An ImageUpdateAutomation's run: the commit pushed (if any), or why nothing was.
    Markers outside the update path are named in a Warning and in Ready's message."""
    if error is not None:
        report = _failed(obj, error, failures=failures, interval=interval)
        assert report.status is not None
        report.status["lastAutomationRunTime"] = iso(now)
        return report
    status, conditions, generation = _base(obj)
    status["lastAutomationRunTime"] = iso(now)
    status["observedPolicies"] = observed
    events: tuple[Event, ...] = ()
    aside = ""
    if outside:
        listed = ", ".join(outside[:5]) + (
            f" and {len(outside) - 5} more" if len(outside) > 5 else ""
        )
        aside = f"; {len(outside)} marker(s) outside update.path {path} left as they are: {listed}"
        events = (Event(WARNING, "MarkersOutsidePath", aside[2:]),)
    if commit is not None and pushed_at is not None:
        status["lastPushCommit"] = commit
        status["lastPushTime"] = iso(pushed_at)
        listed = ", ".join(f"{c.file}:{c.line} {c.old} -> {c.new}" for c in changes[:5])
        more = f" and {len(changes) - 5} more" if len(changes) > 5 else ""
        message = f"pushed {commit[:12]} to {branch}: {listed}{more}"
        events = (Event(NORMAL, "Pushed", message), *events)
        status["conditions"] = _ok(conditions, "Succeeded", message + aside, generation)
    else:
        status["conditions"] = _ok(
            conditions,
            "Succeeded",
            f"{branch} is up to date with the policies{aside}",
            generation,
        )
    return Report(status=status, events=events, retry=Retry("", False, interval, 0))
