"""The ledger from a laptop: the agent's read-only ledger API, with callers' own Kubernetes
credentials, against the real API server.

ServiceAccounts `reader-a` and `reader-b` may `get` syncs in namespace A (resp. B) and `get`
the agent Service's proxy, through gitmoor's own ClusterRole `gitmoor-ledger-reader`. The
agent's ledger holds records of Syncs in A and B, written as the agent writes them. Checked:
on the agent's port directly (with the header the proxy path carries) and end to end through
the API server's service proxy, which reaches the agent's port through a Service without a
selector and Endpoints naming this machine's address (the API server refuses to proxy to
loopback, so the port listens on the machine's own non-loopback address).
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from gitmoor.commands.agent_ledger import AgentLedger, AgentLedgerError, NoTokenError
from gitmoor.install.manifests import AUTH_DELEGATOR, LEDGER_READER, manifests
from gitmoor.kube import Kube
from gitmoor.ledger import Ledger
from gitmoor.model.ledger_api import TOKEN_HEADER
from gitmoor.server.access import Caller, Reviewer, ReviewError
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.test_cli import gitmoor
from tests.integration.ledger.scenario import applied, attempt, record, rolled_back

pytestmark = [pytest.mark.cluster]
TESTS = "gitmoor-tests"
RBAC = "rbac.authorization.k8s.io/v1"


def machine_address() -> str:
    """This machine's own non-loopback IPv4 address (the API server proxies to no loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.123", 9))  # no packet is sent: only a route is chosen
        address = str(probe.getsockname()[0])
    if address.startswith("127."):
        pytest.fail("this machine has no non-loopback IPv4 address to serve the agent's port on")
    return address


@dataclass
class Setup:
    harness: AgentHarness
    a: str
    b: str
    tokens: dict[str, str]
    kubeconfigs: dict[str, Path]

    @property
    def agent_namespace(self) -> str:
        return self.harness.namespace


async def _namespace(kube: Kube, name: str) -> None:
    await kube.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        field_manager=TESTS,
    )


async def _reader(kube: Kube, namespace: str, name: str) -> str:
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace},
        },
        field_manager=TESTS,
    )
    token = await kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        body={
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        },
    )
    return str(token["status"]["token"])


async def _reader_role(kube: Kube) -> None:
    """gitmoor's own role for people, as `gitmoor install` puts it in the cluster."""
    (role,) = [o for o in manifests() if o["metadata"]["name"] == LEDGER_READER]
    await kube.apply(role, field_manager=TESTS)


async def _bind(kube: Kube, namespace: str, name: str, subjects: list[tuple[str, str]]) -> None:
    await kube.apply(
        {
            "apiVersion": RBAC,
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {
                "apiGroup": RBAC.split("/")[0],
                "kind": "ClusterRole",
                "name": LEDGER_READER,
            },
            "subjects": [
                {"kind": "ServiceAccount", "namespace": ns, "name": sa} for ns, sa in subjects
            ],
        },
        field_manager=TESTS,
    )


