"""`gitmoor install --tenancy strict` for real: the agent runs with its own ServiceAccount's
token and only the strict RBAC (no cluster-admin), on a control plane of its own (the install is
cluster-wide). Tenants' revisions apply as their namespace's `default` ServiceAccount; what it
may not do is refused, and the agent still manages its own resources. Its web UI shows a
tenant's Sync page (Events, resource tree) to a person who may only `get` syncs there: the
agent reads both with its own strict role."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml

from gitmoor.install import manifests
from gitmoor.kube import Kube
from gitmoor.kube import inventory as stored
from gitmoor.model import InventoryEntry, inventory
from gitmoor.model.labels import INVENTORY_OF
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile import status
from gitmoor.reconcile.outcome import Outcome
from testenv.cluster import ControlPlane, throwaway
from testenv.gitserver import GitServers, Worktree
from testenv.ports import free_port
from testenv.wait import eventually
from tests.integration.agent.manifests import configmap
from tests.integration.gitmoor_process import AgentProcess

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]
API = "gitmoor.io/v1alpha1"
TEAM = "team"


@pytest.fixture(scope="module")
def strict_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with throwaway(tmp_path_factory.mktemp("strict-cluster")) as plane:
        yield plane


async def agent_kubeconfig(kube: Kube, admin: Path, target: Path) -> Path:
    """A kubeconfig that is the agent's ServiceAccount, as its Pod would be."""
    token = await kube.request(
        "POST",
        "/api/v1/namespaces/gitmoor-system/serviceaccounts/gitmoor/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
              "spec": {"expirationSeconds": 3600}},
    )  # fmt: skip
    return as_user(admin, target, token["status"]["token"])


def as_user(admin: Path, target: Path, token: str) -> Path:
    config = yaml.safe_load(admin.read_text())
    config["users"] = [{"name": "gitmoor", "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = "gitmoor"
    target.write_text(yaml.safe_dump(config))
    return target


async def test_a_strictly_installed_agent_applies_as_each_tenant_and_no_more(
    strict_plane: ControlPlane, git_servers: GitServers, unique_name: str, tmp_path: Path
) -> None:
    admin = strict_plane.kubeconfig
    async with await Kube.from_kubeconfig(admin) as kube:
        for obj in manifests(tenancy="strict"):
            if obj["kind"] in ("Deployment", "Service"):
                continue  # the agent runs as a process here, with the Pod's identity
            await kube.apply(obj, field_manager="gitmoor-tests")
        await kube.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": TEAM}},
            field_manager="gitmoor-tests",
        )
        await kube.apply(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "default-edit", "namespace": TEAM},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "edit",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": TEAM}],
            },
            field_manager="gitmoor-tests",
        )
        repo = git_servers.create_repo(unique_name)
        tree = Worktree.init(tmp_path / "work", remote=repo.file_url)
        sha = tree.commit("v1", {"cm.yaml": configmap("settings", TEAM, v="1")})
        tree.push()
        token_config = await agent_kubeconfig(kube, admin, tmp_path / "agent.kubeconfig")
        args = dict(manifests(tenancy="strict")[-1]["spec"]["template"]["spec"]["containers"][0])
        strict_flags = tuple(a for a in args["args"] if a != "run")
        port = free_port()
        agent = AgentProcess(
            token_config,
            tmp_path / "agent",
            args=(
                *strict_flags,
                "--allow-file-sources",
                str(Path(repo.file_url[7:]).parent),
                "--http-port",  # the last --http-port given wins
                str(port),
            ),
        )
        await agent.start()
        try:
            await kube.apply(
                {
                    "apiVersion": API,
                    "kind": "GitSource",
                    "metadata": {"name": "repo", "namespace": TEAM},
                    "spec": {"url": repo.file_url, "interval": "2s"},
                },
                field_manager="gitmoor-tests",
            )
            await kube.apply(
                {
                    "apiVersion": API,
                    "kind": "Sync",
                    "metadata": {"name": "app", "namespace": TEAM},
                    "spec": {"sourceRef": {"name": "repo"}, "interval": "1m"},
                },
                field_manager="gitmoor-tests",
            )
            sync = await eventually(
                lambda: kube.get(API, "Sync", "app", TEAM),
                lambda s: cond.is_true(s, cond.READY),
                within=120,
                what=f"the tenant's Sync Ready\n{agent.tail()}",
            )
            assert sync is not None
            assert sync["status"]["lastAppliedRevision"].endswith(sha)
            assert await kube.get("v1", "ConfigMap", "settings", TEAM) is not None
            await _a_viewer_sees_the_tenants_sync_page(kube, f"http://127.0.0.1:{port}/ui/api")
            async with await Kube.from_kubeconfig(token_config) as as_agent:
                await _the_agent_keeps_a_large_inventory_beside_the_status(kube, as_agent)

            takeover = {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "team-takeover"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": TEAM}],
            }
            sha2 = tree.commit("reach out", {"takeover.yaml": yaml.safe_dump(takeover)})
            tree.push()
            refused = await eventually(
                lambda: kube.get(API, "Sync", "app", TEAM),
                lambda s: str(
                    ((s or {}).get("status") or {}).get("lastAttemptedRevision")
                ).endswith(sha2),
                within=120,
                what=f"the reaching revision attempted\n{agent.tail()}",
            )
            message = (cond.get_condition(refused, cond.READY) or {}).get("message", "")
            assert "system:serviceaccount:team:default" in message
            crb = "rbac.authorization.k8s.io/v1"
            assert await kube.get(crb, "ClusterRoleBinding", "team-takeover") is None
            assert agent.alive(), agent.tail()
        finally:
            await agent.stop()


