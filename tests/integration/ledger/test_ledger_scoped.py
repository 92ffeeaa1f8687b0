"""Queries limited to one cluster and some namespaces, as the agent's ledger API asks them for a
caller who may read only those: the limit is applied by the database, so `limit` and the DORA
replay see only what the caller may see. Also the JSON round trip of what the API sends."""

from __future__ import annotations

import orjson

from gitmoor.ledger import Deployment, Dora, Ledger
from gitmoor.model.record import Record
from tests.integration.ledger.scenario import (
    applied,
    attempt,
    failed,
    minutes,
    record,
    rolled_back,
    sha,
)


async def _populate(ledger: Ledger) -> None:
    for namespace, cluster in (("team-a", "eu-1"), ("team-b", "eu-1"), ("team-a", "us-1")):
        await record(
            ledger,
            applied(attempt("v1", 0, namespace=namespace, cluster=cluster, images=("web:1",))),
        )
        await record(
            ledger,
            failed(attempt("v2", 30, namespace=namespace, cluster=cluster, images=("web:2",))),
        )
        await record(
            ledger,
            rolled_back(
                attempt("v3", 60, namespace=namespace, cluster=cluster, images=("web:3",)),
                "v1",
                ("web:1",),
            ),
        )


async def test_every_query_keeps_to_the_cluster_and_namespaces_asked(ledger: Ledger) -> None:
    await _populate(ledger)
    assert await ledger.namespaces() == ["team-a", "team-b"]
    assert await ledger.namespaces(cluster="us-1") == ["team-a"]

    only_a = {"team-a"}
    history = await ledger.history(namespaces=only_a, cluster="eu-1", limit=2)
    assert [(r.cluster, r.sync_namespace) for r in history] == [("eu-1", "team-a")] * 2
    assert await ledger.history(namespaces=set()) == []

    at = await ledger.at(minutes(45), cluster="eu-1", namespaces=only_a)
    assert [(r.cluster, r.sync_namespace, r.deployed_revision) for r in at] == [
        ("eu-1", "team-a", f"main@sha1:{sha('v1')}")
    ]
    assert len(await ledger.at(minutes(45))) == 3

    where = await ledger.where("web:1", cluster="eu-1", namespaces=only_a)
    assert [(d.cluster, d.sync_namespace) for d in where] == [("eu-1", "team-a")]
    assert len(await ledger.where("web:1")) == 3
    assert await ledger.where(sha("v1")[:10], namespaces=set()) == []

    everything = await ledger.dora(since=minutes(-10), until=minutes(120))
    one = await ledger.dora(
        since=minutes(-10), until=minutes(120), cluster="eu-1", namespaces=only_a
    )
    assert (everything.changes, everything.failed_changes) == (9, 6)
    assert (one.changes, one.failed_changes) == (3, 2)


async def test_what_the_api_sends_reads_back_as_the_same_values(ledger: Ledger) -> None:
    await _populate(ledger)
    for kept in await ledger.history(limit=10):
        assert Record.from_dict(orjson.loads(orjson.dumps(kept.as_dict()))) == kept
    for deployment in await ledger.where("web:1"):
        sent = orjson.loads(orjson.dumps(deployment.as_dict()))
        assert Deployment.from_dict(sent) == deployment
    figures = await ledger.dora(since=minutes(-10), until=minutes(120))
    assert Dora.from_dict(orjson.loads(orjson.dumps(figures.as_dict()))) == figures
