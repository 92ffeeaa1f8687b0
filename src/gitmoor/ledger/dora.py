"""DORA figures from ledger records: pure arithmetic, replaying each sync's attempts in order.

Per sync (cluster, namespace, name), attempts are replayed by start time; only final results
count (`in_progress` and `interrupted` attempts are skipped). The *running revision* is the one
the last `applied` / `rolled_back` attempt left (see `deployments`).

- A **change** is an episode of attempts at one revision other than the running one, from the
  first such attempt until the revision is applied or another revision is attempted. Attempts
  that failed without writing anything (the server-side dry run refused the revision, so nothing
  in the cluster changed) are left out: they never reached the cluster. A change is **failed**
  when any of its attempts ended `failed` or `rolled_back`. Counted when its first attempt
  started in the window.
- A **deployment** is an `applied` attempt whose revision differs from the running one; counted
  when its deployed time (`applied_at`) is in the window. Deployment frequency is deployments per
  day of the window.
- **Lead time** of a deployment is its deployed time minus the commit time (never negative);
  for a commit an image update automation wrote, minus the image's push time when the
  registry told it (the image config's `created`), so the lead time covers the whole pipeline.
  Median and 90th percentile (linear interpolation between closest ranks).
- A **failure** starts with the first failed attempt of a change (its `applied_at`, else its
  `started_at`) and is **restored** when the sync runs a good revision again: a `rolled_back`
  attempt's finish, or the next `applied` attempt. Time to restore is the median over failures
  that started in the window and were restored.
- Manual rollbacks (`trigger=rollback`) restore service but are not changes or deployments.
- Drift corrections (`trigger=drift`) put back what runs: they count for nothing.

The window is [since, until]. Without `since` it starts at the first attempt seen, and the
frequency is then taken over at least one day, so a short history does not read as hundreds of
deployments per day.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gitmoor.model.record import Record, Result, Trigger, sha_of

_DAY = 86400.0


@dataclass(frozen=True)
class Dora:
    since: datetime
    until: datetime
    deployments: int
    deploys_per_day: float
    lead_time_median: timedelta | None
    lead_time_p90: timedelta | None
    changes: int
    failed_changes: int
    change_failure_rate: float | None  # failed_changes / changes; None without changes
    failures: int
    restored: int
    time_to_restore_median: timedelta | None

    def as_dict(self) -> dict[str, Any]:
        def seconds(value: timedelta | None) -> float | None:
            return None if value is None else value.total_seconds()

        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "deployments": self.deployments,
            "deploys_per_day": self.deploys_per_day,
            "lead_time_median_seconds": seconds(self.lead_time_median),
            "lead_time_p90_seconds": seconds(self.lead_time_p90),
            "changes": self.changes,
            "failed_changes": self.failed_changes,
            "change_failure_rate": self.change_failure_rate,
            "failures": self.failures,
            "restored": self.restored,
            "time_to_restore_median_seconds": seconds(self.time_to_restore_median),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Dora:
        """The figures `as_dict` gave (as the agent's ledger API sends them)."""

        def span(key: str) -> timedelta | None:
            value = data[key]
            return None if value is None else timedelta(seconds=float(value))

        rate = data["change_failure_rate"]
        return cls(
            since=datetime.fromisoformat(data["since"]),
            until=datetime.fromisoformat(data["until"]),
            deployments=int(data["deployments"]),
            deploys_per_day=float(data["deploys_per_day"]),
            lead_time_median=span("lead_time_median_seconds"),
            lead_time_p90=span("lead_time_p90_seconds"),
            changes=int(data["changes"]),
            failed_changes=int(data["failed_changes"]),
            change_failure_rate=None if rate is None else float(rate),
            failures=int(data["failures"]),
            restored=int(data["restored"]),
            time_to_restore_median=span("time_to_restore_median_seconds"),
        )


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _same(a: str | None, b: str | None) -> bool:
    """Two revisions are the same commit (ref names aside)."""
    if a is None or b is None:
        return a is b
    sha_a, sha_b = sha_of(a), sha_of(b)
    return sha_a == sha_b if sha_a and sha_b else a == b


@dataclass
class _Change:
    revision: str
    started_at: datetime
    failed: bool = False


@dataclass
class _Tally:
    since: datetime
    until: datetime
    deployments: int = 0
    lead_times: list[float] = field(default_factory=list)
    changes: int = 0
    failed_changes: int = 0
    failures: int = 0
    restores: list[float] = field(default_factory=list)

    def within(self, moment: datetime) -> bool:
        return self.since <= moment <= self.until

    def close(self, change: _Change | None) -> None:
        if change is not None and self.within(change.started_at):
            self.changes += 1
            self.failed_changes += change.failed

    def restore(self, failing_since: datetime, restored_at: datetime) -> None:
        if self.within(failing_since):
            self.restores.append(max(0.0, (restored_at - failing_since).total_seconds()))


def _replay(
    attempts: Sequence[Record], tally: _Tally, started: Mapping[str, datetime] | None = None
) -> None:
    """Replay one sync's final attempts, oldest first, into `tally`."""
    running: str | None = None
    change: _Change | None = None
    failing_since: datetime | None = None
    for record in attempts:
        if record.result in (Result.IN_PROGRESS, Result.INTERRUPTED):
            continue
        if record.trigger is Trigger.DRIFT:
            continue  # put back what runs: deploys nothing, changes nothing, restores nothing
        wrote = record.created + record.configured + record.deleted > 0
        if record.result is Result.FAILED and not wrote:
            continue  # refused before any write: nothing in the cluster changed
        if record.result is Result.APPLIED and not wrote:
            # A new revision that changed nothing of this Sync (a commit to another app of
            # the same repository, a README): no deployment, and no lead time to measure.
            if failing_since is not None:
                tally.restore(failing_since, record.deployed_at or record.started_at)
                failing_since = None
            running = record.revision
            continue
        manual = record.trigger is Trigger.ROLLBACK
        is_change = not manual and not _same(record.revision, running)
        if is_change and (change is None or not _same(change.revision, record.revision)):
            tally.close(change)
            change = _Change(record.revision, record.started_at)
        deployed_at = record.deployed_at
        if record.result is Result.APPLIED:
            assert deployed_at is not None
            if is_change:
                if tally.within(deployed_at):
                    tally.deployments += 1
                    start = (started or {}).get(sha_of(record.revision), record.commit_time)
                    if start is not None:
                        lead = (deployed_at - start).total_seconds()
                        tally.lead_times.append(max(0.0, lead))
                tally.close(change)
                change = None
            if failing_since is not None:
                tally.restore(failing_since, deployed_at)
                failing_since = None
            running = record.revision
            continue
        # failed (after writing), or rolled back
        if not is_change:
            continue  # a manual rollback that failed, or a failed re-apply of what runs
        assert change is not None
        change.failed = True
        if failing_since is None:
            failing_since = record.applied_at or record.started_at
            tally.failures += tally.within(failing_since)
        if deployed_at is not None:  # rolled back to a known good revision
            tally.restore(failing_since, deployed_at)
            failing_since = None
            running = record.deployed_revision
    tally.close(change)


def dora_of(
    records: Iterable[Record],
    *,
    since: datetime | None,
    until: datetime,
    started: Mapping[str, datetime] | None = None,
) -> Dora:
    """DORA figures over [since, until] from `records` (any order; earlier records are used to
    know what was running when the window opened). `started`: where a commit's lead time
    starts instead of its commit time (commit sha -> the push of the image it brought)."""
    by_sync: dict[tuple[str, str, str], list[Record]] = {}
    for record in records:
        key = (record.cluster, record.sync_namespace, record.sync_name)
        by_sync.setdefault(key, []).append(record)
    starts = [r.started_at for attempts in by_sync.values() for r in attempts]
    window_start = since or (min(starts) if starts else until)
    tally = _Tally(window_start, until)
    for attempts in by_sync.values():
        attempts.sort(key=lambda r: (r.started_at, r.id or 0))
        _replay(attempts, tally, started)
    days = (until - window_start).total_seconds() / _DAY
    if since is None:
        days = max(days, 1.0)
    lead_times, restores = tally.lead_times, tally.restores
    return Dora(
        since=window_start,
        until=until,
        deployments=tally.deployments,
        deploys_per_day=tally.deployments / days if days > 0 else 0.0,
        lead_time_median=timedelta(seconds=percentile(lead_times, 0.5)) if lead_times else None,
        lead_time_p90=timedelta(seconds=percentile(lead_times, 0.9)) if lead_times else None,
        changes=tally.changes,
        failed_changes=tally.failed_changes,
        change_failure_rate=tally.failed_changes / tally.changes if tally.changes else None,
        failures=tally.failures,
        restored=len(restores),
        time_to_restore_median=timedelta(seconds=percentile(restores, 0.5)) if restores else None,
    )


Window = tuple[datetime, datetime]


def baselines(records: Iterable[Record], since: datetime) -> set[int]:
    """Per sync, the id of the latest record that deployed something at or before `since`
    (any environment): what the sync ran when a window opened."""
    best: dict[tuple[str, str, str], tuple[datetime, int]] = {}
    for record in records:
        deployed_at = record.deployed_at
        if deployed_at is None or deployed_at > since or record.id is None:
            continue
        key = (record.cluster, record.sync_namespace, record.sync_name)
        if key not in best or (deployed_at, record.id) > best[key]:
            best[key] = (deployed_at, record.id)
    return {record_id for _, record_id in best.values()}


def in_window(
    records: Sequence[Record],
    since: datetime,
    until: datetime,
    environment: str | None,
    opening: set[int] | None = None,
) -> list[Record]:
    """The records `Ledger.dora` reads for one window: attempts started in it, plus what each
    sync ran when it opened (`opening`, computed when not given), of `environment` (None:
    all)."""
    if opening is None:
        opening = baselines(records, since)
    return [
        r
        for r in records
        if r.started_at <= until
        and (r.started_at >= since or r.id in opening)
        and (environment is None or r.environment == environment)
    ]


def series(
    records: Sequence[Record], environments: Iterable[str], windows: Sequence[Window]
) -> dict[str, list[Dora]]:
    """DORA figures per environment and window from records read once (those started from the
    first window on, plus what ran when it opened: see `Ledger.dora_series`); each equals what
    `Ledger.dora` answers for that environment and window."""
    found: dict[str, list[Dora]] = {e: [] for e in environments}
    for since, until in windows:
        opening = baselines(records, since)
        for environment, points in found.items():
            chosen = in_window(records, since, until, environment, opening)
            points.append(dora_of(chosen, since=since, until=until))
    return found
