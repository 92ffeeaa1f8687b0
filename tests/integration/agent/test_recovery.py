"""Recovery without waiting: what a revision needs that the cluster lacks yet (a Namespace, the
CRD of a kind) is waited for, not Stalled, and its arrival wakes the Sync at once; a health gate
that timed out on objects still progressing recovers by itself when they turn Current. Every
Sync here has a 10-minute interval: recovering within seconds is the watch's doing."""

from __future__ import annotations

import pytest
import yaml

from gitmoor.ledger import Ledger
from gitmoor.model.record import Result, Trigger
from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness, Obj, attempted
from tests.integration.agent.manifests import configmap, crd, custom, deployment, service

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]

SOON = 20  # seconds: far below the Syncs' 10-minute interval


async def _woken_by_the_cluster_watch(h: AgentHarness, sha: str) -> None:
    """The attempt that applied `sha` was the one the watch on Namespaces/CRDs woke (not a
    retry that happened to come soon)."""
    assert h.ledger_url is not None
    async with await Ledger.open(h.ledger_url) as ledger:
        records = await ledger.history(sync="app", namespace=h.namespace)
    applied = [r for r in records if r.result is Result.APPLIED and r.commit_sha == sha]
    assert [r.trigger for r in applied] == [Trigger.CLUSTER], records


def _not_stalled(sync: Obj) -> None:
    stalled = cond.get_condition(sync, cond.STALLED)
    assert stalled is None or stalled["status"] != "True", stalled


async def test_a_missing_target_namespace_is_waited_for_and_its_creation_applies_at_once(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h = harness
    later = f"{unique_name}-later"
    repo, tree = h.repo(git_servers, unique_name)
    sha = tree.commit("app", {"cm.yaml": configmap("settings", "placeholder", mode="on")})
    tree.push()
    await h.source("repo", repo.file_url)
    await h.sync("app", "repo", interval="10m", retryInterval="10m", targetNamespace=later)
    try:
        sync = await h.wait_condition(
            "Sync", "app", cond.READY, "False", reason="NamespaceMissing", within=60
        )
        _not_stalled(sync)
        message = (cond.get_condition(sync, cond.READY) or {})["message"]
        assert later in message
        assert "ConfigMap" in message

        await h.kube.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": later}},
            field_manager="gitmoor-tests",
        )
        await h.wait_applied("app", sha, within=SOON)
        await _woken_by_the_cluster_watch(h, sha)
        live = await h.kube.get("v1", "ConfigMap", "settings", later)
        assert live is not None
        assert live["data"] == {"mode": "on"}
    finally:
        await h.kube.delete("v1", "Namespace", later)


