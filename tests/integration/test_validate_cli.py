"""`gitmoor validate` as a user runs it on a repository: real rendering (plain, kubectl kustomize,
the Helm worker), real files, one run reporting every problem at its file and line.

The tests mount the command in an app of their own (the root app, for its one-line usage errors).
The last tests hold validate's judgement against the real API server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from gitmoor.cli.app import app as root_app
from gitmoor.cli.validate import validate
from gitmoor.errors import KubeApiError, UnknownKindError
from gitmoor.kube import Kube
from gitmoor.model import Manifest
from gitmoor.validate.builtin import BuiltinCatalog
from gitmoor.validate.crds import CustomKinds
from gitmoor.validate.objects import check_object
from testenv.sops import age_key, encrypt

DATA = Path(__file__).parents[1] / "data" / "validate"

app = typer.Typer()
app.command("validate")(validate)


@app.callback()
def _root() -> None:
    """A stand-in for the gitmoor root app."""


def gitmoor(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["validate", *(str(a) for a in args)])


@pytest.fixture
def checkout(tmp_path: Path) -> Callable[[str], Path]:
    """A Git checkout holding a copy of tests/data/validate/<name>; returns its root."""

    def make(name: str) -> Path:
        root = tmp_path / name
        shutil.copytree(DATA / name, root)
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        return root

    return make


# Each seeded mistake: where it is, the object, the field, and words of the message.
MISTAKES = [
    ("apps/infra/broken.yaml:7", "", "", "invalid YAML: did not find expected key"),
    (
        "apps/infra/widget.yaml:6",
        "Widget/web/gear",
        "spec.size",
        'expected an integer, got a string ("large")',
    ),
    ("apps/web/api.yaml:6", "Deployment/web/api", "spec.selector", "required field is missing"),
    (
        "apps/web/deployment.yaml:7",
        "Deployment/web/web",
        "spec.replicas",
        'expected an integer, got a string ("three")',
    ),
    (
        "apps/web/deployment.yaml:19",
        "Deployment/web/web",
        "spec.template.spec.containers[0].port",
        "unknown field",
    ),
    (
        "apps/web/monitor.yaml:2",
        "ServiceMonitor/web/web",
        "kind",
        "unknown kind ServiceMonitor in monitoring.coreos.com/v1",
    ),
    (
        "apps/web/payments.yaml:5",
        "Service/payments/payments",
        "metadata.namespace",
        "namespace 'payments' is declared nowhere",
    ),
    (
        "apps/web/settings.yaml:3",
        "ConfigMap/settings",
        "metadata.namespace",
        "the object is namespaced but has no namespace, and no target namespace is set",
    ),
    (
        "apps/web/shared.yaml:1",
        "ConfigMap/web/shared",
        "",
        "defined twice: also at apps/infra/shared.yaml:1 (by Sync gitmoor-system/infra)",
    ),
    (
        "clusters/prod/sources.yaml:10",
        "GitSource/gitmoor-system/fleet",
        "spec.interval",
        "invalid duration '5 minutes'",
    ),
    (
        "clusters/prod/syncs.yaml:32",
        "Sync/gitmoor-system/reports",
        "spec.path",
        "'apps/reports' does not exist in the repository",
    ),
    (
        "clusters/prod/syncs.yaml:45",
        "Sync/gitmoor-system/frontend",
        "spec.dependsOn[1]",
        "dependsOn cycle: gitmoor-system/frontend -> gitmoor-system/backend -> "
        "gitmoor-system/frontend",
    ),
    (
        "clusters/prod/syncs.yaml:57",
        "Sync/gitmoor-system/backend",
        "spec.dependsOn[0]",
        "dependsOn cycle: gitmoor-system/backend -> gitmoor-system/frontend -> "
        "gitmoor-system/backend",
    ),
]


def test_one_run_reports_every_seeded_mistake_at_its_file_and_line(
    checkout: Callable[[str], Path],
) -> None:
    root = checkout("broken")
    result = gitmoor(root / "clusters" / "prod")
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(MISTAKES), result.stdout
    for line, (where, subject, field, words) in zip(lines, MISTAKES, strict=True):
        prefix = ": ".join(p for p in (where, subject, field) if p) + ": "
        assert line.startswith(prefix), (line, prefix)
        assert words in line, (line, words)
    assert "12 error(s), 1 warning(s) in 19 objects in 5 directories (Kubernetes 1.37)" in (
        result.stderr
    )


def test_a_clean_repository_with_plain_kustomize_and_helm_syncs_passes(
    checkout: Callable[[str], Path],
) -> None:
    root = checkout("clean")
    result = gitmoor(root / "clusters" / "prod")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "valid: 14 objects in 4 directories (Kubernetes 1.37)" in result.stderr


def test_json_output_lists_problems_for_scripts(checkout: Callable[[str], Path]) -> None:
    root = checkout("broken")
    result = gitmoor(root / "clusters" / "prod", "-o", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    # The namespace declared nowhere is a warning: it may be created outside these paths.
    assert report["errors"] == len(MISTAKES) - 1
    assert report["warnings"] == 1
    payments = next(p for p in report["problems"] if p["check"] == "namespace")
    assert payments["severity"] == "warning"
    assert report["kubernetesVersion"] == "1.37"
    assert report["directories"] == [
        "clusters/prod",
        "apps/infra (Sync gitmoor-system/infra)",
        "apps/web (Sync gitmoor-system/web)",
        "apps/frontend (Sync gitmoor-system/frontend)",
        "apps/backend (Sync gitmoor-system/backend)",
    ]
    replicas = next(p for p in report["problems"] if p["field"] == "spec.replicas")
    assert replicas == {
        "file": "apps/web/deployment.yaml",
        "line": 7,
        "object": "Deployment/web/web",
        "field": "spec.replicas",
        "message": 'expected an integer, got a string ("three")',
        "severity": "error",
        "check": "schema",
    }
    assert {p["check"] for p in report["problems"]} == {
        "render",
        "schema",
        "kind",
        "namespace",
        "duplicate",
        "gitmoor",
    }


def test_github_output_is_one_annotation_per_problem(checkout: Callable[[str], Path]) -> None:
    root = checkout("broken")
    result = gitmoor(root / "clusters" / "prod", "--output", "github")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == len(MISTAKES)
    warnings = [line for line in lines if line.startswith("::warning file=")]
    assert [w.split(",")[0] for w in warnings] == ["::warning file=apps/web/payments.yaml"]
    assert all(line.startswith("::error file=") for line in lines if line not in warnings)
    assert (
        "::error file=apps/web/deployment.yaml,line=7,title=gitmoor validate::"
        'Deployment/web/web: spec.replicas: expected an integer, got a string ("three")'
    ) in lines


def test_crds_given_on_the_command_line_define_kinds(
    checkout: Callable[[str], Path], tmp_path: Path
) -> None:
    root = checkout("broken")
    crd = tmp_path / "servicemonitors.yaml"
    crd.write_text(SERVICE_MONITOR_CRD)
    result = gitmoor(root / "clusters" / "prod", "--crds", crd, "-o", "json")
    problems = json.loads(result.stdout)["problems"]
    assert not [p for p in problems if p["object"].startswith("ServiceMonitor")]
    assert len(problems) == len(MISTAKES) - 1

    # The same CRD with a stricter schema: the monitor's endpoint port must be a number.
    crd.write_text(SERVICE_MONITOR_CRD.replace("port: {type: string}", "port: {type: integer}"))
    result = gitmoor(root / "clusters" / "prod", "--crds", tmp_path, "-o", "json")
    [monitor] = [
        p for p in json.loads(result.stdout)["problems"] if p["file"].endswith("monitor.yaml")
    ]
    assert (monitor["line"], monitor["field"]) == (8, "spec.endpoints[0].port")


def test_a_kustomize_overlay_validates_and_its_problems_name_the_files(
    checkout: Callable[[str], Path],
) -> None:
    root = checkout("clean")
    overlay = root / "apps" / "web" / "overlays" / "prod"
    assert gitmoor(overlay, "--known-namespace", "web").exit_code == 0

    (overlay / "replicas.yaml").write_text(
        'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: "3"\n'
    )
    result = gitmoor(overlay, "--known-namespace", "web")
    assert result.exit_code == 1
    # kustomize records where the object came from: the base; the line is the field's there.
    assert result.stdout.splitlines() == [
        "apps/web/base/deployment.yaml:8: Deployment/web/web: spec.replicas: expected an "
        'integer, got a string ("3")'
    ]


def test_a_helm_chart_validates_with_the_values_given(
    checkout: Callable[[str], Path], tmp_path: Path
) -> None:
    root = checkout("clean")
    chart = root / "charts" / "shop"
    options = ["--release-name", "shop", "--target-namespace", "shop", "--known-namespace", "shop"]
    result = gitmoor(chart, *options)
    assert result.exit_code == 0, result.output

    values = tmp_path / "broken-values.yaml"
    values.write_text("replicas: two\n")
    result = gitmoor(chart, *options, "--helm-values", values)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "charts/shop/templates/deployment.yaml: Deployment/shop/shop: spec.replicas: expected "
        'an integer, got a string ("two")',
        "charts/shop/templates/gadget.yaml: Gadget/shop/shop-gadget: spec.size: expected an "
        'integer, got a string ("two")',
    ]


def test_a_syncs_helm_values_are_the_ones_validated(checkout: Callable[[str], Path]) -> None:
    root = checkout("clean")
    syncs = root / "clusters" / "prod" / "gitmoor.yaml"
    syncs.write_text(syncs.read_text().replace("greeting: welcome", "replicas: 0"))
    result = gitmoor(root / "clusters" / "prod")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "charts/shop/templates/gadget.yaml: Gadget/shop/shop-gadget: spec.size: must be at least 1"
    ]


def test_wrong_arguments_exit_2(checkout: Callable[[str], Path], tmp_path: Path) -> None:
    root = checkout("clean")
    result = gitmoor(root, "--kubernetes-version", "1.99")
    assert result.exit_code == 2
    assert "1.25 to 1.37" in result.output
    assert gitmoor(tmp_path / "missing").exit_code == 2
    not_a_mapping = tmp_path / "values.yaml"
    not_a_mapping.write_text("- a\n- b\n")
    assert gitmoor(root / "charts" / "shop", "-f", not_a_mapping).exit_code == 2


def test_an_older_kubernetes_release_is_checked_with_its_own_schemas(
    checkout: Callable[[str], Path],
) -> None:
    root = checkout("clean")
    platform = root / "apps" / "platform"
    (platform / "gpus.yaml").write_text(
        "apiVersion: resource.k8s.io/v1\nkind: DeviceClass\nmetadata:\n  name: gpu\nspec: {}\n"
    )
    assert gitmoor(platform).exit_code == 0
    result = gitmoor(platform, "--kubernetes-version", "1.30")
    assert result.exit_code == 1
    assert result.stdout.startswith(
        "apps/platform/gpus.yaml:2: DeviceClass/gpu: kind: Kubernetes 1.30 has no kind DeviceClass"
    )


# --- Syncs tell the namespaces of the paths they name --------------------------------------------

FLEET_SYNC = """\
apiVersion: gitmoor.io/v1alpha1
kind: Sync
metadata:
  name: worker
  namespace: fleet
