"""The generated CRDs and install manifests against a real API server: accepted, defaulted,
validated as the models validate, status as a subresource, and the agent's RBAC as narrow as
intended."""

from __future__ import annotations

import copy
import textwrap
from typing import Any

import pytest
from pydantic import ValidationError

from gitmoor.errors import KubePermanentError
from gitmoor.install import manifests
from gitmoor.kube import Kube
from gitmoor.model.config import load_documents, to_document
from gitmoor.model.crds import CRD_API_VERSION, crds
from gitmoor.model.resources import API_VERSION, ChartSource, GitSource, OCISource, Sync
from testenv.wait import eventually

pytestmark = pytest.mark.cluster


def _condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == kind:
            return dict(cond)
    return {}


async def _install_crds(kube: Kube) -> list[dict[str, Any]]:
    """Apply the CRDs (idempotent: the whole run shares them) and wait until they are served."""
    established = []
    for crd in crds():
        await kube.apply(crd)
    for crd in crds():
        name = crd["metadata"]["name"]

        async def fetch(name: str = name) -> dict[str, Any] | None:
            return await kube.get(CRD_API_VERSION, "CustomResourceDefinition", name)

        established.append(
            await eventually(
                fetch,
                lambda c: _condition(c, "Established").get("status") == "True",
                within=60,
                what=f"CRD {name} to be Established",
            )
        )
    kube.forget(API_VERSION)
    return established


def _source(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "GitSource",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"url": "https://git.example.com/org/apps.git", **spec},
    }


def _chart(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ChartSource",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"url": "https://charts.example.com/stable", "chart": "podinfo", **spec},
    }


def _oci(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "OCISource",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"url": "oci://ghcr.io/org/manifests", **spec},
    }


def _sync(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Sync",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"sourceRef": {"name": "apps"}, **spec},
    }


async def test_generated_crds_are_accepted_as_structural_and_established(kube: Kube) -> None:
    for crd in await _install_crds(kube):
        assert _condition(crd, "NonStructuralSchema") == {}
        assert _condition(crd, "NamesAccepted").get("status") == "True"
        assert crd["status"]["acceptedNames"]["categories"] == ["gitmoor"]
    assert (await kube.resource_for(API_VERSION, "GitSource")).plural == "gitsources"
    assert (await kube.resource_for(API_VERSION, "Sync")).namespaced


async def test_the_server_fills_in_the_models_defaults(kube: Kube, namespace: str) -> None:
    await _install_crds(kube)
    source = _source("apps", namespace)
    sync = _sync("web", namespace)
    await kube.apply(source)
    await kube.apply(sync)

    live_source = await kube.get(API_VERSION, "GitSource", "apps", namespace)
    live_sync = await kube.get(API_VERSION, "Sync", "web", namespace)
    assert live_source is not None
    assert live_sync is not None
    assert live_source["spec"] == {
        "url": "https://git.example.com/org/apps.git",
        "interval": "1m",
        "timeout": "60s",
        "suspend": False,
    }
    assert live_sync["spec"]["sourceRef"] == {"kind": "GitSource", "name": "apps"}
    assert live_sync["spec"]["path"] == "./"
    assert (live_sync["spec"]["interval"], live_sync["spec"]["timeout"]) == ("5m", "5m")
    assert (live_sync["spec"]["prune"], live_sync["spec"]["wait"]) == (True, True)
    # What the server stored reads back through the models, with the same values they default.
    assert GitSource.model_validate(live_source).spec == GitSource.model_validate(source).spec
    assert Sync.model_validate(live_sync).spec == Sync.model_validate(sync).spec


