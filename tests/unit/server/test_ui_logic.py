"""The UI's pure decisions from tables: a Sync's state and row, the overview's filters and
counts, a drifted field's diff (Secrets hidden), what a rollback changes, whether a request
comes from the UI's own pages, sessions and CSRF tokens, and the live hub."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from gitmoor.model import Action, ObjectRef
from gitmoor.model.record import ObjectAction, Record, Result, Trigger
from gitmoor.reconcile.cache import Cache
from gitmoor.reconcile.memory import Key
from gitmoor.server.access import Caller
from gitmoor.server.ui.gates import Principal
from gitmoor.server.ui.live import Hub, event
from gitmoor.server.ui.sessions import IDLE, Sessions, same_origin
from gitmoor.server.ui.views import (
    HIDDEN,
    Filter,
    State,
    content_diff,
    counts,
    field_diff,
    matrix,
    overview,
    state_of,
    sync_view,
)

REV = "main@sha1:" + "a" * 40


def _sync(
    name: str,
    namespace: str = "apps",
    *,
    ready: str = "True",
    suspend: bool = False,
    drifted: bool = False,
    healthy: str = "True",
) -> dict[str, Any]:
    conditions = [
        {"type": "Ready", "status": ready, "reason": "R", "message": f"{name} message"},
        {"type": "Healthy", "status": healthy, "reason": "H", "message": ""},
    ]
    if drifted:
        conditions.append(
            {"type": "Drifted", "status": "True", "reason": "DriftDetected", "message": "1 object"}
        )
    return {
        "kind": "Sync",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"sourceRef": {"name": "repo"}, "suspend": suspend, "environment": "prod"},
        "status": {"lastAppliedRevision": REV, "conditions": conditions},
    }


SOURCE = {
    "kind": "GitSource",
    "metadata": {"name": "repo", "namespace": "apps"},
    "spec": {"url": "https://git.example/app.git"},
    "status": {
        "artifact": {"revision": REV, "message": "Bump web", "author": "Ada"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "Ok", "message": "ok"}],
    },
}


@pytest.mark.parametrize(
    ("ready", "suspended", "state"),
    [
        ("True", False, State.READY),
        ("False", False, State.FAILED),
        ("Reconciling", False, State.RECONCILING),
        ("Unknown", False, State.UNKNOWN),
        ("True", True, State.SUSPENDED),
        ("False", True, State.SUSPENDED),
    ],
)
def test_state_of(ready: str, suspended: bool, state: State) -> None:
    assert state_of(ready, suspended) is state


def test_a_row_carries_the_commit_only_when_the_source_offers_the_applied_revision() -> None:
    row = sync_view(_sync("web", drifted=True), SOURCE)
    assert (row["state"], row["drifted"], row["environment"]) == ("ready", True, "prod")
    assert (row["commit_subject"], row["commit_author"]) == ("Bump web", "Ada")
    moved = {**SOURCE, "status": {**SOURCE["status"], "artifact": {"revision": "main@sha1:b"}}}
    assert sync_view(_sync("web"), moved)["commit_subject"] == ""
    assert sync_view(_sync("web"), None)["source"] == "apps/repo"


ROWS = [
    sync_view(_sync("web"), SOURCE),
    sync_view(_sync("api", ready="False", healthy="False"), SOURCE),
    sync_view(_sync("db", "data", drifted=True), None),
    sync_view(_sync("old", suspend=True), SOURCE),
]


@pytest.mark.parametrize(
    ("chosen", "names"),
    [
        (Filter(), ["web", "api", "db", "old"]),
        (Filter(namespace="data"), ["db"]),
        (Filter(status="failed"), ["api"]),
        (Filter(status="suspended"), ["old"]),
        (Filter(status="drifted"), ["db"]),
        (Filter(status="unhealthy"), ["api"]),
        (Filter(text="BUMP"), ["web", "api", "old"]),  # the commit subject
        (Filter(text="db message"), ["db"]),
        (Filter(namespace="apps", status="ready"), ["web"]),
    ],
)
def test_the_overview_filters(chosen: Filter, names: list[str]) -> None:
    assert [r["name"] for r in ROWS if chosen.admits(r)] == names


def test_a_status_filter_outside_the_known_words_is_named() -> None:
    assert Filter(status="broken").problem() is not None
    assert Filter(status="drifted").problem() is None


def test_counts_and_namespaces_only_of_what_may_be_read() -> None:
    found = overview(
        [_sync("web"), _sync("api", ready="False"), _sync("db", "secret-ns")],
        [SOURCE],
        {"apps"},
        Filter(status="ready"),
    )
    assert found["counts"]["total"] == 2
    assert (found["counts"]["ready"], found["counts"]["failed"]) == (1, 1)
    assert [r["name"] for r in found["syncs"]] == ["web"]
    assert found["namespaces"] == ["apps"]
    assert counts([])["total"] == 0


def test_chart_sources_are_sources_but_never_a_syncs_git_source() -> None:
    chart = {
        "kind": "ChartSource",
        "metadata": {"name": "repo", "namespace": "apps"},
        "spec": {"url": "oci://registry.example/charts", "chart": "web"},
        "status": {"artifact": {"revision": "web@1.2.3", "message": "not a commit"}},
    }
    found = overview([_sync("web")], [chart, SOURCE], {"apps"}, Filter())
    assert [(r["kind"], r["revision"]) for r in found["sources"]] == [
        ("ChartSource", "web@1.2.3"),
        ("GitSource", REV),
    ]
    assert found["syncs"][0]["commit_subject"] == "Bump web"  # the GitSource's, same name


def test_a_sync_of_an_oci_source_reads_that_source_not_a_git_source_of_its_name() -> None:
    artifact = "1.2.0@sha256:" + "ab" * 32
    oci = {
        "kind": "OCISource",
        "metadata": {"name": "repo", "namespace": "apps"},
        "spec": {"url": "oci://registry.example/manifests"},
        "status": {"artifact": {"revision": artifact, "message": "pushed from CI"}},
    }
    sync = _sync("web")
    sync["spec"]["sourceRef"] = {"kind": "OCISource", "name": "repo"}
    sync["status"]["lastAppliedRevision"] = artifact
    found = overview([sync], [SOURCE, oci], {"apps"}, Filter())
    assert found["syncs"][0]["source_revision"] == artifact
    assert found["syncs"][0]["commit_subject"] == "pushed from CI"
    assert [r["kind"] for r in found["sources"]] == ["GitSource", "OCISource"]


@pytest.mark.parametrize(
    ("kind", "path", "git", "live", "shown"),
    [
        (
            "ConfigMap",
            "data.mode",
            {"data": {"mode": "blue"}},
            {"data": {"mode": "red"}},
            ("blue", "red"),
        ),
        (
            "Deployment",
            "spec.template.spec.containers[0].image",
            {"spec": {"template": {"spec": {"containers": [{"image": "web:1"}]}}}},
            {"spec": {"template": {"spec": {"containers": [{"image": "web:2"}]}}}},
            ("web:1", "web:2"),
        ),
        ("ConfigMap", "data.gone", {"data": {"gone": "x"}}, {"data": {}}, ("x", None)),
        ("ConfigMap", "data.mode", {"data": {"mode": "blue"}}, None, ("blue", None)),
        (
            "Secret",
            "data.password",
            {"data": {"password": "czE="}},
            {"data": {"password": "czI="}},
            (HIDDEN, HIDDEN),
        ),
        ("Secret", "stringData.token", {"stringData": {"token": "t"}}, {}, (HIDDEN, None)),
        (
            "Secret",
            "metadata.labels.tier",
            {"metadata": {"labels": {"tier": "a"}}},
            {"metadata": {"labels": {"tier": "b"}}},
            ("a", "b"),
        ),
    ],
)
def test_a_drifted_fields_diff(
    kind: str, path: str, git: Any, live: Any, shown: tuple[Any, Any]
) -> None:
    (row,) = field_diff(kind, [path], git, live)
    assert (row["path"], row["git"], row["live"]) == (path, *shown)


def _record(revision: str, images: tuple[str, ...], objects: tuple[str, ...], id_: int) -> Record:
    t = datetime(2026, 3, 1, tzinfo=UTC)
    return Record(
        sync_namespace="apps",
        sync_name="web",
        environment="prod",
        cluster="here",
        source_url="u",
        revision=revision,
        trigger=Trigger.INTERVAL,
        started_at=t,
        applied_at=t,
        finished_at=t,
        result=Result.APPLIED,
        images=images,
        objects=tuple(
            ObjectAction(ObjectRef("", "ConfigMap", "apps", o), "v1", Action.CONFIGURED)
            for o in objects
        ),
        id=id_,
    )


def test_what_a_rollback_changes() -> None:
    now = _record("main@sha1:2", ("web:2", "sidecar:1"), ("a", "b"), 2)
    then = _record("main@sha1:1", ("web:1", "sidecar:1"), ("a", "old"), 1)
    diff = content_diff(now, then)
    assert (diff["from"]["revision"], diff["to"]["revision"]) == ("main@sha1:2", "main@sha1:1")
    assert (diff["images_removed"], diff["images_added"]) == (["web:2"], ["web:1"])
    assert (diff["objects_removed"], diff["objects_added"]) == (
        ["ConfigMap/apps/b"],
        ["ConfigMap/apps/old"],
    )
    assert content_diff(None, then)["images_added"] == ["sidecar:1", "web:1"]


def _running(where: str, revision: str, *, record_id: int) -> tuple[Record, str, str]:
    """`cluster:environment:namespace/name` runs `revision`."""
    cluster, environment, sync = where.split(":")
    namespace, name = sync.split("/")
    record = replace(
        _record(revision, (), (), record_id),
        cluster=cluster,
        environment=environment,
        sync_namespace=namespace,
        sync_name=name,
    )
    return record, revision, "2026-03-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("running", "rows"),
    [
        # One app across environments lines up on one row.
        (
            ["eu:staging:shop/web", "eu:prod:shop/web"],
            {("shop/web", ""): {"staging": "eu", "prod": "eu"}},
        ),
        # The same name in two namespaces of one environment: two rows, nothing overwritten.
        (
            ["eu:prod:shop/web", "eu:prod:blog/web"],
            {("blog/web", ""): {"prod": "eu"}, ("shop/web", ""): {"prod": "eu"}},
        ),
        # One namespace/name in one environment from two clusters (a shared ledger): a row
        # per cluster for that Sync; other Syncs keep one row.
        (
            ["eu:prod:shop/web", "us:prod:shop/web", "eu:staging:shop/web", "eu:prod:shop/db"],
            {
                ("shop/db", ""): {"prod": "eu"},
                ("shop/web", "eu"): {"prod": "eu", "staging": "eu"},
                ("shop/web", "us"): {"prod": "us"},
            },
        ),
    ],
)
def test_the_environment_matrix_keys_rows_by_namespace_and_name(
    running: list[str], rows: dict[tuple[str, str], dict[str, str]]
) -> None:
    found = matrix(
        _running(where, f"main@sha1:{i}", record_id=i) for i, where in enumerate(running)
    )
    assert found["environments"] == sorted({w.split(":")[1] for w in running})
    shown = {
        (row["sync"], row["cluster"]): {e: c["cluster"] for e, c in row["cells"].items()}
        for row in found["rows"]
    }
    assert shown == rows
    assert len(found["rows"]) == len(rows)
    for row in found["rows"]:
        for cell in row["cells"].values():
            assert f"{cell['namespace']}/{cell['sync']}" == row["sync"]


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({"Origin": "http://ui.example:8080"}, False),
        ({"Origin": "http://UI.example:8080", "Sec-Fetch-Site": "same-origin"}, False),
        ({}, True),  # no Origin: a state change must say where it comes from
        ({"Origin": "null"}, True),
        ({"Origin": "http://evil.example"}, True),
        ({"Origin": "https://ui.example:8080"}, True),  # another scheme is another origin
        ({"Origin": "http://ui.example:8080", "Sec-Fetch-Site": "cross-site"}, True),
        ({"Origin": "http://ui.example:8080", "Sec-Fetch-Site": "same-site"}, True),
    ],
)
def test_same_origin(headers: dict[str, str], refused: bool) -> None:
    assert (same_origin(headers, "ui.example:8080", "http") is not None) is refused


def test_sessions_expire_and_csrf_tokens_belong_to_one_session() -> None:
    now = [0.0]
    sessions = Sessions(clock=lambda: now[0])
    who = Principal(Caller("ada"), "token-a", "token-a")
    first, second = sessions.start(who), sessions.start(who)
    assert first != second
    assert sessions.get(first) == who
    assert sessions.csrf_ok(first, sessions.csrf(first))
    assert not sessions.csrf_ok(first, sessions.csrf(second))
    assert not sessions.csrf_ok(first, None)
    assert not sessions.csrf_ok(first, "")
    sessions.end(second)
    assert sessions.get(second) is None
    now[0] = IDLE + 1
    assert sessions.get(first) is None
    assert sessions.get("made-up") is None
    assert Sessions().csrf(first) != sessions.csrf(first)  # a key of each process


def test_the_cache_tells_of_every_change_and_the_hub_batches_them() -> None:
    hub = Hub()
    cache = Cache(hub.changed)
    one, two = hub.subscribe(), hub.subscribe()
    key = Key("Sync", "apps", "web")
    cache.put(key, {"kind": "Sync"})
    cache.refresh(key, {"kind": "Sync"})
    cache.refresh(Key("Sync", "apps", "unknown"), {})  # not known: no change
    cache.drop(key)
    cache.drop(key)  # already gone: no change
    assert one.wake.is_set()
    assert one.take() == {key}
    assert not one.wake.is_set()
    assert one.take() == set()
    hub.unsubscribe(two)
    cache.put(key, {"kind": "Sync"})
    assert two.pending == {key}  # left before this change: kept what it had, heard no more
    assert len(hub) == 1
    assert event("sync", {"a": 1}) == b'event: sync\ndata: {"a":1}\n\n'
