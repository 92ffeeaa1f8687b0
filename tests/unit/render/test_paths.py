from __future__ import annotations

from pathlib import Path

import pytest

from gitmoor.errors import RenderError
from gitmoor.render import RenderOptions, detect, render

OPTIONS = RenderOptions(release_name="app", namespace="app")
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\n"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"kustomization.yaml": "resources: []\n"}, "kustomize"),
        ({"kustomization.yml": "resources: []\n"}, "kustomize"),
        ({"Kustomization": "resources: []\n"}, "kustomize"),
        ({"Chart.yaml": "name: x\n"}, "helm"),
        ({"Chart.yaml": "name: x\n", "kustomization.yaml": "resources: []\n"}, "kustomize"),
        ({"deploy.yaml": CONFIGMAP % "a", "values.yaml": "a: 1\n"}, "plain"),
        ({}, "plain"),
    ],
)
def test_the_directory_s_content_chooses_the_renderer(tree, files, expected) -> None:
    assert detect(tree(files)) == expected


@pytest.mark.parametrize("path", ["../outside", "apps/../../outside", "/etc", "apps/../.."])
async def test_a_path_climbing_out_of_the_artifact_is_refused(tree, path: str) -> None:
    root = tree({"apps/cm.yaml": CONFIGMAP % "a"})

    with pytest.raises(RenderError, match="must be relative and stay inside the source"):
        await render(root, path, OPTIONS)


async def test_a_symlinked_path_leading_out_is_refused(tree, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "cm.yaml").write_text(CONFIGMAP % "stolen")
    root = tree({"apps/cm.yaml": CONFIGMAP % "a"})
    (root / "escape").symlink_to(outside)

    with pytest.raises(RenderError, match="leads outside the source"):
        await render(root, "escape", OPTIONS)


async def test_a_symlinked_file_leading_out_is_an_error_not_read(tree, tmp_path: Path) -> None:
    secret = tmp_path / "host-secret.yaml"
    secret.write_text(CONFIGMAP % "stolen")
    root = tree({"apps/cm.yaml": CONFIGMAP % "a"})
    (root / "apps" / "link.yaml").symlink_to(secret)

    with pytest.raises(RenderError) as caught:
        await render(root, "apps", OPTIONS)

    assert caught.value.file == "link.yaml"
    assert "symlink leading outside the source" in str(caught.value)


async def test_symlinks_inside_the_artifact_are_followed_once(tree) -> None:
    root = tree({"shared/cm.yaml": CONFIGMAP % "shared", "apps/own.yaml": CONFIGMAP % "own"})
    (root / "apps" / "shared").symlink_to(root / "shared")
    (root / "apps" / "loop").symlink_to(root / "apps")  # a cycle must not hang the walk

    rendered = await render(root, "apps", OPTIONS)

    assert [(m.ref.name, m.source) for m in rendered.manifests] == [
        ("own", "own.yaml"),
        ("shared", "shared/cm.yaml"),
    ]


@pytest.mark.parametrize("path", ["missing", "apps/cm.yaml"])
async def test_a_path_that_is_not_a_directory_is_an_error(tree, path: str) -> None:
    root = tree({"apps/cm.yaml": CONFIGMAP % "a"})

    with pytest.raises(RenderError, match=f"path '{path}' (does not exist|is not a directory)"):
        await render(root, path, OPTIONS)


@pytest.mark.parametrize("path", ["./", ".", "", ".//"])
async def test_spellings_of_the_root(tree, path: str) -> None:
    root = tree({"cm.yaml": CONFIGMAP % "top"})

    rendered = await render(root, path, OPTIONS)

    assert [m.source for m in rendered.manifests] == ["cm.yaml"]
