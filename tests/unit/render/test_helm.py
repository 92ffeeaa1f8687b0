from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitmoor.errors import RenderError, RenderErrors
from gitmoor.model.capabilities import Capabilities
from gitmoor.render import RenderOptions, merge_values, render
from testenv.hostile import chained_symlink_chart

CHART = "chart/shop"
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n"


def by_subject(rendered) -> dict[str, dict]:
    return {m.ref.subject: m.obj for m in rendered.manifests}


async def test_the_chart_renders_with_its_own_values(data: Path) -> None:
    rendered = await render(data, CHART, RenderOptions(release_name="web", namespace="store"))
    objects = by_subject(rendered)

    assert sorted(objects) == [
        "ConfigMap/store/web-settings",
        "CustomResourceDefinition/gadgets.shop.example.com",
        "Deployment/store/web",
        "Job/store/web-migrate",
    ]
    deployment = objects["Deployment/store/web"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "example/shop:2.1"
    assert deployment["metadata"]["labels"] == {
        "app.kubernetes.io/name": "shop",
        "app.kubernetes.io/instance": "web",
    }
    assert objects["ConfigMap/store/web-settings"]["data"] == {
        "greeting": "hello",
        "search": "false",
        "cart": "true",
    }


async def test_crds_come_first_and_notes_and_test_hooks_are_left_out(data: Path) -> None:
    rendered = await render(data, CHART, RenderOptions(release_name="web", namespace="store"))

    assert rendered.manifests[0].ref.kind == "CustomResourceDefinition"
    assert rendered.manifests[0].where == "crds/gadgets.yaml:1"
    names = [m.ref.name for m in rendered.manifests]
    assert "web-test-connection" not in names  # helm.sh/hook: test
    # A regular hook is kept as an ordinary object.
    job = by_subject(rendered)["Job/store/web-migrate"]
    assert job["metadata"]["annotations"] == {"helm.sh/hook": "pre-upgrade,pre-install"}
    assert "NOTES.txt" not in {m.source for m in rendered.manifests}


async def test_objects_name_their_template(data: Path) -> None:
    rendered = await render(data, CHART, RenderOptions(release_name="web", namespace="store"))

    assert {m.ref.subject: (m.source, m.line) for m in rendered.manifests} == {
        "CustomResourceDefinition/gadgets.shop.example.com": ("crds/gadgets.yaml", 1),
        "ConfigMap/store/web-settings": ("templates/configmap.yaml", None),
        "Deployment/store/web": ("templates/deployment.yaml", None),
        "Job/store/web-migrate": ("templates/migrate-job.yaml", None),
    }


async def test_values_files_merge_in_order_then_spec_values_win(data: Path, tmp_path) -> None:
    root = tmp_path / "artifact"
    shutil.copytree(data / CHART, root / CHART)
    (root / CHART / "values-canary.yaml").write_text("replicas: 2\ngreeting: hi\n")
    options = RenderOptions(
        release_name="web",
        namespace="store",
        values_files=("values-prod.yaml", "values-canary.yaml"),
        values={"greeting": "bonjour", "image": {"repository": "mirror/shop"}},
    )

    objects = by_subject(await render(root, CHART, options))

    deployment = objects["Deployment/store/web"]
    assert deployment["spec"]["replicas"] == 2  # values-canary over values-prod
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "mirror/shop:2.1-prod"  # deep merge: repository from values, tag from prod
    assert objects["ConfigMap/store/web-settings"]["data"] == {
        "greeting": "bonjour",
        "search": "true",
        "cart": "true",  # the chart default survives the merges
    }
    assert objects["ConfigMap/store/web-search"]["data"] == {"index": "products"}


async def test_different_values_give_a_different_digest(data: Path) -> None:
    base = RenderOptions(release_name="web", namespace="store")
    more = RenderOptions(release_name="web", namespace="store", values={"replicas": 9})

    first = await render(data, CHART, base)
    again = await render(data, CHART, base)
    other = await render(data, CHART, more)

    assert first.digest == again.digest != other.digest


async def test_a_template_error_names_the_template_and_line(copy_data) -> None:
    root = copy_data("chart")
    (root / CHART / "templates" / "broken.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name | nosuchfunc }}\n"
    )

    with pytest.raises(RenderError) as caught:
        await render(root, CHART, RenderOptions(release_name="web", namespace="store"))

    error = caught.value
    assert (error.file, error.line) == ("templates/broken.yaml", 4)
    assert 'function "nosuchfunc" not defined' in str(error)


async def test_a_failing_required_value_names_the_template(copy_data) -> None:
    root = copy_data("chart")
    (root / CHART / "templates" / "secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n"
        'stringData:\n  token: {{ required "set .Values.token" .Values.token }}\n'
    )

    with pytest.raises(RenderError) as caught:
        await render(root, CHART, RenderOptions(release_name="web", namespace="store"))

    assert (caught.value.file, caught.value.line) == ("templates/secret.yaml", 6)
    assert "set .Values.token" in str(caught.value)


async def test_a_template_rendering_invalid_yaml_names_the_template(copy_data) -> None:
    root = copy_data("chart")
    (root / CHART / "templates" / "bad.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}\n"
    )

    with pytest.raises(RenderError) as caught:
        await render(root, CHART, RenderOptions(release_name="web", namespace="store"))

    assert caught.value.file == "templates/bad.yaml"
    assert "invalid YAML" in str(caught.value)
    assert "of the rendered output" in str(caught.value)


async def test_values_the_schema_refuses_are_an_error(copy_data) -> None:
    root = copy_data("chart")
    (root / CHART / "values.schema.json").write_text(
        '{"type": "object", "properties": {"replicas": {"type": "integer"}}}'
    )
    options = RenderOptions(release_name="web", namespace="store", values={"replicas": "many"})

    with pytest.raises(RenderError, match=r"(?s)invalid values:.*replicas"):
        await render(root, CHART, options)


async def test_values_files_that_are_missing_broken_or_outside_are_all_reported(
    copy_data,
) -> None:
    root = copy_data("chart")
    (root / CHART / "broken-values.yaml").write_text("replicas: [1\n")
    options = RenderOptions(
        release_name="web",
        namespace="store",
        values_files=("missing.yaml", "broken-values.yaml", "../../../etc/passwd"),
    )

    with pytest.raises(RenderErrors) as caught:
        await render(root, CHART, options)

    messages = [str(e) for e in caught.value.errors]
    assert messages[0].startswith("missing.yaml: cannot read values file")
    assert messages[1].startswith("broken-values.yaml:2: invalid YAML")
    assert "must be relative and stay inside the source" in messages[2]


async def test_an_invalid_release_name_is_an_error(data: Path) -> None:
    options = RenderOptions(release_name="Not_A_Name", namespace="store")

    with pytest.raises(RenderError, match="invalid Helm release"):
        await render(data, CHART, options)


async def test_subchart_objects_name_their_path_in_the_chart(tree) -> None:
    root = tree(
        {
            "app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\n",
            "app/charts/db/Chart.yaml": "apiVersion: v2\nname: db\nversion: 1.0.0\n",
            "app/charts/db/templates/svc.yaml": """
            apiVersion: v1
            kind: Service
            metadata:
              name: {{ .Release.Name }}-db
            """,
        }
    )

    rendered = await render(root, "app", RenderOptions(release_name="r", namespace="n"))

    assert [(m.ref.subject, m.source) for m in rendered.manifests] == [
        ("Service/r-db", "charts/db/templates/svc.yaml")
    ]


def test_merge_values_merges_mappings_and_replaces_everything_else() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": "x", "e": {"f": 1}}
    override = {"a": {"c": [3], "g": True}, "d": {"now": "a map"}, "e": None}

    assert merge_values(base, override) == {
        "a": {"b": 1, "c": [3], "g": True},
        "d": {"now": "a map"},
        "e": None,  # null is passed on: Helm then drops the chart's default
    }
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": "x", "e": {"f": 1}}


def test_the_helm_sdk_never_loads_into_the_rendering_process(data: Path) -> None:
    """Its Go runtime does not survive fork(): it stays in the worker process."""
    program = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from gitmoor.render import RenderOptions, render\n"
        f"r = asyncio.run(render(Path({str(data)!r}), {CHART!r}, RenderOptions('web', 'store')))\n"
        "print(len(r.manifests), 'helm_python' in sys.modules)\n"
    )

    done = subprocess.run([sys.executable, "-c", program], capture_output=True, check=True)

    assert done.stdout.decode().split() == ["4", "False"]


