"""gitmoor's metrics: its own registry, condition gauges, and forgetting deleted objects."""

from __future__ import annotations

import secrets

from prometheus_client import REGISTRY as GLOBAL_REGISTRY
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gitmoor import metrics


def samples(name: str) -> dict[tuple[tuple[str, str], ...], float]:
    # The registry's own samples, not its text parsed back: after the integration tests in the
    # same run, it holds the series of thousands of Syncs.
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in metrics.REGISTRY.collect()
        for s in family.samples
        if s.name == name
    }


def test_every_series_the_agent_promises_is_served_by_its_own_registry() -> None:
    text = generate_latest(metrics.REGISTRY).decode()
    families = {f.name for f in text_string_to_metric_families(text)}
    assert {
        "gitmoor_sync_reconcile_duration_seconds",
        "gitmoor_sync_reconcile",
        "gitmoor_condition",
        "gitmoor_sync_drifted_objects",
        "gitmoor_sync_managed_objects",
        "gitmoor_git_fetch_duration_seconds",
        "gitmoor_git_fetch",
        "gitmoor_kube_api_requests",
        "gitmoor_webhook_receipts",
        "gitmoor_notifications",
    } <= families
    # Not on the process-wide registry, where other libraries' collectors live.
    assert b"gitmoor_" not in generate_latest(GLOBAL_REGISTRY)


def test_condition_gauge_marks_the_current_status_only() -> None:
    name = f"s-{secrets.token_hex(3)}"
    metrics.set_condition("Sync", "team-a", name, "Ready", "False")
    metrics.set_condition("Sync", "team-a", name, "Ready", "True")
    mine = {
        dict(k)["status"]: v
        for k, v in samples("gitmoor_condition").items()
        if dict(k)["name"] == name
    }
    assert mine == {"True": 1.0, "False": 0.0, "Unknown": 0.0}


def test_forget_sync_drops_its_series_and_only_those() -> None:
    gone, kept = f"gone-{secrets.token_hex(3)}", f"kept-{secrets.token_hex(3)}"
    for name in (gone, kept):
        metrics.RECONCILES.labels("team-a", name, "success").inc()
        metrics.RECONCILE_DURATION.labels("team-a", name, "success").observe(1.5)
        metrics.MANAGED_OBJECTS.labels("team-a", name).set(12)
        metrics.DRIFTED_OBJECTS.labels("team-a", name).set(1)
        metrics.set_condition("Sync", "team-a", name, "Ready", "True")
        metrics.set_condition("GitSource", "team-a", name, "Ready", "True")
        metrics.GIT_FETCHES.labels("team-a", name, "success").inc()
    metrics.forget_sync("team-a", gone)

    def names(series: str) -> set[str]:
        return {dict(k)["name"] for k in samples(series)}

    for series in (
        "gitmoor_sync_reconcile_total",
        "gitmoor_sync_reconcile_duration_seconds_count",
        "gitmoor_sync_managed_objects",
        "gitmoor_sync_drifted_objects",
    ):
        assert gone not in names(series), series
        assert kept in names(series), series
    kinds = {dict(k)["kind"] for k in samples("gitmoor_condition") if dict(k)["name"] == gone}
    assert kinds == {"GitSource"}  # a GitSource of the same name is not the Sync
    assert gone in names("gitmoor_git_fetch_total")
    metrics.forget_source("team-a", gone)
    assert gone not in names("gitmoor_git_fetch_total")
    assert gone not in {dict(k)["name"] for k in samples("gitmoor_condition")}


def test_the_page_comes_in_parts_that_join_to_the_whole_with_each_family_declared_once() -> None:
    registry = CollectorRegistry()
    seconds = Histogram("t_seconds", "Time.", ["name"], registry=registry, buckets=(1, 2))
    runs = Counter("t_runs", "Runs.", ["name"], registry=registry)
    for i in range(1500):  # families larger than one part
        seconds.labels(f"s{i}").observe(1.5)
        runs.labels(f"s{i}").inc()

    parts = list(metrics.exposition(registry))
    page = b"".join(parts)

    assert len(parts) > 2
    assert page == generate_latest(registry)
    families = list(text_string_to_metric_families(page.decode()))
    assert [f.name for f in families] == ["t_seconds", "t_runs"]
    assert len(families[0].samples) == 1500 * 5  # 3 buckets, count, sum: no `_created`
    assert page.count(b"# HELP ") == page.count(b"# TYPE ") == 2