def _kubeconfig(admin: Path, target: Path, token: str) -> Path:
    """The admin kubeconfig's cluster, with a token user instead of the admin's certificate."""
    config = yaml.safe_load(admin.read_text())
    config["users"] = [{"name": "reader", "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = "reader"
    target.write_text(yaml.safe_dump(config))
    return target


async def _records(url: str, cluster: str, a: str, b: str) -> None:
    async with await Ledger.open(url, cluster=cluster) as ledger:
        await record(
            ledger, applied(attempt("v1", 0, namespace=a, cluster=cluster, images=("web:1",)))
        )
        await record(
            ledger, applied(attempt("v2", 10, namespace=a, cluster=cluster, images=("web:2",)))
        )
        await record(
            ledger,
            rolled_back(
                attempt("v3", 20, namespace=a, cluster=cluster, images=("web:3",)), "v2", ("web:2",)
            ),
        )
        await record(
            ledger, applied(attempt("b1", 5, namespace=b, cluster=cluster, images=("web:1",)))
        )
        # Another cluster's record in a shared ledger: this cluster's RBAC says nothing of it.
        await record(ledger, applied(attempt("x1", 7, namespace=a, cluster="elsewhere")))


@pytest.fixture
async def setup(
    harness: AgentHarness, kube: Kube, kubeconfig: Path, tmp_path: Path
) -> AsyncIterator[Setup]:
    h = harness
    a, b = f"{h.namespace[:50]}-a", f"{h.namespace[:50]}-b"
    for name in (a, b):
        await _namespace(kube, name)
    await _reader_role(kube)
    tokens = {
        name: await _reader(kube, h.namespace, name) for name in ("reader-a", "reader-b", "nobody")
    }
    await _bind(kube, a, "ledger-a", [(h.namespace, "reader-a")])
    await _bind(kube, b, "ledger-b", [(h.namespace, "reader-b")])
    # The proxy to the agent's Service, for both readers (not for `nobody`).
    await _bind(
        kube, h.namespace, "ledger-proxy", [(h.namespace, "reader-a"), (h.namespace, "reader-b")]
    )
    kubeconfigs = {
        name: _kubeconfig(kubeconfig, tmp_path / f"{name}.kubeconfig", token)
        for name, token in tokens.items()
    }

    await h.stop()
    assert h.ledger_url is not None
    await _records(h.ledger_url, h.cluster, a, b)
    h.http_host = machine_address()
    await h.start(http=True)
    await eventually(
        _ready(h.http_url), lambda status: status == 200, within=60, what="the agent to lead"
    )
    port = int(h.http_url.rsplit(":", 1)[1])
    await _stand_in(kube, h.namespace, h.http_host, port)
    proxied = f"/api/v1/namespaces/{h.namespace}/services/gitmoor:http/proxy/readyz"

    async def through_proxy() -> int:
        return (await kube.get_raw(proxied)).status

    await eventually(
        through_proxy, lambda s: s == 200, within=30, what="the proxy to reach the agent"
    )
    try:
        yield Setup(h, a, b, tokens, kubeconfigs)
    finally:
        for name in (a, b):
            await kube.delete("v1", "Namespace", name)


async def _stand_in(kube: Kube, namespace: str, address: str, port: int) -> None:
    """The agent's Service, as `gitmoor install` makes it, leading to this test's agent.

    The API server proxies only to an endpoint that is a Pod holding that address. So a Pod
    stands for the agent: put on a kwok node and, once kwok has made it Running (after which it
    leaves it alone), given this machine's address; the Service has no selector, and Endpoints
    and an EndpointSlice name that Pod at the agent's port. (On a node that does not exist, the
    pod garbage collector would delete it within a minute.)"""
    pod = "gitmoor-agent"
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod, "namespace": namespace},
            "spec": {
                "nodeName": "kwok-node-0",
                "containers": [{"name": "gitmoor", "image": "gitmoor"}],
                "tolerations": [{"operator": "Exists"}],
            },
        },
        field_manager=TESTS,
    )

    async def phase() -> str:
        found = await kube.get("v1", "Pod", pod, namespace)
        return str(((found or {}).get("status") or {}).get("phase"))

    await eventually(phase, lambda p: p == "Running", within=30, what="kwok to run the Pod")
    live = await kube.patch_merge(
        "v1",
        "Pod",
        pod,
        namespace,
        {"status": {"podIP": address, "podIPs": [{"ip": address}]}},
        subresource="status",
    )
    target = {"kind": "Pod", "namespace": namespace, "name": pod, "uid": live["metadata"]["uid"]}
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "gitmoor", "namespace": namespace},
            "spec": {"ports": [{"name": "http", "port": 8080, "targetPort": port}]},
        },
        field_manager=TESTS,
    )
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": "gitmoor", "namespace": namespace},
            "subsets": [
                {
                    "addresses": [{"ip": address, "targetRef": target}],
                    "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
                }
            ],
        },
        field_manager=TESTS,
    )
    await kube.apply(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "gitmoor-agent",
                "namespace": namespace,
                "labels": {
                    "kubernetes.io/service-name": "gitmoor",
                    "endpointslice.kubernetes.io/managed-by": TESTS,
                },
            },
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": [address], "conditions": {"ready": True}, "targetRef": target}
            ],
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        },
        field_manager=TESTS,
    )


def _ready(url: str) -> Any:
    async def probe() -> int:
        async with aiohttp.ClientSession() as session, session.get(f"{url}/readyz") as response:
            return response.status

    return probe


async def _get(url: str, headers: dict[str, str], **params: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, params=params, headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None)