async def test_config_documents_apply_as_custom_resources(kube: Kube, namespace: str) -> None:
    await _install_crds(kube)
    text = textwrap.dedent(f"""\
        apiVersion: gitmoor.io/v1alpha1
        kind: GitSource
        metadata:
          name: apps
          namespace: {namespace}
        spec:
          url: git@git.example.com:org/apps.git
          ref:
            semver: ">=1.2.0 <2.0.0"
          secretRef:
            name: git-credentials
          ignore: |
            /docs
            *.md
        ---
        apiVersion: gitmoor.io/v1alpha1
        kind: Sync
        metadata:
          name: web
          namespace: {namespace}
          labels:
            team: web
        spec:
          sourceRef:
            name: apps
          path: ./web
          dependsOn:
            - name: platform
          healthChecks:
            - apiVersion: apps/v1
              kind: Deployment
              name: web
          helm:
            values:
              replicas: 3
              ingress: {{enabled: true, hosts: [web.example.com]}}
        """)
    resources = load_documents(text, source="gitmoor.yaml")
    for resource in resources:
        await kube.apply(to_document(resource))
    for resource in resources:
        live = await kube.get(API_VERSION, resource.kind, resource.metadata.name, namespace)
        assert live is not None
        assert type(resource).model_validate(live).spec == resource.spec
    live_sync = await kube.get(API_VERSION, "Sync", "web", namespace)
    assert live_sync is not None
    assert live_sync["metadata"]["labels"] == {"team": "web"}
    # Free-form Helm values are kept whole, not pruned.
    assert live_sync["spec"]["helm"]["values"] == {
        "replicas": 3,
        "ingress": {"enabled": True, "hosts": ["web.example.com"]},
    }


async def test_status_is_a_subresource(kube: Kube, namespace: str) -> None:
    await _install_crds(kube)
    resource = await kube.resource_for(API_VERSION, "GitSource")
    path = resource.path(namespace, "apps")
    # Status sent with the object is ignored: only the status subresource writes it.
    applied = await kube.apply(
        {**_source("apps", namespace), "status": {"observedGeneration": 9, "conditions": []}}
    )
    assert applied.get("status") in (None, {})

    status = {
        "observedGeneration": applied["metadata"]["generation"],
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Succeeded",
                "message": "stored artifact for revision main@sha1:0123abc",
                "lastTransitionTime": "2026-01-02T03:04:05Z",
            }
        ],
        "artifact": {
            "revision": "main@sha1:0123abc",
            "digest": "sha256:00ff",
            "lastUpdateTime": "2026-01-02T03:04:05Z",
        },
    }
    await kube.request(
        "PATCH",
        path + "/status",
        body={"status": status, "spec": {"url": "https://elsewhere.example.com/x.git"}},
        content_type="application/merge-patch+json",
    )
    live = await kube.get(API_VERSION, "GitSource", "apps", namespace)
    assert live is not None
    assert live["spec"]["url"] == "https://git.example.com/org/apps.git"  # spec untouched
    assert live["status"]["artifact"]["revision"] == "main@sha1:0123abc"
    assert live["status"]["artifact"]["message"] == ""  # defaulted in status too
    assert _condition(live, "Ready")["message"].startswith("stored artifact")
    parsed = GitSource.model_validate(live)
    assert parsed.status is not None
    assert parsed.status.conditions[0].status == "True"

    # The status schema is enforced too.
    bad = copy.deepcopy(status)
    bad["conditions"][0]["status"] = "Maybe"
    with pytest.raises(KubePermanentError, match=r"status\.conditions\[0\]\.status") as refused:
        await kube.request(
            "PATCH",
            path + "/status",
            body={"status": bad},
            content_type="application/merge-patch+json",
        )
    assert refused.value.status == 422


