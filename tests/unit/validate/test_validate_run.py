"""Validation as a whole, over rendered directories: which directories, with which settings, and
the checks across objects. The renderer is an in-memory stand-in: rendering is tested on its own
(tests/unit/render) and together with validation in tests/integration/test_validate_cli.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitmoor.errors import DependenciesNotVendoredError, RenderError, RenderErrors
from gitmoor.model import Manifest
from gitmoor.model.resources import Sync
from gitmoor.validate import Options, Rendering, RenderSpec, Report, Severity, validate
from gitmoor.validate.resources import FoundSync, model_findings
from gitmoor.validate.units import SyncKey


def configmap(name: str, namespace: str | None = "web") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"a": "b"}}


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def sync(name: str, path: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gitmoor.io/v1alpha1",
        "kind": "Sync",
        "metadata": {"name": name, "namespace": "gitmoor-system"},
        "spec": {"sourceRef": {"name": "fleet"}, "path": path, **spec},
    }


SOURCE = {
    "apiVersion": "gitmoor.io/v1alpha1",
    "kind": "GitSource",
    "metadata": {"name": "fleet", "namespace": "gitmoor-system"},
    "spec": {"url": "https://git.example.com/fleet.git"},
}
BASICS = [namespace("gitmoor-system"), namespace("web"), SOURCE]


class Repository:
    """Directories of a repository and what rendering each gives; records every render."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.renderings: dict[str, Rendering] = {}
        self.calls: list[tuple[str, RenderSpec]] = []

    def add(self, directory: str, *objects: dict[str, Any], errors: tuple[Any, ...] = ()) -> None:
        (self.root / directory).mkdir(parents=True, exist_ok=True)
        manifests = tuple(Manifest(o, f"{i}.yaml", 1) for i, o in enumerate(objects))
        self.renderings[directory] = Rendering(manifests, errors)

    async def render(self, path: str, spec: RenderSpec) -> Rendering:
        self.calls.append((path, spec))
        return self.renderings[path]

    async def validate(self, *paths: str, **options: Any) -> Report:
        return await validate(self.root, list(paths), self.render, options=Options(**options))


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    return Repository(tmp_path)


def lines(report: Report) -> list[str]:
    return [str(p) for p in report.problems]


async def test_the_paths_of_syncs_are_rendered_with_each_syncs_own_settings(
    repo: Repository,
) -> None:
    helm = {"releaseName": "shop", "values": {"replicas": 2}, "valuesFiles": ["prod.yaml"]}
    repo.add("clusters", *BASICS, sync("shop", "./charts/shop", targetNamespace="web", helm=helm))
    repo.add("charts/shop", configmap("shop", None))
    report = await repo.validate("clusters")
    assert lines(report) == []
    assert repo.calls[1] == (
        "charts/shop",
        RenderSpec(
            release_name="shop",
            namespace="web",
            values={"replicas": 2},
            values_files=("prod.yaml",),
        ),
    )
    assert report.directories == ("clusters", "charts/shop (Sync gitmoor-system/shop)")
    assert report.objects == 5


async def test_syncs_found_in_a_syncs_path_are_followed_too(repo: Repository) -> None:
    repo.add("clusters", *BASICS, sync("apps", "apps"))
    repo.add("apps", sync("web", "apps/web"))
    repo.add("apps/web", configmap("web"))
    report = await repo.validate("clusters")
    assert [c[0] for c in repo.calls] == ["clusters", "apps", "apps/web"]
    assert lines(report) == []


async def test_a_path_that_is_also_a_syncs_path_is_validated_as_the_syncs(
    repo: Repository,
) -> None:
    repo.add("clusters", *BASICS, sync("web", "apps", targetNamespace="web"))
    repo.add("apps", configmap("settings", None))
    # Given on its own, apps has a ConfigMap without namespace; the Sync gives it one.
    report = await repo.validate("clusters", "apps")
    assert lines(report) == []
    assert report.directories == ("clusters", "apps (Sync gitmoor-system/web)")


async def test_without_following_syncs_only_the_paths_are_validated(repo: Repository) -> None:
    repo.add("clusters", *BASICS, sync("web", "apps/missing"))
    report = await repo.validate("clusters", follow_syncs=False)
    assert [c[0] for c in repo.calls] == ["clusters"]
    assert lines(report) == []


async def test_two_syncs_applying_the_same_object_is_a_duplicate(repo: Repository) -> None:
    repo.add("clusters", *BASICS, sync("a", "apps"), sync("b", "apps"))
    repo.add("apps", configmap("settings"))
    report = await repo.validate("clusters")
    assert lines(report) == [
        "apps/0.yaml:1: ConfigMap/web/settings: defined twice: also at apps/0.yaml:1 "
        "(by Sync gitmoor-system/a)"
    ]
    assert report.errors == 1


