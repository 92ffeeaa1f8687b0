"""Flux -> gitmoor, field by field: each case is Flux documents written for the test, the
GitSources and Syncs expected, and what is listed as not carried over."""

from __future__ import annotations

import pytest

from tests.unit.migrate.cases import Case, Item, run

REPO = "GitRepository/flux-system/fleet"
APPS = "Kustomization/flux-system/apps"
WEB = "HelmRelease/flux-system/web"
BITNAMI = "HelmRepository/flux-system/bitnami"
API = "HelmRelease/apps/api"
PODINFO = "HelmRelease/apps/podinfo"

CASES = {
    "a GitRepository on a branch": Case(
        """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata: {name: fleet, namespace: flux-system}
        spec: {interval: 1m0s, url: https://git.example.com/fleet.git, ref: {branch: main}}
        """,
        """
        apiVersion: gitmoor.io/v1alpha1
        kind: GitSource
        metadata: {name: fleet, namespace: flux-system}
        spec: {url: https://git.example.com/fleet.git, ref: {branch: main}, interval: 1m}
        """,
    ),
    "every GitRepository field, Flux's ref precedence": Case(
        """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata: {name: fleet, namespace: flux-system}
        spec:
          url: ssh://git@git.example.com/fleet.git
          interval: 90s
          timeout: 2m0s
          ref: {branch: main, commit: 0123456789abcdef0123456789abcdef01234567}
          secretRef: {name: fleet-ssh}
          ignore: "/docs\\n"
          suspend: true
          recurseSubmodules: true
          provider: github
        """,
        """
        apiVersion: gitmoor.io/v1alpha1
        kind: GitSource
        metadata: {name: fleet, namespace: flux-system}
        spec:
          url: ssh://git@git.example.com/fleet.git
          ref: {commit: 0123456789abcdef0123456789abcdef01234567}
          interval: 1m30s
          timeout: 2m
          secretRef: {name: fleet-ssh}
          ignore: "/docs\\n"
          suspend: true
        """,
        [
            Item(REPO, "spec.ref.branch", "ref.commit is kept, as Flux gives it precedence"),
            Item(REPO, "spec.secretRef", "Flux's ca.crt must be copied to caFile", check=True),
            Item(REPO, "spec.recurseSubmodules", "does not fetch submodules"),
            Item(REPO, "spec.provider", "not a cloud provider's identity"),
        ],
    ),
    "signed tags, a semver range": Case(
        """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata: {name: fleet, namespace: flux-system}
        spec:
          interval: 5m
          url: https://git.example.com/fleet.git
          ref: {semver: ">=1.0.0 <2.0.0"}
          verify: {mode: TagAndHEAD, secretRef: {name: signers}}
        """,
        """
        apiVersion: gitmoor.io/v1alpha1
        kind: GitSource
        metadata: {name: fleet, namespace: flux-system}
        spec:
          url: https://git.example.com/fleet.git
          ref: {semver: ">=1.0.0 <2.0.0"}
          interval: 5m
          verify: {mode: tagAndHead, secretRef: {name: signers}}
        """,
        [Item(REPO, "spec.verify.secretRef", "keys ending in .asc", check=True)],
    ),
    "ref.name of a tag; a sparse checkout becomes ignore patterns": Case(
        """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata: {name: fleet, namespace: flux-system}
        spec:
          interval: 5m
          url: https://git.example.com/fleet.git
          ref: {name: refs/tags/v2.0.0}
          sparseCheckout: [apps/, ./infra]
        """,
        """
        apiVersion: gitmoor.io/v1alpha1
        kind: GitSource
        metadata: {name: fleet, namespace: flux-system}
        spec:
          url: https://git.example.com/fleet.git
          ref: {tag: v2.0.0}
          interval: 5m
          ignore: "/*\\n!/apps/\\n!/./infra/"
        """,
        [Item(REPO, "spec.sparseCheckout", "ignore patterns", check=True)],
    ),
    "no ref: Flux's master, kept": Case(
        """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata: {name: fleet, namespace: flux-system}
        spec: {interval: 5m, url: https://git.example.com/fleet.git}
        """,
        """
        apiVersion: gitmoor.io/v1alpha1
        kind: GitSource
        metadata: {name: fleet, namespace: flux-system}
        spec: {url: https://git.example.com/fleet.git, ref: {branch: master}, interval: 5m}
        """,
        [Item(REPO, "spec.ref", "Flux follows the branch master", check=True)],
    ),
    "a pull request ref has no equivalent": Case(
        """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata: {name: fleet, namespace: flux-system}
        spec: {interval: 5m, url: https://git.example.com/fleet.git, ref: {name: refs/pull/4/head}}
        """,
        """
        apiVersion: gitmoor.io/v1alpha1
        kind: GitSource
        metadata: {name: fleet, namespace: flux-system}
        spec: {url: https://git.example.com/fleet.git, interval: 5m}
        """,
        [Item(REPO, "spec.ref.name", "not 'refs/pull/4/head'")],
    ),
    "what gitmoor's model refuses is skipped whole, with its words": Case(
        """
        apiVersion: source.toolkit.fluxcd.io/v1beta2
        kind: GitRepository
        metadata: {name: fleet, namespace: flux-system}
        spec: {interval: soon, url: "https://deploy:hunter2@git.example.com/fleet.git"}
        """,
        "",
        [
            Item(REPO, "spec.interval", "'soon' is not a duration"),
            Item(REPO, "", "url must not carry credentials"),
        ],
    ),
    "a Kustomization keeps Flux's defaults and maps every field gitmoor has": Case(
        """
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata: {name: apps, namespace: flux-system}
        spec:
          interval: 10m0s
          retryInterval: 1m
          path: ./apps/prod
          prune: true
          sourceRef: {kind: GitRepository, name: fleet}
          targetNamespace: shop
          dependsOn: [{name: infra}]
          healthChecks:
            - {apiVersion: apps/v1, kind: Deployment, name: web, namespace: shop}
          healthCheckExprs:
            - {apiVersion: db.example.com/v1, kind: Database, current: "status.phase == 'Ready'"}
          decryption: {provider: sops, secretRef: {name: sops-age}}
          serviceAccountName: deployer
          force: true
          suspend: false
          deletionPolicy: WaitForTermination
          postBuild: {substitute: {cluster: prod}}
          patches: [{patch: "x"}]
          kubeConfig: {secretRef: {name: remote}}
        """,
        """
        apiVersion: gitmoor.io/v1alpha1
        kind: Sync
        metadata: {name: apps, namespace: flux-system}
        spec:
          sourceRef: {name: fleet}
          path: ./apps/prod
          interval: 10m
          retryInterval: 1m
          timeout: 10m
          prune: true
          wait: false
          serviceAccountName: deployer
          force: true
          healthChecks:
            - {apiVersion: apps/v1, kind: Deployment, name: web, namespace: shop}
          healthCheckExprs:
            - {apiVersion: db.example.com/v1, kind: Database, current: "status.phase == 'Ready'"}
          dependsOn: [{name: infra}]
          targetNamespace: shop
          decryption: {provider: sops, secretRef: {name: sops-age}}
          deletionPolicy: Delete
        """,
        [
            Item(APPS, "spec.decryption.secretRef", ".agekey", check=True),
            Item(APPS, "spec.deletionPolicy", "does not wait", check=True),
            Item(APPS, "spec.postBuild", "without variable substitution"),
            Item(APPS, "spec.patches", "put this in a kustomization.yaml"),
            Item(APPS, "spec.kubeConfig", "deploys to another cluster"),
        ],
    ),
    "no prune, no wait, no timeout in Flux: the same in gitmoor": Case(
        """
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata: {name: apps, namespace: flux-system}
        spec: {interval: 5m, sourceRef: {kind: GitRepository, name: fleet}}
        """,
        """
        apiVersion: gitmoor.io/v1alpha1
        kind: Sync
        metadata: {name: apps, namespace: flux-system}
        spec:
          sourceRef: {name: fleet}
          path: ./
          interval: 5m
          timeout: 5m
          prune: false
          wait: false
        """,
    ),
    "a Kustomization of an OCIRepository: an OCISource, Flux's ref precedence": Case(
        """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: OCIRepository
        metadata: {name: fleet, namespace: flux-system}
        spec:
          interval: 5m
          timeout: 1m
          url: oci://ghcr.io/acme/manifests/fleet
          ref: {tag: latest, semver: ">=1.0.0 <2.0.0", semverFilter: ".*-rc.*"}
          layerSelector: {mediaType: application/vnd.acme.yaml, operation: copy}
          secretRef: {name: ghcr}
          verify: {provider: cosign}
        ---
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata: {name: apps, namespace: team-a}
        spec:
          interval: 5m
          prune: true
          sourceRef: {kind: OCIRepository, name: fleet, namespace: flux-system}
        ---
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata: {name: infra, namespace: flux-system}
        spec: {interval: 5m, prune: true, sourceRef: {kind: Bucket, name: fleet}}
        """,
        """
        apiVersion: gitmoor.io/v1alpha1
        kind: OCISource
        metadata: {name: fleet, namespace: flux-system}
        spec:
          url: oci://ghcr.io/acme/manifests/fleet
          ref: {semver: ">=1.0.0 <2.0.0"}
          layerSelector: {mediaType: application/vnd.acme.yaml, operation: copy}
          interval: 5m
          timeout: 1m
          secretRef: {name: ghcr}
          accessFrom: [team-a]
        ---
        apiVersion: gitmoor.io/v1alpha1
        kind: Sync
        metadata: {name: apps, namespace: team-a}
        spec:
          sourceRef: {kind: OCISource, name: fleet, namespace: flux-system}
          path: ./
          interval: 5m
          timeout: 5m
          prune: true
          wait: false
        """,
        [
            Item("OCIRepository/flux-system/fleet", "spec.ref.tag", "ref.semver is kept"),
            Item("OCIRepository/flux-system/fleet", "spec.ref.semverFilter", "no equivalent"),
            Item(
                "OCIRepository/flux-system/fleet", "spec.secretRef", ".dockerconfigjson", check=True
            ),
            Item("OCIRepository/flux-system/fleet", "spec.verify", "artifact signatures"),
            Item(
                "Kustomization/flux-system/infra",
                "spec.sourceRef",
                "its source is a Bucket: gitmoor reads Git repositories and OCI artifacts",
            ),
        ],
    ),
    "a source of another namespace: its GitSource lets the Sync's namespace in": Case(
        """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata: {name: fleet, namespace: flux-system}
        spec: {interval: 5m, url: https://git.example.com/fleet.git, ref: {branch: main}}
        ---
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata: {name: shop, namespace: team-shop}
        spec:
          interval: 5m
          prune: true
          path: ./shop
          sourceRef: {kind: GitRepository, name: fleet, namespace: flux-system}
        """,
        """
        apiVersion: gitmoor.io/v1alpha1
        kind: GitSource
        metadata: {name: fleet, namespace: flux-system}
        spec:
          url: https://git.example.com/fleet.git
          ref: {branch: main}
          interval: 5m
          accessFrom: [team-shop]
        ---
        apiVersion: gitmoor.io/v1alpha1
        kind: Sync
        metadata: {name: shop, namespace: team-shop}
        spec:
          sourceRef: {name: fleet, namespace: flux-system}
          path: ./shop
          interval: 5m
          timeout: 5m
          prune: true
          wait: false
        """,
    ),
    "a HelmRelease of a chart in Git": Case(
        """
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata: {name: web, namespace: flux-system}
        spec:
          interval: 10m
          timeout: 3m
          targetNamespace: shop
          storageNamespace: flux-system
          chart:
            spec:
              chart: ./charts/web
              version: "*"
              reconcileStrategy: ChartVersion
              sourceRef: {kind: GitRepository, name: fleet}
              valuesFiles: [./charts/web/values.yaml, charts/web/prod.yaml, ./env/prod.yaml]
          values: {replicas: 2, image: {tag: "1.4"}}
          valuesFrom: [{kind: Secret, name: web-values}]
          install: {createNamespace: true, disableWait: true, remediation: {retries: 3}}
          upgrade: {remediation: {strategy: rollback}}
          driftDetection: {mode: warn, ignore: [{paths: [/spec/replicas]}]}
          dependsOn: [{name: database}]
        """,
        """
        apiVersion: gitmoor.io/v1alpha1
        kind: Sync
        metadata: {name: web, namespace: flux-system}
        spec:
          sourceRef: {name: fleet}
          path: ./charts/web
          targetNamespace: shop
          interval: 10m
          timeout: 3m
          dependsOn: [{name: database}]
          helm:
            releaseName: shop-web
            values: {replicas: 2, image: {tag: "1.4"}}
            valuesFiles: [values.yaml, prod.yaml]
          wait: false
          createNamespace: true
          drift: report
        """,
        [
            Item(WEB, "spec.targetNamespace", "also moves those that name another", check=True),
            Item(WEB, "spec.chart.spec.valuesFiles[2]", "./env/prod.yaml is outside the chart"),
            Item(WEB, "spec.chart.spec.reconcileStrategy", "at every new revision"),
            Item(WEB, "spec.storageNamespace", "no Helm release storage"),
            Item(WEB, "spec.valuesFrom", "not from ConfigMaps or Secrets"),
            Item(WEB, "spec.install.createNamespace", "when missing", check=True),
            Item(WEB, "spec.install.remediation", "atomic: true"),
            Item(WEB, "spec.upgrade.remediation", "atomic: true"),
            Item(WEB, "spec.driftDetection.ignore", "gitmoor.io/drift: ignore"),
        ],
    ),
    "a HelmRelease in its own namespace, drift left alone by Flux": Case(
        """
        apiVersion: helm.toolkit.fluxcd.io/v2beta2
        kind: HelmRelease
        metadata: {name: web, namespace: flux-system}
        spec:
          interval: 10m
          releaseName: frontend
          chart: {spec: {chart: charts/web, sourceRef: {kind: GitRepository, name: fleet}}}
        """,
        """
        apiVersion: gitmoor.io/v1alpha1
        kind: Sync
        metadata: {name: web, namespace: flux-system}
        spec:
          sourceRef: {name: fleet}
          path: charts/web
          targetNamespace: flux-system
          interval: 10m
          helm: {releaseName: frontend}
        """,
        [
            Item(WEB, "spec.targetNamespace", "targetNamespace flux-system", check=True),
            Item(WEB, "spec.driftDetection", "set drift: report to only report it", check=True),
        ],
    ),
    "v2beta1's single valuesFile": Case(
        """
        apiVersion: helm.toolkit.fluxcd.io/v2beta1
        kind: HelmRelease
        metadata: {name: web, namespace: flux-system}
        spec:
          interval: 10m
          driftDetection: {mode: enabled}
          chart:
            spec:
              chart: ./charts/web
              valuesFile: charts/web/values-prod.yaml
              valuesFiles: [charts/web/values.yaml]
              sourceRef: {kind: GitRepository, name: fleet}
        """,
        """
        apiVersion: gitmoor.io/v1alpha1
        kind: Sync
        metadata: {name: web, namespace: flux-system}
        spec:
          sourceRef: {name: fleet}
          path: ./charts/web
          targetNamespace: flux-system
          interval: 10m
          helm: {valuesFiles: [values-prod.yaml, values.yaml]}
        """,
        [Item(WEB, "spec.targetNamespace", "targetNamespace flux-system", check=True)],
    ),
    "a chart from a HelmRepository: a ChartSource, and a Sync with inline values": Case(
        """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: HelmRepository
        metadata: {name: bitnami, namespace: flux-system}
        spec:
          interval: 1h0m0s
          url: https://charts.example.com
          timeout: 1m0s
          secretRef: {name: charts-auth}
          passCredentials: true
        ---
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata: {name: web, namespace: flux-system}
        spec:
          interval: 10m
          targetNamespace: shop
          values: {replicaCount: 2}
          driftDetection: {mode: enabled}
          chart:
            spec:
              chart: nginx
              version: 1.x
              sourceRef: {kind: HelmRepository, name: bitnami}
              valuesFiles: [values-prod.yaml]
        """,
        """
        apiVersion: gitmoor.io/v1alpha1
        kind: ChartSource
        metadata: {name: web, namespace: flux-system}
        spec:
          url: https://charts.example.com
          chart: nginx
          version: 1.x
          interval: 1h
          timeout: 1m
          secretRef: {name: charts-auth}
        ---
        apiVersion: gitmoor.io/v1alpha1
        kind: Sync
        metadata: {name: web, namespace: flux-system}
        spec:
          chartRef: {name: web}
          targetNamespace: shop
          interval: 10m
          helm: {releaseName: shop-web, values: {replicaCount: 2}}
        """,
        [
            Item(WEB, "spec.chart", "ChartSource flux-system/web, one chart of", check=True),
            Item(WEB, "spec.targetNamespace", "targetNamespace shop", check=True),
            Item(WEB, "spec.chart.spec.valuesFiles", "inside the chart archive"),
            Item(BITNAMI, "spec.secretRef", "ca.crt (or caFile)", check=True),
            Item(BITNAMI, "spec.passCredentials", "to its repository only"),
        ],
    ),
    "a chart from an OCI HelmRepository, every version": Case(
        """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: HelmRepository
        metadata: {name: charts, namespace: apps}
        spec:
          type: oci
          url: oci://ghcr.io/org/charts
          certSecretRef: {name: registry-ca}
          suspend: true
        ---
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata: {name: api, namespace: apps}
        spec:
          chart: {spec: {chart: api, sourceRef: {kind: HelmRepository, name: charts}}}
          driftDetection: {mode: enabled}
        """,
        """
        apiVersion: gitmoor.io/v1alpha1
        kind: ChartSource
        metadata: {name: api, namespace: apps}
        spec:
          url: oci://ghcr.io/org/charts
          chart: api
          secretRef: {name: registry-ca}
          suspend: true
        ---
        apiVersion: gitmoor.io/v1alpha1
        kind: Sync
        metadata: {name: api, namespace: apps}
        spec: {chartRef: {name: api}, targetNamespace: apps}
        """,
        [
            Item(API, "spec.chart", "ChartSource apps/api", check=True),
            Item(API, "spec.targetNamespace", "targetNamespace apps", check=True),
            Item("HelmRepository/apps/charts", "spec.certSecretRef", "its ca.crt", check=True),
        ],
    ),
    "a chart from an OCIRepository (chartRef): the registry path and the range": Case(
        """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: OCIRepository
        metadata: {name: podinfo, namespace: apps}
        spec:
          interval: 5m
          url: oci://ghcr.io/stefanprodan/charts/podinfo
          ref: {semver: ">=6.0.0 <7.0.0"}
          layerSelector: {mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip}
        ---
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata: {name: podinfo, namespace: apps}
        spec:
          chartRef: {kind: OCIRepository, name: podinfo}
          values: {ui: {color: blue}}
          driftDetection: {mode: enabled}
        """,
        """
        apiVersion: gitmoor.io/v1alpha1
        kind: ChartSource
        metadata: {name: podinfo, namespace: apps}
        spec:
          url: oci://ghcr.io/stefanprodan/charts
          chart: podinfo
          version: ">=6.0.0 <7.0.0"
          interval: 5m
        ---
        apiVersion: gitmoor.io/v1alpha1
        kind: Sync
        metadata: {name: podinfo, namespace: apps}
        spec:
          chartRef: {name: podinfo}
          targetNamespace: apps
          helm: {values: {ui: {color: blue}}}
        """,
        [
            Item(PODINFO, "spec.chart", "one chart of OCIRepository apps/podinfo", check=True),
            Item(PODINFO, "spec.targetNamespace", "targetNamespace apps", check=True),
            Item("OCIRepository/apps/podinfo", "spec.layerSelector", "the chart layer"),
        ],
    ),
    "what cannot become a ChartSource is said, on both sides": Case(
        """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: OCIRepository
        metadata: {name: podinfo, namespace: apps}
        spec: {url: oci://ghcr.io/stefanprodan/charts/podinfo}
        ---
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: HelmRepository
        metadata: {name: unused, namespace: apps}
        spec: {url: https://charts.example.com}
        ---
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata: {name: podinfo, namespace: apps}
        spec: {chartRef: {kind: OCIRepository, name: podinfo}}
        ---
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata: {name: web, namespace: apps}
        spec:
          chart: {spec: {chart: nginx, sourceRef: {kind: HelmRepository, name: elsewhere}}}
        ---
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata: {name: api, namespace: apps}
        spec: {chartRef: {kind: HelmChart, name: api}}
        """,
        "",
        [
            Item("OCIRepository/apps/podinfo", "spec.ref.tag", "'latest' is not a version"),
            Item(PODINFO, "spec.chartRef", "cannot become a ChartSource"),
            Item("HelmRepository/apps/unused", "", "no HelmRelease read uses it"),
            Item("HelmRelease/apps/web", "spec.chart.spec.sourceRef", "not among the resources"),
            Item(API, "spec.chartRef", "comes from a HelmChart"),
        ],
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_flux_resources_become_gitsources_and_syncs(case: Case) -> None:
    run(case)


def test_other_objects_are_ignored_and_other_flux_kinds_listed() -> None:
    result = run(
        Case(
            """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: settings, namespace: flux-system}
            ---
            apiVersion: notification.toolkit.fluxcd.io/v1beta3
            kind: Alert
            metadata: {name: slack, namespace: flux-system}
            """,
            "",
            [Item("Alert/flux-system/slack", "", "a Sync's spec.notifications")],
        )
    )
    assert result.read == 1
