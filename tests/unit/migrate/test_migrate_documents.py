"""Reading documents to migrate, and the results of both ecosystems together."""

from __future__ import annotations

import pytest

from gitmoor.errors import MigrationInputError
from gitmoor.migrate import migrate, parse_documents

REPO = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: apps, namespace: argocd}
spec: {interval: 5m, url: https://git.example.com/other.git}
"""
APP = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: shop, namespace: argocd}
spec:
  source: {repoURL: "https://git.example.com/org/apps.git", path: shop}
  destination: {server: https://kubernetes.default.svc}
  syncPolicy: {automated: {}}
"""


def test_documents_and_lists_are_read_in_order() -> None:
    text = f'{REPO}---\n---\n{{"apiVersion": "v1", "kind": "List", "items": [{{"kind": "A"}}]}}\n'
    assert [d["kind"] for d in parse_documents(text, "x.yaml")] == ["GitRepository", "A"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: A\n---\n- 1\n", "x.yaml:3: expected a mapping (a Kubernetes object)"),
        ("kind: A\nspec: [\n", "x.yaml:3: invalid YAML: "),
    ],
)
def test_unreadable_documents_name_the_file_and_line(text: str, message: str) -> None:
    with pytest.raises(MigrationInputError) as caught:
        parse_documents(text, "x.yaml")
    assert str(caught.value).startswith(message)


def test_gitsources_made_for_argo_cd_are_named_apart_from_fluxs() -> None:
    # Flux's GitRepository argocd/apps holds the name the Application's repository would get.
    result = migrate([*parse_documents(REPO, "a"), *parse_documents(APP, "b")])
    sources = {o["metadata"]["name"]: o["spec"]["url"] for o in result.objects[:2]}
    assert sources == {
        "apps": "https://git.example.com/other.git",
        "apps-2": "https://git.example.com/org/apps.git",
    }
    [sync] = [o for o in result.objects if o["kind"] == "Sync"]
    assert sync["spec"]["sourceRef"] == {"name": "apps-2"}


def test_two_syncs_of_one_name_keep_the_first_and_say_so() -> None:
    kustomization = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: shop, namespace: argocd}
spec: {interval: 5m, prune: true, sourceRef: {kind: GitRepository, name: apps}}
"""
    result = migrate([*parse_documents(kustomization, "a"), *parse_documents(APP, "b")])
    [sync] = [o for o in result.objects if o["kind"] == "Sync"]
    assert sync["spec"]["sourceRef"] == {"name": "apps"}  # the Kustomization's
    [clash] = [s for s in result.skipped if s.resource == "Sync/argocd/shop"]
    assert "rename one of them" in clash.reason


def test_other_flux_and_argo_cd_kinds_are_listed_whole() -> None:
    text = """\
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: OCIRepository
metadata: {name: manifests, namespace: flux-system}
---
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: github, namespace: flux-system}
---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: clusters, namespace: argocd}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated, namespace: shop}
"""
    result = migrate(parse_documents(text, "x.yaml"))
    assert result.objects == ()
    assert result.read == 4
    assert [(s.resource, s.field, s.reason.split(":")[0]) for s in result.skipped] == [
        ("OCIRepository/flux-system/manifests", "", "no HelmRelease read uses it"),
        (
            "Receiver/flux-system/github",
            "",
            "gitmoor's agent receives pushes itself (/hooks/github, /hooks/gitlab, "
            "/hooks/gitea, /hooks/generic, /hooks/registry)",
        ),
        ("ApplicationSet/argocd/clusters", "", "gitmoor has no generators"),
        ("Rollout/shop/web", "", "gitmoor has no equivalent"),
    ]