async def test_a_target_namespace_can_make_two_objects_one(repo: Repository) -> None:
    repo.add("apps", namespace("web"), configmap("settings", "one"), configmap("settings", "two"))
    report = await repo.validate("apps", target_namespace="web")
    assert lines(report) == [
        "apps/2.yaml:1: ConfigMap/web/settings: defined twice: also at apps/1.yaml:1"
    ]


async def test_namespaces_declared_nowhere_known_or_built_in_are_warnings(repo: Repository) -> None:
    repo.add(
        "apps",
        configmap("a", "web"),
        configmap("b", "kube-system"),
        configmap("c", "elsewhere"),
        configmap("d", "payments"),
    )
    repo.add("platform", namespace("web"))
    report = await repo.validate("apps", "platform", known_namespaces=frozenset({"elsewhere"}))
    [problem] = report.problems
    assert problem.file == "apps/3.yaml"
    assert problem.field == "metadata.namespace"
    assert problem.check == "namespace"
    assert problem.severity is Severity.WARNING
    assert report.errors == 0
    assert problem.message.startswith("namespace 'payments' is declared nowhere")
    assert "--known-namespace payments" in problem.message


async def test_a_target_namespace_declared_nowhere_says_where_it_came_from(
    repo: Repository,
) -> None:
    repo.add("clusters", *BASICS, sync("web", "apps", targetNamespace="shop"))
    repo.add("apps", configmap("settings", "web"))
    [problem] = (await repo.validate("clusters")).problems
    assert problem.subject == "ConfigMap/shop/settings"
    assert (
        "'shop' (targetNamespace of Sync gitmoor-system/web, clusters/3.yaml:1) is declared "
        "nowhere" in problem.message
    )


async def test_a_target_namespace_the_sync_creates_is_no_warning(repo: Repository) -> None:
    repo.add("clusters", *BASICS, sync("web", "apps", targetNamespace="shop", createNamespace=True))
    repo.add("apps", configmap("settings", "web"))
    report = await repo.validate("clusters")
    assert report.problems == ()


async def test_references_to_syncs_and_sources_declared_nowhere_are_warnings(
    repo: Repository,
) -> None:
    other = sync("web", "apps", dependsOn=[{"name": "database"}])
    other["spec"]["sourceRef"] = {"name": "other", "namespace": "flux"}
    repo.add("clusters", *BASICS, other)
    repo.add("apps")
    report = await repo.validate("clusters")
    assert report.errors == 0
    assert report.warnings == 2
    assert {(p.field, p.severity) for p in report.problems} == {
        ("spec.dependsOn[0]", Severity.WARNING),
        ("spec.sourceRef", Severity.WARNING),
    }


async def test_a_dependency_cycle_is_reported_on_each_sync_of_it(repo: Repository) -> None:
    repo.add(
        "clusters",
        *BASICS,
        sync("a", "apps/a", dependsOn=[{"name": "b"}]),
        sync("b", "apps/b", dependsOn=[{"name": "c"}]),
        sync("c", "apps/c", dependsOn=[{"name": "a"}, {"name": "d"}]),
        sync("d", "apps/d"),
    )
    for name in "abcd":
        repo.add(f"apps/{name}")
    report = await repo.validate("clusters")
    assert [(p.subject, p.field) for p in report.problems] == [
        ("Sync/gitmoor-system/a", "spec.dependsOn[0]"),
        ("Sync/gitmoor-system/b", "spec.dependsOn[0]"),
        ("Sync/gitmoor-system/c", "spec.dependsOn[0]"),
    ]
    assert report.problems[0].message.startswith(
        "dependsOn cycle: gitmoor-system/a -> gitmoor-system/b -> gitmoor-system/c -> "
        "gitmoor-system/a"
    )


async def test_invalid_gitmoor_resources_are_reported_with_the_models_words(
    repo: Repository,
) -> None:
    source = {**SOURCE, "spec": {"url": "https://git.example.com/x.git", "interval": "soon"}}
    leaky = {**SOURCE, "metadata": {"name": "leaky", "namespace": "gitmoor-system"}}
    leaky["spec"] = {"url": "https://u:hunter2@git.example.com/x.git"}
    bad_sync = sync("web", "apps", prune="yes please")
    repo.add("clusters", namespace("gitmoor-system"), source, leaky, bad_sync)
    report = await repo.validate("clusters")
    found = [(p.subject, p.field, p.message, p.check) for p in report.problems]
    assert found == [
        (
            "GitSource/gitmoor-system/fleet",
            "spec.interval",
            "invalid duration 'soon': expected e.g. 30s, 5m, 1h30m",
            "gitmoor",
        ),
        (
            "GitSource/gitmoor-system/leaky",
            "spec",
            "url must not carry credentials: put them in a Secret (secretRef)",
            "gitmoor",
        ),
        (
            "Sync/gitmoor-system/web",
            "spec.prune",
            "Input should be a valid boolean, unable to interpret input",
            "gitmoor",
        ),
    ]
    assert all("hunter2" not in p.message for p in report.problems)


