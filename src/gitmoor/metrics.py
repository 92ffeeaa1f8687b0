"""The agent's Prometheus metrics, on a registry of gitmoor's own.

Module-level so any layer can count what it does (`gitmoor.kube` counts API requests); it
imports nothing but prometheus_client for that reason. `REGISTRY` is not the global default
registry: `/metrics` serves exactly gitmoor's series, and tests read them without the process's
other collectors.

Label values, by convention:
- `result` of a reconcile: `success`, `failure`, `rollback`, `stalled`, `skipped`;
  of a Git fetch: `success`, `unchanged`, `failure`;
- `verb`: `get`, `list`, `watch`, `apply`, `patch`, `delete`, ...; `code`: the HTTP status
  (`200`, `404`, ...) or `error` when no answer came;
- webhook `result`: see `gitmoor.server.hooks.Result`; notification `result`: `sent`,
  `failed`, `duplicate`, `dropped`.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import Metric

# No `_created` series beside every counter and histogram: in the text format they are gauge
# families of their own, one more series per Sync and source for Prometheus to store, and
# nothing reads them (a counter's reset shows in its value).
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=True)

_SYNC = ("namespace", "name")

RECONCILE_DURATION = Histogram(
    "gitmoor_sync_reconcile_duration_seconds",
    "Time one reconcile of a Sync took, from start to status written.",
    [*_SYNC, "result"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
    registry=REGISTRY,
)
RECONCILES = Counter(
    "gitmoor_sync_reconcile",
    "Reconciles of a Sync, by result.",
    [*_SYNC, "result"],
    registry=REGISTRY,
)
CONDITION = Gauge(
    "gitmoor_condition",
    "1 for the current status of a condition of a GitSource or Sync, 0 for the others.",
    ["kind", *_SYNC, "type", "status"],
    registry=REGISTRY,
)
DRIFT_CORRECTIONS = Counter(
    "gitmoor_sync_drift_corrections",
    "Drifted objects put back as Git has them, by result.",
    [*_SYNC, "result"],
    registry=REGISTRY,
)
LEDGER_SPOOLED = Gauge(
    "gitmoor_ledger_spooled_records",
    "Finished attempts waiting beside the agent for the ledger to come back (0: all written).",
    registry=REGISTRY,
)
LEDGER_UP = Gauge(
    "gitmoor_ledger_up",
    "1 while the ledger takes records (or none is configured), 0 while they go to the spool.",
    registry=REGISTRY,
)
LEDGER_UP.set(1)
LEDGER_FAILURES = Counter(
    "gitmoor_ledger_failures",
    "Writes to the ledger that failed (the records went to the spool).",
    registry=REGISTRY,
)
DRIFTED_OBJECTS = Gauge(
    "gitmoor_sync_drifted_objects",
    "Managed objects of a Sync that differ from Git right now.",
    _SYNC,
    registry=REGISTRY,
)
REPLICA_OWNED = Gauge(
    "gitmoor_replica_owned",
    "Resources of each kind this agent replica owns, when several share them (sharded mode).",
    ["kind"],
    registry=REGISTRY,
)
REPLICA_MEMBERS = Gauge(
    "gitmoor_replica_members",
    "Live agent replicas this replica sees (sharded mode).",
    registry=REGISTRY,
)
MANAGED_OBJECTS = Gauge(
    "gitmoor_sync_managed_objects",
    "Objects in a Sync's inventory.",
    _SYNC,
    registry=REGISTRY,
)
GIT_FETCH_DURATION = Histogram(
    "gitmoor_git_fetch_duration_seconds",
    "Time one check-and-fetch of a GitSource took.",
    [*_SYNC, "result"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
GIT_FETCHES = Counter(
    "gitmoor_git_fetch",
    "Check-and-fetches of a GitSource, by result.",
    [*_SYNC, "result"],
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "gitmoor_kube_api_requests",
    "Requests to the Kubernetes API, by verb and HTTP status code.",
    ["verb", "code"],
    registry=REGISTRY,
)
WEBHOOK_RECEIPTS = Counter(
    "gitmoor_webhook_receipts",
    "Push webhooks received, by provider and result.",
    ["provider", "result"],
    registry=REGISTRY,
)
HTTP_CONNECTIONS_EVICTED = Counter(
    "gitmoor_http_connections_evicted",
    "Connections to the HTTP port closed to stay within --http-max-connections.",
    registry=REGISTRY,
)
NOTIFICATIONS = Counter(
    "gitmoor_notifications",
    "Notifications by sink type and result.",
    ["sink", "result"],
    registry=REGISTRY,
)

_STATUSES = ("True", "False", "Unknown")


def set_condition(kind: str, namespace: str, name: str, type_: str, status: str) -> None:
    """Mark `status` as the condition's current one (1) and the other two as not (0), so a
    query on `status="False"` finds every object currently failing."""
    for candidate in _STATUSES:
        CONDITION.labels(kind, namespace, name, type_, candidate).set(
            1.0 if candidate == status else 0.0
        )


def forget_sync(namespace: str, name: str) -> None:
    """Drop every series of a deleted Sync, so it vanishes from dashboards."""
    labels = {"namespace": namespace, "name": name}
    for metric in (
        RECONCILE_DURATION,
        RECONCILES,
        DRIFT_CORRECTIONS,
        DRIFTED_OBJECTS,
        MANAGED_OBJECTS,
    ):
        metric.remove_by_labels(labels)
    CONDITION.remove_by_labels({"kind": "Sync", **labels})


def forget_source(namespace: str, name: str, kind: str = "GitSource") -> None:
    """Drop every series of a deleted GitSource (or ChartSource)."""
    labels = {"namespace": namespace, "name": name}
    if kind == "GitSource":
        for metric in (GIT_FETCH_DURATION, GIT_FETCHES):
            metric.remove_by_labels(labels)
    CONDITION.remove_by_labels({"kind": kind, **labels})


_SLICE = 1000  # samples formatted at a time


class _One:
    """A registry of one family, for `generate_latest`."""

    def __init__(self, family: Metric) -> None:
        self._family = family

    def collect(self) -> list[Metric]:
        return [self._family]


def exposition(registry: CollectorRegistry) -> Iterator[bytes]:
    """The text format of `registry`, a slice of a family at a time: with thousands of Syncs
    the page is megabytes, and all its lines at once would raise the agent's peak memory by
    tens of MiB at every scrape. The parts joined are `generate_latest(registry)`."""
    for family in registry.collect():
        samples = family.samples
        for start in range(0, max(len(samples), 1), _SLICE):
            part = Metric(family.name, family.documentation, family.type, family.unit)
            part.samples = samples[start : start + _SLICE]
            text = generate_latest(_One(part))
            if start:
                # The family's HELP and TYPE lines come once, before its first sample (with no
                # `_created` series, a slice is one family: those two lines, then samples).
                text = text.split(b"\n", 2)[2]
            yield text
