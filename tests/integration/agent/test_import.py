"""`gitmoor import --from-cluster` on the real control plane: Flux's GitRepository and
Kustomization (minimal CRDs written for this test: the group, kinds and versions Flux serves,
their specs unchecked) read through the kubeconfig, the output applied as gitmoor resources the
API server validates against gitmoor's CRDs, and an agent deploying what Flux deployed."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from gitmoor.errors import KubeApiError, UnknownKindError
from gitmoor.kube import Kube
from testenv.gitserver import GitServers
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness
from tests.integration.gitmoor_process import gitmoor

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]

FLUX_KINDS = [
    ("source.toolkit.fluxcd.io", "GitRepository", "gitrepositories", "v1"),
    ("kustomize.toolkit.fluxcd.io", "Kustomization", "kustomizations", "v1"),
]
ARGO_KINDS = [("argoproj.io", "Application", "applications", "v1alpha1")]


def crd(group: str, kind: str, plural: str, version: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural, "listKind": f"{kind}List"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


async def install_crds(kube: Kube, kinds: list[tuple[str, str, str, str]]) -> None:
    # Left installed: applying them again is a no-op, and no other test uses these groups.
    for group, kind, plural, version in kinds:
        await kube.apply(crd(group, kind, plural, version), field_manager="gitmoor-tests")

    async def served() -> list[str]:
        missing = []
        for group, kind, _, version in kinds:
            kube.forget(f"{group}/{version}")
            try:
                await kube.list(f"{group}/{version}", kind, "default")
            except (UnknownKindError, KubeApiError):
                missing.append(kind)
        return missing

    await eventually(served, lambda missing: not missing, within=30, what="the kinds served")


async def test_flux_resources_in_the_cluster_move_to_gitmoor_with_one_command(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    kube = harness.kube
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit(
        "app",
        {
            # No namespace: the Kustomization's targetNamespace places it, in Flux as in gitmoor.
            "app/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"
            "data:\n  mode: blue\n",
        },
    )
    tree.push()
    # The credentials as gitmoor reads them (caFile; Flux's own key for it is ca.crt).
    await harness.https_secret(git_servers, "git-auth")

    await install_crds(kube, FLUX_KINDS)
    await kube.apply(
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": ns},
            "spec": {
                "url": repo.https_url,
                "interval": "1m0s",
                "ref": {"branch": "main"},
                "secretRef": {"name": "git-auth"},
            },
        },
        field_manager="gitmoor-tests",
    )
    await kube.apply(
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "app", "namespace": ns},
            "spec": {
                "interval": "5m0s",
                "path": "./app",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
                "targetNamespace": ns,
                "postBuild": {"substitute": {"cluster": "prod"}},
            },
        },
        field_manager="gitmoor-tests",
    )

    # Argo CD's and Flux's Helm kinds are not installed here: none found, not an error.
    code, out, err = await gitmoor(
        "import", "--from-cluster", "-n", ns, kubeconfig=harness.kubeconfig
    )
    assert code == 0, err
    documents = list(yaml.safe_load_all(out))
    assert documents == [
        {
            "apiVersion": "gitmoor.io/v1alpha1",
            "kind": "GitSource",
            "metadata": {"name": "repo", "namespace": ns},
            "spec": {
                "url": repo.https_url,
                "ref": {"branch": "main"},
                "interval": "1m",
                "secretRef": {"name": "git-auth"},
            },
        },
        {
            "apiVersion": "gitmoor.io/v1alpha1",
            "kind": "Sync",
            "metadata": {"name": "app", "namespace": ns},
            "spec": {
                "sourceRef": {"name": "repo"},
                "path": "./app",
                "interval": "5m",
                "timeout": "5m",
                "prune": True,
                "wait": False,
                "targetNamespace": ns,
            },
        },
    ]
    assert "imported 2 resource(s) as 1 GitSource(s) and 1 Sync(s)" in err
    assert f"Kustomization/{ns}/app: spec.postBuild: gitmoor applies manifests as rendered" in err
    assert f"GitRepository/{ns}/repo: spec.secretRef: the Secret is referenced by name" in err

    # Every namespace: this test's among them.
    code, out, err = await gitmoor("import", "--from-cluster", "-A", kubeconfig=harness.kubeconfig)
    assert code == 0, err
    assert documents[0] in list(yaml.safe_load_all(out))

    # Another namespace holds none: exit 1, and the hint to look everywhere.
    code, out, err = await gitmoor(
        "import", "--from-cluster", "-n", "kube-public", kubeconfig=harness.kubeconfig
    )
    assert (code, out) == (1, "")
    assert err.strip() == (
        "error: no Flux or Argo CD resources found in the cluster (namespace kube-public); "
        "-A looks in every namespace"
    )

    # The API server validates the documents against gitmoor's CRDs (as it refuses a wrong one).
    wrong = {**documents[1], "spec": {**documents[1]["spec"], "prune": "maybe"}}
    with pytest.raises(KubeApiError, match=r"spec\.prune"):
        await kube.apply(wrong, field_manager="gitmoor-tests", dry_run=True)
    for document in documents:
        await kube.apply(document, field_manager="gitmoor-tests")

    # The agent deploys what Flux deployed, from the same commit.
    await harness.wait_applied("app", sha)
    settings = await kube.get("v1", "ConfigMap", "settings", ns)
    assert settings is not None
    assert settings["data"] == {"mode": "blue"}
    assert settings["metadata"]["labels"]["gitmoor.io/sync-name"] == "app"

    # Argo CD's Application, once its CRD is there: a GitSource for its repository and revision
    # and a Sync, which the API server accepts too. (Its credentials are Argo CD's Secrets,
    # never read: the list says to re-create them, so this one is not deployed here.)
    await install_crds(kube, ARGO_KINDS)
    await kube.apply(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "shop", "namespace": ns},
            "spec": {
                "project": "default",
                "source": {"repoURL": repo.https_url, "targetRevision": "main", "path": "app"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
                "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
            },
        },
        field_manager="gitmoor-tests",
    )
    code, out, err = await gitmoor(
        "import", "--from-cluster", "-n", ns, "-o", "json", kubeconfig=harness.kubeconfig
    )
    assert code == 0, err
    report = json.loads(out)
    items = {(i["kind"], i["metadata"]["name"]): i for i in report["items"]}
    shop = items[("Sync", "shop")]
    assert shop["spec"]["targetNamespace"] == ns
    assert shop["spec"]["prune"] is True
    source = items[("GitSource", shop["spec"]["sourceRef"]["name"])]
    assert source["spec"] == {"url": repo.https_url, "ref": {"branch": "main"}}
    assert any(
        n["field"] == "spec.secretRef" and "argocd.argoproj.io/secret-type" in n["reason"]
        for n in report["notCarriedOver"]
    )
    for document in (source, shop):
        await kube.apply(document, field_manager="gitmoor-tests", dry_run=True)