spec:
  sourceRef:
    name: app-repo
  path: apps/worker
  targetNamespace: batch
"""


def test_an_app_path_takes_the_target_namespace_of_the_repositorys_sync_naming_it(
    checkout: Callable[[str], Path],
) -> None:
    # apps/web and apps/api hold namespace-less objects; clusters/prod/gitmoor.yaml's Syncs
    # place them in web and api. Validating only the app paths, as CI does for a change there:
    root = checkout("synced")
    result = gitmoor(root / "apps" / "web", root / "apps" / "api")
    assert result.exit_code == 0, result.output
    # The namespaces are declared in clusters/prod, not validated here: warnings, naming the Sync.
    assert result.stdout.splitlines() == [
        "apps/api/service.yaml:3: Service/api/api: metadata.namespace: warning: namespace 'api' "
        "(targetNamespace of Sync gitmoor-system/api, clusters/prod/gitmoor.yaml:23) is "
        "declared nowhere in the validated paths: right if another Sync or the cluster's owner "
        "creates it (the agent waits for it); say so with --known-namespace api, or add the "
        "Namespace",
        "apps/web/deployment.yaml:3: Deployment/web/web: metadata.namespace: warning: namespace "
        "'web' (targetNamespace of Sync gitmoor-system/web, clusters/prod/gitmoor.yaml:12) is "
        "declared nowhere in the validated paths: right if another Sync or the cluster's owner "
        "creates it (the agent waits for it); say so with --known-namespace web, or add the "
        "Namespace",
        "apps/web/settings.yaml:3: ConfigMap/web/web-settings: metadata.namespace: warning: "
        "namespace 'web' (targetNamespace of Sync gitmoor-system/web, "
        "clusters/prod/gitmoor.yaml:12) is declared nowhere in the validated paths: right if "
        "another Sync or the cluster's owner creates it (the agent waits for it); say so with "
        "--known-namespace web, or add the Namespace",
    ]
    assert result.stderr.splitlines() == [
        "apps/web: validated as Sync gitmoor-system/web (clusters/prod/gitmoor.yaml:12): "
        "targetNamespace web",
        "apps/api: validated as Sync gitmoor-system/api (clusters/prod/gitmoor.yaml:23): "
        "targetNamespace api",
        "3 warning(s) in 3 objects in 2 directories (Kubernetes 1.37)",
    ]

    report = json.loads(gitmoor(root / "apps" / "web", "-o", "json").stdout)
    assert report["errors"] == 0
    assert report["syncs"] == [
        {
            "directory": "apps/web",
            "kind": "Sync",
            "sync": "gitmoor-system/web",
            "declaredAt": "clusters/prod/gitmoor.yaml:12",
            "targetNamespace": "web",
            "named": True,
        }
    ]

    # The whole cluster directory declares the namespaces too: clean.
    result = gitmoor(root / "clusters" / "prod")
    assert (result.exit_code, result.stdout) == (0, ""), result.output

    # Without the repository's Syncs, as before: objects without a namespace are errors.
    result = gitmoor(root / "apps" / "web", "--no-repository-syncs")
    assert result.exit_code == 1
    assert [line.split(": ")[1] for line in result.stdout.splitlines()] == [
        "Deployment/web",
        "ConfigMap/web-settings",
    ]
    assert all("has no namespace" in line for line in result.stdout.splitlines())


def test_syncs_kept_outside_the_repository_are_read_with_sync_file(
    checkout: Callable[[str], Path], tmp_path: Path
) -> None:
    root = checkout("synced")
    worker = root / "apps" / "worker"
    result = gitmoor(worker)
    assert result.exit_code == 1
    assert "Job/worker: metadata.namespace: the object is namespaced but has no namespace" in (
        result.stdout
    )

    fleet = tmp_path / "fleet"
    fleet.mkdir()
    (fleet / "syncs.yaml").write_text(FLEET_SYNC)
    result = gitmoor(worker, "--sync", fleet / "syncs.yaml", "--known-namespace", "batch")
    assert (result.exit_code, result.stdout) == (0, ""), result.output
    assert (
        f"apps/worker: validated as Sync fleet/worker ({fleet / 'syncs.yaml'}:1): "
        "targetNamespace batch"
    ) in result.stderr

    # A broken Sync file given on purpose is an error of its own, at its field.
    (fleet / "syncs.yaml").write_text(FLEET_SYNC.replace("apps/worker", "apps/worker\n  x: 1"))
    result = gitmoor(worker, "--sync", fleet, "--known-namespace", "batch")
    assert result.exit_code == 1
    assert f"{fleet / 'syncs.yaml'}:1: Sync/worker: spec.x: " in result.stdout

    # --sync and the PATHs' own settings contradict each other: a usage error, in one line.
    result = CliRunner().invoke(
        root_app, ["validate", str(worker), "--sync", str(fleet), "--target-namespace", "batch"]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: Invalid value for --sync: --sync and --target-namespace both say how to render "
        "the PATHs: give one of them"
    ), result.stderr


def test_a_flux_kustomization_of_the_repository_places_its_path_as_a_sync_would(
    checkout: Callable[[str], Path],
) -> None:
    # A Flux repository not imported yet: its Kustomization says where apps/worker goes.
    root = checkout("synced")
    (root / "clusters" / "flux").mkdir()
    (root / "clusters" / "flux" / "worker.yaml").write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\n"
        "kind: Kustomization\n"
        "metadata: {name: worker, namespace: flux-system}\n"
        "spec:\n"
        "  interval: 10m\n"
        "  path: ./apps/worker\n"
        "  prune: true\n"
        "  sourceRef: {kind: GitRepository, name: flux-system}\n"
        "  targetNamespace: batch\n"
    )
    result = gitmoor(root / "apps" / "worker", "--known-namespace", "batch")
    assert (result.exit_code, result.stdout) == (0, ""), result.output
    assert result.stderr.splitlines()[0] == (
        "apps/worker: validated as Kustomization flux-system/worker "
        "(clusters/flux/worker.yaml:1): targetNamespace batch"
    )


SERVICE_MONITOR_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names: {kind: ServiceMonitor, plural: servicemonitors}
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
                endpoints:
                  type: array
                  items:
                    type: object
                    properties:
                      port: {type: string}
"""


