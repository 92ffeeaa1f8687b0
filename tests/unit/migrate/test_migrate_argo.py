"""Argo CD -> gitmoor, field by field: each case is Argo CD documents written for the test,
the GitSources and Syncs expected, and what is listed as not carried over."""

from __future__ import annotations

import json

import pytest

from gitmoor.migrate import migrate
from tests.unit.migrate.cases import Case, Item, docs, run

APP = "Application/argocd/shop"
SOURCE = "GitSource/argocd/apps"
CREDENTIALS = "labelled argocd.argoproj.io/secret-type: repository"
RECURSE = "Argo CD reads a plain directory's own files only"
PLACED = "Argo CD sets it on objects that name no namespace"


def application(spec: str, *, meta: str = "") -> str:
    return f"""
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {{name: shop, namespace: argocd{meta}}}
        spec:
          project: default
          destination: {{server: https://kubernetes.default.svc, namespace: shop}}
{spec}
        """


def source(**extra: str) -> str:
    extra_spec = "".join(f", {k}: {v}" for k, v in extra.items())
    return f"""
        apiVersion: gitmoor.io/v1alpha1
        kind: GitSource
        metadata: {{name: apps, namespace: argocd}}
        spec: {{url: "https://git.example.com/org/apps.git"{extra_spec}}}
        """


COMMON = [
    Item(SOURCE, "spec.secretRef", CREDENTIALS),
    Item(APP, "spec.destination.namespace", PLACED, check=True),
]

