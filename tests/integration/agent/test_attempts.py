"""What counts as one attempt: a rollback is one record, one Event and one notification (never
drift); a drift correction is an attempt of its own in the ledger and in /metrics, and one the
API server refuses keeps the Sync not Ready until it succeeds."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gitmoor.kube import Kube
from gitmoor.ledger import Ledger
from gitmoor.model.record import Record, Result, Trigger
from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers
from testenv.wait import eventually
from tests.integration.agent.conftest import NOTIFY_KEY
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import UNSCHEDULABLE, configmap, deployment

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]


@pytest.fixture
async def harness(
    kube: Kube, kubeconfig: Path, namespace: str, tmp_path: Path, crds: None
) -> AsyncIterator[AgentHarness]:
    """The agent with its HTTP port, so /metrics is read as Prometheus scrapes it."""
    h = AgentHarness(kube, kubeconfig, namespace, tmp_path)
    await h.start(http=True)
    try:
        yield h
    finally:
        await h.stop()


async def counted(harness: AgentHarness, name: str, result: str) -> float:
    """`gitmoor_sync_drift_corrections_total` of the Sync for `result`, scraped from /metrics."""
    async with aiohttp.ClientSession() as http, http.get(f"{harness.http_url}/metrics") as r:
        text = await r.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gitmoor_sync_drift_corrections_total" and sample.labels == {
                "namespace": harness.namespace,
                "name": name,
                "result": result,
            }:
                return float(sample.value)
    return 0.0


async def records(harness: AgentHarness, name: str) -> list[Record]:
    assert harness.ledger_url is not None
    async with await Ledger.open(harness.ledger_url) as ledger:
        return await ledger.history(sync=name, namespace=harness.namespace)


async def sync_events(harness: AgentHarness, name: str) -> list[dict[str, Any]]:
    events = await harness.kube.list("v1", "Event", harness.namespace)
    return [
        e
        for e in events
        if e["involvedObject"]["kind"] == "Sync" and e["involvedObject"]["name"] == name
    ]


async def test_a_rollback_is_one_attempt_with_one_record_event_and_notification(
    harness: AgentHarness,
    git_servers: GitServers,
    unique_name: str,
    receiver: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = receiver
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    files = {f"cm{i}.yaml": configmap(f"cm{i}", ns, v="1") for i in range(6)}
    sha = tree.commit("healthy", {"web.yaml": deployment("web", ns), **files})
    tree.push()
    await harness.secret("notify-key", {"hmacKey": NOTIFY_KEY.decode()})
    await harness.source("repo", repo.file_url)
    sink = {"type": "webhook", "url": url, "secretRef": {"name": "notify-key"}}
    await harness.sync("app", "repo", atomic=True, timeout="8s", notifications=[sink])
    await harness.wait_applied("app", sha)
    await harness.wait_condition("Sync", "app", cond.HEALTHY, "True")

    bad = tree.commit(
        "stuck", {"web.yaml": deployment("web", ns, image="nginx:1.28", extra_spec=UNSCHEDULABLE)}
    )
    tree.push()
    await harness.wait_condition("Sync", "app", cond.READY, "False", reason="RolledBack")
    # A later, known notification: once it is in, everything the rollback sent is too.
    fixed = tree.commit("fixed", {"web.yaml": deployment("web", ns, image="nginx:1.28")})
    tree.push()
    await harness.wait_applied("app", fixed)
    await eventually(
        lambda: asyncio.sleep(0, received),
        lambda got: any(n["kind"] == "recovery" for n in got),
        within=30,
        what="the recovery notification",
    )

    kinds = [n["kind"] for n in received]
    assert kinds == ["rollback", "recovery"], received
    reasons = [e["reason"] for e in await sync_events(harness, "app")]
    assert reasons.count("RolledBack") == 1
    assert not {"DriftCorrected", "HealthDegraded", "HealthRecovered"} & set(reasons), reasons
    attempts = [r for r in await records(harness, "app") if r.revision.endswith(bad)]
    assert [r.result for r in attempts] == [Result.ROLLED_BACK]
    (rollback,) = attempts
    # One entry per object: 7 objects, the Deployment configured (and put back), none counted
    # twice.
    assert rollback.configured == 1
    assert rollback.created + rollback.configured + rollback.unchanged == 7
    assert rollback.rolled_back_to is not None
    assert rollback.rolled_back_to.endswith(sha)


async def test_a_hand_edited_secret_from_string_data_is_put_back_and_recorded(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    secret = (
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: {ns}\n"
        "stringData:\n  password: from-git\n"
    )
    sha = tree.commit("a secret", {"secret.yaml": secret})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    await harness.wait_applied("app", sha)

    assert await counted(harness, "app", "success") == 0
    edited = base64.b64encode(b"by-hand").decode()
    await harness.kube.patch_merge("v1", "Secret", "db", ns, {"data": {"password": edited}})

    live = await harness.wait_for_object(
        "v1",
        "Secret",
        "db",
        lambda s: base64.b64decode(s["data"]["password"]) == b"from-git",
        within=30,
    )
    assert live["data"]["password"] != edited
    corrections = await eventually(
        lambda: records(harness, "app"),
        lambda found: any(r.trigger is Trigger.DRIFT for r in found),
        within=30,
        what="the correction in the ledger",
    )
    (correction,) = [r for r in corrections if r.trigger is Trigger.DRIFT]
    assert correction.result is Result.APPLIED
    assert correction.revision.endswith(sha)
    assert [(o.ref.kind, o.ref.name) for o in correction.objects] == [("Secret", "db")]
    assert correction.configured == 1
    # The record names the fields put back (what the UI's drift panel shows), never a value.
    assert correction.message == f"1 configured: Secret/{ns}/db (data.password)"
    # It deploys nothing new: `where`/`at` still see the apply of the revision.
    assert correction.deployed_revision is None
    # Counted too (right after the record and the status are written).
    await eventually(
        lambda: counted(harness, "app", "success"),
        lambda count: count >= 1,
        within=30,
        what="the correction on /metrics",
    )
    assert await counted(harness, "app", "failure") == 0


async def test_a_refused_correction_keeps_the_sync_not_ready_until_it_succeeds(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    other = f"{ns}-held"
    await harness.kube.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}},
        field_manager="gitmoor-tests",
    )
    # Holds the namespace in Terminating once it is deleted: writes into it are refused (403).
    await harness.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "blocker", "namespace": other, "finalizers": ["test/hold"]},
        },
        field_manager="gitmoor-tests",
    )
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("v1", {"cm.yaml": configmap("app", other, v="1")})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    await harness.wait_applied("app", sha)
    try:
        await harness.kube.delete("v1", "Namespace", other)
        sync = await harness.wait_condition(
            "Sync", "app", cond.READY, "False", reason="DriftCorrectionFailed", within=60
        )
        message = (cond.get_condition(sync, cond.READY) or {})["message"]
        assert f"ConfigMap/{other}/app" in message
        assert "terminated" in message
        found = await records(harness, "app")
        assert any(r.trigger is Trigger.DRIFT and r.result is Result.FAILED for r in found)
        await eventually(
            lambda: counted(harness, "app", "failure"),
            lambda count: count >= 1,
            within=30,
            what="the failed correction on /metrics",
        )
        assert await counted(harness, "app", "success") == 0
    finally:
        await harness.kube.patch_merge(
            "v1", "ConfigMap", "blocker", other, {"metadata": {"finalizers": None}}
        )
    await eventually(
        lambda: harness.kube.get("v1", "Namespace", other),
        lambda gone: gone is None,
        within=60,
        what="the namespace to be gone",
    )
    await harness.kube.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}},
        field_manager="gitmoor-tests",
    )

    # Retried with backoff, no commit and no restart: Ready again, the object back.
    await harness.wait_condition("Sync", "app", cond.READY, "True", within=90)
    assert await harness.kube.get("v1", "ConfigMap", "app", other) is not None
    await harness.kube.delete("v1", "Namespace", other)
