"""The install manifests: what they hold, in which order, and the agent's narrow RBAC."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from gitmoor.install import DEFAULT_IMAGE, manifests, render_yaml
from gitmoor.model.crds import crds


def _by_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def _one(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (obj,) = [o for o in _by_kind(objs, kind) if o["metadata"]["name"] == name]
    return obj


def test_crds_and_the_namespace_come_first() -> None:
    objs = manifests()
    n = len(crds())
    assert [o["spec"] for o in objs[:n]] == [c["spec"] for c in crds()]
    assert objs[n] == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "gitmoor-system",
            "labels": {"app.kubernetes.io/part-of": "gitmoor"},
            "annotations": {"gitmoor.io/prune": "disabled"},
        },
    }
    assert [o["kind"] for o in objs[n + 1 :]] == [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterRoleBinding",
        "ClusterRole",
        "Role",
        "RoleBinding",
        "ClusterRoleBinding",
        "Service",
        "Deployment",
    ]


def test_namespace_and_image_are_chosen_by_the_caller() -> None:
    objs = manifests(namespace="ops", image="registry.example.com/gitmoor:1.2.3")
    cluster_scoped = {"CustomResourceDefinition", "Namespace", "ClusterRole", "ClusterRoleBinding"}
    for obj in objs:
        if obj["kind"] not in cluster_scoped:
            assert obj["metadata"]["namespace"] == "ops", obj["kind"]
        for subject in obj.get("subjects", []):
            assert subject == {"kind": "ServiceAccount", "name": "gitmoor", "namespace": "ops"}
    (container,) = _one(objs, "Deployment", "gitmoor")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example.com/gitmoor:1.2.3"
    assert DEFAULT_IMAGE.startswith("ghcr.io/gitmoor/gitmoor:")


def test_the_agent_runs_as_one_locked_down_replica() -> None:
    deployment = _one(manifests(), "Deployment", "gitmoor")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert spec["replicas"] == 1
    assert pod["serviceAccountName"] == "gitmoor"
    assert [*container["command"], *container["args"]] == ["gitmoor", "run"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert set(container["resources"]) == {"requests", "limits"}
    # The writable places are volumes, and every mount has its volume.
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert set(mounts) == {"/tmp", "/var/cache/gitmoor", "/var/lib/gitmoor"}
    assert set(mounts.values()) == set(volumes)
    assert all("emptyDir" in v for v in volumes.values())


def test_probes_and_the_service_use_the_named_http_port() -> None:
    objs = manifests()
    deployment = _one(objs, "Deployment", "gitmoor")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    service = _one(objs, "Service", "gitmoor")
    assert service["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http"}]
    selector = service["spec"]["selector"]
    assert selector == deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()


def _rules(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_the_agents_own_role_is_narrow() -> None:
    objs = manifests()
    granted = _rules(_one(objs, "ClusterRole", "gitmoor"))
    assert ("gitmoor.io", "syncs", "watch") in granted
    assert ("gitmoor.io", "gitsources/status", "patch") in granted
    assert ("gitmoor.io", "chartsources/status", "patch") in granted
    assert ("gitmoor.io", "chartsources", "watch") in granted
    assert ("gitmoor.io", "syncs/status", "update") in granted
    assert ("", "events", "create") in granted
    assert ("events.k8s.io", "events", "patch") in granted
    # Secrets are read and watched (sources' credentials, issue 20), never written.
    assert {(g, r, v) for g, r, v in granted if r == "secrets"} == {
        ("", "secrets", verb) for verb in ("get", "list", "watch")
    }
    assert not any("*" in part for entry in granted for part in entry)
    assert not any(r == "leases" for _, r, _ in granted)
    binding = _one(objs, "ClusterRoleBinding", "gitmoor")
    assert binding["roleRef"]["name"] == "gitmoor"


def _grants(rules: set[tuple[str, str, str]], group: str, resource: str, verb: str) -> bool:
    return any(g in (group, "*") and r in (resource, "*") and v in (verb, "*") for g, r, v in rules)


@pytest.mark.parametrize("tenancy", ["cluster-admin", "strict"])
@pytest.mark.parametrize(
    ("group", "resource", "verb", "strict_only"),
    [
        # The web UI's Events panel reads Events with the agent's own credential.
        ("", "events", "list", False),
        ("", "events", "get", False),
        ("events.k8s.io", "events", "watch", False),
        # The resource tree reads what the Syncs manage: under strict tenancy the agent's own
        # role reads every kind (with cluster-admin, the apply binding does).
        ("apps", "deployments", "get", True),
        ("", "services", "list", True),
    ],
)
def test_the_agents_own_role_reads_what_the_ui_shows(
    tenancy: str, group: str, resource: str, verb: str, strict_only: bool
) -> None:
    rules = _rules(_one(manifests(tenancy=tenancy), "ClusterRole", "gitmoor"))
    assert _grants(rules, group, resource, verb) == (tenancy == "strict" or not strict_only)


@pytest.mark.parametrize("tenancy", ["cluster-admin", "strict"])
def test_the_agent_may_keep_large_inventories_in_configmaps_under_any_tenancy(
    tenancy: str,
) -> None:
    granted = _rules(_one(manifests(tenancy=tenancy), "ClusterRole", "gitmoor"))
    for verb in ("get", "list", "create", "delete"):
        assert _grants(granted, "", "configmaps", verb)
    # Chunks are immutable: replaced, never edited.
    if tenancy != "strict":
        assert not _grants(granted, "", "configmaps", "patch")


def test_leases_and_the_snapshot_key_are_granted_in_the_agents_namespace_only() -> None:
    objs = manifests(namespace="ops")
    role = _one(objs, "Role", "gitmoor-leader-election")
    assert role["metadata"]["namespace"] == "ops"
    assert _rules(role) == {
        ("coordination.k8s.io", "leases", verb) for verb in ("get", "create", "update")
    } | {("", "secrets", "create")}
    binding = _one(objs, "RoleBinding", "gitmoor-leader-election")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "gitmoor-leader-election",
    }


def test_applying_arbitrary_manifests_is_one_documented_binding() -> None:
    binding = _one(manifests(), "ClusterRoleBinding", "gitmoor-apply")
    assert binding["roleRef"]["name"] == "cluster-admin"
    assert "Narrow this binding" in binding["metadata"]["annotations"]["kubernetes.io/description"]


def test_render_yaml_is_multi_document_yaml_that_loads_back() -> None:
    objs = manifests()
    text = render_yaml(objs)
    assert text.startswith("---\n")
    assert text.count("\n---\n") == len(objs) - 1
    assert list(yaml.safe_load_all(text)) == objs
    assert text.index("kind: CustomResourceDefinition") < text.index("kind: Deployment")


def test_a_sync_applying_gitmoor_never_prunes_gitmoor() -> None:
    # A commit that drops the install manifests from the bootstrap repository must not
    # uninstall the agent, its permissions or its CRDs.
    for obj in manifests(ledger_volume="1Gi"):
        annotations = obj["metadata"].get("annotations") or {}
        assert annotations.get("gitmoor.io/prune") == "disabled", obj["kind"]


def test_strict_tenancy_installs_no_cluster_admin_and_impersonates() -> None:
    objs = manifests(tenancy="strict")

    bindings = _by_kind(objs, "ClusterRoleBinding")
    assert all(b["roleRef"]["name"] != "cluster-admin" for b in bindings)
    role = _one(objs, "ClusterRole", "gitmoor")
    writes = {"create", "update", "patch", "delete"}
    for rule in role["rules"]:
        if "*" in rule["resources"]:
            assert not writes & set(rule["verbs"]), rule
    assert {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]} in (
        role["rules"]
    )
    (deployment,) = _by_kind(objs, "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["run", "--default-service-account=default", "--no-cross-namespace-refs"]


def test_the_default_install_binds_cluster_admin_for_the_applies() -> None:
    bindings = _by_kind(manifests(), "ClusterRoleBinding")
    assert any(b["roleRef"]["name"] == "cluster-admin" for b in bindings)


def test_the_agent_may_review_tokens_and_a_ledger_reader_role_is_offered() -> None:
    objs = manifests(namespace="ops")
    delegator = _one(objs, "ClusterRoleBinding", "gitmoor-auth-delegator")
    assert delegator["roleRef"]["name"] == "system:auth-delegator"
    assert delegator["subjects"] == [
        {"kind": "ServiceAccount", "name": "gitmoor", "namespace": "ops"}
    ]
    reader = _one(objs, "ClusterRole", "gitmoor-ledger-reader")
    assert reader["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["services/proxy"],
            "resourceNames": ["gitmoor", "gitmoor:http"],
            "verbs": ["get"],
        },
        {"apiGroups": ["gitmoor.io"], "resources": ["syncs"], "verbs": ["get"]},
    ]
    assert not [b for b in objs if b.get("roleRef", {}).get("name") == "gitmoor-ledger-reader"]
    service = _one(objs, "Service", "gitmoor")
    assert service["spec"]["ports"][0]["name"] == "http"


def test_several_replicas_share_the_syncs_and_a_postgresql_ledger() -> None:
    objs = manifests(replicas=3, ledger_secret="gitmoor-ledger", ledger_volume="1Gi")
    deployment = _one(objs, "Deployment", "gitmoor")
    spec = deployment["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    assert spec["replicas"] == 3
    assert container["args"] == ["run", "--sharded"]
    assert spec["strategy"] == {"type": "RollingUpdate"}
    ledger = next(e for e in container["env"] if e["name"] == "GITMOOR_LEDGER")
    assert ledger["valueFrom"] == {"secretKeyRef": {"name": "gitmoor-ledger", "key": "url"}}
    # No claim: one ReadWriteOnce volume cannot serve three Pods.
    assert not [o for o in objs if o["kind"] == "PersistentVolumeClaim"]
    role = _one(objs, "Role", "gitmoor-leader-election")
    (leases,) = [r for r in role["rules"] if r["resources"] == ["leases"]]
    assert {"list", "watch", "delete"} <= set(leases["verbs"])


def test_several_replicas_without_a_shared_ledger_are_refused() -> None:
    with pytest.raises(ValueError, match="3 replicas need a shared ledger"):
        manifests(replicas=3)
    with pytest.raises(ValueError, match="at least 1"):
        manifests(replicas=0)