async def test_a_reader_sees_their_namespace_only_and_needs_a_real_token(setup: Setup) -> None:
    api = f"{setup.harness.http_url}/api/v1/ledger"
    as_a = {TOKEN_HEADER: setup.tokens["reader-a"]}

    status, body = await _get(f"{api}/history", as_a, all="true")
    assert status == 200, body
    as_a_history = body["items"]
    assert {r["sync_namespace"] for r in body["items"]} == {setup.a}
    assert len(body["items"]) == 3
    assert body["hidden_namespaces"] == 1  # B's
    assert {r["cluster"] for r in body["items"]} == {setup.harness.cluster}

    # B's records are not even hinted at: `where` of an image B runs answers only for A.
    status, body = await _get(f"{api}/where", as_a, what="web:1")
    assert (status, body["items"]) == (200, [])
    status, body = await _get(
        f"{api}/where", {TOKEN_HEADER: setup.tokens["reader-b"]}, what="web:1"
    )
    assert [d["sync_namespace"] for d in body["items"]] == [setup.b]

    status, body = await _get(f"{api}/history", as_a, namespace=setup.b)
    assert status == 403, body
    assert setup.b in body["message"]
    assert "reader-a" in body["message"]

    # One record by its id (`rollback --to record:ID`), read as one Sync's: the id of B's
    # record asked for as A's Sync is no record at all, asked for as B's it is refused.
    as_b = {TOKEN_HEADER: setup.tokens["reader-b"]}
    status, body = await _get(f"{api}/history", as_b, all="true")
    b_record, a_record = body["items"][0], as_a_history[0]
    status, body = await _get(
        f"{api}/record", as_a, id=str(a_record["id"]), namespace=setup.a, sync=a_record["sync_name"]
    )
    assert status == 200, body
    assert [(r["id"], r["revision"]) for r in body["items"]] == [
        (a_record["id"], a_record["revision"])
    ]
    status, body = await _get(
        f"{api}/record", as_a, id=str(b_record["id"]), namespace=setup.a, sync=a_record["sync_name"]
    )
    assert (status, body["items"]) == (200, []), body
    status, body = await _get(
        f"{api}/record", as_a, id=str(b_record["id"]), namespace=setup.b, sync=b_record["sync_name"]
    )
    assert status == 403, body
    for bad in ("x", "0", "²"):
        status, body = await _get(f"{api}/record", as_a, id=bad, namespace=setup.a, sync="s")
        assert status == 400, body
        assert "id: required" in body["message"]

    # Authorization: Bearer is read as well as the proxy path's header.
    status, body = await _get(
        f"{api}/history", {"Authorization": f"Bearer {setup.tokens['reader-a']}"}, namespace=setup.a
    )
    assert (status, len(body["items"])) == (200, 3)

    status, body = await _get(f"{api}/history", {})
    assert status == 401, body
    status, body = await _get(f"{api}/history", {TOKEN_HEADER: "not-a-token"})
    assert status == 401, body
    assert "not-a-token" not in json.dumps(body)
    # A token of the right shape the API server did not issue: refused the same way.
    forged = setup.tokens["reader-a"][:-4] + "AAAA"
    status, body = await _get(f"{api}/history", {TOKEN_HEADER: forged})
    assert status == 401, body

    # `nobody` is authenticated but may read no namespace: an empty answer that says so.
    status, body = await _get(f"{api}/history", {TOKEN_HEADER: setup.tokens["nobody"]})
    assert (status, body["items"], body["hidden_namespaces"]) == (200, [], 2)


async def test_through_the_api_servers_service_proxy(setup: Setup, kube: Kube) -> None:
    admin = kube
    ns = setup.agent_namespace
    async with await Kube.from_kubeconfig(setup.kubeconfigs["reader-a"]) as kube:
        book = await AgentLedger.connect(kube, namespace=ns, service="gitmoor")
        history = await book.history(limit=10)
        assert {r.sync_namespace for r in history} == {setup.a}
        assert book.hidden_namespaces == 1
        with pytest.raises(AgentLedgerError, match="may not read"):
            await book.history(namespace=setup.b)
        # The role names gitmoor's Service: no other Service's proxy is open to readers.
        other = AgentLedger(kube, "x", namespace=ns, service="no-such-service")
        with pytest.raises(AgentLedgerError, match=r"cannot get resource .services/proxy"):
            await other.where("web:1")
    # Where there is no such Service, it says so (asked as the admin, who may use any proxy).
    missing = AgentLedger(admin, "x", namespace=ns, service="no-such-service")
    with pytest.raises(AgentLedgerError, match="no gitmoor agent answers behind Service"):
        await missing.where("web:1")

    # Not allowed to use the proxy: the API server refuses before the agent hears of it.
    async with await Kube.from_kubeconfig(setup.kubeconfigs["nobody"]) as kube:
        book = await AgentLedger.connect(kube, namespace=ns, service="gitmoor")
        with pytest.raises(AgentLedgerError, match=r"services/proxy.*gitmoor-ledger-reader"):
            await book.where("web:1")

    # A token the API server never issued, passed on by a caller the proxy lets through: the
    # agent refuses it.
    async with await Kube.from_kubeconfig(setup.kubeconfigs["reader-a"]) as kube:
        book = AgentLedger(kube, "bogus", namespace=ns, service="gitmoor")
        with pytest.raises(AgentLedgerError, match="did not accept your credentials"):
            await book.where("web:1")