async def test_health_rules_of_a_sync_that_do_not_compile_are_reported_at_their_field(
    repo: Repository,
) -> None:
    rules = [
        {"apiVersion": "db.example.com/v1", "kind": "Database", "current": "status.ready"},
        {
            "apiVersion": "db.example.com/v1",
            "kind": "Cache",
            "current": "status.phase == 'Running'",
            "failed": "status.phase ==",
        },
    ]
    repo.add("clusters", *BASICS, sync("web", "apps", healthCheckExprs=rules))
    repo.add("apps", configmap("settings"))
    report = await repo.validate("clusters")
    found = [(p.file, p.subject, p.field, p.check) for p in report.problems]
    assert found == [
        ("clusters/3.yaml", "Sync/gitmoor-system/web", "spec.healthCheckExprs[1].failed", "gitmoor")
    ]
    assert report.problems[0].line is not None
    assert "does not compile" in report.problems[0].message
    assert "Syntax error" in report.problems[0].message


async def test_signature_verification_settings_are_checked_offline(repo: Repository) -> None:
    def source(name: str, **spec: Any) -> dict[str, Any]:
        return {
            **SOURCE,
            "metadata": {"name": name, "namespace": "gitmoor-system"},
            "spec": {"url": "https://git.example.com/x.git", **spec},
        }

    signers = {"name": "signers"}
    repo.add(
        "clusters",
        namespace("gitmoor-system"),
        source("head", verify={"secretRef": signers}),
        source("tags", ref={"semver": "^1"}, verify={"mode": "tagAndHead", "secretRef": signers}),
        source("branch", ref={"branch": "main"}, verify={"mode": "tag", "secretRef": signers}),
        source("typo", verify={"mode": "commit", "secretRef": signers}),
        source("nokeys", verify={"mode": "head"}),
    )
    report = await repo.validate("clusters")
    found = [(p.subject, p.field, p.message) for p in report.problems]
    assert found == [
        (
            "GitSource/gitmoor-system/branch",
            "spec",
            "verify.mode tag checks a tag's signature: set ref.tag or ref.semver, or use mode head",
        ),
        (
            "GitSource/gitmoor-system/typo",
            "spec.verify.mode",
            "Input should be 'head', 'tag' or 'tagAndHead'",
        ),
        ("GitSource/gitmoor-system/nokeys", "spec.verify.secretRef", "required field is missing"),
    ]


async def test_render_errors_are_reported_at_files_of_the_repository(repo: Repository) -> None:
    errors = RenderErrors(
        [
            RenderError("invalid YAML: bad indentation", file="broken.yaml", line=4),
            RenderError("kustomize: accumulating resources", file="kustomization.yaml"),
        ]
    )
    repo.add("apps/web", namespace("web"), configmap("still-checked", None), errors=(errors,))
    report = await repo.validate("apps/web")
    assert lines(report) == [
        "apps/web/1.yaml:1: ConfigMap/still-checked: metadata.namespace: the object is "
        "namespaced but has no namespace, and no target namespace is set (set "
        "metadata.namespace; or the targetNamespace of a Sync whose path this is, in the "
        "repository or given with --sync FILE; or --target-namespace)",
        "apps/web/broken.yaml:4: invalid YAML: bad indentation",
        "apps/web/kustomization.yaml: kustomize: accumulating resources",
    ]


# --- Syncs declared outside the PATHs (the repository's other files, --sync FILE) ---------------


def found(name: str, path: str, namespace: str = "gitmoor-system", **spec: Any) -> FoundSync:
    document = sync(name, path, **spec)
    document["metadata"]["namespace"] = namespace
    _, resource = model_findings(document)
    assert isinstance(resource, Sync), name
    return FoundSync(SyncKey(namespace, name), resource, f"clusters/{name}.yaml:3")


NO_NAMESPACE = (
    "apps/web/0.yaml:1: ConfigMap/settings: metadata.namespace: the object is namespaced but "
    "has no namespace, and no target namespace is set (set metadata.namespace; or the "
    "targetNamespace of a Sync whose path this is, in the repository or given with --sync "
    "FILE; or --target-namespace)"
)


