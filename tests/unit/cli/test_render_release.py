"""`gitmoor render` names a chart's release the way the agent does: after the Sync whose path
the directory is (or the one named with --sync), in that Sync's namespace."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gitmoor.cli.app import app

CHART = Path(__file__).parents[2] / "data" / "render" / "chart" / "shop"


def _sync(name: str, namespace: str, path: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": "gitmoor.io/v1alpha1",
        "kind": "Sync",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"sourceRef": {"name": "repo"}, "path": path, **spec},
    }


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    shutil.copytree(CHART, tmp_path / "apps" / "shop")
    (tmp_path / "clusters").mkdir()
    return tmp_path


def render(repo: Path, *args: str) -> dict[str, str]:
    """Kind/namespace/name of each rendered object, by kind."""
    cwd = Path.cwd()
    os.chdir(repo)
    try:
        shown = CliRunner().invoke(app, ["render", "apps/shop", "-o", "json", *args])
    finally:
        os.chdir(cwd)
    assert shown.exit_code == 0, shown.output
    items = json.loads(shown.stdout)["items"]
    return {
        o["kind"]: f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}"
        for o in items
        if o["kind"] in ("Deployment", "ConfigMap")
    }


def test_the_release_is_named_after_the_sync_of_the_path(repo: Path) -> None:
    (repo / "clusters" / "syncs.yaml").write_text(
        yaml.safe_dump_all([_sync("web", "store", "apps/shop"), _sync("db", "store", "apps/db")])
    )
    assert render(repo) == {"Deployment": "store/web", "ConfigMap": "store/web-settings"}
    # The flags still win.
    assert render(repo, "--release-name", "x", "-n", "lab")["Deployment"] == "lab/x"


def test_the_sync_named_with_sync_gives_its_settings(repo: Path) -> None:
    (repo / "clusters" / "syncs.yaml").write_text(
        yaml.safe_dump_all(
            [
                _sync("blue", "prod", "apps/shop", helm={"releaseName": "shop-blue"}),
                _sync("green", "prod", "./apps/shop/"),
            ]
        )
    )
    # Two Syncs render this path: without --sync, neither is chosen.
    assert render(repo)["Deployment"] == "default/release"
    assert render(repo, "--sync", "blue")["Deployment"] == "prod/shop-blue"
    assert render(repo, "--sync", "green")["Deployment"] == "prod/green"


def test_without_a_sync_the_release_is_release_in_default(repo: Path) -> None:
    assert render(repo)["Deployment"] == "default/release"


def test_a_file_dependency_is_rendered_from_the_repository(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(repo / "cache"))
    lib = repo / "libs" / "extra"
    (lib / "templates").mkdir(parents=True)
    (lib / "Chart.yaml").write_text("apiVersion: v2\nname: extra\nversion: 1.0.0\n")
    (lib / "templates" / "deploy.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n"
    )
    chart = yaml.safe_load((repo / "apps" / "shop" / "Chart.yaml").read_text())
    chart["dependencies"] = [
        {"name": "extra", "version": "1.x", "repository": "file://../../libs/extra"}
    ]
    (repo / "apps" / "shop" / "Chart.yaml").write_text(yaml.safe_dump(chart))
    cwd = Path.cwd()
    os.chdir(repo)
    try:
        shown = CliRunner().invoke(app, ["render", "apps/shop", "-o", "json"])
    finally:
        os.chdir(cwd)
    assert shown.exit_code == 0, shown.output
    names = {o["metadata"]["name"] for o in json.loads(shown.stdout)["items"]}
    assert "extra" in names
    assert not (repo / "apps" / "shop" / "charts").exists()
