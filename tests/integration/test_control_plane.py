"""The local control plane behaves like a real cluster: server-side apply, controllers that roll
Deployments out onto kwok nodes, progress deadlines, CRDs and RBAC."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gitmoor.errors import KubePermanentError, UnknownKindError
from gitmoor.kube import Kube
from testenv.cluster import State, is_running
from testenv.wait import eventually

pytestmark = pytest.mark.cluster


def _condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == kind:
            return dict(cond)
    return None


def _deployment(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    template_spec = spec.pop("pod_spec", {})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}], **template_spec},
            },
            **spec,
        },
    }


async def test_server_side_apply_rolls_a_deployment_out_onto_kwok_nodes(
    kube: Kube, unique_name: str
) -> None:
    ns = unique_name
    await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    try:
        config = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": ns},
            "data": {"mode": "demo"},
        }
        applied_cm = await kube.apply(config)
        await kube.apply(_deployment("web", ns))

        # The object is owned by our field manager through an Apply operation.
        managers = {(m["manager"], m["operation"]) for m in applied_cm["metadata"]["managedFields"]}
        assert ("gitmoor", "Apply") in managers
        assert (await kube.get("v1", "ConfigMap", "settings", ns) or {})["data"] == {"mode": "demo"}

        deployment = await eventually(
            lambda: kube.get("apps/v1", "Deployment", "web", ns),
            lambda d: (
                bool(d)
                and (_condition(d, "Available") or {}).get("status") == "True"
                and d["status"].get("observedGeneration") == d["metadata"]["generation"]
                and d["status"].get("readyReplicas") == 2
            ),
            within=60,
            what="Deployment web to become Available with 2 ready replicas",
        )
        assert deployment is not None
        assert deployment["status"]["updatedReplicas"] == 2

        pods = await kube.list("v1", "Pod", ns, label_selector="app=web")
        assert len(pods) == 2
        for pod in pods:
            assert pod["spec"]["nodeName"].startswith("kwok-node-")
            assert pod["status"]["phase"] == "Running"
            assert (_condition(pod, "Ready") or {}).get("status") == "True"

        # Applying the same content again is a no-op for the server: no new resourceVersion.
        again = await kube.apply(config)
        assert again["metadata"]["resourceVersion"] == applied_cm["metadata"]["resourceVersion"]

        # A dry run validates and answers with the result, but persists nothing.
        dry = await kube.apply({**config, "data": {"mode": "changed"}}, dry_run=True)
        assert dry["data"] == {"mode": "changed"}
        live = await kube.get("v1", "ConfigMap", "settings", ns)
        assert live is not None
        assert live["data"] == {"mode": "demo"}
    finally:
        await kube.delete("v1", "Namespace", ns)


async def test_unschedulable_deployment_exceeds_its_progress_deadline(
    kube: Kube, namespace: str
) -> None:
    await kube.apply(
        _deployment(
            "stuck",
            namespace,
            progressDeadlineSeconds=3,
            pod_spec={"nodeSelector": {"gitmoor.test/no-such-node": "true"}},
        )
    )
    deployment = await eventually(
        lambda: kube.get("apps/v1", "Deployment", "stuck", namespace),
        lambda d: (_condition(d, "Progressing") or {}).get("status") == "False",
        within=90,
        what="Deployment stuck to report Progressing=False",
    )
    progressing = _condition(deployment, "Progressing")
    assert progressing is not None
    assert progressing["reason"] == "ProgressDeadlineExceeded"
    assert (_condition(deployment, "Available") or {}).get("status") == "False"
    pods = await kube.list("v1", "Pod", namespace, label_selector="app=stuck")
    assert pods, "the ReplicaSet should have created pods"
    assert all(not p["spec"].get("nodeName") for p in pods)
    assert all((_condition(p, "PodScheduled") or {}).get("status") == "False" for p in pods)


async def test_crd_is_established_and_serves_validated_custom_resources(
    kube: Kube, namespace: str, unique_name: str
) -> None:
    group = f"{unique_name}.gitmoor.test"
    crd_name = f"widgets.{group}"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": crd_name},
        "spec": {
            "group": group,
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "properties": {"size": {"type": "integer", "minimum": 1}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    with pytest.raises(UnknownKindError, match="Widget"):
        await kube.resource_for(f"{group}/v1", "Widget")
    await kube.apply(crd)
    try:
        established = await eventually(
            lambda: kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd_name),
            lambda c: (_condition(c, "Established") or {}).get("status") == "True",
            within=30,
            what=f"CRD {crd_name} to be Established",
        )
        assert established is not None
        kube.forget(f"{group}/v1")  # discovery changed under us: the kind exists now

        widget = {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "w1", "namespace": namespace},
            "spec": {"size": 3},
        }
        await kube.apply(widget)
        live = await kube.get(f"{group}/v1", "Widget", "w1", namespace)
        assert live is not None
        assert live["spec"] == {"size": 3}

        # The CRD's schema is enforced by the server, and the error names the field.
        with pytest.raises(KubePermanentError, match=r"spec\.size") as refused:
            await kube.apply(
                {**widget, "metadata": {"name": "w2", "namespace": namespace}, "spec": {"size": 0}}
            )
        assert refused.value.status == 422
        assert await kube.get(f"{group}/v1", "Widget", "w2", namespace) is None
    finally:
        await kube.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd_name)


async def test_rbac_is_enforced(kube: Kube, namespace: str, kubeconfig: Path) -> None:
    """RBAC is on: a ServiceAccount with no role binding is refused, with the user named."""
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "nobody", "namespace": namespace},
        }
    )
    review = await kube.request(
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        body={
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": f"system:serviceaccount:{namespace}:nobody",
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": "create",
                    "resource": "configmaps",
                },
            },
        },
    )
    assert review["status"]["allowed"] is False


def test_command_line_start_and_stop_leave_no_process(tmp_path: Path) -> None:
    """`python -m testenv.cluster start` leaves a working cluster running; `stop` ends exactly
    the processes it started."""
    run_dir = tmp_path / "cli-cluster"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "testenv.cluster", *args, "--dir", str(run_dir)],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    started = cli("start", "--nodes", "1")
    try:
        assert started.returncode == 0, started.stderr
        kubeconfig = Path(started.stdout.strip())
        assert kubeconfig.is_file()
        config = json.loads(kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")
        state = State.load(run_dir)
        assert state is not None
        assert [p.name for p in state.processes] == [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
        ]
        assert all(is_running(p) for p in state.processes)
        assert cli("status").returncode == 0
        # A second start on the same directory refuses instead of orphaning the first cluster.
        second = cli("start")
        assert second.returncode != 0
        assert "already runs" in second.stderr
    finally:
        stopped = cli("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not [p for p in state.processes if is_running(p)]
    assert cli("status").returncode == 1