# (document, field the API server names, whether the models agree it is invalid)
_VALID = [
    _source("ok-scp", "", url="git@github.com:org/repo.git"),
    _source("ok-ssh", "", url="ssh://git@git.example.com:2222/org/repo.git"),
    _source("ok-file", "", url="file:///srv/git/repo.git"),
    _source("ok-commit", "", ref={"commit": "0123abcd"}),
    _source("ok-interval", "", interval="1h30m"),
    _source("ok-verify", "", verify={"secretRef": {"name": "signers"}}),
    _source(
        "ok-verify-tag",
        "",
        ref={"semver": "^1"},
        verify={"mode": "tagAndHead", "secretRef": {"name": "signers"}},
    ),
    _sync("ok-path", "", path="apps/..hidden/./x"),
    _chart("ok-chart", ""),
    _chart("ok-chart-oci", "", url="oci://ghcr.io/org/charts"),
    _chart("ok-chart-range", "", version=">=6.0.0 <7.0.0 || ~5.2", secretRef={"name": "s"}),
    _chart("ok-chart-exact", "", version="6.5.0-rc.1", url="http://127.0.0.1:8080"),
    _sync("ok-chart-ref", "", chartRef={"name": "podinfo"}, helm={"valuesFiles": ["v.yaml"]}),
    _oci("ok-oci", ""),
    _oci("ok-oci-semver", "", ref={"semver": ">=1.0.0 <2.0.0"}, secretRef={"name": "s"}),
    _oci("ok-oci-digest", "", ref={"digest": "sha256:" + "0a" * 32}),
    _oci("ok-oci-layer", "", ref={"tag": "v1.2_3"}, layerSelector={"mediaType": "x/y+gzip"}),
    _sync("ok-oci-sync", "", sourceRef={"kind": "OCISource", "name": "manifests"}),
    # A chart with inline values only: no Git source.
    {
        **_sync("ok-chart-only", ""),
        "spec": {"chartRef": {"name": "podinfo"}, "helm": {"values": {"a": 1}}},
    },
]
_INVALID = [
    (_source("bad-interval", "", interval="5 minutes"), "spec.interval"),
    (_source("bad-ref", "", ref={"branch": "main", "tag": "v1"}), "spec.ref"),
    (_source("bad-commit", "", ref={"commit": "main"}), "spec.ref.commit"),
    (
        _source("bad-verify-mode", "", verify={"mode": "tag", "secretRef": {"name": "s"}}),
        "spec",
    ),
    (_source("bad-verify-keys", "", verify={"mode": "head"}), "spec.verify.secretRef"),
    (_source("bad-scheme", "", url="ftp://git.example.com/repo.git"), "spec.url"),
    (_source("bad-scp", "", url="git@host://repo.git"), "spec.url"),
    (_source("bad-creds", "", url="https://user:hunter2@git.example.com/r.git"), "spec.url"),
    (_source("bad-ssh-creds", "", url="ssh://git:hunter2@git.example.com/r.git"), "spec.url"),
    (_sync("bad-path", "", path="apps/../../etc"), "spec.path"),
    (_sync("bad-abs-path", "", path="/etc"), "spec.path"),
    (_sync("bad-dep", "", dependsOn=[{"name": "Not_A_Name"}]), "spec.dependsOn[0].name"),
    ({**_sync("no-spec", ""), "spec": None}, "spec"),
    (_chart("bad-chart-scheme", "", url="s3://bucket/charts"), "spec.url"),
    (_chart("bad-oci-creds", "", url="oci://u:hunter2@ghcr.io/org/charts"), "spec.url"),
    (_chart("bad-chart-creds", "", url="https://u:hunter2@charts.example.com"), "spec.url"),
    (_chart("bad-chart-name", "", chart="Pod_Info"), "spec.chart"),
    (_chart("bad-chart-version", "", version="6.5; rm -rf"), "spec.version"),
    (_sync("bad-chart-ref", "", chartRef={"kind": "GitSource", "name": "x"}), "spec.chartRef"),
    ({**_sync("no-source", ""), "spec": {"path": "./"}}, "sourceRef is required"),
    (
        {
            **_sync("chart-files-no-source", ""),
            "spec": {"chartRef": {"name": "p"}, "helm": {"valuesFiles": ["v.yaml"]}},
        },
        "helm.valuesFiles are read from Git",
    ),
    (
        {**_sync("chart-path-no-source", ""), "spec": {"chartRef": {"name": "p"}, "path": "x"}},
        "path is a directory of the sourceRef's",
    ),
    (
        {
            **_sync("chart-sops-no-source", ""),
            "spec": {"chartRef": {"name": "p"}, "decryption": {"secretRef": {"name": "k"}}},
        },
        "decryption reads files",
    ),
    (_oci("bad-oci-scheme", "", url="https://ghcr.io/org/manifests"), "spec.url"),
    (_oci("bad-oci-no-repo", "", url="oci://ghcr.io"), "spec.url"),
    (_oci("bad-oci-creds", "", url="oci://u:hunter2@ghcr.io/org/m"), "spec.url"),
    (_oci("bad-oci-digest", "", ref={"digest": "sha256:abc"}), "spec.ref.digest"),
    (_oci("bad-oci-tag", "", ref={"tag": "-nope"}), "spec.ref.tag"),
    (_oci("bad-oci-semver", "", ref={"semver": "1.x; rm"}), "spec.ref.semver"),
    (
        _sync("bad-source-kind", "", sourceRef={"kind": "ChartSource", "name": "x"}),
        "spec.sourceRef",
    ),
]


def _in(doc: dict[str, Any], namespace: str) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["metadata"]["namespace"] = namespace
    if doc.get("spec") is None:
        del doc["spec"]
    return doc


