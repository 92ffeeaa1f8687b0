from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from gitmoor.errors import RenderError
from gitmoor.model.limits import Limits
from gitmoor.render import RenderOptions, render
from gitmoor.render.tools import kubectl

OPTIONS = RenderOptions(release_name="api", namespace="prod")


async def test_an_overlay_builds_its_base_with_patch_prefix_and_namespace(data: Path) -> None:
    rendered = await render(data, "kustomize/overlays/prod", OPTIONS)
    by_subject = {m.ref.subject: m for m in rendered.manifests}

    assert sorted(by_subject) == [
        "Deployment/prod/prod-api",
        "Namespace/prod",
        "Service/prod/prod-api",
    ]
    deployment = by_subject["Deployment/prod/prod-api"].obj
    assert deployment["spec"]["replicas"] == 3  # the overlay's patch
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "example/api:1.0"
    assert by_subject["Service/prod/prod-api"].obj["spec"]["ports"] == [{"port": 8080}]


async def test_objects_name_the_file_they_came_from_and_carry_no_origin_annotation(
    data: Path,
) -> None:
    rendered = await render(data, "kustomize/overlays/prod", OPTIONS)

    assert {m.ref.subject: (m.source, m.line) for m in rendered.manifests} == {
        "Deployment/prod/prod-api": ("../../base/deployment.yaml", None),
        "Namespace/prod": ("namespace.yaml", None),
        "Service/prod/prod-api": ("../../base/service.yaml", None),
    }
    for manifest in rendered.manifests:
        assert "config.kubernetes.io/origin" not in manifest.obj["metadata"].get("annotations", {})
    assert "annotations" not in rendered.manifests[0].obj["metadata"]


async def test_generated_objects_name_their_kustomization(tree) -> None:
    root = tree(
        {
            "app/kustomization.yaml": """
            configMapGenerator:
              - name: settings
                literals: [mode=fast]
            commonAnnotations:
              team: shop
            """
        }
    )

    rendered = await render(root, "app", OPTIONS)

    [manifest] = rendered.manifests
    assert manifest.ref.name.startswith("settings-")
    assert manifest.source == "kustomization.yaml"
    assert manifest.obj["metadata"]["annotations"] == {"team": "shop"}
    assert manifest.obj["data"] == {"mode": "fast"}


async def test_the_same_output_as_kustomize_builds_directly(tree) -> None:
    """The origin bookkeeping changes nothing else: not generated names, not the order."""
    root = tree(
        {
            "app/kustomization.yaml": """
            resources: [deploy.yaml, cm.yaml]
            configMapGenerator:
              - name: gen
                literals: [a=b]
            sortOptions:
              order: fifo
            """,
            "app/deploy.yaml": """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web}
            """,
            "app/cm.yaml": """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: plain}
            """,
        }
    )

    rendered = await render(root, "app", OPTIONS)

    direct = await asyncio.create_subprocess_exec(
        str(kubectl()), "kustomize", str(root / "app"), stdout=asyncio.subprocess.PIPE
    )
    output, _ = await direct.communicate()
    assert direct.returncode == 0
    assert [m.obj for m in rendered.manifests] == list(yaml.safe_load_all(output))
    # fifo keeps the kustomization's order; the legacy order would put ConfigMaps first.
    assert [m.ref.kind for m in rendered.manifests] == ["Deployment", "ConfigMap", "ConfigMap"]


async def test_origin_annotations_the_kustomization_asks_for_are_kept(tree) -> None:
    root = tree(
        {
            "app/kustomization.yaml": """
            resources: [cm.yaml]
            buildMetadata: [originAnnotations]
            """,
            "app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        }
    )

    rendered = await render(root, "app", OPTIONS)

    [manifest] = rendered.manifests
    assert manifest.source == "cm.yaml"
    assert manifest.obj["metadata"]["annotations"] == {
        "config.kubernetes.io/origin": "path: cm.yaml\n"
    }


async def test_a_missing_resource_names_the_kustomization_and_the_file(tree) -> None:
    root = tree({"app/kustomization.yml": "resources:\n  - deployment.yaml\n"})

    with pytest.raises(RenderError) as caught:
        await render(root, "app", OPTIONS)

    error = caught.value
    assert error.file == "kustomization.yml"
    assert str(error).startswith("kustomization.yml: kustomize: accumulating resources")
    assert "'deployment.yaml'" in str(error)
    assert "no such file or directory" in str(error)
    # Paths on the agent's disk are not shown: they are rewritten relative to the path.
    assert str(root) not in str(error)


async def test_a_broken_kustomization_names_its_line(tree) -> None:
    root = tree({"app/kustomization.yaml": "resources: [a.yaml\nnamePrefix: x-\n"})

    with pytest.raises(RenderError) as caught:
        await render(root, "app", OPTIONS)

    assert (caught.value.file, caught.value.line) == ("kustomization.yaml", 1)
    assert "invalid Kustomization" in str(caught.value)


async def test_a_base_outside_the_artifact_is_refused(tree, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "kustomization.yaml").write_text("resources: []\n")
    root = tree({"app/kustomization.yaml": "resources: [../../elsewhere]\n"})

    with pytest.raises(RenderError) as caught:
        await render(root, "app", OPTIONS)

    assert caught.value.file == "kustomization.yaml"
    assert "resources entry '../../elsewhere' leads outside the source" in str(caught.value)


async def test_a_nested_base_leading_out_is_refused_too(tree, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "kustomization.yaml").write_text("resources: []\n")
    root = tree(
        {
            "overlay/kustomization.yaml": "resources: [../base]\n",
            "base/kustomization.yaml": "resources: [../../elsewhere]\n",
        }
    )

    with pytest.raises(RenderError) as caught:
        await render(root, "overlay", OPTIONS)

    assert caught.value.file == "../base/kustomization.yaml"


async def test_objects_kustomize_emits_are_checked_like_any_other(tree) -> None:
    root = tree(
        {
            "app/kustomization.yaml": "resources: [a.yaml]\n",
            "app/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        }
    )

    rendered = await render(root, "app", OPTIONS)

    assert [m.ref.subject for m in rendered.manifests] == ["ConfigMap/a"]


@pytest.mark.parametrize(
    "entry",
    [
        "https://github.com/example/app//deploy?ref=v1",
        "github.com/example/app/deploy",
        "git@github.com:example/app.git//deploy",
    ],
)
async def test_a_remote_base_is_refused_before_kustomize_runs(tree, entry: str) -> None:
    root = tree({"app/kustomization.yaml": f"resources:\n  - {entry}\n"})

    with pytest.raises(RenderError, match="is remote") as caught:
        await render(root, "app", RenderOptions(release_name="a", namespace="a"))

    assert caught.value.file == "kustomization.yaml"


async def test_kustomize_runs_within_its_memory_limit(tree) -> None:
    # 256 MiB of address space is too little for kubectl even to start: the render fails
    # alone, saying so, and the agent's own memory is untouched.
    root = tree(
        {
            "app/kustomization.yaml": "resources:\n  - cm.yaml\n",
            "app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        }
    )
    tight = RenderOptions(
        release_name="a", namespace="a", limits=Limits(max_tool_memory=256 * 1024 * 1024)
    )

    with pytest.raises(RenderError, match=r"needed more than 256 MiB \(--max-tool-memory\)"):
        await render(root, "app", tight)
    rendered = await render(root, "app", RenderOptions(release_name="a", namespace="a"))
    assert [m.ref.name for m in rendered.manifests] == ["a"]
