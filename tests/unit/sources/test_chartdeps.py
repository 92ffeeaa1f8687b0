"""Which dependencies of a chart are fetched, at which version, and Chart.lock checked the way
Helm checks it (its digest compared with one Helm itself wrote)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gitmoor.sources.chartdeps import (
    Declared,
    Wanted,
    helm_lock_digest,
    local_chart,
    read_declared,
    wanted,
)

REPO = "https://charts.example.com"
_UPDATE = "import helm_python, sys; helm_python.dependency_update(sys.argv[1])"


def test_the_lock_digest_is_the_one_helm_writes(tmp_path: Path) -> None:
    # Every field Helm hashes, and characters Go's encoder escapes (<, >, &).
    (tmp_path / "sub" / "templates").mkdir(parents=True)
    (tmp_path / "sub" / "Chart.yaml").write_text("apiVersion: v2\nname: sub\nversion: 1.2.0\n")
    chart = tmp_path / "app"
    chart.mkdir()
    (chart / "Chart.yaml").write_text(
        "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n"
        "- name: sub\n  version: '>=1.0.0 <2.0.0'\n  repository: file://../sub\n"
        "  condition: sub.enabled\n  alias: other\n  tags: [a, b&c]\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import helm_python, sys; helm_python.dependency_update(sys.argv[1])",
            str(chart),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    lock = yaml.safe_load((chart / "Chart.lock").read_text())
    declared = yaml.safe_load((chart / "Chart.yaml").read_text())["dependencies"]

    assert helm_lock_digest(declared, lock["dependencies"]) == lock["digest"]
    assert (
        helm_lock_digest(declared, [{**lock["dependencies"][0], "version": "1.2.1"}])
        != (lock["digest"])
    )


def _declared(deps: list[dict], lock: list[dict] | None = None, digest: str = "") -> Declared:
    if lock is not None and not digest:
        digest = helm_lock_digest(deps, lock)
    return Declared(deps, lock, digest, "Chart.lock", "Chart.yaml")


DB = {"name": "db", "version": "^1.0.0", "repository": REPO + "/"}
CACHE = {"name": "cache", "version": "3.x", "repository": "oci://r.example.com/charts"}


@pytest.mark.parametrize(
    ("declared", "vendored", "expected"),
    [
        pytest.param(_declared([DB]), frozenset(), [Wanted("db", "^1.0.0", REPO)], id="range"),
        pytest.param(_declared([DB]), frozenset({"db"}), [], id="vendored-is-not-fetched"),
        pytest.param(
            _declared([DB, {**DB, "alias": "replica"}, CACHE]),
            frozenset(),
            [Wanted("db", "^1.0.0", REPO), Wanted("cache", "3.x", CACHE["repository"])],
            id="an-alias-of-the-same-chart-is-fetched-once",
        ),
        pytest.param(
            _declared([DB], [{"name": "db", "version": "1.0.3", "repository": DB["repository"]}]),
            frozenset(),
            [Wanted("db", "1.0.3", REPO)],
            id="the-lock-pins",
        ),
        pytest.param(
            _declared([{"name": "db"}]), frozenset({"db"}), [], id="vendored-needs-no-repo"
        ),
    ],
)
def test_what_is_fetched(declared: Declared, vendored: frozenset[str], expected: list) -> None:
    assert wanted(declared, vendored) == expected


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        pytest.param(
            _declared([DB], [{"name": "db", "version": "1.0.3", "repository": REPO}], "sha256:0"),
            r"Chart.lock is out of date with Chart.yaml \(its digest is not sha256:",
            id="stale-lock",
        ),
        pytest.param(_declared([{"version": "1"}]), "dependency #1 has no name", id="no-name"),
        pytest.param(_declared([{"name": "db"}]), "names no repository", id="no-repository"),
        pytest.param(
            _declared([{"name": "db", "repository": "@bitnami"}]),
            "write the repository's URL",
            id="local-repository-name",
        ),
    ],
)
def test_what_is_refused(declared: Declared, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wanted(declared, frozenset())


@pytest.mark.parametrize(
    ("repository", "version", "problem"),
    [
        ("file://../libs/common", "1.x", None),
        ("file://../libs/common/", "*", None),
        ("file://../../elsewhere", "*", "leaves the repository"),
        ("file:///etc", "*", "leaves the repository"),
        ("file://../libs/common", "2.x", "holds version 1.2.0, not 2.x"),
        ("file://../libs", "*", "holds no Chart.yaml"),
        ("file://../libs/link", "*", "leaves the repository"),
    ],
)
def test_file_dependencies(tmp_path: Path, repository: str, version: str, problem: str | None):
    root = tmp_path / "repo"
    (root / "libs" / "common").mkdir(parents=True)
    (root / "libs" / "common" / "Chart.yaml").write_text(
        json.dumps({"apiVersion": "v2", "name": "common", "version": "1.2.0"})
    )
    (tmp_path / "elsewhere").mkdir()
    (root / "libs" / "link").symlink_to(tmp_path / "elsewhere")
    (root / "app").mkdir()
    item = Wanted("common", version, repository)
    if problem is None:
        assert local_chart(root, root / "app", item) == root / "libs" / "common"
    else:
        with pytest.raises(ValueError, match=problem):
            local_chart(root, root / "app", item)


def test_an_api_v1_chart_declares_its_dependencies_in_requirements(tmp_path: Path) -> None:
    (tmp_path / "Chart.yaml").write_text("apiVersion: v1\nname: old\nversion: 1.0.0\n")
    (tmp_path / "requirements.yaml").write_text(
        f"dependencies:\n- name: db\n  version: ~1.0.0\n  repository: {REPO}\n"
    )
    declared = read_declared(tmp_path)
    assert (declared.file, declared.lock_file, declared.lock) == (
        "requirements.yaml",
        "requirements.lock",
        None,
    )
    lock = [{"name": "db", "version": "1.0.4", "repository": REPO}]
    (tmp_path / "requirements.lock").write_text(
        yaml.safe_dump(
            {"dependencies": lock, "digest": helm_lock_digest(declared.dependencies, lock)}
        )
    )
    assert wanted(read_declared(tmp_path), frozenset()) == [Wanted("db", "1.0.4", REPO)]
