"""A chart's dependencies fetched for the render, against the real chart repository (nginx,
TLS, basic auth) and registry (docker-registry, TLS, htpasswd): Chart.lock honoured and checked,
ranges resolved, aliases, conditions and tags applied by Helm, file:// kept inside the tree, and
every failure naming the dependency and its repository. The Git work tree is never written."""

from __future__ import annotations

import dataclasses
import secrets
import textwrap
from pathlib import Path

import pytest
import yaml

from gitmoor.errors import ChartDependencyError, ChartDependencyUnavailableError, RenderError
from gitmoor.model.credentials import ChartCredentials
from gitmoor.render import RenderOptions, render
from gitmoor.sources.chartdeps import DependencyFetcher, helm_lock_digest
from gitmoor.sources.charts import ChartFetcher
from testenv.chartrepo import ChartRepository
from testenv.registry import Registry

SUB = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: {{ .Release.Name }}-{{ .Chart.Name }}-{{ .Chart.Version }}}
data: {who: {{ .Values.who | default "sub" | quote }}}
"""
PARENT = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}-parent}\n"


@pytest.fixture(scope="module")
def published(chart_repository: ChartRepository, oci_registry: Registry) -> dict[str, str]:
    """Dependencies published once for the module: `db` 1.0.0, 1.1.0 and 2.0.0 in the HTTP
    repository, `cache` 3.0.0 and 3.1.0 in the registry."""
    name = f"d{secrets.token_hex(4)}"
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        chart_repository.publish("db", version, templates={"cm.yaml": SUB}, repo=name)
    path = f"deps{secrets.token_hex(4)}"
    for version in ("3.0.0", "3.1.0"):
        oci_registry.push("cache", version, repo=path, templates={"cm.yaml": SUB})
    return {
        "http": f"{chart_repository.url}/{name}",
        "oci": f"oci://{oci_registry.host}/{path}",
    }


def _credentials(
    chart_repository: ChartRepository, oci_registry: Registry, published: dict[str, str]
):
    async def credentials(url: str) -> ChartCredentials | None:
        if url == published["http"]:
            return ChartCredentials(
                username=chart_repository.username,
                password=chart_repository.password,
                ca=chart_repository.ca_path.read_bytes(),
            )
        if url.startswith("oci://"):
            return ChartCredentials(
                username=oci_registry.username,
                password=oci_registry.password,
                ca=oci_registry.ca_path.read_bytes(),
            )
        return None

    return credentials


@pytest.fixture
def options(
    chart_repository: ChartRepository,
    oci_registry: Registry,
    published: dict[str, str],
    tmp_path: Path,
) -> RenderOptions:
    fetcher = DependencyFetcher(
        ChartFetcher(tmp_path / "cache"),
        _credentials(chart_repository, oci_registry, published),
        timeout=10,
    )
    return RenderOptions(release_name="r", namespace="n", dependencies=fetcher)


def _chart(root: Path, dependencies: str, lock: str | None = None) -> None:
    chart = root / "app"
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(
        "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n"
        + textwrap.indent(textwrap.dedent(dependencies), "  ")
    )
    (chart / "templates" / "cm.yaml").write_text(PARENT)
    if lock is not None:
        (chart / "Chart.lock").write_text(lock)


def _lock(root: Path, locked: list[dict[str, str]]) -> str:
    declared = yaml.safe_load((root / "app" / "Chart.yaml").read_text())["dependencies"]
    digest = helm_lock_digest(declared, locked)
    return yaml.safe_dump(
        {"dependencies": locked, "digest": digest, "generated": "2026-01-01T00:00:00Z"}
    )


def _names(rendered) -> list[str]:
    return sorted(m.ref.name for m in rendered.manifests)


async def test_dependencies_from_https_and_oci_render_with_aliases_conditions_and_the_lock(
    published: dict[str, str], options: RenderOptions, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    _chart(
        root,
        f"""\
        - name: db
          version: ^1.0.0
          repository: {published["http"]}
        - name: db
          alias: replica
          version: ^1.0.0
          repository: {published["http"]}
          condition: replica.enabled
        - name: cache
          version: 3.x
          repository: {published["oci"]}
          tags: [cache]
        """,
    )
    # No lock: the highest in range, as `helm dependency update` would choose.
    rendered = await render(root, "app", options)
    # The alias renders the same chart under its own name (one copy serves both).
    assert _names(rendered) == ["r-cache-3.1.0", "r-db-1.1.0", "r-parent", "r-replica-1.1.0"]

    # Conditions and tags are Helm's, applied at render time.
    off = RenderOptions(
        release_name="r",
        namespace="n",
        values={"replica": {"enabled": False}, "tags": {"cache": False}},
        dependencies=options.dependencies,
    )
    assert _names(await render(root, "app", off)) == ["r-db-1.1.0", "r-parent"]

    # With a lock: its exact versions, though newer ones are in range.
    lock = _lock(
        root,
        [
            {"name": "db", "repository": published["http"], "version": "1.0.0"},
            {"name": "db", "repository": published["http"], "version": "1.0.0"},
            {"name": "cache", "repository": published["oci"], "version": "3.0.0"},
        ],
    )
    (root / "app" / "Chart.lock").write_text(lock)
    rendered = await render(root, "app", options)
    assert _names(rendered) == ["r-cache-3.0.0", "r-db-1.0.0", "r-parent", "r-replica-1.0.0"]
    # Nothing was written into the work tree.
    assert not (root / "app" / "charts").exists()


async def test_a_lock_out_of_date_with_chart_yaml_is_refused(
    published: dict[str, str], options: RenderOptions, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    _chart(root, f"- name: db\n  version: ^1.0.0\n  repository: {published['http']}\n")
    lock = _lock(root, [{"name": "db", "repository": published["http"], "version": "1.0.0"}])
    (root / "app" / "Chart.lock").write_text(lock)
    # Chart.yaml changed after the lock was written.
    _chart(root, f"- name: db\n  version: ^2.0.0\n  repository: {published['http']}\n")
    with pytest.raises(ChartDependencyError, match=r"Chart\.lock is out of date with Chart\.yaml"):
        await render(root, "app", options)


async def test_a_dependency_that_cannot_be_resolved_is_named_with_its_repository(
    published: dict[str, str], options: RenderOptions, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    _chart(root, f"- name: db\n  version: ^5.0.0\n  repository: {published['http']}\n")
    with pytest.raises(ChartDependencyUnavailableError) as caught:
        await render(root, "app", options)
    assert str(caught.value).startswith(
        f"dependency db ^5.0.0 from {published['http']}: no version of chart 'db'"
    )
    assert (caught.value.chart, caught.value.url) == ("db", published["http"])

    _chart(root, f"- name: nosuch\n  version: '*'\n  repository: {published['oci']}\n")
    with pytest.raises(ChartDependencyUnavailableError, match="dependency nosuch \\* from oci://"):
        await render(root, "app", options)


async def test_file_dependencies_stay_inside_the_tree(
    options: RenderOptions, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    lib = root / "libs" / "common"
    (lib / "templates").mkdir(parents=True)
    (lib / "Chart.yaml").write_text("apiVersion: v2\nname: common\nversion: 1.2.0\n")
    (lib / "templates" / "cm.yaml").write_text(SUB)
    _chart(root, "- name: common\n  version: ~1.2.0\n  repository: file://../libs/common\n")
    assert _names(await render(root, "app", options)) == ["r-common-1.2.0", "r-parent"]
    assert not (root / "app" / "charts").exists()

    outside = tmp_path / "outside"
    (outside / "templates").mkdir(parents=True)
    (outside / "Chart.yaml").write_text("apiVersion: v2\nname: common\nversion: 1.2.0\n")
    _chart(root, "- name: common\n  version: 1.2.0\n  repository: file://../../outside\n")
    with pytest.raises(ChartDependencyError, match="leaves the repository: refused"):
        await render(root, "app", options)


async def test_without_a_fetcher_unvendored_dependencies_are_still_refused(
    published: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    _chart(root, f"- name: db\n  version: ^1.0.0\n  repository: {published['http']}\n")
    with pytest.raises(RenderError, match="dependencies not in charts/"):
        await render(root, "app", RenderOptions(release_name="r", namespace="n"))


async def test_a_chart_from_a_chart_source_gets_its_dependencies_too(
    published: dict[str, str], options: RenderOptions, tmp_path: Path
) -> None:
    # As a ChartSource hands it over: unpacked in the cache, its values in the Git tree.
    cached = tmp_path / "cache-chart"
    _chart(cached, f"- name: db\n  version: 1.0.0\n  repository: {published['http']}\n")
    tree = tmp_path / "tree"
    (tree / "values").mkdir(parents=True)
    (tree / "values" / "prod.yaml").write_text("db: {who: prod}\n")
    chart_options = dataclasses.replace(options, chart=cached / "app", values_files=("prod.yaml",))
    rendered = await render(tree, "values", chart_options)
    assert _names(rendered) == ["r-db-1.0.0", "r-parent"]
    db = next(m for m in rendered.manifests if m.ref.name == "r-db-1.0.0")
    assert db.obj["data"] == {"who": "prod"}
    assert not (cached / "app" / "charts").exists()