async def _the_agent_keeps_a_large_inventory_beside_the_status(kube: Kube, agent: Kube) -> None:
    """The strict role lets the agent write, read and sweep the ConfigMaps holding an inventory
    too large for a status (60,000 random names: two chunks), in a tenant's namespace."""
    sync = await kube.apply(
        {
            "apiVersion": API,
            "kind": "Sync",
            "metadata": {"name": "big", "namespace": TEAM},
            "spec": {"sourceRef": {"name": "repo"}, "suspend": True},
        },
        field_manager="gitmoor-tests",
    )
    many = tuple(
        InventoryEntry(
            f"_ConfigMap_{TEAM}_{hashlib.sha256(str(i).encode()).hexdigest()[:24]}", "v1"
        )
        for i in range(60_000)
    )
    for entries in (many, many[1:]):
        new = status.sync_status(
            sync.get("status") or {}, 1, Outcome("r", applied=True, inventory=entries), wait=False
        )
        new = await stored.store(agent, sync, new)
        sync = await agent.patch_merge(
            API, "Sync", "big", TEAM, {"status": new}, subresource="status"
        )
        await stored.sweep(agent, sync, inventory.chunk_names(new["inventory"]))
        assert await stored.load(agent, sync) == list(entries)
    left = await kube.list(
        "v1", "ConfigMap", TEAM, label_selector=f"{INVENTORY_OF}={sync['metadata']['uid']}"
    )
    assert sorted(c["metadata"]["name"] for c in left) == sorted(
        inventory.chunk_names(sync["status"]["inventory"])
    )
    assert len(left) == 2


async def _a_viewer_sees_the_tenants_sync_page(kube: Kube, api: str) -> None:
    """A person who may only `get` syncs in the tenant's namespace opens its Sync's page: the
    Events and the resource tree come back (read with the agent's strict role), not 403."""
    rbac = "rbac.authorization.k8s.io"
    meta = {"name": "sync-viewer", "namespace": TEAM}
    for obj in (
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "viewer", "namespace": TEAM}},
        {"apiVersion": f"{rbac}/v1", "kind": "Role", "metadata": meta,
         "rules": [{"apiGroups": ["gitmoor.io"], "resources": ["syncs"], "verbs": ["get"]}]},
        {"apiVersion": f"{rbac}/v1", "kind": "RoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": rbac, "kind": "Role", "name": "sync-viewer"},
         "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": TEAM}]},
    ):  # fmt: skip
        await kube.apply(obj, field_manager="gitmoor-tests")
    token = await kube.request(
        "POST",
        f"/api/v1/namespaces/{TEAM}/serviceaccounts/viewer/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
              "spec": {"expirationSeconds": 600}},
    )  # fmt: skip
    bearer = {"Authorization": f"Bearer {token['status']['token']}"}
    async with aiohttp.ClientSession(headers=bearer) as http:
        async with http.get(f"{api}/syncs/{TEAM}/app/events") as response:
            assert response.status == 200, await response.text()
            events = (await response.json())["items"]
        async with http.get(f"{api}/syncs/{TEAM}/app/tree") as response:
            assert response.status == 200, await response.text()
            tree = await response.text()
        async with http.get(f"{api}/syncs/gitmoor-system/app/events") as response:
            assert response.status == 403  # the viewer's own RBAC still decides
    shown = {(e["object"]["kind"], e["object"]["name"]) for e in events}
    assert ("Sync", "app") in shown, events
    assert shown <= {("Sync", "app"), ("GitSource", "repo")}, events
    assert '"settings"' in tree, tree
    assert "ConfigMap" in tree, tree