# --- against the real API server ----------------------------------------------------------------


@pytest.mark.cluster
async def test_the_scope_of_every_built_in_kind_agrees_with_the_api_server(kube: Kube) -> None:
    compared = 0
    for kind in BuiltinCatalog.load().kinds():
        try:
            served = await kube.resource_for(kind.api_version, kind.kind)
        except UnknownKindError:
            continue  # a kind this control plane's release or feature gates do not serve
        assert served.namespaced == kind.namespaced, kind
        compared += 1
    assert compared > 40


def _deployment(namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
            **spec,
        },
    }


@pytest.mark.cluster
async def test_what_validate_refuses_the_api_server_refuses_too(kube: Kube, namespace: str) -> None:
    unknown_field = _deployment(namespace)
    unknown_field["spec"]["template"]["spec"]["containers"][0]["port"] = 80
    no_selector = _deployment(namespace)
    del no_selector["spec"]["selector"]
    cases = {
        "valid": _deployment(namespace, replicas=2),
        "wrong type": _deployment(namespace, replicas="three"),
        "unknown field": unknown_field,
        "missing field": no_selector,
    }
    catalog = BuiltinCatalog.load()
    for case, obj in cases.items():
        checked = check_object(
            Manifest(obj, "x.yaml", 1), builtin=catalog, custom=CustomKinds(), target_namespace=None
        )
        refused_here = bool(checked.findings)
        try:
            await kube.apply(obj, field_manager="gitmoor-tests", dry_run=True)
            refused_there = False
        except KubeApiError:
            refused_there = True
        assert refused_here == refused_there == (case != "valid"), case