def _model(
    doc: dict[str, Any],
) -> type[GitSource] | type[ChartSource] | type[OCISource] | type[Sync]:
    kinds: dict[str, type[GitSource] | type[ChartSource] | type[OCISource]] = {
        "GitSource": GitSource,
        "ChartSource": ChartSource,
        "OCISource": OCISource,
    }
    return kinds.get(doc["kind"], Sync)


async def test_the_api_server_and_the_models_accept_the_same_documents(
    kube: Kube, namespace: str
) -> None:
    await _install_crds(kube)
    for doc in _VALID:
        doc = _in(doc, namespace)
        _model(doc).model_validate(doc)
        await kube.apply(doc, dry_run=True)


async def test_the_api_server_and_the_models_refuse_the_same_documents(
    kube: Kube, namespace: str
) -> None:
    await _install_crds(kube)
    for original, field in _INVALID:
        doc = _in(original, namespace)
        name = doc["metadata"]["name"]
        with pytest.raises(ValidationError):
            _model(doc).model_validate(doc)
        with pytest.raises(KubePermanentError) as refused:
            await kube.apply(doc)
        assert refused.value.status == 422, name
        assert field in str(refused.value), f"{name}: {refused.value}"
        assert "hunter2" not in str(refused.value), "a credential leaked into an error"
        assert await kube.get(API_VERSION, doc["kind"], name, namespace) is None


async def test_install_manifests_pass_a_server_side_dry_run(kube: Kube, namespace: str) -> None:
    await _install_crds(kube)
    objs = manifests(namespace=namespace, image="registry.example.com/gitmoor:test")
    for obj in objs:
        result = await kube.apply(obj, dry_run=True)
        assert result["kind"] == obj["kind"]
    # A dry run writes nothing.
    assert await kube.get("apps/v1", "Deployment", "gitmoor", namespace) is None


async def _allowed(
    kube: Kube, user: str, verb: str, group: str, resource: str, *, namespace: str
) -> bool:
    plural, _, subresource = resource.partition("/")
    review = await kube.request(
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        body={
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "groups": ["system:serviceaccounts", "system:authenticated"],
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": verb,
                    "group": group,
                    "resource": plural,
                    "subresource": subresource,
                },
            },
        },
    )
    return bool(review["status"].get("allowed"))


async def test_the_agents_own_rbac_grants_its_job_and_no_more(
    kube: Kube, namespace: str, unique_name: str
) -> None:
    """Everything but the `gitmoor-apply` binding, applied for real under unique names (the
    cluster-scoped objects are shared by the test run), checked by the API server's authorizer."""
    own_name = f"gitmoor-{unique_name}"
    to_apply: list[dict[str, Any]] = []
    cluster_scoped: list[dict[str, Any]] = []
    for obj in manifests(namespace=namespace):
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind in ("ServiceAccount", "Role", "RoleBinding"):
            to_apply.append(obj)
        elif kind in ("ClusterRole", "ClusterRoleBinding") and name == "gitmoor":
            renamed = copy.deepcopy(obj)
            renamed["metadata"]["name"] = own_name
            if kind == "ClusterRoleBinding":
                renamed["roleRef"]["name"] = own_name
            to_apply.append(renamed)
            cluster_scoped.append(renamed)
    try:
        for obj in to_apply:
            await kube.apply(obj)
        user = f"system:serviceaccount:{namespace}:gitmoor"

        async def can(verb: str, group: str, resource: str, ns: str = "default") -> bool:
            return await _allowed(kube, user, verb, group, resource, namespace=ns)

        async def needed() -> dict[str, bool]:
            return {
                "watch syncs": await can("watch", "gitmoor.io", "syncs"),
                "patch gitsources/status": await can("patch", "gitmoor.io", "gitsources/status"),
                "get secrets": await can("get", "", "secrets"),
                # Credentials Secrets are watched, not read at every check (as Flux's
                # source-controller does): list/watch, never a write.
                "watch secrets": await can("watch", "", "secrets"),
                "create events": await can("create", "", "events"),
                "update own leases": await can(
                    "update", "coordination.k8s.io", "leases", namespace
                ),
            }

        granted = await eventually(
            needed, lambda g: all(g.values()), within=30, what="RBAC to take effect"
        )
        assert all(granted.values())
        assert not await can("update", "", "secrets")
        assert not await can("delete", "", "secrets")
        assert not await can("update", "coordination.k8s.io", "leases")  # only in its namespace
        assert not await can("create", "apps", "deployments")  # that is gitmoor-apply's job
    finally:
        for obj in reversed(cluster_scoped):
            await kube.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"])