CASES = {
    "a directory application, synced automatically, pruned on deletion": Case(
        application(
            """
          source: {repoURL: "https://git.example.com/org/apps.git", targetRevision: HEAD,
                   path: shop, directory: {recurse: true}}
          syncPolicy: {automated: {prune: true, selfHeal: true, allowEmpty: true}}
            """,
            meta=", finalizers: [resources-finalizer.argocd.argoproj.io]",
        ),
        source()
        + """
        ---
        apiVersion: gitmoor.io/v1alpha1
        kind: Sync
        metadata: {name: shop, namespace: argocd}
        spec:
          sourceRef: {name: apps}
          targetNamespace: shop
          prune: true
          allowEmpty: true
          deletionPolicy: Delete
          path: shop
        """,
        COMMON,
    ),
    "no automated sync: a suspended Sync that reports drift; no finalizer: orphan": Case(
        application(
            """
          source: {repoURL: "https://git.example.com/org/apps.git", targetRevision: main,
                   path: shop}
            """
        ),
        source(ref="{branch: main}")
        + """
        ---
        apiVersion: gitmoor.io/v1alpha1
        kind: Sync
        metadata: {name: shop, namespace: argocd}
        spec:
          sourceRef: {name: apps}
          targetNamespace: shop
          prune: false
          drift: report
          suspend: true
          deletionPolicy: Orphan
          path: shop
        """,
        [
            *COMMON,
            Item(APP, "spec.source.targetRevision", "'main' read as a branch", check=True),
            Item(APP, "spec.syncPolicy.automated", "gitmoor resume", check=True),
            Item(APP, "spec.source.directory.recurse", RECURSE, check=True),
        ],
    ),
    "helm: values in Argo CD's precedence, values files inside the chart": Case(
        application(
            """
          source:
            repoURL: "https://git.example.com/org/apps.git"
            targetRevision: v1.4.0
            path: charts/shop
            helm:
              releaseName: storefront
              valueFiles: [values-prod.yaml, $values/env/prod.yaml, ../shared.yaml]
              values: |
                replicas: 1
                image: {repository: shop, tag: "1.0"}
              valuesObject: {replicas: 2, debug: false}
              parameters:
                - {name: image.tag, value: "1.4"}
                - {name: replicas, value: "3"}
                - {name: feature.enabled, value: "true", forceString: true}
                - {name: "hosts[0]", value: shop.example.com}
              fileParameters: [{name: cert, path: cert.pem}]
          syncPolicy: {automated: {selfHeal: true}}
            """
        ),
        source(ref="{tag: v1.4.0}")
        + """
        ---
        apiVersion: gitmoor.io/v1alpha1
        kind: Sync
        metadata: {name: shop, namespace: argocd}
        spec:
          sourceRef: {name: apps}
          targetNamespace: shop
          prune: false
          deletionPolicy: Orphan
          path: charts/shop
          helm:
            releaseName: storefront
            valuesFiles: [values-prod.yaml]
            values:
              replicas: 3
              image: {repository: shop, tag: "1.4"}  # --set keeps 1.4 a string
              debug: false
              feature: {enabled: "true"}
        """,
        [
            *COMMON,
            Item(APP, "spec.source.targetRevision", "'v1.4.0' read as a tag", check=True),
            Item(APP, "spec.source.helm.valueFiles[1]", "inside the chart only"),
            Item(APP, "spec.source.helm.valueFiles[2]", "inside the chart only"),
            Item(APP, "spec.source.helm.parameters[3]", "only plain dotted names"),
            Item(APP, "spec.source.helm.fileParameters", "valuesFiles"),
        ],
    ),
    "what gitmoor has no word for is listed, field by field": Case(
        application(
            """
          project: team-a
          source:
            repoURL: "https://git.example.com/org/apps.git"
            targetRevision: 0123456789abcdef0123456789abcdef01234567
            path: shop
            kustomize: {namePrefix: prod-, images: ["shop=shop:2"]}
            directory: {include: "*.yaml"}
          syncPolicy:
            automated: {prune: true, selfHeal: true}
            syncOptions: [CreateNamespace=true, ServerSideApply=true, PruneLast=true,
                          Replace=true, RespectIgnoreDifferences=true]
            retry: {limit: 5, backoff: {duration: 5s, factor: 2, maxDuration: 3m0s}}
          ignoreDifferences: [{group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}]
          revisionHistoryLimit: 3
            """
        ).replace("https://kubernetes.default.svc", "https://prod.example.com:6443"),
        source(ref="{commit: 0123456789abcdef0123456789abcdef01234567}")
        + """
        ---
        apiVersion: gitmoor.io/v1alpha1
        kind: Sync
        metadata: {name: shop, namespace: argocd}
        spec:
          sourceRef: {name: apps}
          targetNamespace: shop
          prune: true
          deletionPolicy: Orphan
          retryInterval: 3m
          path: shop
          createNamespace: true
        """,
        [
            *COMMON,
            Item(APP, "spec.destination", "deploys to another cluster"),
            Item(APP, "spec.syncPolicy.syncOptions[0]", "when missing", check=True),
            Item(APP, "spec.syncPolicy.syncOptions[3]", "never replaces"),
            Item(APP, "spec.syncPolicy.syncOptions[4]", "no equivalent"),
            Item(APP, "spec.syncPolicy.retry", "without a limit"),
            Item(APP, "spec.source.kustomize.namePrefix", "kustomization.yaml"),
            Item(APP, "spec.source.kustomize.images", "kustomization.yaml"),
            Item(APP, "spec.source.directory.include", "move the others out"),
            Item(APP, "spec.ignoreDifferences", "gitmoor.io/drift: ignore"),
            Item(APP, "spec.revisionHistoryLimit", "ledger"),
            Item(APP, "spec.project", "AppProject team-a"),
        ],
    ),
    "several sources: one Sync per Git path, one GitSource per repository and revision": Case(
        application(
            """
          sources:
            - {repoURL: "https://charts.example.com", chart: redis, targetRevision: 18.x}
            - {repoURL: "https://git.example.com/org/apps.git", targetRevision: main, ref: values}
            - {repoURL: "https://git.example.com/org/apps.git", targetRevision: main,
               path: shop/web, directory: {recurse: true}}
            - {repoURL: "git@git.example.com:org/apps.git", path: shop/api,
               directory: {recurse: true}}
          syncPolicy: {automated: {prune: true, selfHeal: true}}
            """
        ),
        source(ref="{branch: main}")
        + """
        ---
        apiVersion: gitmoor.io/v1alpha1
        kind: GitSource
        metadata: {name: apps-2, namespace: argocd}
        spec: {url: "git@git.example.com:org/apps.git"}
        ---
        apiVersion: gitmoor.io/v1alpha1
        kind: Sync
        metadata: {name: shop-2, namespace: argocd}
        spec:
          sourceRef: {name: apps}
          targetNamespace: shop
          prune: true
          deletionPolicy: Orphan
          path: shop/web
          helm: {releaseName: shop}
        ---
        apiVersion: gitmoor.io/v1alpha1
        kind: Sync
        metadata: {name: shop-3, namespace: argocd}
        spec:
          sourceRef: {name: apps-2}
          targetNamespace: shop
          prune: true
          deletionPolicy: Orphan
          path: shop/api
          helm: {releaseName: shop}
        """,
        [
            *COMMON,
            Item("GitSource/argocd/apps-2", "spec.secretRef", CREDENTIALS),
            Item(APP, "spec.sources[0]", "comes from a Helm repository"),
            Item(APP, "spec.sources[1]", "only for $values files"),
            Item(APP, "spec.sources[2].targetRevision", "read as a branch", check=True),
        ],
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_argo_applications_become_gitsources_and_syncs(case: Case) -> None:
    run(case)


@pytest.mark.parametrize(
    ("revision", "ref"),
    [
        ("", {}),
        ("HEAD", {}),
        ("main", {"branch": "main"}),
        ("release/2.x-fixes", {"branch": "release/2.x-fixes"}),
        ("refs/heads/main", {"branch": "main"}),
        ("refs/tags/v2", {"tag": "v2"}),
        ("v1.2.3", {"tag": "v1.2.3"}),
        ("2.0.0-rc.1", {"tag": "2.0.0-rc.1"}),
        (">=1.2.0 <2.0.0", {"semver": ">=1.2.0 <2.0.0"}),
        ("~1.4", {"semver": "~1.4"}),
        ("1.x", {"semver": "1.x"}),
        (
            "0123456789abcdef0123456789abcdef01234567",
            {"commit": "0123456789abcdef0123456789abcdef01234567"},
        ),
    ],
)
def test_target_revisions_are_read_by_their_shape(revision: str, ref: dict[str, str]) -> None:
    app = application(
        f"""
          source: {{repoURL: "https://git.example.com/org/apps.git", path: shop,
                   targetRevision: "{revision}"}}
          syncPolicy: {{automated: {{}}}}
        """
    )
    [git_source] = [o for o in migrate(docs(app)).objects if o["kind"] == "GitSource"]
    assert git_source["spec"].get("ref", {}) == ref


PROJECT = """
        apiVersion: argoproj.io/v1alpha1
        kind: AppProject
        metadata: {name: team-a, namespace: argocd}
        spec:
          description: Team A
          sourceRepos: ["https://git.example.com/org/*"]
          destinations: [{server: https://kubernetes.default.svc, namespace: "shop*"}]
          destinationServiceAccounts:
            - server: https://kubernetes.default.svc
              namespace: shop
              defaultServiceAccount: "argocd:team-a"
            - {server: "*", namespace: "shop-*", defaultServiceAccount: deployer}
          clusterResourceWhitelist: [{group: "", kind: Namespace}]
          roles: [{name: ci, policies: ["p, proj:team-a:ci, applications, sync, team-a/*, allow"]}]
          syncWindows: [{kind: deny, schedule: "0 22 * * *", duration: 1h}]
          signatureKeys: [{keyID: 4AEE18F83AFDEB23}]
          sourceNamespaces: [team-a]
"""


def test_an_app_project_acts_as_its_service_account_where_gitmoor_can() -> None:
    shop = application(
        """
          project: team-a
          source: {repoURL: "https://git.example.com/org/apps.git", path: shop,
                   directory: {recurse: true}}
          syncPolicy: {automated: {prune: true, selfHeal: true}}
        """
    )
    elsewhere = shop.replace("name: shop,", "name: shop-eu,").replace(
        "namespace: shop}", "namespace: shop-eu}"
    )
    result = migrate(docs("\n        ---\n".join((PROJECT, shop, elsewhere))))
    syncs = {o["metadata"]["name"]: o["spec"] for o in result.objects if o["kind"] == "Sync"}
    # argocd:team-a is a ServiceAccount of the Sync's own namespace: gitmoor acts as it too.
    assert syncs["shop"]["serviceAccountName"] == "team-a"
    # deployer of shop-eu is not: listed, with what to do.
    assert "serviceAccountName" not in syncs["shop-eu"]
    listed = {(s.resource, s.field): s for s in result.skipped}
    eu = listed[("Application/argocd/shop-eu", "serviceAccountName")]
    assert "ServiceAccount shop-eu/deployer" in eu.reason
    project = "AppProject/argocd/team-a"
    assert {f for r, f in listed if r == project} == {
        "spec.description",
        "spec.sourceRepos",
        "spec.destinations",
        "spec.destinationServiceAccounts",
        "spec.clusterResourceWhitelist",
        "spec.roles",
        "spec.syncWindows",
        "spec.signatureKeys",
        "spec.sourceNamespaces",
    }
    assert "(shop*)" in listed[(project, "spec.destinations")].reason
    assert "4AEE18F83AFDEB23" in listed[(project, "spec.signatureKeys")].reason
    assert listed[(project, "spec.destinationServiceAccounts")].carried


def test_repository_secrets_are_named_never_copied() -> None:
    secret = """
        apiVersion: v1
        kind: Secret
        metadata:
          name: repo-apps
          namespace: argocd
          labels: {argocd.argoproj.io/secret-type: repository}
        stringData: {url: "https://git.example.com/org/apps.git", password: s3cr3t-t0ken}
        data: {username: ZGVwbG95}
    """
    plain = secret.replace("repo-apps", "other").replace("argocd.argoproj.io/secret-type", "x")
    result = migrate(docs(secret + "\n        ---\n" + plain))
    assert result.objects == ()
    [item] = result.skipped
    assert (item.resource, item.field) == ("Secret/argocd/repo-apps", "")
    assert "identity (Argo: sshPrivateKey) and known_hosts" in item.reason
    assert result.read == 1
    everything = json.dumps([s.as_dict() for s in result.skipped])
    assert "s3cr3t" not in everything
    assert "ZGVwbG95" not in everything