async def test_a_chart_with_a_symlink_leading_out_is_refused(tree, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cr3t")
    root = tree(
        {
            "app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\n",
            "app/templates/cm.yaml": """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: leak}
            data:
              token: {{ .Files.Get "files/token" | quote }}
            """,
        }
    )
    (root / "app" / "files").mkdir()
    (root / "app" / "files" / "token").symlink_to(secret)

    with pytest.raises(RenderError) as caught:
        await render(root, "app", RenderOptions(release_name="r", namespace="n"))

    assert caught.value.file == "files/token"
    assert "symlink leading outside the source" in str(caught.value)


async def test_a_chart_reaching_out_through_chained_directory_links_is_refused(
    tmp_path: Path,
) -> None:
    # The hole of issue 12: every link's text stays inside the tree, yet `files/ext/k` is a file
    # of the agent's own disk. Only resolving each path for real sees it.
    secret = tmp_path / "kubeconfig"
    secret.write_text("client-key-data: SENTINEL-CHAIN-KEY\n")
    root = tmp_path / "repo"
    chained_symlink_chart(root, secret)
    assert (root / "chart" / "files" / "ext" / "k").read_text() == secret.read_text()

    with pytest.raises(RenderError) as caught:
        await render(root, "chart", RenderOptions(release_name="r", namespace="n"))

    assert caught.value.file == "files/ext/k"
    assert "symlink leading outside the source" in str(caught.value)
    assert "SENTINEL" not in f"{caught.value} {caught.value!r}"


async def test_a_chart_with_a_directory_link_looping_back_is_refused(tree) -> None:
    root = tree(
        {
            "app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\n",
            "app/templates/cm.yaml": CONFIGMAP,
        }
    )
    (root / "app" / "files").mkdir()
    (root / "app" / "files" / "again").symlink_to("..")

    with pytest.raises(RenderError) as caught:
        await render(root, "app", RenderOptions(release_name="r", namespace="n"))

    assert caught.value.file == "files/again"
    assert "a directory above it" in str(caught.value)


def test_gitmoor_render_does_not_print_a_file_reached_through_chained_links(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "kubeconfig"
    secret.write_text("client-key-data: SENTINEL-CHAIN-KEY\n")
    work = tmp_path / "work"
    chained_symlink_chart(work, secret)
    subprocess.run(["git", "init", "--quiet", str(work)], check=True)

    done = subprocess.run(
        [sys.executable, "-m", "gitmoor", "render", str(work / "chart")],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode != 0
    assert "SENTINEL" not in done.stdout + done.stderr
    assert "files/ext/k" in done.stderr
    assert "symlink leading outside the source" in done.stderr
    assert "Traceback" not in done.stderr


def _dependent_chart(tree) -> Path:
    return tree(
        {
            "app/Chart.yaml": """
            apiVersion: v2
            name: app
            version: 1.0.0
            dependencies:
              - name: redis
                version: 19.0.0
                repository: https://charts.example.com
              - name: common
                version: 2.0.0
                repository: https://charts.example.com
            """,
            "app/templates/cm.yaml": CONFIGMAP,
        }
    )


async def test_a_chart_whose_dependencies_are_not_vendored_is_refused(tree) -> None:
    # Helm's SDK would render the rest and say nothing: a Sync would prune the database.
    root = _dependent_chart(tree)

    with pytest.raises(RenderError) as caught:
        await render(root, "app", RenderOptions(release_name="r", namespace="n"))

    assert caught.value.file == "Chart.yaml"
    assert "redis 19.0.0 from https://charts.example.com" in str(caught.value)
    assert "common 2.0.0" in str(caught.value)
    assert "helm dependency build" in str(caught.value)


async def test_vendored_dependencies_as_directories_or_archives_render(
    tree, tmp_path: Path
) -> None:
    root = _dependent_chart(tree)
    redis = root / "app" / "charts" / "redis"
    (redis / "templates").mkdir(parents=True)
    (redis / "Chart.yaml").write_text("apiVersion: v2\nname: redis\nversion: 19.0.0\n")
    (redis / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: redis}\n"
    )
    common = tmp_path / "common"
    common.mkdir()
    (common / "Chart.yaml").write_text(
        "apiVersion: v2\nname: common\nversion: 2.0.0\ntype: library\n"
    )
    shutil.make_archive(str(root / "app" / "charts" / "common-2.0.0"), "gztar", tmp_path, "common")
    (root / "app" / "charts" / "common-2.0.0.tar.gz").rename(
        root / "app" / "charts" / "common-2.0.0.tgz"
    )

    rendered = await render(root, "app", RenderOptions(release_name="r", namespace="n"))

    assert sorted(m.ref.name for m in rendered.manifests) == ["cm", "redis"]


CAPABILITIES_TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata: {name: caps}
data:
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  minor: {{ .Capabilities.KubeVersion.Minor | quote }}
  widgets: {{ .Capabilities.APIVersions.Has "widgets.example.com/v1" | quote }}
  widget-kind: {{ .Capabilities.APIVersions.Has "widgets.example.com/v1/Widget" | quote }}
  install: {{ .Release.IsInstall | quote }}
"""


async def test_capabilities_are_the_clusters_when_given_and_helms_defaults_otherwise(
    tmp_path: Path,
) -> None:
    chart = tmp_path / "caps"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: caps\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(CAPABILITIES_TEMPLATE)
    given = Capabilities(
        "v1.31.4", ("v1", "widgets.example.com/v1", "widgets.example.com/v1/Widget")
    )

    seen = await render(
        tmp_path, "caps", RenderOptions(release_name="r", namespace="n", capabilities=given)
    )
    default = await render(tmp_path, "caps", RenderOptions(release_name="r", namespace="n"))

    assert seen.manifests[0].obj["data"] == {
        "kube": "v1.31.4",
        "minor": "31",
        "widgets": "true",
        "widget-kind": "true",
        "install": "true",
    }
    assert default.manifests[0].obj["data"]["widgets"] == "false"
    assert default.manifests[0].obj["data"]["kube"] != "v1.31.4"


async def test_a_chart_from_elsewhere_renders_with_values_files_of_the_path(
    data: Path, tree
) -> None:
    # A ChartSource's chart (unpacked outside the Git checkout), its values from Git.
    root = tree(
        {
            "values/prod/replicas.yaml": "replicas: 3\n",
            "values/prod/image.yaml": "image: {tag: '9.9'}\n",
            "values/prod/README.md": "not read\n",
        }
    )
    options = RenderOptions(
        release_name="web",
        namespace="store",
        values_files=("replicas.yaml", "image.yaml"),
        chart=data / CHART,
    )
    rendered = await render(root, "values/prod", options)
    deployment = by_subject(rendered)["Deployment/store/web"]
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "example/shop:9.9"


async def test_values_files_of_a_chart_from_elsewhere_stay_in_the_path(data: Path, tree) -> None:
    root = tree({"values/prod/ok.yaml": "a: 1\n", "secret.yaml": "b: 2\n"})
    options = RenderOptions(
        release_name="web",
        namespace="store",
        values_files=("../../../etc/passwd", "missing.yaml"),
        chart=data / CHART,
    )
    with pytest.raises(RenderErrors) as caught:
        await render(root, "values/prod", options)
    text = str(caught.value)
    assert "../../../etc/passwd" in text
    assert "missing.yaml" in text


async def test_lookup_and_file_reads_outside_the_chart_find_nothing(tree) -> None:
    root = tree(
        {
            "outside.txt": "SENTINEL-OUTSIDE-THE-CHART",
            "app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\n",
            "app/files/inside.txt": "inside",
            "app/templates/cm.yaml": """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: probe}
            data:
              secret: {{ lookup "v1" "Secret" "kube-system" "admin" | toJson | quote }}
              secrets: {{ lookup "v1" "Secret" "" "" | toJson | quote }}
              up: {{ .Files.Get "../outside.txt" | quote }}
              absolute: {{ .Files.Get "/etc/hostname" | quote }}
              glob: {{ .Files.Glob "../*" | len | quote }}
              inside: {{ .Files.Get "files/inside.txt" | quote }}
            """,
        }
    )

    rendered = await render(root, "app", RenderOptions(release_name="r", namespace="n"))

    # Rendering never reads the cluster, nor a file outside the chart.
    assert by_subject(rendered)["ConfigMap/probe"]["data"] == {
        "secret": "{}",
        "secrets": "{}",
        "up": "",
        "absolute": "",
        "glob": "0",
        "inside": "inside",
    }