@pytest.mark.parametrize(
    ("syncs", "options", "problems", "directories"),
    [
        pytest.param(
            [found("web", "./apps/web/", targetNamespace="web")],
            {},
            [],
            ["apps/web (Sync gitmoor-system/web)"],
            id="a Sync naming the PATH gives its targetNamespace",
        ),
        pytest.param(
            [found("web", "apps/web", targetNamespace="web")],
            {"follow_syncs": False},
            [],
            ["apps/web (Sync gitmoor-system/web)"],
            id="without following Syncs too",
        ),
        pytest.param(
            [found("other", "apps/other", targetNamespace="web")],
            {},
            [NO_NAMESPACE],
            ["apps/web"],
            id="no Sync names the PATH: as before",
        ),
        pytest.param(
            [found("parent", "apps", targetNamespace="web")],
            {},
            [NO_NAMESPACE],
            ["apps/web"],
            id="a Sync of a parent directory does not name the PATH",
        ),
        pytest.param(
            [found("web", "apps/web")],
            {},
            [NO_NAMESPACE],
            ["apps/web (Sync gitmoor-system/web)"],
            id="a Sync without targetNamespace leaves the object without one",
        ),
        pytest.param(
            [
                found("web", "apps/web", namespace="staging", targetNamespace="web"),
                found("web", "apps/web", namespace="prod", targetNamespace="web-prod"),
            ],
            {"known_namespaces": frozenset({"web-prod"})},
            [],
            ["apps/web (Sync staging/web)", "apps/web (Sync prod/web)"],
            id="two Syncs naming the PATH: validated once as each",
        ),
        pytest.param(
            [
                found("web-staging", "apps/web", targetNamespace="web"),
                found("web-prod", "apps/web", targetNamespace="web"),
            ],
            {},
            [],
            [
                "apps/web (Sync gitmoor-system/web-staging)",
                "apps/web (Sync gitmoor-system/web-prod)",
            ],
            id="two clusters' Syncs of one PATH, one namespace: not a duplicate",
        ),
        pytest.param(
            [
                found("web", "apps/web", targetNamespace="web"),
                found("web", "apps/web", targetNamespace="web"),
                found("web", "apps/web", targetNamespace="web-eu"),
            ],
            {"known_namespaces": frozenset({"web-eu"})},
            [],
            ["apps/web (Sync gitmoor-system/web)", "apps/web (Sync gitmoor-system/web)"],
            id="one name with two settings: both; the same Sync twice: once",
        ),
        pytest.param(
            [found("web", "apps/web", targetNamespace="web", dependsOn=[{"name": "nowhere"}])],
            {},
            [],
            ["apps/web (Sync gitmoor-system/web)"],
            id="the Sync itself is context, not validated",
        ),
        pytest.param(
            [found("web", "apps/web", targetNamespace="web")],
            {"target_namespace": "elsewhere"},
            [],
            ["apps/web (Sync gitmoor-system/web)"],
            id="the Sync's settings replace the command line's",
        ),
    ],
)
async def test_a_path_named_by_a_sync_found_elsewhere_is_validated_as_that_syncs(
    repo: Repository,
    syncs: list[FoundSync],
    options: dict[str, Any],
    problems: list[str],
    directories: list[str],
) -> None:
    repo.add("apps/web", configmap("settings", None))
    report = await repo.validate("apps/web", syncs=tuple(syncs), **options)
    assert [p for p in lines(report) if "warning" not in p] == problems
    assert list(report.directories) == directories


async def test_a_syncs_target_namespace_and_helm_settings_reach_the_render(
    repo: Repository,
) -> None:
    helm = {"releaseName": "shop", "values": {"replicas": 2}}
    repo.add("charts/shop", configmap("settings", None))
    report = await repo.validate(
        "charts/shop", syncs=(found("shop", "charts/shop", targetNamespace="web", helm=helm),)
    )
    assert repo.calls == [
        ("charts/shop", RenderSpec(release_name="shop", namespace="web", values={"replicas": 2}))
    ]
    [use] = report.syncs
    assert (use.directory, use.sync, use.origin, use.target_namespace, use.named) == (
        "charts/shop",
        "gitmoor-system/shop",
        "clusters/shop.yaml:3",
        "web",
        True,
    )
    # The namespace is declared nowhere: a warning that names the Sync it came from.
    [warning] = report.problems
    assert warning.severity is Severity.WARNING
    assert warning.subject == "ConfigMap/web/settings"
    assert (
        "namespace 'web' (targetNamespace of Sync gitmoor-system/shop, clusters/shop.yaml:3) is "
        "declared nowhere" in warning.message
    )


