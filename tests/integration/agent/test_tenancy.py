"""Tenants stay in their namespace: a Sync acting as a ServiceAccount (impersonation) gets only
what that account's RBAC grants, on the real API server with RBAC on. A revision reaching
outside is refused whole; prune never deletes what the tenant could not have created; the
agent can force a ServiceAccount and refuse other namespaces' sources."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gitmoor.commands.operations import sync_now
from gitmoor.kube import Kube
from gitmoor.model.resources import API_VERSION
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile.tenancy import Tenancy
from testenv.gitserver import GitServers
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import configmap

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]
TESTS = "gitmoor-tests"


def cluster_admin_binding(ns: str) -> str:
    return f"""apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {ns}-takeover
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
  - kind: ServiceAccount
    name: default
    namespace: {ns}
"""


async def namespace_named(kube: Kube, name: str) -> None:
    await kube.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        field_manager=TESTS,
    )


async def deployer(kube: Kube, ns: str) -> str:
    """A ServiceAccount `deployer` in `ns` that may edit that namespace only; returns once the
    API server's authorizer knows it."""
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "deployer", "namespace": ns},
        },
        field_manager=TESTS,
    )
    await kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "deployer-edit", "namespace": ns},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "edit",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": ns}],
        },
        field_manager=TESTS,
    )
    user = f"system:serviceaccount:{ns}:deployer"
    await eventually(
        lambda: may(kube, user, ns, "create"), bool, within=30, what=f"RBAC for {user}"
    )
    return user


async def may(kube: Kube, user: str, ns: str, verb: str) -> bool:
    """Whether the API server's authorizer lets `user` (a ServiceAccount of `ns`) `verb`
    ConfigMaps in `ns`."""
    review = await kube.create(
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}"],
                "resourceAttributes": {"namespace": ns, "verb": verb, "resource": "configmaps"},
            },
        }
    )
    return bool((review.get("status") or {}).get("allowed"))


@pytest.fixture
async def other(harness: AgentHarness) -> AsyncIterator[str]:
    name = f"{harness.namespace}-other"
    await namespace_named(harness.kube, name)
    try:
        yield name
    finally:
        await harness.kube.delete("v1", "Namespace", name)


def message(obj: dict[str, object]) -> str:
    return str((cond.get_condition(obj, cond.READY) or {}).get("message", ""))  # type: ignore[arg-type]


async def test_a_tenant_revision_reaching_outside_its_namespace_is_refused_whole(
    harness: AgentHarness, git_servers: GitServers, unique_name: str, other: str
) -> None:
    ns = harness.namespace
    user = await deployer(harness.kube, ns)
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit(
        "reach out",
        {
            "mine.yaml": configmap("mine", ns),
            "takeover.yaml": cluster_admin_binding(ns),
            "theirs.yaml": configmap("theirs", other),
        },
    )
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", serviceAccountName="deployer")

    sync = await harness.wait_for(
        "Sync",
        "app",
        lambda o: (
            str((o.get("status") or {}).get("lastAttemptedRevision", "")).endswith(sha)
            and cond.get_condition(o, cond.READY) is not None
            and (cond.get_condition(o, cond.READY) or {}).get("status") == "False"
        ),
        what="the tenant's revision to be refused",
    )
    text = message(sync)
    assert (cond.get_condition(sync, cond.READY) or {})["reason"] == "ValidationFailed"
    assert f"ClusterRoleBinding/{ns}-takeover" in text
    assert f"ConfigMap/{other}/theirs" in text
    assert user in text
    assert 'cannot patch resource "clusterrolebindings"' in text  # the missing permission
    assert 'cannot patch resource "configmaps"' in text
    # Nothing of the revision was written, not even what the tenant may write.
    assert await harness.kube.get("v1", "ConfigMap", "mine", ns) is None
    assert await harness.kube.get("v1", "ConfigMap", "theirs", other) is None
    crb = "rbac.authorization.k8s.io/v1"
    assert await harness.kube.get(crb, "ClusterRoleBinding", f"{ns}-takeover") is None

    sha2 = tree.commit("stay home", remove=["takeover.yaml", "theirs.yaml"])
    tree.push()
    await harness.wait_applied("app", sha2)
    assert await harness.kube.get("v1", "ConfigMap", "mine", ns) is not None