SOPS_REPOSITORY = """\
apiVersion: v1
kind: Namespace
metadata: {name: gitmoor-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: gitmoor.io/v1alpha1
kind: GitSource
metadata: {name: fleet, namespace: gitmoor-system}
spec: {url: "https://git.example.com/fleet.git", accessFrom: [app]}
---
apiVersion: gitmoor.io/v1alpha1
kind: Sync
metadata: {name: app, namespace: gitmoor-system}
spec:
  sourceRef: {name: fleet}
  path: apps/app
  targetNamespace: app
  serviceAccountName: deployer
  decryption: {provider: sops, secretRef: {name: sops-keys}}
---
apiVersion: gitmoor.io/v1alpha1
kind: Sync
metadata: {name: kust, namespace: gitmoor-system}
spec:
  sourceRef: {name: fleet}
  path: apps/kust
  targetNamespace: app
  decryption: {secretRef: {name: sops-keys}}
"""
SOPS_SECRET = """\
apiVersion: v1
kind: Secret
metadata: {name: db}
stringData: {password: SENTINEL-VALIDATE}
"""


def test_sops_files_validate_offline_without_keys_and_with_decrypt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, other = age_key(), age_key()
    root = tmp_path / "fleet"
    files = {
        "clusters/prod/gitmoor.yaml": SOPS_REPOSITORY,
        "apps/app/secret.yaml": encrypt(
            SOPS_SECRET, "secret.yaml", key.recipient, only="^(data|stringData)$"
        ),
        "apps/kust/kustomization.yaml": (
            "resources: [secret.yaml]\nsecretGenerator:\n  - name: env\n    envs: [db.env]\n"
        ),
        "apps/kust/secret.yaml": encrypt(
            SOPS_SECRET.replace("name: db", "name: db2"),
            "secret.yaml",
            key.recipient,
            only="^(data|stringData)$",
        ),
        "apps/kust/db.env": encrypt("password=SENTINEL-VALIDATE\n", "db.env", key.recipient),
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    subprocess.run(["git", "init", "-q", str(root)], check=True)

    # No keys: the encrypted values are checked as the strings they are, the metadata set aside.
    result = gitmoor(root / "clusters" / "prod")
    assert (result.exit_code, result.stdout) == (0, ""), result.output
    assert "SENTINEL" not in result.output

    # With the user's own keys, the plaintext is checked.
    monkeypatch.setenv("SOPS_AGE_KEY", key.identity)
    result = gitmoor(root / "clusters" / "prod", "--decrypt")
    assert (result.exit_code, result.stdout) == (0, ""), result.output

    # With a key that does not open the files, --decrypt says whose they are.
    monkeypatch.setenv("SOPS_AGE_KEY", other.identity)
    result = gitmoor(root / "apps" / "app", "--decrypt")
    assert result.exit_code == 1
    assert key.recipient in result.stdout
    assert "SENTINEL" not in result.output