async def test_a_sync_both_found_and_in_the_paths_is_rendered_once(repo: Repository) -> None:
    repo.add("clusters", *BASICS, sync("web", "apps/web", targetNamespace="web"))
    repo.add("apps/web", configmap("settings", None))
    report = await repo.validate(
        "clusters", "apps/web", syncs=(found("web", "apps/web", targetNamespace="web"),)
    )
    assert [c[0] for c in repo.calls] == ["clusters", "apps/web"]
    assert lines(report) == []
    assert [u.named for u in report.syncs] == [True]


CHART = {
    "apiVersion": "gitmoor.io/v1alpha1",
    "kind": "ChartSource",
    "metadata": {"name": "podinfo", "namespace": "gitmoor-system"},
    "spec": {"url": "https://charts.example.com", "chart": "podinfo", "version": "6.x"},
}


async def test_a_chart_syncs_path_holds_values_which_are_read_not_rendered(
    repo: Repository,
) -> None:
    helm = {"valuesFiles": ["prod.yaml", "missing.yaml", "list.yaml"]}
    repo.add(
        "clusters",
        *BASICS,
        CHART,
        sync("web", "./values/web", chartRef={"name": "podinfo"}, helm=helm),
    )
    (repo.root / "values" / "web").mkdir(parents=True)
    (repo.root / "values" / "web" / "prod.yaml").write_text("replicaCount: 2\n")
    (repo.root / "values" / "web" / "list.yaml").write_text("- a\n")
    report = await repo.validate("clusters")
    # The chart comes from its repository at run time: the path is never rendered.
    assert [path for path, _ in repo.calls] == ["clusters"]
    assert lines(report) == [
        "values/web/list.yaml:1: a values file must hold a mapping",
        "values/web/missing.yaml: values file not found",
    ]
    assert report.directories == ("clusters", "values/web (Sync gitmoor-system/web)")


async def test_a_chart_source_declared_nowhere_is_a_warning(repo: Repository) -> None:
    repo.add("clusters", *BASICS, sync("web", "./values", chartRef={"name": "podinfo"}))
    (repo.root / "values").mkdir()
    report = await repo.validate("clusters")
    [warning] = report.problems
    assert warning.severity is Severity.WARNING
    assert warning.field == "spec.chartRef"
    assert "ChartSource gitmoor-system/podinfo is declared nowhere" in warning.message


async def test_an_invalid_chart_source_is_reported_by_field(repo: Repository) -> None:
    bad = {**CHART, "spec": {**CHART["spec"], "url": "ftp://registry.example.com/charts"}}
    repo.add("clusters", *BASICS, bad)
    report = await repo.validate("clusters")
    [problem] = report.problems
    assert problem.subject == "ChartSource/gitmoor-system/podinfo"
    assert "expected https:// (or http://) of a Helm chart repository" in problem.message


async def test_a_chart_whose_dependencies_the_agent_fetches_is_a_warning(
    repo: Repository,
) -> None:
    unvendored = DependenciesNotVendoredError(
        "dependencies not in charts/: redis 19.0.0 from https://charts.example.com. The agent "
        "fetches them from their repositories; here nothing was rendered",
        file="Chart.yaml",
    )
    repo.add("apps/shop", errors=(unvendored,))
    report = await repo.validate("apps/shop")
    [warning] = report.problems
    assert warning.severity is Severity.WARNING
    assert (warning.file, warning.check) == ("apps/shop/Chart.yaml", "render")
    assert "The agent fetches them" in warning.message


async def test_syncs_reading_an_oci_source_are_not_rendered_offline(repo: Repository) -> None:
    oci = {
        "apiVersion": "gitmoor.io/v1alpha1",
        "kind": "OCISource",
        "metadata": {"name": "manifests", "namespace": "gitmoor-system"},
        "spec": {"url": "oci://ghcr.io/acme/manifests", "ref": {"semver": "1.x"}},
    }
    repo.add(
        "clusters",
        *BASICS,
        oci,
        sync("shop", "./deploy", sourceRef={"kind": "OCISource", "name": "manifests"}),
        sync("other", "./else", sourceRef={"kind": "OCISource", "name": "nowhere"}),
    )
    report = await repo.validate("clusters")
    assert [c[0] for c in repo.calls] == ["clusters"]  # ./deploy is inside the artifact
    [warning] = report.problems
    assert warning.severity is Severity.WARNING
    assert "OCISource gitmoor-system/nowhere is declared nowhere" in warning.message
