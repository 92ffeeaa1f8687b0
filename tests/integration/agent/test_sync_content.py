"""What a revision can hold: Kustomize overlays, Helm charts, CRDs with their resources,
explicit phases, a target namespace."""

from __future__ import annotations

import pytest

from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import configmap, deployment

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]


async def test_kustomize_overlay_is_rendered_and_applied(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit(
        "overlay",
        {
            "base/kustomization.yaml": "resources:\n  - web.yaml\n  - config.yaml\n",
            "base/web.yaml": deployment("web", "x").replace("  namespace: x\n", ""),
            "base/config.yaml": configmap("settings", "x", tier="base").replace(
                "  namespace: x\n", ""
            ),
            "overlays/prod/kustomization.yaml": (
                f"namespace: {ns}\nnamePrefix: prod-\nresources:\n  - ../../base\n"
                "patches:\n  - path: replicas.yaml\n"
                "configMapGenerator:\n  - name: extra\n    literals:\n      - level=high\n"
            ),
            "overlays/prod/replicas.yaml": (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
                "spec:\n  replicas: 2\n"
            ),
        },
    )
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("prod", "repo", "overlays/prod")
    await harness.wait_applied("prod", sha)

    web = await harness.kube.get("apps/v1", "Deployment", "prod-web", ns)
    assert web is not None
    assert web["spec"]["replicas"] == 2
    generated = await harness.kube.list(
        "v1", "ConfigMap", ns, label_selector="gitmoor.io/sync-name=prod"
    )
    names = {c["metadata"]["name"] for c in generated}
    assert "prod-settings" in names
    assert any(n.startswith("prod-extra-") for n in names)  # kustomize's hashed name


async def test_helm_chart_is_rendered_with_values_and_its_crds(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    group = f"{unique_name}.example.com"
    crd = f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.{group}
spec:
  group: {group}
  names: {{kind: Gadget, plural: gadgets, singular: gadget, listKind: GadgetList}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"""
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit(
        "chart",
        {
            "chart/Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
            "chart/values.yaml": "replicas: 1\ncolour: grey\nsize: small\n",
            "chart/values-prod.yaml": "size: large\n",
            "chart/crds/gadget.yaml": crd,
            "chart/templates/NOTES.txt": "thanks for installing {{ .Release.Name }}\n",
            "chart/templates/config.yaml": (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n"
                "data:\n  colour: {{ .Values.colour | quote }}\n"
                "  size: {{ .Values.size | quote }}\n"
            ),
            "chart/templates/gadget.yaml": (
                f"apiVersion: {group}/v1\nkind: Gadget\n"
                "metadata:\n  name: {{ .Release.Name }}\n"
                "spec:\n  colour: {{ .Values.colour }}\n"
            ),
            "chart/templates/tests/test.yaml": (
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-test\n"
                "  annotations:\n    helm.sh/hook: test\nspec:\n  containers:\n"
                "    - name: t\n      image: busybox\n"
            ),
        },
    )
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync(
        "shop",
        "repo",
        "chart",
        targetNamespace=ns,
        helm={
            "releaseName": "shop",
            "valuesFiles": ["values-prod.yaml"],
            "values": {"colour": "teal"},
        },
    )
    sync = await harness.wait_applied("shop", sha)

    config = await harness.kube.get("v1", "ConfigMap", "shop-config", ns)
    assert config is not None
    assert config["data"] == {"colour": "teal", "size": "large"}
    gadget = await harness.kube.get(f"{group}/v1", "Gadget", "shop", ns)
    assert gadget is not None
    assert gadget["spec"] == {"colour": "teal"}
    assert await harness.kube.get("v1", "Pod", "shop-test", ns) is None
    ids = {e["id"] for e in sync["status"]["inventory"]["entries"]}
    assert f"apiextensions.k8s.io_CustomResourceDefinition__gadgets.{group}" in ids
    await harness.kube.delete(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", f"gadgets.{group}"
    )


async def test_crd_and_its_custom_resources_in_one_revision(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    group = f"{unique_name}.example.com"
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit(
        "crd and cr",
        {
            # Deliberately sorted so the custom resource comes first in file order.
            "a-widget.yaml": (
                f"apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: {ns}\n"
                "spec:\n  size: 3\n"
            ),
            "b-crd.yaml": f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  names: {{kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {{type: integer}}
""",
        },
    )
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("widgets", "repo")
    await harness.wait_applied("widgets", sha)
    widget = await harness.kube.get(f"{group}/v1", "Widget", "w1", ns)
    assert widget is not None
    assert widget["spec"] == {"size": 3}
    await harness.kube.delete(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", f"widgets.{group}"
    )


async def test_order_phases_are_applied_one_after_another_and_target_namespace_is_set(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    first = configmap("first", "ignored", n="1").replace(
        "metadata:\n", 'metadata:\n  annotations:\n    gitmoor.io/order: "1"\n', 1
    )
    second = configmap("second", "ignored", n="2").replace(
        "metadata:\n", 'metadata:\n  annotations:\n    gitmoor.io/order: "2"\n', 1
    )
    sha = tree.commit("phases", {"first.yaml": first, "second.yaml": second})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("phased", "repo", targetNamespace=ns)
    await harness.wait_applied("phased", sha)
    one = await harness.kube.get("v1", "ConfigMap", "first", ns)
    two = await harness.kube.get("v1", "ConfigMap", "second", ns)
    assert one is not None
    assert two is not None
    assert int(one["metadata"]["resourceVersion"]) < int(two["metadata"]["resourceVersion"])


async def test_dependencies_are_applied_in_order_and_cycles_are_refused(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit(
        "infra and app",
        {
            "infra/cm.yaml": configmap("infra", ns, db="ready"),
            "app/cm.yaml": configmap("app", ns, uses="infra"),
        },
    )
    tree.push()
    await harness.source("repo", repo.file_url)
    # The app is declared first; it must still wait for infra.
    await harness.sync("app", "repo", "app", dependsOn=[{"name": "infra"}])
    await harness.sync("infra", "repo", "infra")
    await harness.wait_applied("app", sha)
    infra = await harness.kube.get("v1", "ConfigMap", "infra", ns)
    app = await harness.kube.get("v1", "ConfigMap", "app", ns)
    assert infra is not None
    assert app is not None
    assert int(infra["metadata"]["resourceVersion"]) < int(app["metadata"]["resourceVersion"])

    await harness.sync("a", "repo", "app", dependsOn=[{"name": "b"}])
    await harness.sync("b", "repo", "infra", dependsOn=[{"name": "a"}])
    sync = await harness.wait_condition("Sync", "a", cond.STALLED, "True", reason="DependencyCycle")
    message = (cond.get_condition(sync, cond.READY) or {})["message"]
    assert f"{ns}/a -> {ns}/b -> {ns}/a" in message


async def test_chart_templates_without_a_namespace_go_to_the_release_namespace(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    release = f"{ns}-release"
    await harness.kube.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": release}},
        field_manager="gitmoor-tests",
    )
    try:
        repo, tree = harness.repo(git_servers, unique_name)
        sha = tree.commit(
            "a chart",
            {
                "chart/Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\n",
                "chart/templates/cm.yaml": (
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                    "  name: {{ .Release.Name }}-settings\ndata:\n"
                    "  where: {{ .Release.Namespace }}\n"
                ),
            },
        )
        tree.push()
        await harness.source("repo", repo.file_url)
        # Like `helm install web -n <release>`: no targetNamespace.
        await harness.sync("web", "repo", "chart", helm={"namespace": release})
        await harness.wait_applied("web", sha)

        live = await harness.kube.get("v1", "ConfigMap", "web-settings", release)
        assert live is not None
        assert live["data"] == {"where": release}
    finally:
        await harness.kube.delete("v1", "Namespace", release)


async def test_a_chart_sees_the_clusters_capabilities(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    template = (
        '{{- if .Capabilities.APIVersions.Has "gitmoor.io/v1alpha1/Sync" }}\n'
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: caps}\ndata:\n"
        "  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n"
        "{{- end }}\n"
    )
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit(
        "chart",
        {
            "chart/Chart.yaml": "apiVersion: v2\nname: caps\nversion: 0.1.0\n",
            "chart/templates/cm.yaml": template,
        },
    )
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", "chart", targetNamespace=ns)
    await harness.wait_applied("app", sha)
    version = await harness.kube.request("GET", "/version")
    caps = await harness.kube.get("v1", "ConfigMap", "caps", ns)
    assert caps is not None  # only a chart that sees gitmoor's own CRD renders it
    assert caps["data"] == {"kube": version["gitVersion"]}