async def test_a_custom_resource_waits_for_its_crd_and_applies_once_it_is_established(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    group = f"{unique_name}.example.com"
    api_version = f"{group}/v1"
    repo, tree = h.repo(git_servers, unique_name)
    sha = tree.commit(
        "a gadget",
        {
            "gadget.yaml": custom(api_version, "Gadget", "g1", ns, "{size: small}"),
            "cm.yaml": configmap("settings", ns, mode="on"),
        },
    )
    tree.push()
    await h.source("repo", repo.file_url)
    await h.sync("app", "repo", interval="10m", retryInterval="10m")
    try:
        sync = await h.wait_condition(
            "Sync", "app", cond.READY, "False", reason="KindNotServed", within=60
        )
        _not_stalled(sync)
        message = (cond.get_condition(sync, cond.READY) or {})["message"]
        assert "Gadget" in message
        # All or nothing: the ConfigMap beside it waits too.
        assert await h.kube.get("v1", "ConfigMap", "settings", ns) is None

        await h.kube.apply(yaml.safe_load(crd(group, "Gadget")), field_manager="gitmoor-tests")
        await h.wait_applied("app", sha, within=SOON)
        await _woken_by_the_cluster_watch(h, sha)
        gadget = await h.kube.get(api_version, "Gadget", "g1", ns)
        assert gadget is not None
        assert gadget["spec"] == {"size": "small"}
    finally:
        await h.kube.delete(
            "apiextensions.k8s.io/v1", "CustomResourceDefinition", f"gadgets.{group}"
        )


async def test_create_namespace_deploys_into_a_new_namespace_and_keeps_it_on_deletion(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h = harness
    fresh = f"{unique_name}-new"
    repo, tree = h.repo(git_servers, unique_name)
    sha = tree.commit("app", {"cm.yaml": configmap("settings", "placeholder", mode="on")})
    tree.push()
    await h.source("repo", repo.file_url)
    await h.sync(
        "app", "repo", interval="10m", targetNamespace=fresh, createNamespace=True, timeout="30s"
    )
    try:
        await h.wait_applied("app", sha, within=60)
        namespace = await h.kube.get("v1", "Namespace", fresh)
        assert namespace is not None
        labels = namespace["metadata"].get("labels") or {}
        assert labels.get("gitmoor.io/sync-name") == "app"
        assert labels.get("gitmoor.io/sync-namespace") == h.namespace
        assert await h.kube.get("v1", "ConfigMap", "settings", fresh) is not None
        sync = await h.get("Sync", "app")
        assert sync is not None
        ids = [e["id"] for e in sync["status"]["inventory"]["entries"]]
        assert not any(i.startswith("_Namespace_") for i in ids), ids

        # Deleting the Sync prunes what it applied, and leaves the namespace it created.
        await h.kube.delete("gitmoor.io/v1alpha1", "Sync", "app", h.namespace)
        await h.wait_for("Sync", "app", lambda o: not o, within=SOON, what="Sync app deleted")
        assert await h.kube.get("v1", "ConfigMap", "settings", fresh) is None
        kept = await h.kube.get("v1", "Namespace", fresh)
        assert kept is not None
        assert not kept["metadata"].get("deletionTimestamp")

        # The attempt's record names the namespace it created.
        assert h.ledger_url is not None
        async with await Ledger.open(h.ledger_url) as ledger:
            records = await ledger.history(sync="app", namespace=h.namespace)
        applied = [r for r in records if r.result is Result.APPLIED]
        assert applied
        created = {(o.ref.kind, o.ref.name) for o in applied[-1].objects}
        assert ("Namespace", fresh) in created
    finally:
        await h.kube.delete("v1", "Namespace", fresh)


async def test_a_namespace_created_for_a_refused_revision_is_deleted_again(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h = harness
    fresh = f"{unique_name}-new"
    repo, tree = h.repo(git_servers, unique_name)
    invalid = configmap("bad", "placeholder").replace("data:\n  {}\n", "data: [not, a, map]\n")
    tree.commit("app", {"cm.yaml": configmap("settings", "placeholder"), "bad.yaml": invalid})
    tree.push()
    await h.source("repo", repo.file_url)
    await h.sync("app", "repo", interval="10m", targetNamespace=fresh, createNamespace=True)
    try:
        await h.wait_condition(
            "Sync", "app", cond.STALLED, "True", reason="ValidationFailed", within=60
        )

        async def probe() -> Obj:
            return await h.kube.get("v1", "Namespace", fresh) or {}

        # All or nothing: the namespace made for the refused revision goes again.
        await eventually(
            probe,
            lambda o: not o or bool(o["metadata"].get("deletionTimestamp")),
            within=SOON,
            what=f"Namespace {fresh} deleted",
        )
        assert await h.kube.get("v1", "ConfigMap", "settings", fresh) is None
        assert h.ledger_url is not None
        async with await Ledger.open(h.ledger_url) as ledger:
            [record] = await ledger.history(sync="app", namespace=h.namespace)
        assert record.result is Result.FAILED
        done = {(o.ref.kind, o.ref.name, o.action.value) for o in record.objects}
        assert {("Namespace", fresh, "created"), ("Namespace", fresh, "deleted")} <= done
    finally:
        await h.kube.delete("v1", "Namespace", fresh)


async def test_a_health_timeout_on_a_progressing_object_recovers_when_it_turns_current(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    group = f"{unique_name}.example.com"
    api_version = f"{group}/v1"
    # The CRD is there first, applied by the test: the Sync applies only the Widget, which
    # stays InProgress (Ready=False, as a controller writes while it works) until the test says.
    await h.kube.apply(yaml.safe_load(crd(group, "Widget")), field_manager="gitmoor-tests")
    repo, tree = h.repo(git_servers, unique_name)
    widget = custom(api_version, "Widget", "w1", ns, "{size: small}")
    sha = tree.commit("a widget", {"widget.yaml": widget})
    tree.push()
    try:
        await h.wait_for_object(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            f"widgets.{group}",
            lambda o: any(
                c["type"] == "Established" and c["status"] == "True"
                for c in (o.get("status") or {}).get("conditions") or []
            ),
        )
        await h.source("repo", repo.file_url)
        await h.sync("app", "repo", interval="10m", retryInterval="10m", timeout="4s")
        working = {"type": "Ready", "status": "False", "reason": "Provisioning", "message": "x"}
        await h.wait_for_object(api_version, "Widget", "w1", lambda o: True, within=60)
        await h.kube.patch_merge(
            api_version, "Widget", "w1", ns, {"status": {"conditions": [working]}}
        )
        sync = await h.wait_condition(
            "Sync", "app", cond.READY, "False", reason="HealthCheckTimeout", within=60
        )
        _not_stalled(sync)
        assert "Provisioning" in (cond.get_condition(sync, cond.READY) or {})["message"]

        done = {"type": "Ready", "status": "True", "reason": "Provisioned", "message": "ok"}
        await h.kube.patch_merge(
            api_version, "Widget", "w1", ns, {"status": {"conditions": [done]}}
        )
        sync = await h.wait_applied("app", sha, within=SOON)
        healthy = cond.get_condition(sync, cond.HEALTHY)
        assert healthy is not None
        assert healthy["status"] == "True"
        assert str(sync["status"]["lastHealthyRevision"]).endswith(sha)

        # The ledger keeps both: the attempt that timed out, and the recovery, a record of its
        # own that wrote nothing.
        assert h.ledger_url is not None
        async with await Ledger.open(h.ledger_url) as ledger:
            records = await ledger.history(sync="app", namespace=ns)
        assert [r.result for r in records][:2] == [Result.APPLIED, Result.FAILED]
        recovered, failed = records[0], records[1]
        assert failed.reason == "HealthCheckTimeout"
        assert failed.created == 1
        assert recovered.trigger is Trigger.HEALTH
        assert recovered.commit_sha == sha
        assert (recovered.created, recovered.configured, recovered.deleted) == (0, 0, 0)
        assert recovered.healthy_at is not None
    finally:
        await h.kube.delete(
            "apiextensions.k8s.io/v1", "CustomResourceDefinition", f"widgets.{group}"
        )


async def test_a_rollout_stuck_on_scheduling_recovers_once_a_node_fits_without_being_reverted(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    label = f"gitmoor-test/{unique_name}"
    repo, tree = h.repo(git_servers, unique_name)
    v1 = tree.commit("v1", {"web.yaml": deployment("web", ns)})
    tree.push()
    await h.source("repo", repo.file_url)
    await h.sync("app", "repo", interval="10m", retryInterval="10m", timeout="5s")
    await h.wait_applied("app", v1, within=60)
    # v2 (a new image) has pods that fit no node until the test labels one: the rollout waits
    # (InProgress, its progress deadline far away), it does not fail.
    waits = f"      nodeSelector:\n        {label}: 'yes'\n"
    v2 = tree.commit(
        "v2", {"web.yaml": deployment("web", ns, image="nginx:1.28", extra_spec=waits)}
    )
    tree.push()
    node = "kwok-node-0"
    try:
        sync = await h.wait_condition(
            "Sync", "app", cond.READY, "False", reason="HealthCheckTimeout", within=60
        )
        assert attempted(sync).endswith(v2)
        _not_stalled(sync)

        await h.kube.patch_merge("v1", "Node", node, "", {"metadata": {"labels": {label: "yes"}}})
        sync = await h.wait_applied("app", v2, within=60)
        healthy = cond.get_condition(sync, cond.HEALTHY)
        assert healthy is not None
        assert healthy["status"] == "True"
        live = await h.kube.get("apps/v1", "Deployment", "web", ns)
        assert live is not None
        assert live["spec"]["template"]["spec"]["nodeSelector"] == {label: "yes"}
        assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"

        # The objects v2 wrote were never taken for drift from v1 and put back: the recovery
        # wrote nothing, and no correction was recorded.
        assert h.ledger_url is not None
        async with await Ledger.open(h.ledger_url) as ledger:
            records = await ledger.history(sync="app", namespace=ns)
        assert [r.trigger for r in records if r.trigger is Trigger.DRIFT] == []
        recovered = records[0]
        assert (recovered.result, recovered.trigger) == (Result.APPLIED, Trigger.HEALTH)
        assert recovered.commit_sha == v2
        assert (recovered.created, recovered.configured, recovered.deleted) == (0, 0, 0)
        assert (records[1].result, records[1].configured) == (Result.FAILED, 1)
    finally:
        await h.kube.patch_merge("v1", "Node", node, "", {"metadata": {"labels": {label: None}}})


async def test_a_tenant_that_may_not_watch_namespaces_is_still_woken_by_their_arrival(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    """The tenant may write ConfigMaps in every namespace (a ClusterRoleBinding), not read
    Namespaces: the agent's own credentials watch them."""
    h, ns = harness, harness.namespace
    later = f"{unique_name}-later"
    role = f"{unique_name}-configmaps"
    user = f"system:serviceaccount:{ns}:deployer"
    await h.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "deployer", "namespace": ns},
        },
        field_manager="gitmoor-tests",
    )
    await h.kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": role},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                }
            ],
        },
        field_manager="gitmoor-tests",
    )
    await h.kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": role},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": ns}],
        },
        field_manager="gitmoor-tests",
    )

    async def may(verb: str, resource: str, namespace: str) -> bool:
        review = await h.kube.create(
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": user,
                    "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}"],
                    "resourceAttributes": {
                        "namespace": namespace,
                        "verb": verb,
                        "resource": resource,
                    },
                },
            }
        )
        return bool((review.get("status") or {}).get("allowed"))

    try:
        await eventually(
            lambda: may("patch", "configmaps", later), bool, within=30, what=f"RBAC for {user}"
        )
        assert not await may("watch", "namespaces", "")
        repo, tree = h.repo(git_servers, unique_name)
        sha = tree.commit("app", {"cm.yaml": configmap("settings", "placeholder", mode="on")})
        tree.push()
        await h.source("repo", repo.file_url)
        await h.sync(
            "app",
            "repo",
            interval="10m",
            retryInterval="10m",
            targetNamespace=later,
            serviceAccountName="deployer",
        )
        sync = await h.wait_condition(
            "Sync", "app", cond.READY, "False", reason="NamespaceMissing", within=60
        )
        _not_stalled(sync)

        await h.kube.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": later}},
            field_manager="gitmoor-tests",
        )
        await h.wait_applied("app", sha, within=SOON)
        await _woken_by_the_cluster_watch(h, sha)
        live = await h.kube.get("v1", "ConfigMap", "settings", later)
        assert live is not None
    finally:
        await h.kube.delete("v1", "Namespace", later)
        await h.kube.delete("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", role)
        await h.kube.delete("rbac.authorization.k8s.io/v1", "ClusterRole", role)