async def test_the_cli_without_ledger_prints_what_it_prints_with_it(
    setup: Setup, kubeconfig: Path
) -> None:
    url, ns = setup.harness.ledger_url, setup.agent_namespace
    assert url is not None
    agent = ("--agent-namespace", ns)
    as_a = setup.kubeconfigs["reader-a"]
    # Directly, the ledger shows everything: the same rows are those of A in this cluster.
    only_a = ("--cluster", setup.harness.cluster, "-n", setup.a)
    for question, narrowed in (
        (("history", "-o", "wide", "--all"), only_a),
        (("history", "-n", setup.a), only_a),
        (("history", "-o", "json"), only_a),
        (("where", "web:2", "-o", "wide"), ()),
    ):
        code, through_agent, err = await gitmoor(*question, *agent, kubeconfig=as_a)
        assert code == 0, err
        code, direct, err = await gitmoor(*question, *narrowed, "--ledger", url, kubeconfig=as_a)
        assert code == 0, err
        assert through_agent == direct, question
        assert setup.a in through_agent
    code, shown, err = await gitmoor(
        "at", "2026-03-01T12:15:00Z", "-o", "json", *agent, kubeconfig=as_a
    )
    assert code == 0, err
    assert {r["sync_namespace"] for r in json.loads(shown)} == {setup.a}
    assert "left out the records of 1 namespace" in err

    code, figures, err = await gitmoor(
        "dora", "--since", "2026-03-01", "-o", "json", *agent, kubeconfig=as_a
    )
    assert code == 0, err
    assert json.loads(figures)["deployments"] == 2

    # Named namespace not allowed: the agent's refusal, exit 3.
    code, _, err = await gitmoor("history", "-n", setup.b, *agent, kubeconfig=as_a)
    assert code == 3
    assert "may not read the ledger records" in err

    # The admin's kubeconfig has a client certificate: nothing to pass on, and it says so.
    code, _, err = await gitmoor("history", *agent, kubeconfig=kubeconfig)
    assert code == 3
    assert "no bearer token" in err
    assert "--ledger" in err
    with pytest.raises(NoTokenError):
        async with await Kube.from_kubeconfig(kubeconfig) as kube:
            await AgentLedger.connect(kube, namespace=ns)


async def test_the_installed_rbac_lets_the_agent_review_its_callers(
    kube: Kube, kubeconfig: Path, namespace: str, unique_name: str, tmp_path: Path
) -> None:
    """The agent's own ServiceAccount, with only the install's `gitmoor-auth-delegator` binding,
    can make the reviews the ledger API needs (and cannot without it)."""
    (binding,) = [
        o for o in manifests(namespace=namespace) if o["metadata"]["name"] == AUTH_DELEGATOR
    ]
    binding = {**binding, "metadata": {**binding["metadata"], "name": f"{unique_name}-auth"}}
    await _reader_role(kube)
    agent_token = await _reader(kube, namespace, "gitmoor")
    reader_token = await _reader(kube, namespace, "reader")
    await _bind(kube, namespace, "reader", [(namespace, "reader")])
    agent_config = _kubeconfig(kubeconfig, tmp_path / "agent.kubeconfig", agent_token)
    reviewer = Reviewer(ttl=0)
    async with await Kube.from_kubeconfig(agent_config) as agent:
        with pytest.raises(ReviewError, match=r"tokenreviews.* is forbidden"):
            await reviewer.authenticate(agent, reader_token)
        await kube.apply(binding, field_manager=TESTS)
        try:

            async def review() -> Any:
                try:
                    return await reviewer.authenticate(agent, reader_token)
                except ReviewError as refused:
                    return str(refused)

            reader = await eventually(
                review, lambda r: isinstance(r, Caller), within=30, what="the binding to count"
            )
            assert reader.username == f"system:serviceaccount:{namespace}:reader"
            assert "system:serviceaccounts" in reader.groups
            other = f"{namespace[:50]}-x"

            async def allowed() -> set[str]:
                return await reviewer.allowed(agent, reader_token, reader, [namespace, other])

            await eventually(allowed, lambda a: a == {namespace}, within=30, what="the grant")
            assert await reviewer.authenticate(agent, reader_token[:-4] + "AAAA") is None
        finally:
            await kube.delete(RBAC, "ClusterRoleBinding", binding["metadata"]["name"])