async def test_prune_as_a_tenant_never_deletes_what_it_could_not_have_created(
    harness: AgentHarness, git_servers: GitServers, unique_name: str, other: str
) -> None:
    ns = harness.namespace
    await deployer(harness.kube, ns)
    repo, tree = harness.repo(git_servers, unique_name)
    # Applied first with the agent's own rights (no serviceAccountName yet).
    sha = tree.commit(
        "two namespaces",
        {"mine.yaml": configmap("mine", ns), "theirs.yaml": configmap("theirs", other)},
    )
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    await harness.wait_applied("app", sha)

    await harness.sync("app", "repo", serviceAccountName="deployer")
    sha2 = tree.commit("drop theirs", remove=["theirs.yaml"])
    tree.push()
    sync = await harness.wait_applied("app", sha2)

    assert await harness.kube.get("v1", "ConfigMap", "theirs", other) is not None
    kept = cond.get_condition(sync, "Kept") or {}
    assert kept.get("reason") == "PruneFailed"
    assert f"ConfigMap/{other}/theirs" in kept.get("message", "")
    ids = {e["id"] for e in sync["status"]["inventory"]["entries"]}
    assert f"_ConfigMap_{other}_theirs" in ids  # still ours to try again


async def test_drift_is_seen_as_the_agent_and_corrected_as_the_tenant(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    # README, Tenants: the continuous drift and health watches read as the agent; every write,
    # a drift correction too, acts as the Sync's ServiceAccount.
    ns = harness.namespace
    user = await deployer(harness.kube, ns)
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("v1", {"mine.yaml": configmap("mine", ns, v="1")})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", serviceAccountName="deployer")
    await harness.wait_applied("app", sha)

    # The tenant loses every right in its namespace, reads included.
    await harness.kube.delete("rbac.authorization.k8s.io/v1", "RoleBinding", "deployer-edit", ns)
    await eventually(
        lambda: may(harness.kube, user, ns, "get"), lambda ok: not ok, within=30, what="revoked"
    )
    await harness.kube.patch_merge("v1", "ConfigMap", "mine", ns, {"data": {"v": "by-hand"}})

    # Seen (the agent's watch needs no right of the tenant), not put back (the correction
    # acts as the tenant, who may no longer write).
    sync = await harness.wait_condition(
        "Sync", "app", cond.READY, "False", reason="DriftCorrectionFailed"
    )
    assert user in message(sync)
    assert 'cannot patch resource "configmaps"' in message(sync)
    live = await harness.kube.get("v1", "ConfigMap", "mine", ns)
    assert live is not None
    assert live["data"] == {"v": "by-hand"}


async def test_the_agent_forces_a_service_account_and_refuses_other_namespaces_sources(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    source_ns = f"{ns}-src"
    await namespace_named(harness.kube, source_ns)
    try:
        await deployer(harness.kube, ns)
        await harness.stop()
        harness.watch = f"{ns},{source_ns}"
        harness.tenancy = Tenancy(default_service_account="deployer", cross_namespace_refs=False)
        await harness.start()
        repo, tree = harness.repo(git_servers, unique_name)
        sha = tree.commit("v1", {"mine.yaml": configmap("mine", ns)})
        tree.push()
        await harness.kube.apply(
            {
                "apiVersion": API_VERSION,
                "kind": "GitSource",
                "metadata": {"name": "shared", "namespace": source_ns},
                "spec": {"url": repo.file_url, "interval": "2s"},
            },
            field_manager=TESTS,
        )
        await harness.kube.apply(
            {
                "apiVersion": API_VERSION,
                "kind": "Sync",
                "metadata": {"name": "app", "namespace": ns},
                "spec": {"sourceRef": {"name": "shared", "namespace": source_ns}},
            },
            field_manager="gitmoor-tests",
        )
        await harness.wait_condition(
            "Sync", "app", cond.READY, "False", reason="CrossNamespaceRefRefused"
        )
        assert await harness.kube.get("v1", "ConfigMap", "mine", ns) is None

        await harness.kube.patch_merge(
            API_VERSION, "GitSource", "shared", source_ns, {"spec": {"accessFrom": [ns]}}
        )
        synced = await sync_now(harness.kube, "app", ns, timeout=60)
        assert cond.is_true(synced, cond.READY), synced["status"]["conditions"]
        assert synced["status"]["lastAppliedRevision"].endswith(sha)

        # Acting as `deployer` (the agent's default), not as the agent: a cluster-wide object
        # is refused.
        sha2 = tree.commit("reach out", {"takeover.yaml": cluster_admin_binding(ns)})
        tree.push()
        sync = await harness.wait_for(
            "Sync",
            "app",
            lambda o: str((o.get("status") or {}).get("lastAttemptedRevision", "")).endswith(sha2),
            what="the reaching revision attempted",
        )
        assert f"system:serviceaccount:{ns}:deployer" in message(sync)
    finally:
        await harness.kube.delete("v1", "Namespace", source_ns)