async def test_a_phase_that_timed_out_progressing_lets_the_next_phases_apply_once_current(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    group = f"{unique_name}.example.com"
    api_version = f"{group}/v1"
    await h.kube.apply(yaml.safe_load(crd(group, "Widget")), field_manager="gitmoor-tests")
    first = custom(api_version, "Widget", "w1", ns, "{size: small}").replace(
        "metadata:\n", "metadata:\n  annotations: {gitmoor.io/order: '0'}\n"
    )
    then = configmap("after", ns, mode="on").replace(
        "metadata:\n", "metadata:\n  annotations: {gitmoor.io/order: '1'}\n"
    )
    repo, tree = h.repo(git_servers, unique_name)
    sha = tree.commit("phased", {"widget.yaml": first, "after.yaml": then})
    tree.push()
    try:
        await h.wait_for_object(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            f"widgets.{group}",
            lambda o: any(
                c["type"] == "Established" and c["status"] == "True"
                for c in (o.get("status") or {}).get("conditions") or []
            ),
        )
        await h.source("repo", repo.file_url)
        await h.sync("app", "repo", interval="10m", retryInterval="10m", timeout="4s")
        working = {"type": "Ready", "status": "False", "reason": "Provisioning", "message": "x"}
        await h.wait_for_object(api_version, "Widget", "w1", lambda o: True, within=60)
        await h.kube.patch_merge(
            api_version, "Widget", "w1", ns, {"status": {"conditions": [working]}}
        )
        await h.wait_condition(
            "Sync", "app", cond.READY, "False", reason="HealthCheckTimeout", within=60
        )
        assert await h.kube.get("v1", "ConfigMap", "after", ns) is None  # phase 1 waits

        done = {"type": "Ready", "status": "True", "reason": "Provisioned", "message": "ok"}
        await h.kube.patch_merge(
            api_version, "Widget", "w1", ns, {"status": {"conditions": [done]}}
        )
        await h.wait_applied("app", sha, within=SOON)
        assert await h.kube.get("v1", "ConfigMap", "after", ns) is not None
        assert h.ledger_url is not None
        async with await Ledger.open(h.ledger_url) as ledger:
            records = await ledger.history(sync="app", namespace=ns)
        assert (records[0].result, records[0].trigger) == (Result.APPLIED, Trigger.HEALTH)
        assert records[0].created == 1  # the ConfigMap of phase 1
    finally:
        await h.kube.delete(
            "apiextensions.k8s.io/v1", "CustomResourceDefinition", f"widgets.{group}"
        )


async def test_a_load_balancer_that_gets_its_address_late_recovers_without_a_commit(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    """The issue's case: a LoadBalancer Service waits for its address (no cloud controller
    here: the test writes the address as one would)."""
    h, ns = harness, harness.namespace
    lb = service("edge", ns).replace("spec:\n", "spec:\n  type: LoadBalancer\n")
    repo, tree = h.repo(git_servers, unique_name)
    sha = tree.commit("edge", {"edge.yaml": lb})
    tree.push()
    await h.source("repo", repo.file_url)
    await h.sync("app", "repo", interval="10m", retryInterval="10m", timeout="3s")
    sync = await h.wait_condition(
        "Sync", "app", cond.READY, "False", reason="HealthCheckTimeout", within=60
    )
    _not_stalled(sync)

    address = {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}
    await h.kube.patch_merge("v1", "Service", "edge", ns, {"status": address}, subresource="status")
    sync = await h.wait_applied("app", sha, within=SOON)
    healthy = cond.get_condition(sync, cond.HEALTHY)
    assert healthy is not None
    assert healthy["status"] == "True"
    assert h.ledger_url is not None
    async with await Ledger.open(h.ledger_url) as ledger:
        records = await ledger.history(sync="app", namespace=ns)
    # Woken by the watch, not by a retry: no retry comes before the 10-minute interval.
    assert (records[0].result, records[0].trigger) == (Result.APPLIED, Trigger.HEALTH)
